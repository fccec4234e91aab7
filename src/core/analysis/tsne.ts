import { FftRepulsion, type FftRepulsionOptions } from './fft-repulsion';
import { ANN_DEFAULTS, buildForest, forestNeighbours, refineNeighbours, type Forest } from './ann';
import { exactKnn } from './knn';
import { pca } from './pca';
import { Rng } from '../rng';

/** Seeded uniform numbers in [0, 1) from the engine's generator, so a cached map and a recomputed one agree. */
const seededUniform = (seed: number): (() => number) => {
  const rng = new Rng(seed);
  return () => rng.next();
};

/**
 * t-SNE for the embedding explorer's maps: Barnes-Hut (van der Maaten, "Accelerating t-SNE using
 * Tree-Based Algorithms", JMLR 15, 2014) for small maps and FFT-accelerated interpolation (Linderman et
 * al., Nature Methods 16, 2019; fft-repulsion.ts) for large ones, written here in TypeScript because no
 * well-kept JavaScript library implements either (the npm t-SNE packages are exact O(n²) per iteration
 * and unmaintained), and exact t-SNE cannot lay out the 10,000 test images of a run.
 *
 * It follows scikit-learn's `TSNE(method='barnes_hut')` (1.2+) so the two can be compared number for
 * number: input affinities from the 3·perplexity nearest neighbours (squared euclidean; approximate,
 * ann.ts, from ANN_FROM points) with a binary search per point for the perplexity, P symmetrised and
 * normalised to sum 1; PCA initialisation scaled to std 1e-4; early exaggeration 12 for 250 iterations
 * with momentum 0.5, then momentum 0.8; learning rate max(n / 12 / 4, 50); delta-bar-delta gains
 * (+0.2 / ×0.8, min 0.01), reset between the two phases; Student-t kernel with one degree of freedom;
 * Barnes-Hut repulsion summarised by a quadtree where a cell's width over its distance is below θ = 0.5.
 *
 * Pure: no DOM, no Node APIs, so it runs in a worker thread, a test, or a browser. The work splits
 * over threads through the Parallel interface below (src/webviews/analysis/tsne-pool.ts in Node).
 */

export interface TsneOptions {
  perplexity?: number;
  /** Total gradient iterations, early exaggeration included (scikit-learn's max_iter). */
  iterations?: number;
  /** Barnes-Hut accuracy: a cell is summarised when width / distance < theta (0 = exact). */
  theta?: number;
  earlyExaggeration?: number;
  exaggerationIterations?: number;
  learningRate?: number | 'auto';
  init?: 'pca' | 'random';
  seed?: number;
  /**
   * How the repulsive forces are summed: 'fft' by FFT-accelerated interpolation (fft-repulsion.ts; its
   * cost per iteration depends on the map's extent, not on n), 'barnes-hut' by the quadtree below
   * (O(n log n)), 'auto' by whichever is faster at this n (FFT_FROM points and more: FFT).
   */
  repulsion?: 'auto' | 'fft' | 'barnes-hut';
  /** The FFT interpolation's grid (fft-repulsion.ts). */
  fft?: FftRepulsionOptions;
  /** Input neighbours: 'exact' (knn.ts), 'approximate' (ann.ts), 'auto': approximate from ANN_FROM points. */
  neighbours?: 'auto' | 'exact' | 'approximate';
}

/** From this many points on, 'auto' neighbours are approximate (ann.ts): exact search grows as n². */
export const ANN_FROM = 5000;

/**
 * From this many points on, 'auto' repulsion is FFT interpolation. Barnes-Hut's cost per iteration grows
 * as n log n; the FFT's follows the map's extent (its grid), which a few thousand points already
 * stretch to a large grid. Measured (docs/BENCHMARKS-tsne.md): at 10,000 and 20,000 points the FFT
 * took 2.5× and 1.27× Barnes-Hut's CPU for a KL 0.04 and 0.08 higher; at 70,000 it took 164-190 s of
 * CPU, about half of Barnes-Hut's n log n scaled from 20,000. By that scaling the costs cross near
 * 30,000; the switch is past it, at 40,000, because where they are close Barnes-Hut's map is the better one.
 */
export const FFT_FROM = 40000;

