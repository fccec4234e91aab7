import type { RunConfig } from './config';

/**
 * The worker ↔ host protocol. The worker sends WorkerEvents over IPC (process.send) when forked, or to a
 * callback when run in-process by the CLI. The store is the source of truth; these events only make the
 * editor's live views fast, so a lost event never loses data.
 */
export type RunStatus = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';

export interface EvalRecord {
  /** e.g. `knn` (k=200, cosine, T=0.1), `linear` (frozen features, logistic regression), `collapse`. */
  protocol: string;
  value: number;
  epoch: number;
  /** Protocol details: k, temperature, split sizes, feature layer. */
  details: Record<string, unknown>;
}

export type WorkerEvent =
  | { type: 'started'; runId: number; backend: string; device: string; stepsPerEpoch: number; totalSteps: number; trainSize: number; testSize: number }
  | { type: 'step'; runId: number; step: number; epoch: number; loss: number; lr: number; viewsPerSecond: number }
  | { type: 'epoch'; runId: number; epoch: number; meanLoss: number; seconds: number }
  | { type: 'eval'; runId: number; eval: EvalRecord }
  | { type: 'checkpoint'; runId: number; epoch: number; path: string }
  | { type: 'log'; runId: number; level: 'debug' | 'info' | 'warn' | 'error'; message: string }
  /**
   * The worker has seen Cancel (sent as soon as it handles the message, so the host knows it is responsive):
   * it stops after its current step, or after the epoch's evaluation if it is in one, saving its state.
   */
  | { type: 'stopping'; runId: number }
  | { type: 'finished'; runId: number; status: 'completed' | 'cancelled'; knn?: number; linear?: number }
  | { type: 'failed'; runId: number; error: string };

/**
 * Host → worker messages. `claimedBy` names the queue runner that claimed the run for this worker. `resume` continues a recorded run from its saved state (a stop's step or an epoch's end), with the
 * config recorded for it (so none is sent).
 */
export type HostMessage =
  | { type: 'start'; config: RunConfig; dbPath: string; runId?: number; extraModuleDirs?: string[]; claimedBy?: string }
  | { type: 'resume'; dbPath: string; runId: number; extraModuleDirs?: string[]; claimedBy?: string }
  | { type: 'cancel' };

export function isHostMessage(m: unknown): m is HostMessage {
  if (typeof m !== 'object' || m === null) return false;
  const { type, dbPath, config, runId } = m as { type?: unknown; dbPath?: unknown; config?: unknown; runId?: unknown };
  if (type === 'cancel') return true;
  if (typeof dbPath !== 'string') return false;
  if (type === 'resume') return Number.isInteger(runId) && (runId as number) > 0;
  return type === 'start' && typeof config === 'object' && config !== null;
}
