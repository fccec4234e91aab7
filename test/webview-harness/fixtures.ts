import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConfig, type RunConfig } from '../../src/core/config';
import { loadDataset } from '../../src/data/datasets';
import type { MetricPoint } from '../../src/store/types';
import { RunStore } from '../../src/store/store';

/**
 * A run database with the shapes the panels show: a run with three epochs of metrics, kNN / collapse /
 * linear evaluations and two saved embeddings (10,000 × 32 and 1,000 × 32, clustered by the builtin
 * test labels so thumbnails match colours), and a second run with a different learning rate.
 */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const STEPS_PER_EPOCH = 100;

export function lossAt(step: number, noise: () => number, scale = 1): number {
  return scale * (4 * Math.exp(-step / 120) + 1.2) + (noise() - 0.5) * 0.4;
}

export function metricPoints(from: number, to: number, t0: number, seed: number, scale = 1): MetricPoint[] {
  const noise = rng(seed + from);
  const out: MetricPoint[] = [];
  for (let step = from; step < to; step++) {
    const epoch = Math.floor(step / STEPS_PER_EPOCH) + 1;
    const wallTime = t0 + step * 250;
    out.push({ step, epoch, name: 'loss', value: lossAt(step, noise, scale), wallTime });
    out.push({ step, epoch, name: 'lr', value: 0.001 * 0.5 * (1 + Math.cos((Math.PI * step) / 400)), wallTime });
    if ((step + 1) % STEPS_PER_EPOCH === 0) {
      out.push({ step, epoch, name: 'epoch_loss', value: scale * (4 * Math.exp(-(step - 50) / 120) + 1.2), wallTime });
      out.push({ step, epoch, name: 'epoch_seconds', value: 25 + epoch, wallTime });
    }
  }
  return out;
}

/** count × dim vectors: a centre per label (spread apart) plus unit noise; row i shows builtin test image i % 1000. */
export function clusteredEmbedding(count: number, dim: number, seed: number, spread = 4) {
  const test = loadDataset('builtin').test;
  const r = rng(seed);
  const g = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  const centreRng = rng(1234);
  const cg = () => Math.sqrt(-2 * Math.log(1 - centreRng())) * Math.cos(2 * Math.PI * centreRng());
  const centres = Array.from({ length: 10 }, () => Array.from({ length: dim }, () => cg() * spread));
  const vectors = new Float32Array(count * dim);
  const labels = new Int32Array(count);
  const indices = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const sample = i % test.count;
    indices[i] = sample;
    labels[i] = test.labels[sample];
    for (let t = 0; t < dim; t++) vectors[i * dim + t] = centres[labels[i]][t] + g();
  }
  return { vectors, labels, indices, dim };
}

export interface Fixture {
  dbPath: string;
  store: RunStore;
  runA: number;
  runB: number;
  /** Run A's embeddings: epoch 3 (10,000 points) and epoch 1 (1,000 points). */
  bigEmbedding: number;
  smallEmbedding: number;
  t0: number;
}

export async function makeFixture(): Promise<Fixture> {
  const dbPath = join(mkdtempSync(join(tmpdir(), 'clab-webviews-')), 'runs.db');
  const store = await RunStore.open(dbPath, { staleAfterMs: 10 * 60_000 });
  const t0 = Date.now() - 3600_000;
  const cfg = (over: Record<string, unknown>) => resolveConfig({ method: 'simclr', epochs: 4, batchSize: 128, ...over }).config as RunConfig;
  const runA = await store.createRun(cfg({ name: 'SimCLR baseline' }), { status: 'running' });
  await store.markRunning(runA, { backend: 'wasm', device: 'CPU (wasm, SIMD, 1 thread)', versions: { contrastiveLab: '0.1.0', tfjs: '4.22.0', node: process.versions.node }, pid: 999999, host: 'elsewhere' });
  await store.recordStep(runA, metricPoints(0, 300, t0, 1));
  for (const [epoch, knn, collapse] of [
    [1, 0.55, 0.081],
    [2, 0.63, 0.085],
    [3, 0.68, 0.086],
  ] as const) {
    await store.recordEval(runA, { protocol: 'knn', value: knn, epoch, details: { k: 200, temperature: 0.1 } });
    await store.recordEval(runA, { protocol: 'collapse', value: collapse, epoch, details: { healthy: 1 / Math.sqrt(128), dims: 128 } });
  }
  const small = clusteredEmbedding(1000, 32, 7);
  const smallEmbedding = await store.recordEmbedding(runA, { epoch: 1, split: 'test', ...small });
  const big = clusteredEmbedding(10_000, 32, 8);
  const bigEmbedding = await store.recordEmbedding(runA, { epoch: 3, split: 'test', ...big });

  const runB = await store.createRun(cfg({ name: 'SimCLR lr 0.003', optimizer: { lr: 0.003 }, batchSize: 256 }), { status: 'running' });
  await store.markRunning(runB, { backend: 'wasm', device: 'CPU (wasm, SIMD, 1 thread)', versions: {}, pid: 999998, host: 'elsewhere' });
  await store.recordStep(runB, metricPoints(0, 400, t0, 2, 0.85));
  for (const [epoch, knn] of [
    [1, 0.58],
    [2, 0.66],
    [3, 0.7],
    [4, 0.72],
  ] as const)
    await store.recordEval(runB, { protocol: 'knn', value: knn, epoch, details: {} });
  await store.recordEval(runB, { protocol: 'linear', value: 0.76, epoch: 4, details: {} });
  const b = clusteredEmbedding(1000, 32, 9, 2.5);
  await store.recordEmbedding(runB, { epoch: 4, split: 'test', ...b });
  await store.finishRun(runB, 'completed');
  return { dbPath, store, runA, runB, bigEmbedding, smallEmbedding, t0 };
}