const DEFAULTS = { perplexity: 30, iterations: 1000, theta: 0.5, earlyExaggeration: 12, exaggerationIterations: 250, learningRate: 'auto' as number | 'auto', init: 'pca' as 'pca' | 'random', seed: 0, repulsion: 'auto' as 'auto' | 'fft' | 'barnes-hut', fft: {} as FftRepulsionOptions, neighbours: 'auto' as 'auto' | 'exact' | 'approximate' };

/** Sparse symmetric joint probabilities P (CSR). */
export interface SparseP {
  rowPtr: Int32Array;
  cols: Int32Array;
  vals: Float64Array;
}

/**
 * Conditional probabilities p(j|i) ∝ exp(−β_i · d²_ij) over each row's k neighbours, β_i found by
 * bisection so that the row's entropy is log(perplexity). Distances are shifted by the row's smallest
 * one before exponentiating (the normalised result is the same) so far-away points never underflow.
 */
export function conditionalP(dist2: Float64Array, n: number, k: number, perplexity: number, lo = 0, hi = n, p: Float64Array = new Float64Array(n * k)): Float64Array {
  const target = Math.log(perplexity);
  for (let i = lo; i < hi; i++) {
    const o = i * k;
    const d0 = dist2[o];
    let beta = 1;
    let lo = -Infinity;
    let hi = Infinity;
    let sum = 0;
    for (let iter = 0; iter < 100; iter++) {
      sum = 0;
      let sumDP = 0;
      for (let j = 0; j < k; j++) {
        const dj = dist2[o + j] - d0;
        const pj = Math.exp(-dj * beta);
        p[o + j] = pj;
        sum += pj;
        sumDP += dj * pj;
      }
      if (sum === 0) sum = 1e-8;
      const entropy = Math.log(sum) + (beta * sumDP) / sum;
      const diff = entropy - target;
      if (Math.abs(diff) <= 1e-5) break;
      if (diff > 0) {
        lo = beta;
        beta = hi === Infinity ? beta * 2 : (beta + hi) / 2;
      } else {
        hi = beta;
        beta = lo === -Infinity ? beta / 2 : (beta + lo) / 2;
      }
    }
    for (let j = 0; j < k; j++) p[o + j] /= sum;
  }
  return p;
}

/** P = (P_cond + P_condᵀ) / sum, as CSR; duplicates (i in j's list and j in i's) are merged. */
export function symmetrize(ids: Int32Array, pc: Float64Array, n: number, k: number): SparseP {
  // Row i holds its own k entries plus one for every row that lists i.
  const rowPtr = new Int32Array(n + 1);
  const counts = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    counts[i] += k;
    for (let j = 0; j < k; j++) counts[ids[i * k + j]]++;
  }
  const start = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) start[i + 1] = start[i] + counts[i];
  const rawCols = new Int32Array(start[n]);
  const rawVals = new Float64Array(start[n]);
  const fill = start.slice(0, n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < k; j++) {
      const c = ids[i * k + j];
      const v = pc[i * k + j];
      rawCols[fill[i]] = c;
      rawVals[fill[i]++] = v;
      rawCols[fill[c]] = i;
      rawVals[fill[c]++] = v;
    }
  // Merge duplicate columns within each row with a "where did I put column c in this row" marker.
  const where = new Int32Array(n).fill(-1);
  const stamp = new Int32Array(n).fill(-1);
  const cols = new Int32Array(start[n]);
  const vals = new Float64Array(start[n]);
  let nnz = 0;
  let total = 0;
  for (let i = 0; i < n; i++) {
    rowPtr[i] = nnz;
    for (let e = start[i]; e < start[i + 1]; e++) {
      const c = rawCols[e];
      if (stamp[c] === i) vals[where[c]] += rawVals[e];
      else {
        stamp[c] = i;
        where[c] = nnz;
        cols[nnz] = c;
        vals[nnz++] = rawVals[e];
      }
      total += rawVals[e];
    }
  }
  rowPtr[n] = nnz;
  const inv = 1 / Math.max(total, 1e-300);
  for (let e = 0; e < nnz; e++) vals[e] *= inv;
  return { rowPtr, cols: cols.slice(0, nnz), vals: vals.slice(0, nnz) };
}

/**
 * A quadtree over the 2-D embedding in flat typed arrays (no per-node objects: it is rebuilt every
 * iteration). Leaves hold one point, or several identical ones past the depth limit.
 */
export class QuadTree {
  comX = new Float64Array(0);
  comY = new Float64Array(0);
  count = new Int32Array(0);
  width = new Float64Array(0);
  child = new Int32Array(0);
  start = new Int32Array(0);
  end = new Int32Array(0);
  nodes = 0;
  readonly perm: Int32Array;
  private readonly tmp: Int32Array;

