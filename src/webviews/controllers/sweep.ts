import { progressLine, summarizeSweep, sweepCsv, type SweepSummary } from '../../store/sweeps';
import { isSweepToHost, type SweepToHost, type SweepToWebview } from '../protocol/sweep';
import { errorText, type Controller, type Disposable, type PanelDeps } from './types';

export interface SweepActions {
  /** Opens these runs (all of this sweep, at least one) in Compare. */
  compare(runIds: number[]): unknown;
  openRun(runId: number): unknown;
  /** Asks where to save `text` (suggesting `fileName`) and writes it; the path written, or undefined if the user cancelled. */
  saveCsv(fileName: string, text: string): Promise<string | undefined>;
}

/** Compare shows at most this many runs (its panel's limit). */
export const COMPARE_MAX_RUNS = 8;

/**
 * The sweep view's host side: reads the sweep, its runs and their evaluations (condensed to each run's
 * last and best values: store.sweepEvals), folds them into a SweepSummary and posts it; posts it again
 * whenever it changes. Reads are triggered by this window's worker events for the sweep's runs
 * (debounced) and, while any run is queued or running, by a poll — runs that the CLI's queue runner or
 * another window trains stay live too.
 */
export class SweepController implements Controller {
  private timer?: NodeJS.Timeout;
  private debounce?: NodeJS.Timeout;
  private reading?: Promise<void>;
  private again = false;
  private lastJson = '';
  private ready = false;
  private disposed = false;
  private summary?: SweepSummary;
  private readonly subscription?: Disposable;

  constructor(
    readonly sweepId: number,
    private readonly deps: PanelDeps,
    private readonly actions: SweepActions,
    private readonly pollMs = 2000,
  ) {
    this.subscription = deps.onWorkerEvent?.(({ runId, dbPath }) => {
      if (!this.ready || dbPath !== deps.dbPath() || !this.runIds().has(runId)) return;
      this.debounce ??= setTimeout(() => {
        this.debounce = undefined;
        void this.refresh();
      }, 250);
    });
  }

  private runIds(): Set<number> {
    return new Set(this.summary?.runs.map((r) => r.runId) ?? []);
  }

  private post(m: SweepToWebview): void {
    if (!this.disposed) this.deps.post(m);
  }

  handle(message: unknown): void {
    if (!isSweepToHost(message)) {
      this.deps.log?.(`sweep: ignored an invalid message from the webview: ${JSON.stringify(message)?.slice(0, 200)}`);
      return;
    }
    void this.act(message).catch((e: unknown) => this.post({ type: 'error', message: errorText(e) }));
  }

  private async act(m: SweepToHost): Promise<void> {
    switch (m.type) {
      case 'ready':
        // A (re)loaded webview starts from nothing: send the summary even if it did not change.
        this.ready = true;
        this.lastJson = '';
        return this.refresh();
      case 'compare': {
        const ids = await this.ofThisSweep(m.runIds);
        if (!ids) return;
        if (ids.length > COMPARE_MAX_RUNS) this.deps.log?.(`sweep ${this.sweepId}: Compare shows ${COMPARE_MAX_RUNS} runs; opening the first ${COMPARE_MAX_RUNS} of ${ids.length}`);
        await this.actions.compare(ids.slice(0, COMPARE_MAX_RUNS));
        return;
      }
      case 'openRun': {
        const ids = await this.ofThisSweep([m.runId]);
        if (ids) await this.actions.openRun(ids[0]);
        return;
      }
      case 'exportCsv': {
        if (!this.summary) await this.refresh();
        const s = this.summary;
        if (!s) return;
        const path = await this.actions.saveCsv(`${s.sweep.name.replace(/[^\w.-]+/g, '-').replace(/^-+|-+$/g, '') || `sweep-${s.sweep.id}`}.csv`, sweepCsv(s));
        if (path) this.post({ type: 'exported', path });
        return;
      }
    }
  }

  /** The ids, if every one is a run of this sweep (as last read); otherwise an error to the webview and undefined. */
  private async ofThisSweep(ids: number[]): Promise<number[] | undefined> {
    if (!this.summary) await this.refresh();
    const mine = this.runIds();
    const foreign = ids.filter((id) => !mine.has(id));
    if (foreign.length) {
      this.deps.log?.(`sweep ${this.sweepId}: refused to open run(s) ${foreign.join(', ')}, which are not in this sweep`);
      this.post({ type: 'error', message: `Run(s) ${foreign.join(', ')} are not runs of sweep ${this.sweepId}.` });
      return undefined;
    }
    return [...new Set(ids)];
  }

  /** Reads the sweep again; concurrent calls coalesce into one more read. */
  refresh(): Promise<void> {
    if (this.reading) {
      this.again = true;
      return this.reading;
    }
    this.reading = (async () => {
      try {
        do {
          this.again = false;
          await this.read();
        } while (this.again && !this.disposed);
      } catch (e) {
        this.post({ type: 'error', message: `Could not read sweep ${this.sweepId}: ${errorText(e)}` });
      } finally {
        this.reading = undefined;
      }
    })();
    return this.reading;
  }

  private async read(): Promise<void> {
    const store = await this.deps.store();
    const sweep = await store.getSweep(this.sweepId);
    if (!sweep) {
      this.summary = undefined;
      this.post({ type: 'error', message: `Sweep ${this.sweepId} is not in ${store.path} (deleted, or another database is selected).` });
      this.schedule(false);
      return;
    }
    const runs = await store.sweepRuns(this.sweepId);
    const evals = await store.sweepEvals(this.sweepId);
    const summary = summarizeSweep(sweep, runs, evals);
    this.summary = summary;
    const json = JSON.stringify(summary);
    if (json !== this.lastJson) {
      this.lastJson = json;
      this.deps.title?.(`Sweep: ${sweep.name}`);
      this.post({ type: 'summary', summary, progress: progressLine(sweep) });
    }
    this.schedule(runs.some((r) => r.displayStatus === 'queued' || r.displayStatus === 'running'));
  }

  private schedule(live: boolean): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (live && !this.disposed) this.timer = setTimeout(() => void this.refresh(), this.pollMs);
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.timer);
    clearTimeout(this.debounce);
    this.subscription?.dispose();
  }
}
