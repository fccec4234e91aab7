import type { RunConfig } from '../core/config';
import type { RunStatus } from '../core/events';
import { fromBlob, num } from './sqlite';
import type { ArtifactRow, EmbeddingRow, EvalRow, MetricPoint, RunRow } from './types';

/** Rows as SQLite returns them, and their conversion to the store's public types. */

export interface RunRecord {
  id: number;
  name: string;
  method: string;
  dataset: string;
  config: string;
  config_hash: string;
  status: RunStatus;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  heartbeat_at: number | null;
  backend: string | null;
  device: string | null;
  versions: string;
  error: string | null;
  pid: number | null;
  host: string | null;
  starred: number;
  note: string | null;
  last_epoch: number | null;
  last_knn: number | null;
}
export interface MetricRecord {
  step: number;
  epoch: number;
  name: string;
  value: number | null;
  wall_time: number;
}
export interface EvalRecordRow {
  protocol: string;
  value: number | null;
  epoch: number;
  details: string;
  created_at: number;
}
export interface EmbeddingRecord {
  id: number;
  epoch: number;
  split: string;
  dim: number;
  count: number;
  vectors: Buffer;
  labels: Buffer;
  indices: Buffer;
  created_at: number;
}
export interface ArtifactRecord {
  kind: string;
  path: string;
  epoch: number | null;
  created_at: number;
}

/**
 * lastEpoch is the epoch of the latest step (epochs never go down), found by an index seek on (run_id, step)
 * rather than MAX over all of a run's metric rows; lastKnn likewise seeks (run_id, protocol) from the newest id.
 */
export const RUN_SELECT = `
  SELECT r.*,
    (SELECT m.epoch FROM metrics m WHERE m.run_id = r.id ORDER BY m.step DESC LIMIT 1) AS last_epoch,
    (SELECT e.value FROM evals e WHERE e.run_id = r.id AND e.protocol = 'knn' ORDER BY e.id DESC LIMIT 1) AS last_knn
  FROM runs r`;

export function toRun(r: RunRecord, now: number, staleAfterMs: number): RunRow {
  // A worker that dies without a word (kill -9, power cut) leaves status 'running'; its silence gives it away.
  const lastSign = r.heartbeat_at ?? r.started_at ?? r.created_at;
  const crashed = r.status === 'running' && now - lastSign > staleAfterMs;
  return {
    id: r.id,
    name: r.name,
    method: r.method,
    dataset: r.dataset,
    config: JSON.parse(r.config) as RunConfig,
    configHash: r.config_hash,
    status: r.status,
    displayStatus: crashed ? 'crashed' : r.status,
    createdAt: r.created_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    heartbeatAt: r.heartbeat_at,
    backend: r.backend,
    device: r.device,
    versions: JSON.parse(r.versions) as Record<string, string>,
    error: r.error,
    pid: r.pid,
    host: r.host,
    starred: r.starred !== 0,
    note: r.note,
    lastEpoch: r.last_epoch,
    lastKnn: r.last_knn,
  };
}

export const toMetric = (m: MetricRecord): MetricPoint => ({ step: m.step, epoch: m.epoch, name: m.name, value: num(m.value), wallTime: m.wall_time });

export const toEval = (e: EvalRecordRow): EvalRow => ({
  protocol: e.protocol,
  value: num(e.value),
  epoch: e.epoch,
  details: JSON.parse(e.details) as Record<string, unknown>,
  createdAt: e.created_at,
});

export type EmbeddingInfo = Omit<EmbeddingRow, 'vectors' | 'labels' | 'indices'>;

export const toEmbeddingInfo = (e: Omit<EmbeddingRecord, 'vectors' | 'labels' | 'indices'>): EmbeddingInfo => ({
  id: e.id,
  epoch: e.epoch,
  split: e.split,
  dim: e.dim,
  count: e.count,
  createdAt: e.created_at,
});

export const toEmbedding = (e: EmbeddingRecord): EmbeddingRow => ({
  ...toEmbeddingInfo(e),
  vectors: fromBlob(e.vectors, Float32Array, 'vectors'),
  labels: fromBlob(e.labels, Int32Array, 'labels'),
  indices: fromBlob(e.indices, Int32Array, 'indices'),
});

export const toArtifact = (a: ArtifactRecord): ArtifactRow => ({ kind: a.kind, path: a.path, epoch: a.epoch, createdAt: a.created_at });
