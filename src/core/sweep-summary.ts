/**
 * The shape of a sweep read as one result (what `summarizeSweep` in src/store/sweeps.ts makes): its runs
 * with their axis values and metrics, and its cells — the runs that differ only by seed — folded into
 * mean ± std. Pure types and constants with no imports, so the sweep webview compiles against the same
 * definitions as the store, the CLI and the CSV export.
 */
export const SWEEP_METRICS = ['linear', 'knn', 'bestKnn', 'collapse'] as const;
export type SweepMetricName = (typeof SWEEP_METRICS)[number];
export const METRIC_LABELS: Record<SweepMetricName, string> = { linear: 'linear probe', knn: 'kNN (last)', bestKnn: 'kNN (best)', collapse: 'collapse (std)' };

export type SweepAxisValue = string | number | boolean;
/** A run's status as shown: `running` with a stale heartbeat is `crashed`. */
export type SweepRunStatus = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled' | 'crashed';
export const SWEEP_RUN_STATUSES: readonly SweepRunStatus[] = ['queued', 'running', 'completed', 'failed', 'cancelled', 'crashed'];

export interface SweepAxisInfo {
  /** The grid key or random parameter: a config key path, or the name of a named axis. */
  name: string;
  kind: 'grid' | 'named' | 'derived' | 'random';
  /** The values' labels in file order (grid, named and derived axes); random axes have none. */
  labels?: string[];
  /** A named axis whose values place themselves on derived axes: the view shows those instead. */
  placesOn?: string[];
}

export interface SweepRunSummary {
  runId: number;
  index: number;
  name: string;
  status: SweepRunStatus;
  axisValues: Record<string, SweepAxisValue>;
  seed: number;
  metrics: Partial<Record<SweepMetricName, number>>;
  lastEpoch: number | null;
  epochs: number;
  error: string | null;
}

export interface Stat {
  mean: number;
  std: number;
  n: number;
}

export interface SweepCell {
  /** The axis values that define the cell (every axis but the seed). */
  key: Record<string, SweepAxisValue>;
  runIds: number[];
  done: number;
  metrics: Partial<Record<SweepMetricName, Stat>>;
}

export type SweepCounts = Record<'queued' | 'running' | 'completed' | 'failed' | 'cancelled', number>;

export interface SweepSummary {
  sweep: { id: number; name: string; axes: SweepAxisInfo[]; counts: SweepCounts; total: number; createdAt: number; source: string | null; jobs: number | null };
  view: { rows?: string; columns?: string; metric: SweepMetricName; rowAverage: boolean };
  /** The axes a cell is made of: all but `seed` (folded into mean ± std). */
  cellAxes: string[];
  runs: SweepRunSummary[];
  cells: SweepCell[];
  /** The cell with the highest mean of the view's metric (lowest is never better for these metrics). */
  best?: number;
  /**
   * kNN of the raw pixels with the runs' own protocol (recorded with each run), when every run that has
   * it agrees on the dataset: the trivial baseline a method must beat.
   */
  rawPixelsKnn?: number;
}

/** How an axis value is shown (as the sweep's axis labels spell it): 0.001, true, adam. */
export function axisLabel(v: SweepAxisValue | undefined): string {
  if (v === undefined) return '—';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)));
  return JSON.stringify(v);
}
