/**
 * Data-parallel training over worker_threads, for the single-threaded backends (wasm, cpu): the training
 * thread is rank 0 and each extra thread (src/engine/parallel/shard-worker.ts) is a further rank with its
 * own tfjs instance and a replica of the method, optimizer included. A step:
 *   1. rank 0 makes the whole batch's views as in single-thread training (same seeds, same draws) and
 *      hands each rank its contiguous rows through shared memory;
 *   2. every rank runs the method's loss and gradients on its rows; BatchNorm statistics and the loss's
 *      embeddings are exchanged inside (see collective.ts), so each rank's gradient is exactly its rows'
 *      share of the whole batch's gradient;
 *   3. the gradients are summed over ranks, and every rank applies the same optimizer update to its
 *      replica, so the replicas stay equal (same inputs, same deterministic kernels).
 * Losses therefore match single-thread training up to float rounding (test/train.test.ts pins it).
 *
 * Only methods whose math is covered by those exchanges run in parallel: SimCLR (BN + NT-Xent), BYOL and
 * SimSiam (BN + cosine losses; BYOL's EMA target is updated identically on every rank). Methods with
 * per-step state built from the batch (MoCo's queue, InstDisc's memory bank) or shuffled BN need their
 * own exchanges and train on one thread for now.
 */
import * as tf from '@tensorflow/tfjs-core';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { RunConfig } from '../../core/config';
import type { Method, MethodState, TrainBatch } from '../methods/types';
import { stableNames, type Optimizer } from '../optim';
import { CollectiveAborted, createSabLayout, SabCollective, withCollective, type Collective, type SabLayout } from './collective';

/**
 * Methods whose step is exact when sharded with synchronized BN and gathered embeddings: their losses
 * gather what they compare (NT-Xent, BYOL's and SimSiam's cosine losses), and their non-gradient updates
 * (BYOL's EMA target) depend only on the parameters, which are equal on every rank.
 */
export const DATA_PARALLEL_METHODS = new Set(['simclr', 'byol', 'simsiam']);

/** What a shard thread needs to build its replica (sent once as workerData). */
export interface ShardInit {
  rank: number;
  config: RunConfig;
  backend: string;
  inputShape: [number, number, number];
  trainSize: number;
  totalSteps: number;
  /** Every variable of the method (trainable and state) by name: the replica starts equal. */
  params: Record<string, Float32Array>;
  /** Rank 0's optimizer slots by `<slot>/<variable name>` and update count (not zero in a resumed run). */
  optimizer?: { step: number; slots: Record<string, Float32Array> };
  /** Rank 0's method state outside its variables (Method.saveState). */
  methodState?: MethodState;
  layout: SabLayout;
  command: SharedArrayBuffer;
  /** This rank's view rows: views × maxRows × pixels floats, then maxRows int32 indices. */
  input: SharedArrayBuffer;
  views: number;
  maxRows: number;
}

/**
 * The command buffer: Int32 words (a sequence number the shards wait on, the command, the step, then each
 * rank's row count), then two Float64 words at commandLayout(size).f64Offset.
 */
export const CMD = { SEQ: 0, CODE: 1, STEP: 2, EPOCH: 3, ROWS: 4 } as const;
export const CMD_F64 = { LR: 0, PROGRESS: 1 } as const;
export const CODE = { STEP: 1, STOP: 2, CHECK: 3 } as const;
export function commandLayout(size: number): { int32s: number; f64Offset: number; bytes: number } {
  const int32s = CMD.ROWS + size + ((CMD.ROWS + size) % 2); // padded to 8 bytes
  return { int32s, f64Offset: int32s * 4, bytes: int32s * 4 + 2 * 8 };
}

/**
 * One rank's part of a step: loss and gradients on its rows with the collective active, gradients summed
 * over ranks, the optimizer update and the method's non-gradient updates. The same on every rank.
 */
export function shardStep(method: Method, vars: tf.Variable[], optimizer: Optimizer, batch: TrainBatch, lr: number, collective: Collective): number {
  const { value, grads } = withCollective(collective, () => tf.variableGrads(() => method.loss(batch), vars));
  const summed: tf.NamedTensorMap = {};
  try {
    // The loss is the whole batch's (computed on gathered embeddings): the same on every rank, so a
    // non-finite loss skips the update everywhere and the ranks stay in step.
    const loss = (value.dataSync() as Float32Array)[0];
    const flat = new Float32Array(vars.reduce((n, v) => n + v.size, 0));
    let at = 0;
    for (const v of vars) {
      flat.set(grads[v.name].dataSync() as Float32Array, at);
      at += v.size;
    }
    const total = collective.allReduceSum(flat);
    if (!Number.isFinite(loss)) return loss;
    at = 0;
    for (const v of vars) {
      summed[v.name] = tf.tensor(total.subarray(at, at + v.size), v.shape, 'float32');
      at += v.size;
    }
    optimizer.apply(summed, lr);
    method.afterStep?.(batch);
    return loss;
  } finally {
    tf.dispose([value, grads, summed]);
  }
}

