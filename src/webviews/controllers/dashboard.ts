import { MetricCursor, evalPoints, metricColumns, runSummary } from '../data';
import { LIVE_STATUSES } from '../protocol/common';
import { isResumableStatus, latestResumeState } from '../../store/resume';
import { isDashboardToHost, runActions, type DashboardToHost, type DashboardToWebview } from '../protocol/dashboard';
import { errorText, type Controller, type Disposable, type PanelDeps } from './types';

export interface DashboardActions {
  stop(runId: number): unknown;
  resume(runId: number): unknown;
  rerun(runId: number): unknown;
  openEmbeddings(runId: number): unknown;
  openAugmentations(runId: number): unknown;
}

/** A saved state that cannot be read is none: Resume would only fail on it. */
function hasResumeState(dbPath: string, runId: number): boolean {
  try {
    return latestResumeState(dbPath, runId) !== undefined;
  } catch {
    return false;
  }
}

/**
 * The run dashboard's host side. Sends everything recorded once, then only what is new: reads are
 * triggered by this window's worker events (debounced) and, while the run is queued or running, by a
 * poll — that is how a run started from the CLI or another window stays live too.
 */
export class DashboardController implements Controller {
  private cursor = new MetricCursor();
  private timer?: NodeJS.Timeout;
  private debounce?: NodeJS.Timeout;
  private reading?: Promise<void>;
  private again = false;
  private lastRunJson = '';
  private ready = false;
  private disposed = false;
  private readonly subscription?: Disposable;

  constructor(
    readonly runId: number,
    private readonly deps: PanelDeps,
    private readonly actions: DashboardActions,
    private readonly pollMs = 2000,
  ) {
    this.subscription = deps.onWorkerEvent?.(({ runId: id, dbPath, event }) => {
      if (id !== runId || dbPath !== deps.dbPath() || !this.ready) return;
      if (event.type === 'step') this.post({ type: 'progress', step: event.step, totalSteps: this.totalSteps ?? 0, viewsPerSecond: event.viewsPerSecond });
      if (event.type === 'started') this.totalSteps = event.totalSteps;
      this.debounce ??= setTimeout(() => {
        this.debounce = undefined;
        void this.refresh();
      }, 200);
    });
  }

  private totalSteps?: number;

  private post(m: DashboardToWebview): void {
    if (!this.disposed) this.deps.post(m);
  }

  handle(message: unknown): void {
    if (!isDashboardToHost(message)) {
      this.deps.log?.(`dashboard: ignored an invalid message from the webview: ${JSON.stringify(message)?.slice(0, 200)}`);
      return;
    }
    const m: DashboardToHost = message;
    switch (m.type) {
      case 'ready':
        // A (re)loaded webview starts from nothing: send everything again.
        this.ready = true;
        this.cursor = new MetricCursor();
        this.lastRunJson = '';
        void this.refresh(true);
        return;
      case 'stop':
        void Promise.resolve(this.actions.stop(this.runId)).then(() => this.refresh());
        return;
      case 'resume':
        void Promise.resolve(this.actions.resume(this.runId)).then(() => this.refresh());
        return;
      case 'rerun':
        void this.actions.rerun(this.runId);
        return;
      case 'openEmbeddings':
        void this.actions.openEmbeddings(this.runId);
        return;
      case 'openAugmentations':
        void this.actions.openAugmentations(this.runId);
        return;
    }
  }

  /** Reads what is new (everything when `reset`); concurrent calls coalesce into one more read. */
  refresh(reset = false): Promise<void> {
    if (this.reading) {
      this.again = true;
      return this.reading;
    }
    this.reading = (async () => {
      try {
        do {
          this.again = false;
          await this.read(reset);
          reset = false;
        } while (this.again && !this.disposed);
      } catch (e) {
        this.post({ type: 'error', message: `Could not read run ${this.runId}: ${errorText(e)}` });
      } finally {
        this.reading = undefined;
      }
    })();
    return this.reading;
  }

  private async read(reset: boolean): Promise<void> {
    const store = await this.deps.store();
    const run = await store.getRun(this.runId);
    if (!run) {
      this.post({ type: 'error', message: `Run ${this.runId} is not in ${store.path} (deleted, or another database is selected).` });
      this.schedule(false);
      return;
    }
    const summary = runSummary(run);
    // Whether Resume applies depends on the saved state on disk, not only on the status.
    const actions = runActions(summary.status, isResumableStatus(summary.status) && hasResumeState(this.deps.dbPath(), this.runId));
    const json = JSON.stringify([summary, actions]);
    if (json !== this.lastRunJson) {
      this.lastRunJson = json;
      this.deps.title?.(`Dashboard: ${run.name}`);
      this.post({ type: 'run', run: summary, actions });
    }
    const points = this.cursor.take(await store.getMetrics(this.runId, { afterStep: reset ? undefined : this.cursor.afterStep }));
    if (points.length || reset) this.post({ type: 'metrics', reset, series: metricColumns(points) });
    const evals = this.cursor.takeEvals(await store.getEvals(this.runId));
    if (evals.length || reset) this.post({ type: 'evals', reset, evals: evalPoints(evals) });
    this.schedule(LIVE_STATUSES.includes(summary.status));
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
