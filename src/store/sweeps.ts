import type { EvalRow, RunRow, SweepRow } from './types';
import { SWEEP_METRICS, type Stat, type SweepCell, type SweepMetricName, type SweepRunSummary, type SweepSummary } from '../core/sweep-summary';

/**
 * A sweep read as one result: its runs with their axis values and metrics, and its cells — the runs that
 * differ only by seed, folded into mean ± std per metric. Shared by `clab sweep show`, the CSV export and
 * the sweep view, so they never disagree. The types live in core/sweep-summary.ts (no imports), which the
 * webview compiles against too.
 */
export { METRIC_LABELS, SWEEP_METRICS, type Stat, type SweepCell, type SweepMetricName, type SweepRunSummary, type SweepSummary } from '../core/sweep-summary';

const stat = (xs: number[]): Stat | undefined => {
  if (!xs.length) return undefined;
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const std = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean, std, n: xs.length };
};

export function runMetrics(evals: EvalRow[]): Partial<Record<SweepMetricName, number>> {
  const out: Partial<Record<SweepMetricName, number>> = {};
  for (const e of evals) {
    if (!Number.isFinite(e.value)) continue;
    if (e.protocol === 'linear') out.linear = e.value;
    if (e.protocol === 'collapse') out.collapse = e.value;
    if (e.protocol === 'knn') {
      out.knn = e.value;
      out.bestKnn = Math.max(out.bestKnn ?? -Infinity, e.value);
    }
  }
  return out;
}

export function summarizeSweep(sweep: SweepRow, runs: RunRow[], evals: Map<number, EvalRow[]>): SweepSummary {
  const spec = sweep.spec as { view?: { rows?: string; columns?: string; metric?: SweepMetricName; rowAverage?: boolean }; base?: { eval?: { linearProbe?: boolean } } };
  const axes = sweep.axes.map((a) => a.name);
  // Seeds fold into mean ± std; an axis whose values place themselves on derived axes is shown through those.
  const hidden = new Set(sweep.axes.filter((a) => a.placesOn?.length).map((a) => a.name));
  const cellAxes = axes.filter((a) => a !== 'seed' && !hidden.has(a));
  const nonTrivial = cellAxes.filter((a) => new Set(runs.map((r) => String(r.axisValues?.[a]))).size > 1 || cellAxes.length <= 2);
  const rows = spec.view?.rows ?? nonTrivial[0];
  const columns = spec.view?.columns ?? nonTrivial.find((a) => a !== rows);
  const summaries: SweepRunSummary[] = runs.map((r) => ({
    runId: r.id,
    index: r.sweepIndex ?? 0,
    name: r.name,
    status: r.displayStatus,
    axisValues: r.axisValues ?? {},
    seed: r.config.seed,
    metrics: runMetrics(evals.get(r.id) ?? []),
    lastEpoch: r.lastEpoch,
    epochs: r.config.epochs,
    error: r.error,
  }));
  const cells = new Map<string, SweepCell & { values: Partial<Record<SweepMetricName, number[]>> }>();
  for (const s of summaries) {
    const keyObj = Object.fromEntries(cellAxes.map((a) => [a, s.axisValues[a]]));
    const k = JSON.stringify(cellAxes.map((a) => s.axisValues[a]));
    let c = cells.get(k);
    if (!c) cells.set(k, (c = { key: keyObj, runIds: [], done: 0, metrics: {}, values: {} }));
    c.runIds.push(s.runId);
    if (s.status === 'completed') {
      c.done++;
      for (const m of SWEEP_METRICS) if (s.metrics[m] !== undefined) (c.values[m] ??= []).push(s.metrics[m]!);
    }
  }
  const out: SweepCell[] = [...cells.values()].map(({ values, ...c }) => ({ ...c, metrics: Object.fromEntries(SWEEP_METRICS.flatMap((m) => (values[m] ? [[m, stat(values[m]!)!]] : []))) }));
  const metric: SweepMetricName = spec.view?.metric ?? (out.some((c) => c.metrics.linear) || spec.base?.eval?.linearProbe !== false ? 'linear' : 'knn');
  let best: number | undefined;
  out.forEach((c, i) => {
    const v = c.metrics[metric]?.mean;
    if (v !== undefined && (best === undefined || v > out[best].metrics[metric]!.mean)) best = i;
  });
  // The raw-pixel baseline: one dataset, one protocol (k); runs recorded before baselines have none.
  const raw = runs.flatMap((r) => (evals.get(r.id) ?? []).filter((e) => e.protocol === 'knn-raw-pixels' && Number.isFinite(e.value)).map((e) => ({ ds: r.dataset, k: r.config.eval.knnK, v: e.value })));
  const rawPixelsKnn = raw.length && raw.every((x) => x.ds === raw[0].ds && x.k === raw[0].k) ? raw.reduce((a, x) => a + x.v, 0) / raw.length : undefined;
  return {
    ...(rawPixelsKnn !== undefined ? { rawPixelsKnn } : {}),
    sweep: { id: sweep.id, name: sweep.name, axes: sweep.axes, counts: sweep.counts, total: sweep.total, createdAt: sweep.createdAt, source: sweep.source, jobs: sweep.jobs },
    view: { rows, columns, metric, rowAverage: spec.view?.rowAverage ?? false },
    cellAxes,
    runs: summaries,
    cells: out,
    best,
  };
}

/** `3/9 done, 2 running, 1 failed` */
export function progressLine(s: Pick<SweepRow, 'counts' | 'total'>): string {
  const c = s.counts;
  const parts = [`${c.completed}/${s.total} done`];
  if (c.running) parts.push(`${c.running} running`);
  if (c.queued) parts.push(`${c.queued} queued`);
  if (c.failed) parts.push(`${c.failed} failed`);
  if (c.cancelled) parts.push(`${c.cancelled} cancelled`);
  return parts.join(', ');
}

const csvField = (v: unknown): string => {
  const s = v === undefined || v === null ? '' : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

/** One row per run: id, name, status, every axis, seed, every metric. */
export function sweepCsv(s: SweepSummary): string {
  const axes = s.sweep.axes.map((a) => a.name).filter((a) => a !== 'seed');
  const header = ['run', 'name', 'status', ...axes, 'seed', ...SWEEP_METRICS, 'epochs done', 'epochs'];
  const lines = s.runs.map((r) => [r.runId, r.name, r.status, ...axes.map((a) => r.axisValues[a]), r.seed, ...SWEEP_METRICS.map((m) => r.metrics[m]), r.lastEpoch ?? 0, r.epochs].map(csvField).join(','));
  return `${[header.map(csvField).join(','), ...lines].join('\n')}\n`;
}