/** Rows of each rank for a batch of n: contiguous, as even as possible, rank 0 first. */
export function shardRows(n: number, size: number): { offset: number; rows: number }[] {
  const out: { offset: number; rows: number }[] = [];
  let offset = 0;
  for (let r = 0; r < size; r++) {
    const rows = Math.floor(n / size) + (r < n % size ? 1 : 0);
    out.push({ offset, rows });
    offset += rows;
  }
  return out;
}

/** The number of training threads `threads` asks for: 0 means one per CPU core. */
export function resolveThreads(threads: number): number {
  return threads > 0 ? threads : Math.max(1, availableParallelism());
}

export interface DataParallelOptions {
  config: RunConfig;
  /** The backend rank 0 runs on ('wasm' or 'cpu'; the native backends thread by themselves). */
  backend: string;
  method: Method;
  /** Rank 0's optimizer: the replicas start from its state too (a resumed run's slots and update count). */
  optimizer?: Optimizer;
  inputShape: [number, number, number];
  trainSize: number;
  totalSteps: number;
  batchSize: number;
  log?: (message: string, level?: 'info' | 'warn') => void;
}

/**
 * Starts the shard threads when the config asks for more than one thread and the run can use them;
 * otherwise returns undefined (and logs why when threads were asked for but cannot be used).
 */
export async function startDataParallel(o: DataParallelOptions): Promise<DataParallel | undefined> {
  const asked = resolveThreads(o.config.threads);
  if (asked <= 1) return undefined;
  const log = o.log ?? (() => undefined);
  const why = !DATA_PARALLEL_METHODS.has(o.config.method)
    ? `${o.config.method} does not support data-parallel training yet (supported: ${[...DATA_PARALLEL_METHODS].join(', ')})`
    : o.backend === 'webgpu'
      ? 'the webgpu backend trains on the GPU'
      : o.backend !== 'wasm' && o.backend !== 'cpu'
        ? `the ${o.backend} backend uses every core by itself`
      : undefined;
  if (why) {
    log(`threads: ${o.config.threads} ignored, training on one thread: ${why}`, 'warn');
    return undefined;
  }
  const threads = Math.min(asked, Math.floor(o.batchSize / 2));
  if (threads <= 1) return undefined;
  const dp = new DataParallel(o, threads);
  try {
    await dp.ready;
  } catch (e) {
    // The results do not depend on the thread count: train on one thread rather than fail the run.
    log(`threads: the training threads could not start, training on one thread: ${(e as Error).message}`, 'warn');
    return undefined;
  }
  log(`data-parallel training on ${threads} threads (batch split ${shardRows(o.batchSize, threads).map((s) => s.rows).join('+')}; synchronized BatchNorm)`);
  return dp;
}

export class DataParallel {
  readonly ready: Promise<void>;
  private readonly workers: Worker[] = [];
  private readonly collective: SabCollective;
  private readonly command: Int32Array;
  private readonly commandF64: Float64Array;
  private readonly inputs: SharedArrayBuffer[] = [];
  private readonly pixels: number;
  private readonly maxRows: number;
  private readonly views: number;
  private workerError?: string;
  private closed = false;

  constructor(
    o: DataParallelOptions,
    readonly threads: number,
  ) {
    const { config, method } = o;
    this.views = 2;
    this.pixels = o.inputShape[0] * o.inputShape[1] * o.inputShape[2];
    this.maxRows = Math.ceil(o.batchSize / threads);
    const paramCount = method.trainableVariables().reduce((n, v) => n + v.size, 0);
    const widest = Math.max(512, config.projector.hidden, config.projector.out);
    const layout = createSabLayout(threads, Math.max(paramCount, 2 * this.maxRows * widest, 4096) + 16);
    this.collective = new SabCollective(0, layout);
    const cl = commandLayout(threads);
    const commandSab = new SharedArrayBuffer(cl.bytes);
    this.command = new Int32Array(commandSab, 0, cl.int32s);
    this.commandF64 = new Float64Array(commandSab, cl.f64Offset, 2);
    const params: Record<string, Float32Array> = {};
    for (const [name, v] of method.namedVariables()) params[name] = v.dataSync() as Float32Array;
    const exported = o.optimizer?.exportState(stableNames(method));
    const optimizer = exported && { step: exported.step, slots: Object.fromEntries([...exported.slots].map(([k, t]) => [k, t.dataSync() as Float32Array])) };
    const methodState = method.saveState?.();
    const started: Promise<void>[] = [];
    for (let rank = 1; rank < threads; rank++) {
      const input = new SharedArrayBuffer(this.views * this.maxRows * this.pixels * 4 + this.maxRows * 4);
      this.inputs.push(input);
      const init: ShardInit = { rank, config, backend: o.backend, inputShape: o.inputShape, trainSize: o.trainSize, totalSteps: o.totalSteps, params, optimizer, methodState, layout, command: commandSab, input, views: this.views, maxRows: this.maxRows };
      const worker = startShardWorker(init);
      this.workers.push(worker);
      started.push(
        new Promise<void>((resolve, reject) => {
          worker.on('message', (m: { type: string; error?: string }) => {
            if (m.type === 'ready') resolve();
            if (m.type === 'error') {
              this.workerError ??= `training thread ${rank}: ${m.error}`;
              reject(new Error(this.workerError));
            }
          });
          worker.on('error', (e) => {
            this.workerError ??= `training thread ${rank}: ${e.message}`;
            this.collective.abort();
            reject(new Error(this.workerError));
          });
          worker.on('exit', (code) => {
            if (!this.closed) {
              this.workerError ??= `training thread ${rank} exited (code ${code})`;
              this.collective.abort();
              reject(new Error(this.workerError));
            }
          });
        }),
      );
    }
    this.ready = Promise.all(started).then(
      () => undefined,
      async (e: unknown) => {
        await this.close();
        throw e;
      },
    );
  }

