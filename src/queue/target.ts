import type { RunRow } from '../store/types';

/**
 * Where a claimed run executes. The queue runner decides *when* a run starts (the lease, the slots, the
 * order); a target decides *where* and how: `local` forks a worker process on this machine (RunManager);
 * a cluster target submits a job. The runner only needs these two calls.
 */
export interface RunTarget {
  /** `local`, or a cluster profile's name. */
  readonly id: string;
  /**
   * Starts a run the runner has just claimed (recorded as running, claimed by `claimedBy`). Must not throw:
   * a start that fails is recorded as the run's failure by the target.
   */
  start(dbPath: string, run: RunRow, how: { action: 'start' | 'resume'; claimedBy: string }): void;
  /** Whether this target is executing the run now (its process, or job, is its own to watch). */
  owns(dbPath: string, runId: number): boolean;
}
