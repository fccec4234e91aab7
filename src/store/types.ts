import type { RunConfig } from '../core/config';
import type { RunStatus } from '../core/events';

/** A run as the Runs view, the CLI and the dashboards see it. */
export interface RunRow {
  id: number;
  name: string;
  method: string;
  dataset: string;
  config: RunConfig;
  configHash: string;
  /** As recorded; `running` with a stale heartbeat is reported through `displayStatus`. */
  status: RunStatus;
  /** `crashed` when status is running but the heartbeat is older than the staleness limit. */
  displayStatus: RunStatus | 'crashed';
  createdAt: number; // ms since epoch
  startedAt: number | null;
  finishedAt: number | null;
  heartbeatAt: number | null;
  backend: string | null;
  device: string | null;
  /** Versions of Contrastive Lab, tfjs, node, platform. */
  versions: Record<string, string>;
  error: string | null;
  /** Worker process id while running (to tell alive from crashed on this machine). */
  pid: number | null;
  host: string | null;
  starred: boolean;
  note: string | null;
  /** Latest epoch finished and the latest kNN accuracy, for the list views. */
  lastEpoch: number | null;
  lastKnn: number | null;
  /** The sweep it belongs to, its place in the sweep's expansion and its value on each axis. */
  sweepId: number | null;
  sweepIndex: number | null;
  axisValues: Record<string, string | number | boolean> | null;
  /** When it last entered the queue (the queue runs oldest first); null for a run never queued. */
  queuedAt: number | null;
  /** The queue runner that started it; null for a run started directly (CLI `train`, an old version). */
  claimedBy: string | null;
  /** How many times the queue started it. */
  attempts: number;
}

/** A sweep: its file and axes, and how its runs stand. */
export interface SweepRow {
  id: number;
  name: string;
  spec: Record<string, unknown>;
  axes: { name: string; kind: 'grid' | 'named' | 'derived' | 'random'; labels?: string[]; placesOn?: string[] }[];
  source: string | null;
  jobs: number | null;
  createdAt: number;
  /** Runs by status as recorded (crashed ones count as running until the queue marks them failed). */
  counts: Record<'queued' | 'running' | 'completed' | 'failed' | 'cancelled', number>;
  total: number;
}

/** The queue's shared state: who drains it, and whether it is paused. */
export interface QueueState {
  paused: boolean;
  holder: { id: string; host: string | null; pid: number | null; expiresAt: number } | null;
  queued: number;
  running: number;
}

export interface MetricPoint {
  step: number;
  epoch: number;
  name: string;
  value: number;
  wallTime: number; // ms since epoch
}

export interface EvalRow {
  protocol: string;
  value: number;
  epoch: number;
  details: Record<string, unknown>;
  createdAt: number;
}

export interface EmbeddingRow {
  id: number;
  epoch: number;
  split: string;
  dim: number;
  count: number;
  vectors: Float32Array; // count × dim, row-major
  labels: Int32Array; // count
  indices: Int32Array; // sample index in the split
  createdAt: number;
}

export interface ArtifactRow {
  kind: string; // 'checkpoint' | ...
  path: string;
  epoch: number | null;
  createdAt: number;
}

/** A cached 2-D map of one saved embedding (the embedding explorer's t-SNE / UMAP / PCA). */
export interface ProjectionRow {
  embeddingId: number;
  method: string;
  /** Canonical JSON of the parameters that change the result. */
  params: string;
  coords: Float32Array; // count × 2, in the embedding's row order
  iterations: number;
  kl: number | null;
  seconds: number;
  createdAt: number;
}

/** A whole run as another database recorded it, to be added to this one under a new id (`clab unpack`). */
export interface RecordedRun
  extends Pick<
    RunRow,
    'name' | 'method' | 'dataset' | 'config' | 'configHash' | 'createdAt' | 'startedAt' | 'finishedAt' | 'heartbeatAt' | 'backend' | 'device' | 'versions' | 'error' | 'host' | 'starred' | 'note'
  > {
  status: Exclude<RunStatus, 'queued' | 'running'>;
  metrics: MetricPoint[];
  evals: EvalRow[];
  embeddings: Omit<EmbeddingRow, 'id'>[];
  /** `path` relative to the new run's folder. */
  artifacts: ArtifactRow[];
}