  constructor(readonly n: number) {
    this.perm = new Int32Array(n);
    this.tmp = new Int32Array(n);
    this.grow(Math.max(64, 4 * n));
  }

  private grow(size: number): void {
    const g = <T extends Float64Array | Int32Array>(a: T, make: (s: number) => T): T => {
      const b = make(size);
      b.set(a.subarray(0, Math.min(a.length, size)));
      return b;
    };
    this.comX = g(this.comX, (s) => new Float64Array(s));
    this.comY = g(this.comY, (s) => new Float64Array(s));
    this.count = g(this.count, (s) => new Int32Array(s));
    this.width = g(this.width, (s) => new Float64Array(s));
    this.child = g(this.child, (s) => new Int32Array(s));
    this.start = g(this.start, (s) => new Int32Array(s));
    this.end = g(this.end, (s) => new Int32Array(s));
  }

  build(y: Float64Array): void {
    const n = this.n;
    let minX = Infinity;
    let minY = Infinity;
    let maxX = -Infinity;
    let maxY = -Infinity;
    for (let i = 0; i < n; i++) {
      const x = y[2 * i];
      const v = y[2 * i + 1];
      if (x < minX) minX = x;
      if (x > maxX) maxX = x;
      if (v < minY) minY = v;
      if (v > maxY) maxY = v;
      this.perm[i] = i;
    }
    const hw = Math.max(maxX - minX, maxY - minY) / 2 + 1e-9;
    this.nodes = 1;
    this.node(0, y, 0, n, (minX + maxX) / 2, (minY + maxY) / 2, hw, 0);
  }

  private node(id: number, y: Float64Array, lo: number, hi: number, cx: number, cy: number, hw: number, depth: number): void {
    const perm = this.perm;
    let sx = 0;
    let sy = 0;
    for (let t = lo; t < hi; t++) {
      sx += y[2 * perm[t]];
      sy += y[2 * perm[t] + 1];
    }
    const cnt = hi - lo;
    this.count[id] = cnt;
    this.comX[id] = cnt ? sx / cnt : cx;
    this.comY[id] = cnt ? sy / cnt : cy;
    this.width[id] = 2 * hw;
    this.start[id] = lo;
    this.end[id] = hi;
    if (cnt <= 1 || depth >= 48) {
      this.child[id] = -1;
      return;
    }
    // Counting sort of the points into the four quadrants.
    const q = [0, 0, 0, 0];
    for (let t = lo; t < hi; t++) {
      const i = perm[t];
      q[(y[2 * i] >= cx ? 1 : 0) + (y[2 * i + 1] >= cy ? 2 : 0)]++;
    }
    const off = [lo, lo + q[0], lo + q[0] + q[1], lo + q[0] + q[1] + q[2]];
    const pos = off.slice();
    for (let t = lo; t < hi; t++) {
      const i = perm[t];
      this.tmp[pos[(y[2 * i] >= cx ? 1 : 0) + (y[2 * i + 1] >= cy ? 2 : 0)]++] = i;
    }
    perm.set(this.tmp.subarray(lo, hi), lo);
    if (this.nodes + 4 > this.count.length) this.grow(this.count.length * 2);
    const first = this.nodes;
    this.nodes += 4;
    this.child[id] = first;
    const h = hw / 2;
    for (let c = 0; c < 4; c++) {
      const ccx = cx + (c & 1 ? h : -h);
      const ccy = cy + (c & 2 ? h : -h);
      this.node(first + c, y, off[c], off[c] + q[c], ccx, ccy, h, depth + 1);
    }
  }
}

/** Points i's attractive force exaggeration · Σ_j p_ij (1 + d²_ij)⁻¹ (y_i − y_j) for i in [lo, hi), into out. */
export function attractive(y: Float64Array, P: SparseP, exaggeration: number, lo: number, hi: number, out: Float64Array): void {
  const { rowPtr, cols, vals } = P;
  for (let i = lo; i < hi; i++) {
    const yx = y[2 * i];
    const yy = y[2 * i + 1];
    let fx = 0;
    let fy = 0;
    for (let e = rowPtr[i]; e < rowPtr[i + 1]; e++) {
      const j = cols[e];
      const dx = yx - y[2 * j];
      const dy = yy - y[2 * j + 1];
      const w = vals[e] / (1 + dx * dx + dy * dy);
      fx += w * dx;
      fy += w * dy;
    }
    out[2 * i] = exaggeration * fx;
    out[2 * i + 1] = exaggeration * fy;
  }
}

