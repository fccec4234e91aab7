import type { RunConfig } from '../core/config';
import type { RunStatus } from '../core/events';
import { fromBlob, num } from './sqlite';
import type { ArtifactRow, EmbeddingRow, EvalRow, MetricPoint, RunRow, SweepRow } from './types';

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
  sweep_id: number | null;
  sweep_index: number | null;
  axis_values: string | null;
  queued_at: number | null;
  queue_action: string | null;
  claimed_by: string | null;
  attempts: number;
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
    sweepId: r.sweep_id,
    sweepIndex: r.sweep_index,
    axisValues: r.axis_values ? (JSON.parse(r.axis_values) as Record<string, string | number | boolean>) : null,
    queuedAt: r.queued_at,
    claimedBy: r.claimed_by,
    attempts: r.attempts,
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

export interface SweepRecord {
  id: number;
  name: string;
  spec: string;
  axes: string;
  source: string | null;
  jobs: number | null;
  created_at: number;
  queued: number;
  running: number;
  completed: number;
  failed: number;
  cancelled: number;
  total: number;
}

export const SWEEP_SELECT = `
  SELECT s.*,
    count(r.id) FILTER (WHERE r.status = 'queued') AS queued,
    count(r.id) FILTER (WHERE r.status = 'running') AS running,
    count(r.id) FILTER (WHERE r.status = 'completed') AS completed,
    count(r.id) FILTER (WHERE r.status = 'failed') AS failed,
    count(r.id) FILTER (WHERE r.status = 'cancelled') AS cancelled,
    count(r.id) AS total
  FROM sweeps s LEFT JOIN runs r ON r.sweep_id = s.id`;

export const toSweep = (s: SweepRecord): SweepRow => ({
  id: s.id,
  name: s.name,
  spec: JSON.parse(s.spec) as Record<string, unknown>,
  axes: JSON.parse(s.axes) as SweepRow['axes'],
  source: s.source,
  jobs: s.jobs,
  createdAt: s.created_at,
  counts: { queued: s.queued, running: s.running, completed: s.completed, failed: s.failed, cancelled: s.cancelled },
  total: s.total,
});