  /** trainStep's contract (loss back, update applied) for the whole batch, computed over all threads. */
  async step(method: Method, vars: tf.Variable[], optimizer: Optimizer, batch: TrainBatch, lr: number): Promise<number> {
    if (this.workerError) throw new Error(this.workerError);
    const n = batch.views[0].shape[0];
    if (batch.views.length !== this.views || n > this.maxRows * this.threads) throw new Error(`data-parallel step: expected ${this.views} views of at most ${this.maxRows * this.threads} images`);
    const shards = shardRows(n, this.threads);
    const all = batch.views.map((v) => v.dataSync() as Float32Array);
    for (let r = 1; r < this.threads; r++) {
      const { offset, rows } = shards[r];
      const floats = new Float32Array(this.inputs[r - 1], 0, this.views * this.maxRows * this.pixels);
      all.forEach((values, v) => floats.set(values.subarray(offset * this.pixels, (offset + rows) * this.pixels), v * this.maxRows * this.pixels));
      new Int32Array(this.inputs[r - 1], floats.byteLength, this.maxRows).set(batch.indices.subarray(offset, offset + rows));
    }
    this.post(CODE.STEP, shards.map((s) => s.rows), batch, lr);
    const own = shards[0].rows;
    const views = batch.views.map((v) => tf.slice(v, 0, own) as tf.Tensor4D);
    try {
      return shardStep(method, vars, optimizer, { ...batch, views, indices: batch.indices.subarray(0, own) }, lr, this.collective);
    } catch (e) {
      if (e instanceof CollectiveAborted) {
        await new Promise((resolve) => setTimeout(resolve, 200)); // let the thread's own error arrive
        throw new Error(this.workerError ?? e.message);
      }
      this.collective.abort();
      throw e;
    } finally {
      tf.dispose(views);
    }
  }

  /** Largest |difference| between rank 0's trainable parameters and any other rank's (0 when in step). */
  checkReplicas(vars: tf.Variable[]): number {
    this.post(CODE.CHECK, [], undefined, 0);
    const flat = new Float32Array(vars.reduce((n, v) => n + v.size, 0));
    let at = 0;
    for (const v of vars) {
      flat.set(v.dataSync() as Float32Array, at);
      at += v.size;
    }
    const parts = this.collective.allGather(flat);
    let worst = 0;
    for (const p of parts.slice(1)) for (let i = 0; i < flat.length; i++) worst = Math.max(worst, Math.abs(p[i] - flat[i]));
    return worst;
  }

  private post(code: number, rows: number[], batch: TrainBatch | undefined, lr: number): void {
    this.command[CMD.CODE] = code;
    this.command[CMD.STEP] = batch?.step ?? 0;
    this.command[CMD.EPOCH] = batch?.epoch ?? 0;
    this.commandF64[CMD_F64.LR] = lr;
    this.commandF64[CMD_F64.PROGRESS] = batch?.progress ?? 0;
    rows.forEach((r, rank) => (this.command[CMD.ROWS + rank] = r));
    Atomics.add(this.command, CMD.SEQ, 1);
    Atomics.notify(this.command, CMD.SEQ);
  }

  /** Stops the shard threads. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.command[CMD.CODE] = CODE.STOP;
    Atomics.add(this.command, CMD.SEQ, 1);
    Atomics.notify(this.command, CMD.SEQ);
    this.collective.abort(); // a shard blocked in a collective wakes and ends too
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/**
 * The shard thread: dist/shard.js next to the bundle; in development (sources run by tsx) the .ts file
 * next to this one, loaded through tsx's require hook (a worker does not inherit the parent's loader).
 */
function startShardWorker(init: ShardInit): Worker {
  if (!__filename.endsWith('.ts')) return new Worker(join(__dirname, 'shard.js'), { workerData: init });
  const tsx = createRequire(__filename).resolve('tsx/cjs');
  const file = join(__dirname, 'shard-worker.ts');
  return new Worker(`require(${JSON.stringify(tsx)}); require(${JSON.stringify(file)});`, { eval: true, workerData: init });
}