/**
 * Σ_j (1 + d²_ij)⁻² (y_i − y_j) into neg for the points at tree positions [lo, hi) (tree.perm order:
 * consecutive points walk nearly the same cells, which stay in cache), with cells summarised where
 * width / distance < θ; returns their share of Z = Σ_{i≠j} (1 + d²_ij)⁻¹.
 */
export function barnesHut(tree: QuadTree, y: Float64Array, theta: number, lo: number, hi: number, neg: Float64Array, stack: Int32Array = new Int32Array(4096)): number {
  const { comX, comY, count, width, child, start, end, perm } = tree;
  const theta2 = theta * theta;
  let sumQ = 0;
  for (let o = lo; o < hi; o++) {
    const i = perm[o];
    const px = y[2 * i];
    const py = y[2 * i + 1];
    let fx = 0;
    let fy = 0;
    let sp = 0;
    stack[sp++] = 0;
    while (sp > 0) {
      const node = stack[--sp];
      const cnt = count[node];
      if (cnt === 0) continue;
      const c = child[node];
      if (c < 0) {
        if (cnt === 1) {
          // Most leaves hold one point, whose position is the cell's centre of mass.
          if (perm[start[node]] === i) continue;
          const dx = px - comX[node];
          const dy = py - comY[node];
          const q = 1 / (1 + dx * dx + dy * dy);
          sumQ += q;
          fx += q * q * dx;
          fy += q * q * dy;
          continue;
        }
        for (let t = start[node]; t < end[node]; t++) {
          const j = perm[t];
          if (j === i) continue;
          const dx = px - y[2 * j];
          const dy = py - y[2 * j + 1];
          const q = 1 / (1 + dx * dx + dy * dy);
          sumQ += q;
          fx += q * q * dx;
          fy += q * q * dy;
        }
        continue;
      }
      const dx = px - comX[node];
      const dy = py - comY[node];
      const d2 = dx * dx + dy * dy;
      const w = width[node];
      if (w * w < theta2 * d2) {
        const q = 1 / (1 + d2);
        const qc = cnt * q;
        sumQ += qc;
        fx += qc * q * dx;
        fy += qc * q * dy;
      } else {
        if (count[c]) stack[sp++] = c;
        if (count[c + 1]) stack[sp++] = c + 1;
        if (count[c + 2]) stack[sp++] = c + 2;
        if (count[c + 3]) stack[sp++] = c + 3;
      }
    }
    neg[2 * i] = fx;
    neg[2 * i + 1] = fy;
  }
  return sumQ;
}

/**
 * What the threads of a t-SNE share: plain arrays in shared memory, so the context can be posted to a
 * worker thread and every thread sees the same numbers. 'knn' while the affinities are computed,
 * 'tsne' while the layout is optimised.
 */
export type ThreadContext =
  | {
      kind: 'knn';
      x: Float32Array;
      n: number;
      d: number;
      k: number;
      perplexity: number;
      forest: Forest;
      fanout: number;
      /** Forest candidates, then the refined graph (n × k each). */
      ids: Int32Array;
      d2: Float64Array;
      outIds: Int32Array;
      outD2: Float64Array;
      /** Conditional p(j|i) over the refined graph. */
      p: Float64Array;
    }
  | {
      kind: 'tsne';
      n: number;
      y: Float64Array;
      P: SparseP;
      theta: number;
      repulsion: 'fft' | 'barnes-hut';
      fft: FftRepulsionOptions;
      grids: [Float64Array, Float64Array] | null;
      attr: Float64Array;
      neg: Float64Array;
    };

/** The thread-side steps, each over the calling thread's share (thread t of T) of the rows. */
export type ThreadOp = 'forest' | 'refine' | 'condp' | 'bh' | 'fft-convolve' | 'fft-gather';

/** State a thread keeps between calls on the same context (its quadtree, its FFT plans). */
const threadState = new WeakMap<object, { tree?: QuadTree; fft?: FftRepulsion; stack: Int32Array }>();

