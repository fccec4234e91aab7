/**
 * What every panel's protocol shares: small `is()` guards for validating messages on both sides (a webview
 * is untrusted input to the host, and the host's messages are checked too, so a bug shows as one rejected
 * message instead of a broken page), and the run summary every panel shows. Pure: imported by the
 * extension host (Node) and by the webviews (browser).
 */

export const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
export const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
export const isInt = (v: unknown): v is number => Number.isInteger(v);
export const isStr = (v: unknown): v is string => typeof v === 'string';
export const isBool = (v: unknown): v is boolean => typeof v === 'boolean';
export const isNumOrNull = (v: unknown): v is number | null => v === null || isNum(v);
export const isArrayOf =
  <T>(g: (v: unknown) => v is T) =>
  (v: unknown): v is T[] =>
    Array.isArray(v) && v.every(g);
export const isIntArray = isArrayOf(isInt);
export const isOneOf =
  <T extends string>(values: readonly T[]) =>
  (v: unknown): v is T =>
    typeof v === 'string' && (values as readonly string[]).includes(v);

/** Numbers sent as a typed array (VS Code transfers them efficiently) or, from older state, a plain array. */
export type NumArray = Float32Array | Float64Array | Int32Array | Uint8Array | number[];
export const isNumArray = (v: unknown): v is NumArray =>
  v instanceof Float32Array || v instanceof Float64Array || v instanceof Int32Array || v instanceof Uint8Array || (Array.isArray(v) && v.every((x) => typeof x === 'number'));

/** The fields a panel shows about a run (a slice of the store's RunRow). */
export interface RunSummary {
  id: number;
  name: string;
  method: string;
  dataset: string;
  /** As shown: a `running` run with a stale heartbeat is `crashed`. */
  status: string;
  configHash: string;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  backend: string | null;
  device: string | null;
  error: string | null;
  epochs: number;
  lastEpoch: number | null;
  lastKnn: number | null;
  /** The resolved run config (JSON). */
  config: Record<string, unknown>;
  versions: Record<string, string>;
}

export function isRunSummary(v: unknown): v is RunSummary {
  return (
    isObj(v) &&
    isInt(v.id) &&
    isStr(v.name) &&
    isStr(v.method) &&
    isStr(v.dataset) &&
    isStr(v.status) &&
    isStr(v.configHash) &&
    isNum(v.createdAt) &&
    isNumOrNull(v.startedAt) &&
    isNumOrNull(v.finishedAt) &&
    (v.backend === null || isStr(v.backend)) &&
    (v.device === null || isStr(v.device)) &&
    (v.error === null || isStr(v.error)) &&
    isInt(v.epochs) &&
    isNumOrNull(v.lastEpoch) &&
    isNumOrNull(v.lastKnn) &&
    isObj(v.config) &&
    isObj(v.versions)
  );
}

export const LIVE_STATUSES = ['queued', 'running'];

/** One metric's points in columns (steps ascending); value null where the run recorded NaN. */
export interface MetricColumns {
  name: string;
  step: number[];
  epoch: number[];
  wallTime: number[];
  value: (number | null)[];
}

export function isMetricColumns(v: unknown): v is MetricColumns {
  if (!isObj(v) || !isStr(v.name) || !isIntArray(v.step) || !isIntArray(v.epoch) || !isArrayOf(isNum)(v.wallTime) || !isArrayOf(isNumOrNull)(v.value)) return false;
  const n = v.step.length;
  return v.epoch.length === n && v.wallTime.length === n && v.value.length === n;
}

/** One recorded evaluation (kNN accuracy, linear probe, collapse std) at an epoch. */
export interface EvalPoint {
  protocol: string;
  epoch: number;
  value: number | null;
  details: Record<string, unknown>;
}

export const isEvalPoint = (v: unknown): v is EvalPoint => isObj(v) && isStr(v.protocol) && isInt(v.epoch) && isNumOrNull(v.value) && isObj(v.details);

/** A saved embedding a map can be drawn of. */
export interface EmbeddingSummary {
  id: number;
  epoch: number;
  count: number;
  dim: number;
}
export const isEmbeddingSummary = (v: unknown): v is EmbeddingSummary => isObj(v) && isInt(v.id) && isInt(v.epoch) && isInt(v.count) && isInt(v.dim);

/** A small image (a dataset sample), HWC bytes. */
export interface Thumb {
  /** Row in the embedding (explorer) or sample index (augmentation preview). */
  key: number;
  label: number;
  width: number;
  height: number;
  channels: number;
  pixels: Uint8Array | number[];
}
export const isThumb = (v: unknown): v is Thumb =>
  isObj(v) &&
  isInt(v.key) &&
  isInt(v.label) &&
  isInt(v.width) &&
  isInt(v.height) &&
  (v.channels === 1 || v.channels === 3) &&
  (v.pixels instanceof Uint8Array || isIntArray(v.pixels)) &&
  (v.pixels as ArrayLike<number>).length === (v.width as number) * (v.height as number) * (v.channels as number);

export interface ErrorMessage {
  type: 'error';
  message: string;
}
export const isErrorMessage = (m: Record<string, unknown>): boolean => m.type === 'error' && isStr(m.message);
