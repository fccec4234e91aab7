import * as vscode from 'vscode';
import type { WorkerEvent } from '../core/events';
import type { ActiveRun, RunEnded, RunManager } from '../queue/runManager';
import { describeSweep, escapeMd, isLive, percent, progressText, type RunView } from './runsModel';
import type { RunsTreeProvider } from './runsTree';

/**
 * What a run this window started shows while it trains: an output channel with the worker's log, a
 * progress notification with Cancel (which the user may hide; the run goes on), and when it ends a
 * message. The status-bar item counts every live run in the database, wherever it was started.
 */
export class LiveUi implements vscode.Disposable {
  private readonly channels = new Map<number, vscode.LogOutputChannel>();
  private readonly progress = new Map<number, { report(step: number, total: number, message: string): void; done(): void }>();
  /** Runs that have ended: the manager's last change event for a run comes after its end event. */
  private readonly ended = new Set<number>();
  private readonly statusItem: vscode.StatusBarItem;
  private readonly subscriptions: vscode.Disposable[] = [];

  constructor(
    private readonly manager: RunManager,
    private readonly tree: RunsTreeProvider,
    private readonly dbPath: () => string,
  ) {
    this.statusItem = vscode.window.createStatusBarItem('contrastiveLab.activeRuns', vscode.StatusBarAlignment.Left, 10);
    this.statusItem.name = 'Contrastive Lab: Active Runs';
    this.statusItem.command = 'contrastiveLab.runs.focus';
    this.subscriptions.push(
      this.statusItem,
      manager.onDidChange((run) => this.onChange(run)),
      manager.onWorkerEvent(({ run, event }) => this.onEvent(run, event)),
      manager.onOutput(({ run, text }) => this.channel(run.runId, run.config.name).append(`\n--- worker output ---\n${text}\n`)),
      manager.onDidEnd((end) => this.onEnd(end)),
      tree.onDidLoad((views) => this.updateStatusBar(views)),
    );
  }

  hasLog(runId: number): boolean {
    return this.channels.has(runId);
  }

  showLog(runId: number): boolean {
    const ch = this.channels.get(runId);
    ch?.show(true);
    return !!ch;
  }

  /** A deleted run's log goes with it. */
  disposeLog(runId: number): void {
    this.channels.get(runId)?.dispose();
    this.channels.delete(runId);
  }

  channel(runId: number, name: string): vscode.LogOutputChannel {
    let ch = this.channels.get(runId);
    if (!ch) {
      ch = vscode.window.createOutputChannel(`Contrastive Lab: #${runId} ${name}`, { log: true });
      this.channels.set(runId, ch);
    }
    return ch;
  }

  private onChange(run: ActiveRun): void {
    // A run resumed after it ended here is the manager's again (the trailing change of its end is not).
    if (this.ended.has(run.runId) && this.manager.get(run.dbPath, run.runId) === run) this.ended.delete(run.runId);
    if (run.dbPath !== this.dbPath() || this.ended.has(run.runId)) return;
    if (run.phase === 'queued' && !this.channels.has(run.runId)) this.channel(run.runId, run.config.name).info(`queued: waiting for a free slot (contrastiveLab.maxConcurrentRuns)`);
    if ((run.phase === 'starting' || run.phase === 'running') && !this.progress.has(run.runId)) this.showProgress(run);
  }

