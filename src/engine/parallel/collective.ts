/**
 * Collectives for data-parallel training over worker_threads: every thread ("rank") holds a replica of the
 * model and a contiguous shard of the batch, and the few places where the math couples samples across
 * the batch exchange small vectors synchronously through a SharedArrayBuffer:
 *   - BatchNorm statistics (per-channel sums of x and (x − mean)², and in the backward pass of dy and
 *     dy·(x − mean)): synchronized BN, so every rank normalises with the whole batch's statistics;
 *   - the loss's embeddings (NT-Xent needs all 2N embeddings for its negatives): an all-gather whose
 *     gradient is the rank's own rows of the upstream gradient;
 *   - the parameter gradients, summed once per step before the (replicated) optimizer update.
 * With these the step computes the same numbers as one thread on the whole batch, up to the order of
 * float additions.
 *
 * Model code calls the hooks below (`shardSum`, `gatherShards`); without an active collective (one thread,
 * evaluation, tests) they are the identity and cost nothing.
 *
 * Exchanges block with Atomics.wait (allowed on Node's main thread and in workers): tfjs' wasm kernels and
 * custom gradients are synchronous, so a collective inside a gradient function must be too.
 */
import * as tf from '@tensorflow/tfjs-core';

export interface Collective {
  readonly rank: number;
  readonly size: number;
  /** Element-wise sum over ranks (the same bits on every rank: summed in rank order). */
  allReduceSum(x: Float32Array): Float32Array;
  /** Every rank's vector, in rank order (lengths may differ). */
  allGather(x: Float32Array): Float32Array[];
}

let active: Collective | undefined;

/** Runs f with `c` as the collective the model hooks use (undefined: none). */
export function withCollective<T>(c: Collective | undefined, f: () => T): T {
  const previous = active;
  active = c;
  try {
    return f();
  } finally {
    active = previous;
  }
}

/** True while a collective with more than one rank is active: model code may take its exchange-friendly path. */
export function sharded(): boolean {
  return active != null && active.size > 1;
}

/**
 * Sum over ranks of each tensor (same shapes on every rank) and of `count`, in one exchange. Not
 * differentiable: BatchNorm calls it inside its custom gradient's forward and backward functions.
 */
export function shardSum(tensors: tf.Tensor[], count = 0): { sums: tf.Tensor[]; count: number } {
  const c = active;
  if (c == null || c.size === 1) return { sums: tensors, count };
  const sizes = tensors.map((t) => t.size);
  const packed = new Float32Array(sizes.reduce((a, b) => a + b, 0) + 1);
  let at = 0;
  for (const t of tensors) {
    packed.set(t.dataSync() as Float32Array, at);
    at += t.size;
  }
  packed[at] = count;
  const total = c.allReduceSum(packed);
  at = 0;
  const sums = tensors.map((t, i) => {
    const s = tf.tensor(total.subarray(at, at + sizes[i]), t.shape, 'float32');
    at += sizes[i];
    return s;
  });
  return { sums, count: total[at] };
}

/**
 * The whole batch's per-channel mean and biased variance from each rank's channel sums `sum` and sums of
 * squared deviations from its own mean `m2` over `count` elements, in one exchange: Chan et al.'s exact
 * merge, M2 = Σ_r (M2_r + n_r·(mean_r − mean)²), done in float64 in rank order (the same bits on every
 * rank). Call only when sharded().
 */
export function shardMoments(sum: tf.Tensor, m2: tf.Tensor, count: number): { mean: tf.Tensor; variance: tf.Tensor; count: number } {
  const c = active!;
  const channels = sum.size;
  const packed = new Float32Array(2 * channels + 1);
  packed.set(sum.dataSync() as Float32Array);
  packed.set(m2.dataSync() as Float32Array, channels);
  packed[2 * channels] = count;
  const parts = c.allGather(packed);
  const total = parts.reduce((a, p) => a + p[2 * channels], 0);
  const mean = new Float64Array(channels);
  for (const p of parts) for (let k = 0; k < channels; k++) mean[k] += p[k];
  for (let k = 0; k < channels; k++) mean[k] /= total;
  const m2All = new Float64Array(channels);
  for (const p of parts) {
    const n = p[2 * channels];
    if (n === 0) continue;
    for (let k = 0; k < channels; k++) {
      const d = p[k] / n - mean[k];
      m2All[k] += p[channels + k] + n * d * d;
    }
  }
  return {
    mean: tf.tensor(Float32Array.from(mean), sum.shape, 'float32'),
    variance: tf.tensor(Float32Array.from(m2All, (v) => v / total), sum.shape, 'float32'),
    count: total,
  };
}

/**
 * Rows of every rank's tensors ([rows, D_i] each, the same rows), each concatenated over ranks in rank
 * order, in one exchange. See gatherShards.
 */
export function gatherRows<T extends tf.Tensor2D[]>(...xs: T): T {
  if (!sharded() || xs.length === 0) return xs;
  if (xs.length === 1) return [gatherShards(xs[0])] as T;
  const widths = xs.map((x) => x.shape[1]);
  return tf.split(gatherShards(tf.concat(xs, 1)), widths, 1) as T;
}

