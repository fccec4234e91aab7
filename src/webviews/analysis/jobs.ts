import { UMAP } from 'umap-js';
import { cosineNeighbours, knnAgreement, l2NormalizeRows } from '../../core/analysis/knn';
import { pca } from '../../core/analysis/pca';
import { Tsne } from '../../core/analysis/tsne';
import type { ProjectionParams } from '../protocol/projection';
import { defaultThreads, TsnePool } from './tsne-pool';
import { Rng } from '../../core/rng';

/** Seeded uniform numbers in [0, 1) from the engine's generator, so a cached map and a recomputed one agree. */
const seededUniform = (seed: number): (() => number) => {
  const rng = new Rng(seed);
  return () => rng.next();
};

/**
 * The analysis the panels need, as plain functions of arrays: what the analysis worker thread runs.
 * Kept apart from the worker's message plumbing so tests can call them directly.
 */

export interface ProjectionProgress {
  coords: Float32Array;
  iteration: number;
  total: number;
  kl: number | null;
}

/**
 * Computes a 2-D map, calling `progress` with intermediate layouts (at most every `everyMs`; t-SNE's
 * with the KL so far) and returning the final one. `shouldStop` is polled between iterations.
 */
export function project(
  vectors: Float32Array,
  n: number,
  d: number,
  params: ProjectionParams,
  progress: (p: ProjectionProgress) => void,
  everyMs = 150,
  shouldStop: () => boolean = () => false,
  /** Threads for t-SNE, this one included (tsne-pool.ts). */
  threads = defaultThreads(),
): ProjectionProgress {
  if (params.method === 'pca') {
    const coords = n > 0 ? pca(vectors, n, d, 2).coords : new Float32Array(0);
    return { coords, iteration: 1, total: 1, kl: null };
  }
  let last = 0;
  const tick = (make: () => ProjectionProgress, force = false) => {
    const now = Date.now();
    if (force || now - last >= everyMs) {
      last = now;
      progress(make());
    }
  };
  if (params.method === 'tsne') {
    const pool = new TsnePool(threads);
    try {
      const t = new Tsne(vectors, n, d, { perplexity: params.perplexity, iterations: params.iterations }, pool);
      tick(() => ({ coords: t.coords(), iteration: 0, total: params.iterations, kl: null }), true);
      while (!t.done && !shouldStop()) {
        t.step();
        tick(() => ({ coords: t.coords(), iteration: t.iteration, total: params.iterations, kl: t.currentKl() }));
      }
      return { coords: t.coords(), iteration: t.iteration, total: params.iterations, kl: t.klDivergence() };
    } finally {
      pool.close();
    }
  }
  const data: number[][] = [];
  for (let i = 0; i < n; i++) data.push(Array.from(vectors.subarray(i * d, (i + 1) * d)));
  const umap = new UMAP({ nComponents: 2, nNeighbors: Math.min(params.neighbours, Math.max(2, n - 1)), minDist: params.minDist, nEpochs: params.epochs, random: seededUniform(42) });
  const total = umap.initializeFit(data);
  const flat = () => {
    const e = umap.getEmbedding();
    const out = new Float32Array(2 * e.length);
    for (let i = 0; i < e.length; i++) {
      out[2 * i] = e[i][0];
      out[2 * i + 1] = e[i][1];
    }
    return out;
  };
  tick(() => ({ coords: flat(), iteration: 0, total, kl: null }), true);
  let it = 0;
  while (it < total && !shouldStop()) {
    umap.step();
    it++;
    tick(() => ({ coords: flat(), iteration: it, total, kl: null }));
  }
  return { coords: flat(), iteration: it, total, kl: null };
}

/** L2-normalised copies of embeddings, kept by key for repeated neighbour queries (a few at most). */
export class UnitVectors {
  private readonly cache = new Map<string, { unit: Float32Array; n: number; d: number }>();
  constructor(private readonly max = 4) {}

  put(key: string, vectors: Float32Array, n: number, d: number): void {
    this.cache.delete(key);
    this.cache.set(key, { unit: l2NormalizeRows(vectors, n, d), n, d });
    while (this.cache.size > this.max) this.cache.delete(this.cache.keys().next().value as string);
  }

  has(key: string): boolean {
    return this.cache.has(key);
  }

  neighbours(key: string, row: number, k: number): { ids: number[]; similarities: number[] } {
    const e = this.cache.get(key);
    if (!e) throw new Error(`embedding ${key} is not loaded`);
    if (row < 0 || row >= e.n) throw new Error(`row ${row} is outside the embedding (0..${e.n - 1})`);
    return cosineNeighbours(e.unit, e.n, e.d, row, k);
  }
}

/**
 * kNN agreement of two embeddings of the same test images: rows are matched by sample index, then the
 * shared fraction of k cosine neighbours is averaged over up to `maxQueries` evenly spread queries.
 */
export function agreement(
  a: { vectors: Float32Array; d: number; indices: ArrayLike<number> },
  b: { vectors: Float32Array; d: number; indices: ArrayLike<number> },
  k: number,
  maxQueries = 1000,
): { value: number | null; common: number; queries: number } {
  const rowOfB = new Map<number, number>();
  for (let i = 0; i < b.indices.length; i++) rowOfB.set(b.indices[i], i);
  // One pair per test image: a sample saved twice in A would otherwise count as its own neighbour.
  const pairs: [number, number][] = [];
  const seen = new Set<number>();
  for (let i = 0; i < a.indices.length; i++) {
    const j = rowOfB.get(a.indices[i]);
    if (j === undefined || seen.has(a.indices[i])) continue;
    seen.add(a.indices[i]);
    pairs.push([i, j]);
  }
  const n = pairs.length;
  if (n < 2) return { value: null, common: n, queries: 0 };
  const gather = (src: Float32Array, d: number, pick: (p: [number, number]) => number) => {
    const out = new Float32Array(n * d);
    pairs.forEach((p, r) => out.set(src.subarray(pick(p) * d, pick(p) * d + d), r * d));
    return l2NormalizeRows(out, n, d);
  };
  const ua = gather(a.vectors, a.d, (p) => p[0]);
  const ub = gather(b.vectors, b.d, (p) => p[1]);
  const q = Math.min(maxQueries, n);
  const queries = Array.from({ length: q }, (_, t) => Math.floor((t * n) / q));
  return { value: knnAgreement(ua, a.d, ub, b.d, n, k, queries), common: n, queries: q };
}