/** Runs one step for thread t of T on ctx; returns the thread's share of a sum (Z) where the step has one. */
export function threadOp(ctx: ThreadContext, op: ThreadOp, arg: number, t: number, T: number): number {
  const n = ctx.n;
  const lo = Math.floor((t * n) / T);
  const hi = Math.floor(((t + 1) * n) / T);
  let st = threadState.get(ctx);
  if (!st) threadState.set(ctx, (st = { stack: new Int32Array(4096) }));
  if (ctx.kind === 'knn') {
    if (op === 'forest') forestNeighbours(ctx.x, ctx.d, ctx.k, ctx.forest, lo, hi, ctx.ids, ctx.d2);
    else if (op === 'refine') refineNeighbours(ctx.x, n, ctx.d, ctx.k, ctx.ids, ctx.d2, ctx.fanout, lo, hi, ctx.outIds, ctx.outD2);
    else if (op === 'condp') conditionalP(ctx.outD2, n, ctx.k, ctx.perplexity, lo, hi, ctx.p);
    else throw new Error(`t-SNE thread: ${op} is not a k-NN step`);
    return 0;
  }
  if (op === 'bh') {
    attractive(ctx.y, ctx.P, arg, lo, hi, ctx.attr);
    const tree = (st.tree ??= new QuadTree(n));
    // Each thread builds the same tree (it is cheap next to the walk) and walks its share of it.
    tree.build(ctx.y);
    return barnesHut(tree, ctx.y, ctx.theta, lo, hi, ctx.neg, st.stack);
  }
  const fft = (st.fft ??= new FftRepulsion(n, ctx.fft, ctx.grids ?? undefined));
  if (op === 'fft-convolve') {
    // Two independent grids: threads 0 and 1 take one each (one thread does both).
    const plan = fft.plan(ctx.y);
    if (T === 1) {
      fft.spreadAndConvolve(plan, ctx.y, 0);
      fft.spreadAndConvolve(plan, ctx.y, 1);
    } else if (t < 2) fft.spreadAndConvolve(plan, ctx.y, t as 0 | 1);
    return 0;
  }
  if (op === 'fft-gather') {
    attractive(ctx.y, ctx.P, arg, lo, hi, ctx.attr);
    return fft.gather(fft.plan(ctx.y), ctx.y, lo, hi, ctx.neg);
  }
  throw new Error(`t-SNE thread: ${op} is not an optimisation step`);
}

/**
 * Threads to split the work over (the analysis worker's pool of worker_threads). Without one, or with
 * one thread, everything runs on the calling thread: the results are the same either way.
 */
export interface Parallel {
  readonly threads: number;
  /** Memory every thread sees (a SharedArrayBuffer). */
  shared(bytes: number): ArrayBuffer | SharedArrayBuffer;
  /** Hands ctx to the other threads (its arrays must be views of shared memory). */
  setup(ctx: ThreadContext): void;
  /** Runs op on every other thread while `own` runs here as thread 0; returns each thread's number, thread 0's first. */
  run(op: ThreadOp, arg: number, own: () => number): number[];
}

/** One thread, this one. */
const SERIAL: Parallel = {
  threads: 1,
  shared: (bytes) => new ArrayBuffer(bytes),
  setup: () => undefined,
  run: (_op, _arg, own) => [own()],
};

export class Tsne {
  readonly n: number;
  /** n × 2 positions, row-major. */
  readonly y: Float64Array;
  readonly P: SparseP;
  readonly options: Required<TsneOptions>;
  readonly learningRate: number;
  /** The repulsion actually used ('auto' resolved), and whether the neighbours were approximate. */
  readonly repulsionMethod: 'fft' | 'barnes-hut';
  readonly approximateNeighbours: boolean;
  iteration = 0;
  private readonly update: Float64Array;
  private readonly gains: Float64Array;
  private readonly grad: Float64Array;
  private readonly ctx: Extract<ThreadContext, { kind: 'tsne' }>;
  /** Normalisation Σ_{i≠j} (1 + d²_ij)⁻¹ from the last gradient, for the KL. */
  private sumQ = 1;

