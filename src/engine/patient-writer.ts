import type { MetricPoint } from '../store/types';
import { isDatabaseLocked, type RunStore } from '../store/store';

/** How long the database may stay locked by another process before the run gives up (and fails). */
const GIVE_UP_MS = 15 * 60_000;
const RETRY_MS = 5_000;

/**
 * The training loop's writes, tolerant of another process holding the database's write lock longer than
 * the store's busy timeout and retries (~50 s): a stopped or stuck process mid-transaction, a backup, a
 * sync tool. Step metrics then wait in memory and go with the next step's write, so training does not
 * stall; every other write (evaluations, checkpoints, the final status) is retried until the lock goes.
 * Only a lock that lasts `giveUpMs` fails the run: hours of training are not lost to a minutes-long lock.
 */
export class PatientWriter {
  private pending: MetricPoint[] = [];
  private lockedSince?: number;
  /** The step-metrics write under way; while the database is locked the loop does not wait for it. */
  private inFlight?: Promise<void>;
  /** A failure of a background write (not a lock, or a lock past giveUpMs), thrown at the next call. */
  private failure?: unknown;

  constructor(
    private readonly store: RunStore,
    private readonly runId: number,
    private readonly log: (message: string, level: 'info' | 'warn') => void,
    private readonly giveUpMs = GIVE_UP_MS,
    private readonly retryMs = RETRY_MS,
  ) {}

  /**
   * Records one step's metrics. Normally waits for the write (a step is in the database when this returns);
   * while the database is locked, keeps them with the others waiting and returns at once, one write
   * attempt at a time going on in the background, so training is not held up.
   */
  async steps(points: MetricPoint[]): Promise<void> {
    this.throwFailure();
    this.pending.push(...points);
    this.inFlight ??= this.flush()
      .then(
        () => this.unlocked(),
        (e: unknown) => this.locked(e),
      )
      .catch((e: unknown) => void (this.failure = e))
      .finally(() => (this.inFlight = undefined));
    if (this.lockedSince === undefined) await this.inFlight;
    this.throwFailure();
  }

  /** Any other write, after the waiting step metrics; retried while the database is locked. */
  async write<T>(fn: () => Promise<T>): Promise<T> {
    for (;;) {
      await this.inFlight;
      this.throwFailure();
      try {
        await this.flush();
        const result = await fn();
        this.unlocked();
        return result;
      } catch (e) {
        this.locked(e);
        await new Promise((r) => setTimeout(r, this.retryMs));
      }
    }
  }

  /** Step metrics recorded in memory but not yet in the database. */
  get waiting(): number {
    return this.pending.length;
  }

  private throwFailure(): void {
    if (this.failure === undefined) return;
    const e = this.failure;
    this.failure = undefined;
    throw e;
  }

  private async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const batch = this.pending.slice();
    await this.store.recordStep(this.runId, batch);
    this.pending.splice(0, batch.length);
  }

  private locked(e: unknown): void {
    if (!isDatabaseLocked(e)) throw e;
    const now = Date.now();
    if (this.lockedSince === undefined) {
      this.lockedSince = now;
      this.log(`the run database ${this.store.path} is locked by another process; training goes on and its records wait in memory until it is free`, 'warn');
    } else if (now - this.lockedSince > this.giveUpMs)
      throw new Error(`the run database ${this.store.path} has been locked by another process for ${Math.round((now - this.lockedSince) / 60_000)} min (${this.pending.length} step records not written); stop that process and resume this run`);
  }

  private unlocked(): void {
    if (this.lockedSince === undefined) return;
    this.log(`the run database is writable again after ${((Date.now() - this.lockedSince) / 1000).toFixed(0)} s; the waiting records are written`, 'info');
    this.lockedSince = undefined;
  }
}
