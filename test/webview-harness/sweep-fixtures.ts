import { expandSweep } from '../../src/core/sweep';
import type { RunStore } from '../../src/store/store';
import type { RunRow } from '../../src/store/types';
import { metricPoints, rng } from './fixtures';

/**
 * Sweeps recorded in a run database as the queue and its workers would record them: the sweep and its
 * queued runs through createSweep, then per run a start, a step per epoch, a kNN evaluation each epoch,
 * the collapse std and the final linear probe, and its end. `outcome` decides each run's fate and its
 * results, so tests know what every cell must show.
 */
export const SWEEP_BASE = { method: 'simclr', epochs: 3, trainLimit: 64, batchSize: 32, encoder: { preset: 'tiny' } };

export interface RunOutcome {
  /** `queued` and `running` leave the run live (running: started, with its evaluations so far). */
  status: 'completed' | 'failed' | 'running' | 'queued' | 'cancelled';
  /** kNN accuracy per epoch (the last is "last", the max "best"). */
  knn: number[];
  linear?: number;
  collapse?: number;
}

export async function recordSweep(store: RunStore, raw: Record<string, unknown>, outcome: (r: RunRow) => RunOutcome): Promise<{ sweepId: number; runIds: number[] }> {
  const e = expandSweep({ base: SWEEP_BASE, ...raw });
  const made = await store.createSweep({ name: e.spec.name, spec: e.spec, axes: e.axes, jobs: e.spec.jobs, runs: e.runs });
  for (const r of await store.sweepRuns(made.sweepId)) await recordOutcome(store, r, outcome(r));
  return made;
}

export async function recordOutcome(store: RunStore, r: RunRow, o: RunOutcome): Promise<void> {
  if (o.status === 'queued') return;
  if (o.status === 'cancelled') {
    await store.cancelQueued({ runIds: [r.id] });
    return;
  }
  await store.markRunning(r.id, { backend: 'cpu', device: 'cpu', versions: {}, pid: process.pid, host: 'test' });
  const t0 = Date.now() - 600_000;
  for (let epoch = 1; epoch <= o.knn.length; epoch++) {
    const step = epoch * 100 - 1;
    await store.recordStep(r.id, metricPoints(step, step + 1, t0, r.id));
    await store.recordEval(r.id, { protocol: 'knn', value: o.knn[epoch - 1], epoch, details: {} });
  }
  const last = o.knn.length;
  if (o.collapse !== undefined) await store.recordEval(r.id, { protocol: 'collapse', value: o.collapse, epoch: last, details: {} });
  if (o.linear !== undefined) await store.recordEval(r.id, { protocol: 'linear', value: o.linear, epoch: last, details: {} });
  if (o.status === 'completed') await store.finishRun(r.id, 'completed');
  if (o.status === 'failed') await store.finishRun(r.id, 'failed', 'loss became NaN at epoch 2');
}

/** A kNN curve rising to `final` over `epochs`, with a little seed noise. */
export function knnCurve(final: number, epochs: number, seed: number): number[] {
  const r = rng(seed);
  return Array.from({ length: epochs }, (_, i) => Math.min(1, Math.max(0, final * (0.6 + (0.4 * (i + 1)) / epochs) + (r() - 0.5) * 0.01)));
}
