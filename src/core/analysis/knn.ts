/**
 * Exact nearest neighbours on dense row-major Float32 vectors (n × d), brute force. For the sizes the
 * explorer shows (≤ 10⁵ test images, d ≤ 512) exact search is affordable off the UI thread, and in
 * 64–512 dimensions space-partitioning trees barely beat it.
 */

/** Squared L2 norm of each row. */
export function rowNorms2(x: Float32Array, n: number, d: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    const o = i * d;
    for (let t = 0; t < d; t++) s += x[o + t] * x[o + t];
    out[i] = s;
  }
  return out;
}

export function dot(x: Float32Array, a: number, b: number, d: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let t = 0;
  for (; t + 3 < d; t += 4) {
    s0 += x[a + t] * x[b + t];
    s1 += x[a + t + 1] * x[b + t + 1];
    s2 += x[a + t + 2] * x[b + t + 2];
    s3 += x[a + t + 3] * x[b + t + 3];
  }
  for (; t < d; t++) s0 += x[a + t] * x[b + t];
  return s0 + s1 + s2 + s3;
}

/**
 * A bounded max-heap per row (the k smallest keys seen so far), all rows in two flat arrays:
 * keys/ids of row i live at [i·k, (i+1)·k).
 */
export class RowHeaps {
  readonly keys: Float64Array;
  readonly ids: Int32Array;
  readonly size: Int32Array;
  constructor(
    n: number,
    readonly k: number,
  ) {
    this.keys = new Float64Array(n * k);
    this.ids = new Int32Array(n * k);
    this.size = new Int32Array(n);
  }
  /** Worst (largest) key kept for row i, or +∞ while the heap is not full. */
  worst(i: number): number {
    return this.size[i] < this.k ? Infinity : this.keys[i * this.k];
  }
  push(i: number, key: number, id: number): void {
    const k = this.k;
    const base = i * k;
    const keys = this.keys;
    const ids = this.ids;
    let s = this.size[i];
    if (s < k) {
      // Sift up.
      let c = s;
      this.size[i] = ++s;
      while (c > 0) {
        const p = (c - 1) >> 1;
        if (keys[base + p] >= key) break;
        keys[base + c] = keys[base + p];
        ids[base + c] = ids[base + p];
        c = p;
      }
      keys[base + c] = key;
      ids[base + c] = id;
      return;
    }
    if (key >= keys[base]) return;
    // Replace the root and sift down.
    let c = 0;
    for (;;) {
      const l = 2 * c + 1;
      if (l >= k) break;
      const r = l + 1;
      const m = r < k && keys[base + r] > keys[base + l] ? r : l;
      if (keys[base + m] <= key) break;
      keys[base + c] = keys[base + m];
      ids[base + c] = ids[base + m];
      c = m;
    }
    keys[base + c] = key;
    ids[base + c] = id;
  }
  /** Row i's entries sorted by key ascending, into the given output slices. */
  sortedRow(i: number, outIds: Int32Array, outKeys: Float64Array, offset: number): void {
    const k = this.k;
    const s = this.size[i];
    const order = Array.from({ length: s }, (_, t) => t).sort((a, b) => this.keys[i * k + a] - this.keys[i * k + b]);
    for (let t = 0; t < s; t++) {
      outIds[offset + t] = this.ids[i * k + order[t]];
      outKeys[offset + t] = this.keys[i * k + order[t]];
    }
  }
}

export interface KnnResult {
  k: number;
  /** n × k neighbour ids, nearest first (the point itself excluded). */
  ids: Int32Array;
  /** n × k squared euclidean distances, ascending. */
  dist2: Float64Array;
}

/**
 * Dot products of rows a..a+3 with rows b..b+3 into out[4·ii + jj]: a 4 × 4 register block loads 8
 * values per 16 multiply-adds, ~3× the throughput of one dot product at a time in V8 (no SIMD in JS).
 */
function dot4x4(x: Float32Array, a: number, b: number, d: number, out: Float64Array): void {
  const a0 = a * d;
  const a1 = a0 + d;
  const a2 = a1 + d;
  const a3 = a2 + d;
  const b0 = b * d;
  const b1 = b0 + d;
  const b2 = b1 + d;
  const b3 = b2 + d;
  let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
  let s20 = 0, s21 = 0, s22 = 0, s23 = 0, s30 = 0, s31 = 0, s32 = 0, s33 = 0;
  for (let t = 0; t < d; t++) {
    const x0 = x[a0 + t];
    const x1 = x[a1 + t];
    const x2 = x[a2 + t];
    const x3 = x[a3 + t];
    const y0 = x[b0 + t];
    const y1 = x[b1 + t];
    const y2 = x[b2 + t];
    const y3 = x[b3 + t];
    s00 += x0 * y0;
    s01 += x0 * y1;
    s02 += x0 * y2;
    s03 += x0 * y3;
    s10 += x1 * y0;
    s11 += x1 * y1;
    s12 += x1 * y2;
    s13 += x1 * y3;
    s20 += x2 * y0;
    s21 += x2 * y1;
    s22 += x2 * y2;
    s23 += x2 * y3;
    s30 += x3 * y0;
    s31 += x3 * y1;
    s32 += x3 * y2;
    s33 += x3 * y3;
  }
  out[0] = s00;
  out[1] = s01;
  out[2] = s02;
  out[3] = s03;
  out[4] = s10;
  out[5] = s11;
  out[6] = s12;
  out[7] = s13;
  out[8] = s20;
  out[9] = s21;
  out[10] = s22;
  out[11] = s23;
  out[12] = s30;
  out[13] = s31;
  out[14] = s32;
  out[15] = s33;
}

