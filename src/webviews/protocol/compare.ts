import {
  isArrayOf,
  isBool,
  isEvalPoint,
  isInt,
  isIntArray,
  isMetricColumns,
  isNum,
  isNumArray,
  isNumOrNull,
  isObj,
  isOneOf,
  isRunSummary,
  isStr,
  type EvalPoint,
  type MetricColumns,
  type NumArray,
  type RunSummary,
} from './common';
import { isProjectionParams, type ProjectionParams } from './projection';

/**
 * Compare runs ↔ host: two or more runs' curves, a table of final numbers and differing config keys,
 * and each run's latest embedding as a map. Maps are linked by sample index (the embedding's `indices`),
 * and the host reports how much the first two runs' embeddings agree on nearest neighbours.
 */
export const COMPARE_VIEW_TYPE = 'contrastiveLab.compare';

export interface TableRow {
  label: string;
  values: (number | null)[];
  format: 'percent' | 'number' | 'integer' | 'seconds';
}

export type CompareToWebview =
  | { type: 'init'; runs: RunSummary[]; classNames: string[]; table: TableRow[]; configDiff: { key: string; values: string[] }[] }
  | { type: 'metrics'; runId: number; reset: boolean; series: MetricColumns[] }
  | { type: 'evals'; runId: number; reset: boolean; evals: EvalPoint[] }
  | {
      type: 'map';
      runId: number;
      embeddingId: number;
      epoch: number;
      params: ProjectionParams;
      labels: NumArray;
      /** Sample index in the test split of each row: what links the maps. */
      indices: NumArray;
      coords: NumArray;
      iteration: number;
      totalIterations: number;
      done: boolean;
    }
  | { type: 'noMap'; runId: number; reason: string }
  | { type: 'agreement'; runIds: [number, number]; k: number; value: number | null; queries: number; common: number }
  | { type: 'error'; message: string };

export type CompareToHost = { type: 'ready' } | { type: 'project'; params: ProjectionParams };

export const COMPARE_METRICS = ['loss', 'epoch_loss', 'knn'] as const;
export type CompareMetric = (typeof COMPARE_METRICS)[number];

export interface CompareState {
  runIds: number[];
  params: ProjectionParams;
  metric: CompareMetric;
  smoothing: number;
  hidden: number[];
}

export function isCompareState(v: unknown): v is CompareState {
  return (
    isObj(v) &&
    isIntArray(v.runIds) &&
    v.runIds.length >= 1 &&
    v.runIds.length <= 8 &&
    isProjectionParams(v.params) &&
    isOneOf(COMPARE_METRICS)(v.metric) &&
    isNum(v.smoothing) &&
    v.smoothing >= 0 &&
    v.smoothing < 1 &&
    isIntArray(v.hidden)
  );
}

export function isCompareToHost(m: unknown): m is CompareToHost {
  if (!isObj(m)) return false;
  if (m.type === 'ready') return Object.keys(m).length === 1;
  return m.type === 'project' && isProjectionParams(m.params);
}

const isTableRow = (v: unknown): v is TableRow => isObj(v) && isStr(v.label) && isArrayOf(isNumOrNull)(v.values) && isOneOf(['percent', 'number', 'integer', 'seconds'] as const)(v.format);
const isDiff = (v: unknown): v is { key: string; values: string[] } => isObj(v) && isStr(v.key) && isArrayOf(isStr)(v.values);

export function isCompareToWebview(m: unknown): m is CompareToWebview {
  if (!isObj(m)) return false;
  switch (m.type) {
    case 'init':
      return isArrayOf(isRunSummary)(m.runs) && isArrayOf(isStr)(m.classNames) && isArrayOf(isTableRow)(m.table) && isArrayOf(isDiff)(m.configDiff);
    case 'metrics':
      return isInt(m.runId) && isBool(m.reset) && isArrayOf(isMetricColumns)(m.series);
    case 'evals':
      return isInt(m.runId) && isBool(m.reset) && isArrayOf(isEvalPoint)(m.evals);
    case 'map':
      return (
        isInt(m.runId) &&
        isInt(m.embeddingId) &&
        isInt(m.epoch) &&
        isProjectionParams(m.params) &&
        isNumArray(m.labels) &&
        isNumArray(m.indices) &&
        isNumArray(m.coords) &&
        m.labels.length === m.indices.length &&
        m.coords.length === 2 * m.labels.length &&
        isInt(m.iteration) &&
        isInt(m.totalIterations) &&
        isBool(m.done)
      );
    case 'noMap':
      return isInt(m.runId) && isStr(m.reason);
    case 'agreement':
      return Array.isArray(m.runIds) && m.runIds.length === 2 && m.runIds.every(isInt) && isInt(m.k) && isNumOrNull(m.value) && isInt(m.queries) && isInt(m.common);
    case 'error':
      return isStr(m.message);
    default:
      return false;
  }
}
