import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { isProcessAlive } from '../store/liveness';
import type { RunStore } from '../store/store';
import type { RunTarget } from './target';

/**
 * Drains one database's run queue: while it holds the queue lease it claims the oldest queued runs, up to
 * `jobs` running at once, and hands them to its target. Exactly one runner holds the lease at a time (two
 * editor windows and a CLI on one database: one drains, the others wait to take over); a runner that dies
 * stops renewing it and loses it after `leaseMs`. Runs keep their slot while their worker lives, whoever
 * started it, so a new runner after a crash neither starts a run twice nor oversubscribes the machine; a
 * run whose worker died without recording an end is marked failed and the queue moves on.
 */
export interface QueueRunnerOptions {
  store: RunStore;
  dbPath: string;
  target: RunTarget;
  /** How many runs of the queue train at once (read at every tick, so a changed setting applies). */
  jobs(): number;
  /** Lease length; renewed every tick. Default 15 s. */
  leaseMs?: number;
  /** Time between ticks. Default 2 s (a run ending or a new run queued here ticks at once). */
  pollMs?: number;
  /** Errors of a tick (a locked database…); the runner goes on at the next tick. */
  onError?(e: unknown): void;
  /** The lease was taken or lost. */
  onLease?(holding: boolean): void;
  /** After every tick, holding the lease or not (the run manager reconciles what it shows). */
  afterTick?(): Promise<void>;
}

export class QueueRunner {
  readonly holder = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private timer?: NodeJS.Timeout;
  private ticking?: Promise<void>;
  private again = false;
  private stopped = false;
  private holding = false;

  constructor(private readonly o: QueueRunnerOptions) {}

  get isHolding(): boolean {
    return this.holding;
  }

  start(): void {
    this.stopped = false;
    this.poke();
  }

  /** Runs a tick now (or right after the one in progress). */
  poke(): void {
    if (this.stopped) return;
    if (this.ticking) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.ticking = this.tick()
      .then(() => this.o.afterTick?.())
      .catch((e: unknown) => this.o.onError?.(e))
      .finally(() => {
        this.ticking = undefined;
        if (this.stopped) return;
        if (this.again) {
          this.again = false;
          this.poke();
        } else this.timer = setTimeout(() => this.poke(), this.o.pollMs ?? 2000);
      });
  }

  /** Stops ticking and gives the lease up, so another runner takes over at once. Running workers go on. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.ticking;
    if (this.holding) await this.o.store.releaseQueueLease(this.holder).catch(() => undefined);
    this.setHolding(false);
  }

  private setHolding(h: boolean): void {
    if (h === this.holding) return;
    this.holding = h;
    this.o.onLease?.(h);
  }

  private async tick(): Promise<void> {
    const { store, target, dbPath } = this.o;
    const held = await store.acquireQueueLease(this.holder, this.o.leaseMs ?? 15_000, { host: hostname(), pid: process.pid });
    this.setHolding(held);
    if (!held) return;
    let busy = 0;
    for (const r of await store.queueRunning()) {
      if (target.owns(dbPath, r.id)) {
        busy++;
        continue;
      }
      // Started by a runner before this one (a closed window, a killed CLI): its worker may well be training.
      const dead = r.displayStatus === 'crashed' || (r.pid !== null && r.host === hostname() && !isProcessAlive(r.pid));
      if (!dead) {
        busy++;
        continue;
      }
      await store.finishRun(r.id, 'failed', 'its worker stopped without recording an end (crashed or killed); the queue moved on');
    }
    const jobs = Math.max(1, Math.floor(this.o.jobs()) || 1);
    while (busy < jobs && !this.stopped) {
      const claimed = await store.claimQueuedRun(this.holder);
      if (!claimed) break;
      busy++;
      target.start(dbPath, claimed.run, { action: claimed.action, claimedBy: this.holder });
    }
  }
}
