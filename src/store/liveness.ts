import { hostname } from 'node:os';
import type { RunRow } from './types';

/** Who is looking: this machine's name, and how it tells whether a process of its own is alive. */
export interface Liveness {
  host: string;
  isAlive(pid: number): boolean;
}

export const THIS_MACHINE: Liveness = { host: hostname(), isAlive: (pid) => isProcessAlive(pid) };

/**
 * A run's status as seen from this machine. The heartbeat alone (displayStatus) calls a run crashed after
 * a minute of silence; for a worker on this machine its process decides, at once and for certain, so a
 * killed worker shows as crashed without waiting and a busy one is never taken for dead.
 */
export function liveStatus(row: RunRow, liveness: Liveness = THIS_MACHINE): RunRow['displayStatus'] {
  if (row.status === 'running' && row.pid && row.host === liveness.host) return liveness.isAlive(row.pid) ? 'running' : 'crashed';
  return row.displayStatus;
}

/** Whether a process with this id exists (EPERM: it exists but belongs to someone else). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
