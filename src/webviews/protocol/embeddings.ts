import {
  isArrayOf,
  isBool,
  isEmbeddingSummary,
  isInt,
  isIntArray,
  isNum,
  isNumArray,
  isObj,
  isRunSummary,
  isStr,
  isThumb,
  type EmbeddingSummary,
  type NumArray,
  type RunSummary,
  type Thumb,
} from './common';
import { isProjectionParams, type ProjectionParams } from './projection';

/**
 * Embedding explorer ↔ host. The host sends the run and its saved embeddings; for the chosen one, the
 * labels once, then the map as it is computed (every few iterations, `done` at the end; cached maps
 * arrive done at once). Thumbnails and nearest neighbours are fetched on demand, by row of the embedding.
 */
export const EMBEDDINGS_VIEW_TYPE = 'contrastiveLab.embeddings';

export type EmbeddingsToWebview =
  | { type: 'init'; run: RunSummary; classNames: string[]; embeddings: EmbeddingSummary[] }
  | { type: 'embedding'; embeddingId: number; labels: NumArray; indices: NumArray }
  | {
      type: 'projection';
      embeddingId: number;
      requestId: number;
      params: ProjectionParams;
      /** count × 2 positions, row-major. */
      coords: NumArray;
      iteration: number;
      totalIterations: number;
      done: boolean;
      cached: boolean;
      kl: number | null;
      seconds: number;
    }
  | { type: 'thumbs'; embeddingId: number; thumbs: Thumb[] }
  | { type: 'neighbours'; embeddingId: number; row: number; neighbours: { row: number; similarity: number }[] }
  | { type: 'error'; message: string; requestId?: number };

export type EmbeddingsToHost =
  | { type: 'ready' }
  | { type: 'project'; embeddingId: number; requestId: number; params: ProjectionParams }
  | { type: 'cancel'; requestId: number }
  | { type: 'thumbs'; embeddingId: number; rows: number[] }
  | { type: 'neighbours'; embeddingId: number; row: number; k: number };

export interface EmbeddingsState {
  runId: number;
  embeddingId: number | null;
  params: ProjectionParams;
  /** Classes hidden by clicking the legend. */
  hidden: number[];
}

export const MAX_THUMBS_PER_REQUEST = 64;
export const MAX_NEIGHBOURS = 50;

export function isEmbeddingsState(v: unknown): v is EmbeddingsState {
  return isObj(v) && isInt(v.runId) && v.runId > 0 && (v.embeddingId === null || isInt(v.embeddingId)) && isProjectionParams(v.params) && isIntArray(v.hidden);
}

export function isEmbeddingsToHost(m: unknown): m is EmbeddingsToHost {
  if (!isObj(m)) return false;
  switch (m.type) {
    case 'ready':
      return true;
    case 'project':
      return isInt(m.embeddingId) && isInt(m.requestId) && isProjectionParams(m.params);
    case 'cancel':
      return isInt(m.requestId);
    case 'thumbs':
      return isInt(m.embeddingId) && isIntArray(m.rows) && m.rows.length <= MAX_THUMBS_PER_REQUEST && m.rows.every((r) => r >= 0);
    case 'neighbours':
      return isInt(m.embeddingId) && isInt(m.row) && m.row >= 0 && isInt(m.k) && m.k >= 1 && m.k <= MAX_NEIGHBOURS;
    default:
      return false;
  }
}

export function isEmbeddingsToWebview(m: unknown): m is EmbeddingsToWebview {
  if (!isObj(m)) return false;
  switch (m.type) {
    case 'init':
      return isRunSummary(m.run) && isArrayOf(isStr)(m.classNames) && isArrayOf(isEmbeddingSummary)(m.embeddings);
    case 'embedding':
      return isInt(m.embeddingId) && isNumArray(m.labels) && isNumArray(m.indices) && m.labels.length === m.indices.length;
    case 'projection':
      return (
        isInt(m.embeddingId) &&
        isInt(m.requestId) &&
        isProjectionParams(m.params) &&
        isNumArray(m.coords) &&
        m.coords.length % 2 === 0 &&
        isInt(m.iteration) &&
        isInt(m.totalIterations) &&
        isBool(m.done) &&
        isBool(m.cached) &&
        (m.kl === null || isNum(m.kl)) &&
        isNum(m.seconds)
      );
    case 'thumbs':
      return isInt(m.embeddingId) && isArrayOf(isThumb)(m.thumbs);
    case 'neighbours':
      return isInt(m.embeddingId) && isInt(m.row) && isArrayOf((n: unknown): n is { row: number; similarity: number } => isObj(n) && isInt(n.row) && isNum(n.similarity))(m.neighbours);
    case 'error':
      return isStr(m.message) && (m.requestId === undefined || isInt(m.requestId));
    default:
      return false;
  }
}
