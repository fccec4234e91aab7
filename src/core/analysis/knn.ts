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

function dot(x: Float32Array, a: number, b: number, d: number): number {
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
class RowHeaps {
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
 * The k nearest neighbours (squared euclidean) of every row, excluding itself. Each pair's distance is
 * computed once (‖a‖² + ‖b‖² − 2a·b) and offered to both rows' heaps; tiles of rows keep the inner loop
 * in cache.
 */
export function exactKnn(x: Float32Array, n: number, d: number, k: number): KnnResult {
  k = Math.min(k, n - 1);
  const norms = rowNorms2(x, n, d);
  const heaps = new RowHeaps(n, k);
  const TILE = 128;
  for (let i0 = 0; i0 < n; i0 += TILE) {
    const i1 = Math.min(n, i0 + TILE);
    for (let j0 = i0; j0 < n; j0 += TILE) {
      const j1 = Math.min(n, j0 + TILE);
      for (let i = i0; i < i1; i++) {
        const ai = i * d;
        const ni = norms[i];
        let wi = heaps.worst(i);
        for (let j = j0 === i0 ? i + 1 : j0; j < j1; j++) {
          let dd = ni + norms[j] - 2 * dot(x, ai, j * d, d);
          if (dd < 0) dd = 0;
          if (dd < wi) {
            heaps.push(i, dd, j);
            wi = heaps.worst(i);
          }
          if (dd < heaps.worst(j)) heaps.push(j, dd, i);
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