/**
 * Rows of every rank's x, concatenated in rank order ([Σ rows, D]); the gradient flowing back is the
 * rank's own rows of the upstream gradient. The loss on the gathered tensor is then the whole batch's
 * loss, and its gradient with respect to this rank's rows is exact (the other rows are constants here;
 * their own ranks take the gradient through them).
 */
export function gatherShards<T extends tf.Tensor>(x: T): T {
  const c = active;
  if (c == null || c.size === 1) return x;
  const gather = tf.customGrad((...args) => {
    const input = args[0] as tf.Tensor;
    const inner = input.shape.slice(1);
    const width = tf.util.sizeFromShape(inner);
    const parts = c.allGather(input.dataSync() as Float32Array);
    const rows = parts.map((p) => p.length / width);
    const offset = rows.slice(0, c.rank).reduce((a, b) => a + b, 0);
    const all = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
    let at = 0;
    for (const p of parts) {
      all.set(p, at);
      at += p.length;
    }
    return {
      value: tf.tensor(all, [at / width, ...inner], 'float32'),
      gradFunc: (dy: tf.Tensor) => tf.slice(dy, [offset, ...inner.map(() => 0)], [input.shape[0], ...inner]),
    };
  });
  return gather(x) as T;
}

/** Layout of the SharedArrayBuffer a SabCollective works in (the same numbers on every rank). */
export interface SabLayout {
  control: SharedArrayBuffer; // Int32: [arrived, generation, aborted]
  data: SharedArrayBuffer; // Float32: 2 buffers × size ranks × slotFloats
  slotFloats: number;
  size: number;
}

const ARRIVED = 0;
const GENERATION = 1;
const ABORTED = 2;

export function createSabLayout(size: number, slotFloats: number): SabLayout {
  return {
    control: new SharedArrayBuffer(4 * 4),
    data: new SharedArrayBuffer(4 * 2 * size * slotFloats),
    slotFloats,
    size,
  };
}

/** Thrown on every rank once one rank has given up (an exception, a stop). */
export class CollectiveAborted extends Error {}

/**
 * All-reduce and all-gather through shared memory: each rank writes its vector into its slot, meets the
 * others at a barrier, then reads every slot. Slots alternate between two buffers, so one barrier per
 * exchange is enough: a rank can only overwrite a buffer after every rank has passed the next barrier,
 * i.e. finished reading it.
 */
export class SabCollective implements Collective {
  readonly size: number;
  private readonly ctrl: Int32Array;
  private readonly data: Float32Array;
  private readonly slot: number;
  private round = 0;
  constructor(
    readonly rank: number,
    layout: SabLayout,
    /** Longest wait for the other ranks before giving up (a crashed thread never arrives). */
    private readonly timeoutMs = 10 * 60_000,
  ) {
    this.size = layout.size;
    this.ctrl = new Int32Array(layout.control);
    this.data = new Float32Array(layout.data);
    this.slot = layout.slotFloats;
  }

  /** Makes every rank's current or next wait throw CollectiveAborted. */
  abort(): void {
    Atomics.store(this.ctrl, ABORTED, 1);
    Atomics.notify(this.ctrl, GENERATION);
  }

  get aborted(): boolean {
    return Atomics.load(this.ctrl, ABORTED) !== 0;
  }

  allReduceSum(x: Float32Array): Float32Array {
    const parts = this.exchange(x);
    const out = new Float32Array(x.length);
    for (const p of parts) for (let i = 0; i < out.length; i++) out[i] += p[i];
    return out;
  }

  allGather(x: Float32Array): Float32Array[] {
    return this.exchange(x).map((p) => p.slice());
  }

  /** Writes x (with its length) into this rank's slot, waits for all ranks, returns views of every slot. */
  private exchange(x: Float32Array): Float32Array[] {
    if (x.length + 1 > this.slot) throw new Error(`collective: ${x.length} floats do not fit a ${this.slot - 1}-float slot`);
    const base = (this.round++ % 2) * this.size * this.slot;
    const mine = base + this.rank * this.slot;
    this.data[mine] = x.length;
    this.data.set(x, mine + 1);
    this.barrier();
    return Array.from({ length: this.size }, (_, r) => {
      const at = base + r * this.slot;
      return this.data.subarray(at + 1, at + 1 + this.data[at]);
    });
  }

  /** Sense-free barrier on a generation counter: the last rank to arrive starts the next generation. */
  private barrier(): void {
    if (this.aborted) throw new CollectiveAborted('another training thread stopped');
    const generation = Atomics.load(this.ctrl, GENERATION);
    if (Atomics.add(this.ctrl, ARRIVED, 1) === this.size - 1) {
      Atomics.store(this.ctrl, ARRIVED, 0);
      Atomics.add(this.ctrl, GENERATION, 1);
      Atomics.notify(this.ctrl, GENERATION);
      return;
    }
    const deadline = Date.now() + this.timeoutMs;
    while (Atomics.load(this.ctrl, GENERATION) === generation) {
      if (this.aborted) throw new CollectiveAborted('another training thread stopped');
      if (Date.now() > deadline) {
        this.abort();
        throw new CollectiveAborted(`training threads did not meet within ${this.timeoutMs / 1000} s`);
      }
      Atomics.wait(this.ctrl, GENERATION, generation, 1000);
    }
  }
}