/**
 * The k nearest neighbours (squared euclidean) of every row, excluding itself. Each pair's distance is
 * computed once (‖a‖² + ‖b‖² − 2a·b) and offered to both rows' heaps; rows are taken in tiles that stay
 * in cache and in 4 × 4 blocks of dot products.
 */
export function exactKnn(x: Float32Array, n: number, d: number, k: number): KnnResult {
  k = Math.min(k, n - 1);
  const norms = rowNorms2(x, n, d);
  const heaps = new RowHeaps(n, k);
  const TILE = 128;
  const block = new Float64Array(16);
  for (let i0 = 0; i0 < n; i0 += TILE) {
    const i1 = Math.min(n, i0 + TILE);
    for (let j0 = i0; j0 < n; j0 += TILE) {
      const j1 = Math.min(n, j0 + TILE);
      for (let i = i0; i < i1; i += 4) {
        const iN = Math.min(4, i1 - i);
        // On the diagonal tile, start at this row block: pairs with b ≤ a are skipped below.
        for (let j = j0 === i0 ? i : j0; j < j1; j += 4) {
          const jN = Math.min(4, j1 - j);
          if (iN === 4 && jN === 4) dot4x4(x, i, j, d, block);
          else for (let ii = 0; ii < iN; ii++) for (let jj = 0; jj < jN; jj++) block[4 * ii + jj] = dot(x, (i + ii) * d, (j + jj) * d, d);
          for (let ii = 0; ii < iN; ii++) {
            const a = i + ii;
            for (let jj = 0; jj < jN; jj++) {
              const b = j + jj;
              if (b <= a) continue;
              let dd = norms[a] + norms[b] - 2 * block[4 * ii + jj];
              if (dd < 0) dd = 0;
              if (dd < heaps.worst(a)) heaps.push(a, dd, b);
              if (dd < heaps.worst(b)) heaps.push(b, dd, a);
            }
          }
        }
      }
    }
  }
  const ids = new Int32Array(n * k);
  const dist2 = new Float64Array(n * k);
  for (let i = 0; i < n; i++) heaps.sortedRow(i, ids, dist2, i * k);
  return { k, ids, dist2 };
}

/** Rows scaled to unit length (zero rows stay zero), so a dot product is the cosine similarity. */
export function l2NormalizeRows(x: Float32Array, n: number, d: number): Float32Array {
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let t = 0; t < d; t++) s += x[i * d + t] ** 2;
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let t = 0; t < d; t++) out[i * d + t] = x[i * d + t] * inv;
  }
  return out;
}

/**
 * The k most cosine-similar rows to row `query` of `unit` (rows already L2-normalised), most similar
 * first, the query itself excluded.
 */
export function cosineNeighbours(unit: Float32Array, n: number, d: number, query: number, k: number): { ids: number[]; similarities: number[] } {
  k = Math.min(k, n - 1);
  const heaps = new RowHeaps(1, k);
  const q = query * d;
  for (let j = 0; j < n; j++) {
    if (j === query) continue;
    // Max-heap of the k smallest keys: key = −similarity keeps the k most similar.
    const key = -dot(unit, q, j * d, d);
    if (key < heaps.worst(0)) heaps.push(0, key, j);
  }
  const ids = new Int32Array(k);
  const keys = new Float64Array(k);
  heaps.sortedRow(0, ids, keys, 0);
  return { ids: [...ids], similarities: [...keys].map((v) => -v) };
}

/**
 * How much two embeddings of the same samples agree about who is close to whom: for each query sample,
 * the fraction of its k cosine nearest neighbours in A that are also among its k nearest in B, averaged
 * over queries (1 = identical neighbourhoods; about k/n for unrelated embeddings). `a` and `b` must be
 * row-aligned (row i is the same sample in both) and L2-normalised.
 */
export function knnAgreement(a: Float32Array, da: number, b: Float32Array, db: number, n: number, k: number, queries: ArrayLike<number>): number {
  if (!queries.length || n < 2) return NaN;
  let total = 0;
  for (let t = 0; t < queries.length; t++) {
    const q = queries[t];
    const na = new Set(cosineNeighbours(a, n, da, q, k).ids);
    const nb = cosineNeighbours(b, n, db, q, k).ids;
    let shared = 0;
    for (const j of nb) if (na.has(j)) shared++;
    total += shared / Math.min(k, n - 1);
  }
  return total / queries.length;
}