  /**
   * Computes the input affinities (the expensive part before the first iteration) and the initial
   * layout. With `parallel`, the neighbour search and the gradient are split over its threads.
   */
  constructor(
    x: Float32Array,
    n: number,
    d: number,
    options: TsneOptions = {},
    private readonly parallel: Parallel = SERIAL,
  ) {
    if (n < 3) throw new Error(`t-SNE needs at least 3 points; got ${n}`);
    const o = { ...DEFAULTS, ...options };
    if (!(o.perplexity > 0)) throw new Error(`perplexity must be positive; got ${o.perplexity}`);
    // scikit-learn raises when perplexity ≥ n; a map of few points still deserves a picture, so clamp.
    o.perplexity = Math.min(o.perplexity, (n - 1) / 3);
    this.options = o as Required<TsneOptions>;
    this.n = n;
    this.learningRate = o.learningRate === 'auto' ? Math.max(n / o.earlyExaggeration / 4, 50) : o.learningRate;
    const k = Math.min(n - 1, Math.floor(3 * o.perplexity + 1));
    const f64 = (len: number) => new Float64Array(parallel.shared(8 * len));
    const i32 = (len: number) => new Int32Array(parallel.shared(4 * len));
    this.approximateNeighbours = o.neighbours === 'auto' ? n >= ANN_FROM : o.neighbours === 'approximate';
    if (this.approximateNeighbours) {
      const forest = buildForest(x, n, d, { seed: o.seed });
      const share = <T extends Float32Array | Int32Array>(a: T, make: (len: number) => T): T => {
        const b = make(a.length);
        b.set(a);
        return b;
      };
      const knn: ThreadContext = {
        kind: 'knn',
        x: share(x, (len) => new Float32Array(parallel.shared(4 * len))),
        n,
        d,
        k,
        perplexity: o.perplexity,
        forest: { ...forest, perm: share(forest.perm, i32), leafLo: share(forest.leafLo, i32), leafHi: share(forest.leafHi, i32) },
        fanout: ANN_DEFAULTS.fanout,
        ids: i32(n * k),
        d2: f64(n * k),
        outIds: i32(n * k),
        outD2: f64(n * k),
        p: f64(n * k),
      };
      parallel.setup(knn);
      for (const op of ['forest', 'refine', 'condp'] as const) parallel.run(op, 0, () => threadOp(knn, op, 0, 0, parallel.threads));
      this.P = symmetrize(knn.outIds, knn.p, n, k);
    } else {
      const nn = exactKnn(x, n, d, k);
      this.P = symmetrize(nn.ids, conditionalP(nn.dist2, n, nn.k, o.perplexity), n, nn.k);
    }
    this.y = f64(2 * n);
    if (o.init === 'pca' && d >= 2) {
      const c = pca(x, n, d, 2).coords;
      let m = 0;
      let s = 0;
      for (let i = 0; i < n; i++) m += c[2 * i];
      m /= n;
      for (let i = 0; i < n; i++) s += (c[2 * i] - m) ** 2;
      const scale = 1e-4 / Math.max(Math.sqrt(s / n), 1e-300);
      for (let i = 0; i < 2 * n; i++) this.y[i] = c[i] * scale;
    } else {
      const r = seededUniform(o.seed);
      // Gaussian with std 1e-4, as scikit-learn's random init.
      for (let i = 0; i < 2 * n; i++) this.y[i] = 1e-4 * Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
    }
    this.update = new Float64Array(2 * n);
    this.gains = new Float64Array(2 * n).fill(1);
    this.grad = new Float64Array(2 * n);
    this.repulsionMethod = o.repulsion === 'auto' ? (n >= FFT_FROM && o.theta > 0 ? 'fft' : 'barnes-hut') : o.repulsion;
    const fftGrids = this.repulsionMethod === 'fft' && parallel.threads > 1 ? ([f64(FftRepulsion.gridLength(o.fft)), f64(FftRepulsion.gridLength(o.fft))] as [Float64Array, Float64Array]) : null;
    const P = parallel.threads > 1 ? { rowPtr: share32(this.P.rowPtr, i32), cols: share32(this.P.cols, i32), vals: shareF64(this.P.vals, f64) } : this.P;
    this.ctx = { kind: 'tsne', n, y: this.y, P, theta: o.theta, repulsion: this.repulsionMethod, fft: o.fft, grids: fftGrids, attr: f64(2 * n), neg: f64(2 * n) };
    parallel.setup(this.ctx);
  }

  get exaggerating(): boolean {
    return this.iteration < this.options.exaggerationIterations;
  }

  get done(): boolean {
    return this.iteration >= this.options.iterations;
  }

