import {
  SWEEP_METRICS,
  SWEEP_RUN_STATUSES,
  type SweepAxisInfo,
  type SweepCell,
  type SweepMetricName,
  type SweepRunSummary,
  type SweepSummary,
} from '../../core/sweep-summary';
import { isArrayOf, isBool, isInt, isIntArray, isNum, isNumOrNull, isObj, isOneOf, isStr } from './common';

/**
 * Sweep view ↔ host. The host sends the sweep read as one result (a SweepSummary, the same one
 * `clab sweep show` and the CSV export use) and sends it again whenever it changes (runs finishing,
 * evaluations recorded); the webview asks to open a cell's runs in Compare, a run's dashboard, or to
 * save the CSV. Run ids the webview sends are checked against the sweep's runs on the host.
 */
export const SWEEP_VIEW_TYPE = 'contrastiveLab.sweep';

export type SweepToWebview =
  | { type: 'summary'; summary: SweepSummary; progress: string }
  | { type: 'exported'; path: string }
  | { type: 'error'; message: string };

export type SweepToHost = { type: 'ready' } | { type: 'compare'; runIds: number[] } | { type: 'openRun'; runId: number } | { type: 'exportCsv' };

/** Columns of the runs table the user can sort by (an axis is `axis:<name>`). */
export type SweepSortKey = 'index' | 'seed' | 'status' | 'epochs' | SweepMetricName | `axis:${string}`;
const FIXED_SORT_KEYS: readonly string[] = ['index', 'seed', 'status', 'epochs', ...SWEEP_METRICS];
export const isSortKey = (v: unknown): v is SweepSortKey => isStr(v) && (FIXED_SORT_KEYS.includes(v) || (v.startsWith('axis:') && v.length > 5));

/** What the webview keeps with getState/setState; the serializer reopens the panel from it. */
export interface SweepState {
  sweepId: number;
  /** The metric the chart shows; null: the sweep file's `view.metric` (or its default). */
  metric: SweepMetricName | null;
  sort: { key: SweepSortKey; descending: boolean };
}

export function isSweepState(v: unknown): v is SweepState {
  return (
    isObj(v) &&
    isInt(v.sweepId) &&
    v.sweepId > 0 &&
    (v.metric === null || isOneOf(SWEEP_METRICS)(v.metric)) &&
    isObj(v.sort) &&
    isSortKey(v.sort.key) &&
    isBool(v.sort.descending)
  );
}

export function isSweepToHost(m: unknown): m is SweepToHost {
  if (!isObj(m)) return false;
  const keys = Object.keys(m).length;
  switch (m.type) {
    case 'ready':
    case 'exportCsv':
      return keys === 1;
    case 'compare':
      return keys === 2 && isIntArray(m.runIds) && m.runIds.length >= 1 && m.runIds.length <= 1000 && m.runIds.every((id) => id > 0);
    case 'openRun':
      return keys === 2 && isInt(m.runId) && m.runId > 0;
    default:
      return false;
  }
}

const isAxisValue = (v: unknown): v is string | number | boolean => isStr(v) || isNum(v) || isBool(v);
const isAxisValues = (v: unknown): v is Record<string, string | number | boolean> => isObj(v) && Object.values(v).every(isAxisValue);
const isStat = (v: unknown) => isObj(v) && isNum(v.mean) && isNum(v.std) && isInt(v.n);
const isMetricsOf =
  (value: (v: unknown) => boolean) =>
  (v: unknown): boolean =>
    isObj(v) && Object.entries(v).every(([k, x]) => (SWEEP_METRICS as readonly string[]).includes(k) && value(x));
const isRunMetrics = isMetricsOf(isNum);
const isCellMetrics = isMetricsOf(isStat);

const isRun = (v: unknown): v is SweepRunSummary =>
  isObj(v) &&
  isInt(v.runId) &&
  isInt(v.index) &&
  isStr(v.name) &&
  isOneOf(SWEEP_RUN_STATUSES)(v.status) &&
  isAxisValues(v.axisValues) &&
  isInt(v.seed) &&
  isRunMetrics(v.metrics) &&
  isNumOrNull(v.lastEpoch) &&
  isInt(v.epochs) &&
  (v.error === null || isStr(v.error));

const isCell = (v: unknown): v is SweepCell => isObj(v) && isAxisValues(v.key) && isIntArray(v.runIds) && isInt(v.done) && isCellMetrics(v.metrics);

const isAxis = (v: unknown): v is SweepAxisInfo =>
  isObj(v) &&
  isStr(v.name) &&
  isOneOf(['grid', 'named', 'derived', 'random'] as const)(v.kind) &&
  (v.labels === undefined || isArrayOf(isStr)(v.labels)) &&
  (v.placesOn === undefined || isArrayOf(isStr)(v.placesOn));
const COUNT_KEYS = ['queued', 'running', 'completed', 'failed', 'cancelled'] as const;

export function isSweepSummary(v: unknown): v is SweepSummary {
  if (!isObj(v) || !isObj(v.sweep) || !isObj(v.view)) return false;
  const s = v.sweep;
  const view = v.view;
  return (
    isInt(s.id) &&
    isStr(s.name) &&
    isArrayOf(isAxis)(s.axes) &&
    isObj(s.counts) &&
    COUNT_KEYS.every((k) => isInt((s.counts as Record<string, unknown>)[k])) &&
    isInt(s.total) &&
    isNum(s.createdAt) &&
    (s.source === null || isStr(s.source)) &&
    (s.jobs === null || isInt(s.jobs)) &&
    (view.rows === undefined || isStr(view.rows)) &&
    (view.columns === undefined || isStr(view.columns)) &&
    isOneOf(SWEEP_METRICS)(view.metric) &&
    isBool(view.rowAverage) &&
    isArrayOf(isStr)(v.cellAxes) &&
    isArrayOf(isRun)(v.runs) &&
    isArrayOf(isCell)(v.cells) &&
    (v.best === undefined || (isInt(v.best) && v.best >= 0 && v.best < (v.cells as unknown[]).length)) &&
    (v.rawPixelsKnn === undefined || isNum(v.rawPixelsKnn))
  );
}

export function isSweepToWebview(m: unknown): m is SweepToWebview {
  if (!isObj(m)) return false;
  switch (m.type) {
    case 'summary':
      return isSweepSummary(m.summary) && isStr(m.progress);
    case 'exported':
      return isStr(m.path);
    case 'error':
      return isStr(m.message);
    default:
      return false;
  }
}