  private showProgress(run: ActiveRun): void {
    let resolveDone!: () => void;
    const done = new Promise<void>((r) => (resolveDone = r));
    let reported = 0;
    let reporter: vscode.Progress<{ message?: string; increment?: number }> | undefined;
    this.progress.set(run.runId, {
      report: (step, total, message) => {
        const pct = total > 0 ? (100 * step) / total : 0;
        reporter?.report({ message, increment: Math.max(0, pct - reported) });
        reported = Math.max(reported, pct);
      },
      done: resolveDone,
    });
    void vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Training “${run.config.name}”`, cancellable: true },
      (progress, token) => {
        reporter = progress;
        progress.report({ message: 'starting the worker…' });
        token.onCancellationRequested(() => {
          progress.report({ message: 'stopping after the current step…' });
          void this.manager.stop(run.dbPath, run.runId);
        });
        return done;
      },
    );
  }

  private onEvent(run: ActiveRun, e: WorkerEvent): void {
    const ch = this.channel(run.runId, run.config.name);
    switch (e.type) {
      case 'log':
        ch[e.level](e.message);
        break;
      case 'started':
        ch.info(`started: backend ${e.backend} on ${e.device}; ${e.trainSize} training / ${e.testSize} test images; ${e.stepsPerEpoch} steps per epoch, ${e.totalSteps} in all`);
        break;
      case 'step': {
        const p = this.progress.get(run.runId);
        const view: RunView | undefined = this.tree.find(run.runId);
        if (p && run.progress) p.report(run.progress.step, run.progress.totalSteps, `${view ? progressText({ ...view, live: run }) : `epoch ${e.epoch}`} · loss ${e.loss.toFixed(4)}`);
        break;
      }
      case 'epoch':
        ch.info(`epoch ${e.epoch}: mean loss ${e.meanLoss.toFixed(4)} (${e.seconds.toFixed(1)} s)`);
        break;
      case 'eval':
        ch.info(`${e.eval.protocol} at epoch ${e.eval.epoch}: ${e.eval.protocol === 'collapse' ? e.eval.value.toFixed(4) : percent(e.eval.value)}`);
        break;
      case 'checkpoint':
        ch.info(`checkpoint (epoch ${e.epoch}): ${e.path}`);
        break;
      case 'finished':
        ch.info(`finished: ${e.status}`);
        break;
      case 'failed':
        ch.error(`failed: ${e.error}`);
        break;
    }
  }

  private readonly sweepsAnnounced = new Set<number>();

  /** When the last run of a sweep this window trained ends: one notification, with Open Sweep. */
  private async sweepEnded(sweepId: number): Promise<void> {
    await this.tree.refresh();
    const v = this.tree.sweepViews().find((x) => x.sweep.id === sweepId);
    if (!v || v.runs.some((r) => isLive(r.status)) || this.sweepsAnnounced.has(sweepId)) return;
    this.sweepsAnnounced.add(sweepId);
    const open = 'Open Sweep';
    const failed = v.runs.some((r) => r.status === 'failed' || r.status === 'crashed');
    const show = failed ? vscode.window.showWarningMessage : vscode.window.showInformationMessage;
    void show(`Sweep “${v.sweep.name}” ended: ${describeSweep(v)}.`, open).then((p) => p === open && vscode.commands.executeCommand('contrastiveLab.openSweep', sweepId));
  }

  private onEnd(end: RunEnded): void {
    this.ended.add(end.runId);
    this.progress.get(end.runId)?.done();
    this.progress.delete(end.runId);
    const name = end.config.name;
    const ch = this.channel(end.runId, name);
    const showLog = 'Show Log';
    const onPick = (pick: string | undefined) => pick === showLog && ch.show(true);
    if (end.sweepId !== undefined) {
      // A sweep's runs end by the dozen: one status-bar line each, one notification when the sweep is done.
      ch.info(`run ${end.status}${end.knn !== undefined ? `: kNN ${percent(end.knn)}` : ''}${end.linear !== undefined ? `, linear probe ${percent(end.linear)}` : ''}${end.error ? `: ${end.error}` : ''}`);
      vscode.window.setStatusBarMessage(`Contrastive Lab: “${name}” ${end.status}`, 5000);
      void this.sweepEnded(end.sweepId);
      return;
    }
    if (end.status === 'completed') {
      ch.info(`run completed${end.knn !== undefined ? `: kNN ${percent(end.knn)}` : ''}${end.linear !== undefined ? `, linear probe ${percent(end.linear)}` : ''}`);
      const knn = end.knn !== undefined ? `: kNN accuracy ${percent(end.knn)}` : '';
      void vscode.window.showInformationMessage(`Run “${name}” completed${knn}.`, showLog).then(onPick);
    } else if (end.status === 'failed') {
      ch.error(`run failed: ${end.error ?? 'unknown error'}`);
      void vscode.window.showErrorMessage(`Run “${name}” failed: ${(end.error ?? 'unknown error').split('\n')[0]}`, showLog).then(onPick);
    } else {
      ch.info(`run cancelled${end.error ? `: ${end.error}` : ''}`);
      vscode.window.setStatusBarMessage(`Contrastive Lab: run “${name}” cancelled`, 5000);
    }
  }

  private updateStatusBar(views: RunView[]): void {
    const live = views.filter((v) => isLive(v.status));
    if (!live.length) {
      this.statusItem.hide();
      return;
    }
    const running = live.filter((v) => v.status !== 'queued').length;
    const queued = live.length - running;
    this.statusItem.text = `$(loading~spin) ${running} run${running === 1 ? '' : 's'}${queued ? `, ${queued} queued` : ''}`;
    const md = new vscode.MarkdownString(`**Contrastive Lab**  \n${live.map((v) => `${escapeMd(v.row.name)}: ${progressText(v) ?? v.status}`).join('  \n')}`);
    this.statusItem.tooltip = md;
    this.statusItem.accessibilityInformation = { label: `Contrastive Lab: ${running} runs training, ${queued} queued` };
    this.statusItem.show();
  }

  dispose(): void {
    for (const p of this.progress.values()) p.done();
    for (const d of this.subscriptions) d.dispose();
    for (const ch of this.channels.values()) ch.dispose();
  }
}