  /** One gradient-descent iteration. */
  step(): void {
    const n = this.n;
    if (this.iteration === this.options.exaggerationIterations) {
      // scikit-learn starts its second optimisation phase afresh.
      this.update.fill(0);
      this.gains.fill(1);
    }
    const exaggeration = this.exaggerating ? this.options.earlyExaggeration : 1;
    const momentum = this.exaggerating ? 0.5 : 0.8;
    this.gradient(exaggeration);
    const { grad, gains, update, y } = this;
    const lr = this.learningRate;
    for (let i = 0; i < 2 * n; i++) {
      const g = grad[i];
      gains[i] = update[i] * g < 0 ? gains[i] + 0.2 : Math.max(gains[i] * 0.8, 0.01);
      update[i] = momentum * update[i] - lr * gains[i] * g;
      y[i] += update[i];
    }
    this.iteration++;
  }

  /** ∂KL/∂y: 4 · (exaggeration · Σ_j p_ij q_ij Z (y_i − y_j) − Σ_j (q_ij Z)² (y_i − y_j) / Z). */
  private gradient(exaggeration: number): void {
    const { grad, ctx } = this;
    this.repulsion(exaggeration);
    const invZ = 1 / this.sumQ;
    for (let i = 0; i < 2 * this.n; i++) grad[i] = 4 * (ctx.attr[i] - ctx.neg[i] * invZ);
  }

  /** Both halves of the gradient into ctx.attr and ctx.neg, Z into this.sumQ. */
  private repulsion(exaggeration: number): void {
    const { parallel, ctx } = this;
    const T = parallel.threads;
    const run = (op: ThreadOp) => parallel.run(op, exaggeration, () => threadOp(ctx, op, exaggeration, 0, T)).reduce((a, b) => a + b, 0);
    let z: number;
    if (this.repulsionMethod === 'fft') {
      run('fft-convolve');
      z = run('fft-gather');
    } else z = run('bh');
    this.sumQ = Math.max(z, 1e-300);
  }

  /**
   * KL(P‖Q) at the current layout, the objective t-SNE minimises (without exaggeration). Z comes from
   * the repulsion's own approximation (exact when theta = 0); P is sparse, so the sum runs over its
   * non-zeros only.
   */
  klDivergence(): number {
    this.repulsion(1);
    return this.klWithZ(this.sumQ);
  }

  /**
   * KL(P‖Q) with the Z of the last step's gradient, for progress reports: no extra repulsion pass, at
   * the price of a Z one step behind the layout.
   */
  currentKl(): number {
    return this.iteration === 0 ? this.klDivergence() : this.klWithZ(this.sumQ);
  }

  /** KL with Z summed exactly over all pairs: O(n²), for tests. */
  exactKlDivergence(): number {
    const { n, y } = this;
    let z = 0;
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) if (i !== j) z += 1 / (1 + (y[2 * i] - y[2 * j]) ** 2 + (y[2 * i + 1] - y[2 * j + 1]) ** 2);
    return this.klWithZ(z);
  }

  private klWithZ(z: number): number {
    const { n, y } = this;
    const { rowPtr, cols, vals } = this.P;
    let kl = 0;
    for (let i = 0; i < n; i++)
      for (let e = rowPtr[i]; e < rowPtr[i + 1]; e++) {
        const j = cols[e];
        const p = vals[e];
        if (p <= 0) continue;
        const q = 1 / (1 + (y[2 * i] - y[2 * j]) ** 2 + (y[2 * i + 1] - y[2 * j + 1]) ** 2) / z;
        kl += p * Math.log(Math.max(p, 1e-12) / Math.max(q, 1e-12));
      }
    return kl;
  }

  /** The layout as Float32 n × 2 (what the explorer draws and the store caches). */
  coords(): Float32Array {
    return Float32Array.from(this.y);
  }
}

const share32 = (a: Int32Array, make: (len: number) => Int32Array): Int32Array => {
  const b = make(a.length);
  b.set(a);
  return b;
};
const shareF64 = (a: Float64Array, make: (len: number) => Float64Array): Float64Array => {
  const b = make(a.length);
  b.set(a);
  return b;
};

/** Runs t-SNE to completion; `onProgress` is called every `every` iterations with the current layout. */
export function tsne(
  x: Float32Array,
  n: number,
  d: number,
  options: TsneOptions = {},
  onProgress?: (t: Tsne) => void,
  every = 50,
): { coords: Float32Array; kl: number; iterations: number } {
  const t = new Tsne(x, n, d, options);
  while (!t.done) {
    t.step();
    if (onProgress && t.iteration % every === 0) onProgress(t);
  }
  return { coords: t.coords(), kl: t.klDivergence(), iterations: t.iteration };
}
