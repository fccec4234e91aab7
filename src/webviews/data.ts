import { liveStatus, THIS_MACHINE, type Liveness } from '../store/liveness';
import type { EvalRow, MetricPoint, RunRow } from '../store/types';
import type { EvalPoint, MetricColumns, RunSummary } from './protocol/common';
import type { TableRow } from './protocol/compare';

/** Store rows → protocol objects. Pure, so the panels' data is tested without VS Code. */

/** The status is as seen from this machine: a local worker busy in a long evaluation is running, not crashed. */
export function runSummary(r: RunRow, liveness: Liveness = THIS_MACHINE): RunSummary {
  return {
    id: r.id,
    name: r.name,
    method: r.method,
    dataset: r.dataset,
    status: liveStatus(r, liveness),
    configHash: r.configHash,
    createdAt: r.createdAt,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
    backend: r.backend,
    device: r.device,
    error: r.error,
    epochs: r.config.epochs,
    lastEpoch: r.lastEpoch,
    lastKnn: r.lastKnn,
    config: JSON.parse(JSON.stringify(r.config)) as Record<string, unknown>,
    versions: { ...r.versions },
  };
}

/** Points grouped by metric name, in the order given (the store returns them by step). NaN → null. */
export function metricColumns(points: MetricPoint[]): MetricColumns[] {
  const by = new Map<string, MetricColumns>();
  for (const p of points) {
    let c = by.get(p.name);
    if (!c) by.set(p.name, (c = { name: p.name, step: [], epoch: [], wallTime: [], value: [] }));
    c.step.push(p.step);
    c.epoch.push(p.epoch);
    c.wallTime.push(p.wallTime);
    c.value.push(Number.isFinite(p.value) ? p.value : null);
  }
  return [...by.values()];
}

export const evalPoints = (evals: EvalRow[]): EvalPoint[] =>
  evals.map((e) => ({ protocol: e.protocol, epoch: e.epoch, value: Number.isFinite(e.value) ? e.value : null, details: e.details }));

/**
 * Reads a run's metrics incrementally: each read re-reads the last step seen (an epoch's summary metrics
 * are written at the step of its last batch, in a later transaction) and keeps only points newer than
 * what was already delivered for their name.
 */
export class MetricCursor {
  private readonly last = new Map<string, number>();
  private maxStep = -1;
  private evalCount = 0;

  /** `afterStep` for the store query. */
  get afterStep(): number | undefined {
    return this.maxStep < 0 ? undefined : this.maxStep - 1;
  }

  take(points: MetricPoint[]): MetricPoint[] {
    const fresh = points.filter((p) => p.step > (this.last.get(p.name) ?? -Infinity));
    for (const p of fresh) {
      this.last.set(p.name, p.step);
      if (p.step > this.maxStep) this.maxStep = p.step;
    }
    return fresh;
  }

  takeEvals(evals: EvalRow[]): EvalRow[] {
    const fresh = evals.slice(this.evalCount);
    this.evalCount = evals.length;
    return fresh;
  }
}

/** Flattens nested config objects to dotted keys (`optimizer.lr`). */
export function flatten(v: unknown, prefix = '', out: Record<string, string> = {}): Record<string, string> {
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) flatten(x, prefix ? `${prefix}.${k}` : k, out);
  } else out[prefix] = typeof v === 'string' ? v : JSON.stringify(v);
  return out;
}

/** Config keys whose values differ between runs (the name excluded), sorted; missing keys shown as —. */
export function configDiff(configs: Record<string, unknown>[]): { key: string; values: string[] }[] {
  const flat = configs.map((c) => flatten(c));
  const keys = [...new Set(flat.flatMap((f) => Object.keys(f)))].filter((k) => k !== 'name').sort();
  return keys.map((key) => ({ key, values: flat.map((f) => f[key] ?? '—') })).filter((d) => new Set(d.values).size > 1);
}

const lastOf = (points: MetricPoint[], name: string): number | null => {
  for (let i = points.length - 1; i >= 0; i--) if (points[i].name === name) return Number.isFinite(points[i].value) ? points[i].value : null;
  return null;
};
const lastEval = (evals: EvalRow[], protocol: string): number | null => {
  for (let i = evals.length - 1; i >= 0; i--) if (evals[i].protocol === protocol) return Number.isFinite(evals[i].value) ? evals[i].value : null;
  return null;
};

/** The compare panel's table of final numbers, one value per run. */
export function finalTable(runs: RunRow[], metrics: MetricPoint[][], evals: EvalRow[][]): TableRow[] {
  const best = (e: EvalRow[], p: string) => {
    const v = e.filter((x) => x.protocol === p && Number.isFinite(x.value)).map((x) => x.value);
    return v.length ? Math.max(...v) : null;
  };
  const duration = (r: RunRow) => (r.startedAt && r.finishedAt ? (r.finishedAt - r.startedAt) / 1000 : null);
  const meanEpoch = (m: MetricPoint[]) => {
    const v = m.filter((p) => p.name === 'epoch_seconds').map((p) => p.value);
    return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
  };
  return [
    { label: 'kNN accuracy (last)', values: evals.map((e) => lastEval(e, 'knn')), format: 'percent' },
    { label: 'kNN accuracy (best)', values: evals.map((e) => best(e, 'knn')), format: 'percent' },
    { label: 'Linear probe', values: evals.map((e) => lastEval(e, 'linear')), format: 'percent' },
    { label: 'Collapse std (last)', values: evals.map((e) => lastEval(e, 'collapse')), format: 'number' },
    { label: 'Final epoch loss', values: metrics.map((m) => lastOf(m, 'epoch_loss')), format: 'number' },
    { label: 'Final step loss', values: metrics.map((m) => lastOf(m, 'loss')), format: 'number' },
    { label: 'Epochs done', values: runs.map((r) => r.lastEpoch), format: 'integer' },
    { label: 'Seconds per epoch', values: metrics.map(meanEpoch), format: 'seconds' },
    { label: 'Wall time', values: runs.map(duration), format: 'seconds' },
  ];
}
