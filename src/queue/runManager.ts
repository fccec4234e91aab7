import { fork as nodeFork, type ChildProcess, type ForkOptions } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { resolveRecordedConfig, formatProblems, type RunConfig } from '../core/config';
import { checkDataset } from '../data/check';
import type { HostMessage, WorkerEvent } from '../core/events';
import { checkResumable, ResumeRefused } from '../store/resume';
import { isProcessAlive } from '../store/liveness';
import { RunStore, runFolder } from '../store/store';
import type { RunRow } from '../store/types';
import { Emitter } from './emitter';
import { QueueRunner } from './runner';
import type { RunTarget } from './target';

/**
 * The local run target and the queue's host. Runs wait in the database's queue (src/queue/runner.ts: one
 * runner per database drains it, whichever window or CLI holds the lease); when this manager's runner
 * claims one it forks a worker for it. The worker writes its own run's rows, so the manager only queues
 * the run, starts the worker, relays its IPC events for the live views, and records an end the worker
 * could not record itself (crash, kill, a worker that never started). No `vscode` here: the extension
 * wires it to the UI, the CLI's `queue run` drives it headless, the tests drive it with real workers.
 */

/** How to start a worker: read at each start, so a changed setting applies to the next run. */
export interface WorkerLaunch {
  /** The Node executable (VS Code's own by default; Electron needs ELECTRON_RUN_AS_NODE in `env`). */
  nodePath: string;
  workerPath: string;
  execArgv?: string[];
  env?: NodeJS.ProcessEnv;
}

export type ForkFn = (modulePath: string, args: readonly string[], options: ForkOptions) => ChildProcess;

export interface RunManagerOptions {
  launch(): WorkerLaunch;
  maxConcurrentRuns(): number;
  /** Folders holding node_modules/@tensorflow/tfjs-node(-gpu), installed by Enable GPU Training. */
  extraModuleDirs(): string[];
  openStore?(dbPath: string): Promise<RunStore>;
  /**
   * After a Cancel, how long the worker may take to answer that it is stopping before it is killed (at
   * least three of its recent steps: a step runs to its end before the worker reads messages).
   */
  cancelTimeoutMs?: number;
  /**
   * Once it answered, how long it may take to stop: it finishes its step, or the epoch's evaluation it is
   * in (a minute and more on a large test split), and saves its state. Killed after that.
   */
  stoppingTimeoutMs?: number;
  /** Replaceable so tests can count (or refuse) spawns. */
  fork?: ForkFn;
  /** Queue lease length and tick interval (tests shorten them). */
  leaseMs?: number;
  pollMs?: number;
  /** Whether this manager drains the queues it watches (false: it only queues runs; an untrusted workspace). Default true. */
  drain?(): boolean;
  /** A tick of a queue runner failed (e.g. the database stayed locked); it tries again at the next tick. */
  onQueueError?(dbPath: string, e: unknown): void;
}

export type RunPhase = 'queued' | 'starting' | 'running' | 'stopping';

export interface RunProgress {
  step: number;
  totalSteps: number;
  epoch: number;
  epochs: number;
  loss?: number;
  viewsPerSecond?: number;
}

/** A run this manager owns: queued, or with a live worker. */
export interface ActiveRun {
  readonly runId: number;
  readonly dbPath: string;
  readonly config: RunConfig;
  /** Continues a recorded run from its saved state (`resume`) rather than training a new one. */
  readonly resume: boolean;
  phase: RunPhase;
  pid?: number;
  backend?: string;
  device?: string;
  progress?: RunProgress;
  lastKnn?: number;
}

export interface RunEnded {
  runId: number;
  dbPath: string;
  config: RunConfig;
  /** The sweep the run belongs to, if any. */
  sweepId?: number;
  status: 'completed' | 'failed' | 'cancelled';
  error?: string;
  knn?: number;
  linear?: number;
}

export interface StopResult {
  kind: 'dequeued' | 'stopping' | 'signalled' | 'not-running' | 'not-found' | 'other-host' | 'gone';
  message: string;
}

interface ManagedRun extends ActiveRun {
  cwd?: string;
  child?: ChildProcess;
  cancelRequested: boolean;
  killedAfterTimeout: boolean;
  killTimer?: NodeJS.Timeout;
  /** The worker answered Cancel (a `stopping` event). */
  stoppingAcknowledged?: boolean;
  /** The kill timer's delay, for the message if it fires. */
  killAfterMs?: number;
  /** When the last step event came, and the time between the last two of one epoch (for the kill timeout). */
  lastStepAt?: number;
  stepMs?: number;
  /** The error of a `failed` event, for a worker that could not record it (e.g. an invalid config). */
  failedError?: string;
  result?: { knn?: number; linear?: number };
  /** The queue runner that claimed it for this worker. */
  claimedBy?: string;
  sweepId?: number;
  settled: boolean;
  logFile: string;
}

const key = (dbPath: string, runId: number) => `${dbPath}\0${runId}`;


/** The last lines of a worker's stdout/stderr log, for an error message. */
function tail(file: string, maxChars = 2000): string {
  try {
    const text = readFileSync(file, 'utf8');
    return text.length > maxChars ? `…${text.slice(-maxChars)}` : text;
  } catch {
    return '';
  }
}

export class RunManager implements RunTarget {
  readonly id = 'local';
  /** Runs this manager queued (phase `queued`, mirroring the database until a runner claims them) or started. */
  private readonly runs = new Map<string, ManagedRun>();
  private readonly stores = new Map<string, Promise<RunStore>>();
  private readonly runners = new Map<string, Promise<QueueRunner>>();
  private disposed = false;

  private readonly changed = new Emitter<ActiveRun>();
  private readonly workerEvent = new Emitter<{ run: ActiveRun; event: WorkerEvent }>();
  private readonly output = new Emitter<{ run: ActiveRun; text: string }>();
  private readonly ended = new Emitter<RunEnded>();
  /** A run was queued, started, made progress, or ended. */
  readonly onDidChange = this.changed.event;
  /** Every event a worker sends (log lines, steps, evaluations…). */
  readonly onWorkerEvent = this.workerEvent.event;
  /** What a worker printed to stdout/stderr (outside the protocol), delivered when it exits. */
  readonly onOutput = this.output.event;
  readonly onDidEnd = this.ended.event;
  private readonly leaseChanged = new Emitter<{ dbPath: string; holding: boolean }>();
  /** This manager took or lost the lease on draining a database's queue. */
  readonly onDidChangeLease = this.leaseChanged.event;

  constructor(private readonly opts: RunManagerOptions) {}

  private store(dbPath: string): Promise<RunStore> {
    let s = this.stores.get(dbPath);
    if (!s) {
      s = (this.opts.openStore ?? ((p: string) => RunStore.open(p)))(dbPath);
      s.catch(() => this.stores.delete(dbPath));
      this.stores.set(dbPath, s);
    }
    return s;
  }

  /** Runs owned by this manager, queued ones last. */
  active(): ActiveRun[] {
    return [...this.runs.values()].sort((a, b) => Number(a.phase === 'queued') - Number(b.phase === 'queued') || a.runId - b.runId);
  }

  get(dbPath: string, runId: number): ActiveRun | undefined {
    return this.runs.get(key(dbPath, runId));
  }

  /**
   * Checks the dataset, records the run as queued (so every window and the CLI see it at once) and pokes
   * the queue's runner: it starts when a slot is free, oldest first. `cwd` is the worker's working
   * directory (relative dataset paths are resolved before this).
   */
  async enqueue(config: RunConfig, opts: { dbPath: string; cwd?: string }): Promise<number> {
    if (this.disposed) throw new Error('the run manager has been shut down');
    // A dataset that cannot be read throws (DatasetError) here, before the run is recorded.
    await checkDataset(config.dataset);
    const store = await this.store(opts.dbPath);
    const runId = await store.createRun(config, { status: 'queued' });
    this.mirror({ runId, config, resume: false, ...opts });
    this.poke(opts.dbPath);
    return runId;
  }

  /**
   * Queues a whole sweep (recorded with all its runs in one transaction) and pokes the runner. The sweep's
   * runs are named in `runs`; `jobs` caps how many of them train at once.
   */
  async enqueueSweep(sweep: Parameters<RunStore['createSweep']>[0], opts: { dbPath: string; cwd?: string }): Promise<{ sweepId: number; runIds: number[] }> {
    if (this.disposed) throw new Error('the run manager has been shut down');
    // Every dataset of the sweep is checked before anything is recorded (DatasetError names the problem).
    for (const ds of new Set(sweep.runs.map((r) => r.config.dataset))) await checkDataset(ds);
    const store = await this.store(opts.dbPath);
    const created = await store.createSweep(sweep);
    created.runIds.forEach((runId, i) => this.mirror({ runId, config: sweep.runs[i].config, resume: false, sweepId: created.sweepId, ...opts }));
    this.poke(opts.dbPath);
    return created;
  }

  /**
   * Continues a cancelled run from where it was stopped, a failed or crashed one from its last finished
   * epoch, with its recorded config: it goes back to the end of the queue as a resume. Throws
   * (ResumeRefused) with the reason when it cannot be resumed; then nothing changed.
   */
  async resume(runId: number, opts: { dbPath: string; cwd?: string }): Promise<void> {
    if (this.disposed) throw new Error('the run manager has been shut down');
    if (this.runs.has(key(opts.dbPath, runId))) throw new ResumeRefused(`run ${runId} is already queued or running`);
    const store = await this.store(opts.dbPath);
    const { run } = await checkResumable(store, opts.dbPath, runId);
    // Re-validated: a config recorded by an older version may no longer be accepted.
    const { config, problems } = resolveRecordedConfig(run.config as unknown as Record<string, unknown>);
    if (!config) throw new ResumeRefused(`run ${runId}'s recorded config is no longer valid: ${formatProblems(problems)}`);
    await store.requeueRun(runId, 'resume');
    this.mirror({ runId, config, resume: true, ...opts });
    this.poke(opts.dbPath);
  }

  /**
   * Puts failed, cancelled or crashed runs back in the queue: resumed from their saved state where they
   * have one, trained again from the start otherwise. Returns what was done per run (or why not).
   */
  async requeue(runIds: number[], opts: { dbPath: string; cwd?: string }): Promise<{ runId: number; action?: 'start' | 'resume'; refused?: string }[]> {
    const store = await this.store(opts.dbPath);
    const out: { runId: number; action?: 'start' | 'resume'; refused?: string }[] = [];
    for (const runId of runIds) {
      const row = await store.getRun(runId);
      if (!row) {
        out.push({ runId, refused: `there is no run ${runId}` });
        continue;
      }
      if (!['failed', 'cancelled', 'crashed'].includes(row.displayStatus)) {
        out.push({ runId, refused: `run ${runId} is ${row.displayStatus}` });
        continue;
      }
      const resumable = await checkResumable(store, opts.dbPath, runId).then(() => true, () => false);
      const action = resumable ? 'resume' : 'start';
      const removed = await store.requeueRun(runId, action);
      removeFiles(removed.map((a) => a.path));
      this.mirror({ runId, config: row.config, resume: resumable, ...opts });
      out.push({ runId, action });
    }
    this.poke(opts.dbPath);
    return out;
  }

  /** Shows a run this manager queued as queued until a runner (this one or another) claims it. */
  private mirror(r: { runId: number; config: RunConfig; resume: boolean; dbPath: string; cwd?: string; sweepId?: number }): void {
    const run: ManagedRun = { ...r, phase: 'queued', cancelRequested: false, killedAfterTimeout: false, settled: false, logFile: join(runFolder(r.dbPath, r.runId), 'worker.log') };
    this.runs.set(key(r.dbPath, r.runId), run);
    this.changed.fire(run);
  }

  /** Starts queued runs if slots are free (after maxConcurrentRuns was raised). */
  reschedule(): void {
    for (const dbPath of this.runners.keys()) this.poke(dbPath);
  }

  /**
   * Drains this database's queue from now on (when the lease is free or lapses): the extension watches
   * the database it shows, `clab queue run` the one it was given.
   */
  watch(dbPath: string): Promise<QueueRunner> {
    let r = this.runners.get(dbPath);
    if (!r) {
      r = this.store(dbPath).then((store) => {
        const runner = new QueueRunner({
          store,
          dbPath,
          target: this,
          jobs: () => this.opts.maxConcurrentRuns(),
          leaseMs: this.opts.leaseMs,
          pollMs: this.opts.pollMs,
          onError: (e) => this.opts.onQueueError?.(dbPath, e),
          onLease: (holding) => this.leaseChanged.fire({ dbPath, holding }),
          afterTick: () => this.reconcile(dbPath, store),
        });
        if (!this.disposed && (this.opts.drain?.() ?? true)) runner.start();
        return runner;
      });
      r.catch(() => this.runners.delete(dbPath));
      this.runners.set(dbPath, r);
    }
    return r;
  }

  /** Stops draining a database's queue (the lease is given up at once); its running workers go on. */
  async unwatch(dbPath: string): Promise<void> {
    const r = this.runners.get(dbPath);
    this.runners.delete(dbPath);
    await (await r?.catch(() => undefined))?.stop();
  }

  /** Starts (or restarts, after the workspace became trusted) every watched runner. */
  resumeDraining(): void {
    for (const r of this.runners.values()) void r.then((runner) => runner.start(), () => undefined);
  }

  private poke(dbPath: string): void {
    if (this.disposed) return;
    void this.watch(dbPath).then(
      (runner) => {
        if (this.opts.drain?.() ?? true) runner.start();
      },
      () => undefined,
    );
  }

  /** RunTarget: this manager has the run's worker (or is starting it). */
  owns(dbPath: string, runId: number): boolean {
    const run = this.runs.get(key(dbPath, runId));
    return !!run && run.phase !== 'queued';
  }

  /** RunTarget: the runner claimed `row` for this machine: fork its worker. */
  start(dbPath: string, row: RunRow, how: { action: 'start' | 'resume'; claimedBy: string }): void {
    let run = this.runs.get(key(dbPath, row.id));
    if (!run) {
      run = { runId: row.id, dbPath, config: row.config, resume: how.action === 'resume', phase: 'queued', cancelRequested: false, killedAfterTimeout: false, settled: false, logFile: join(runFolder(dbPath, row.id), 'worker.log') };
      this.runs.set(key(dbPath, row.id), run);
    }
    run.phase = 'starting';
    run.claimedBy = how.claimedBy;
    run.sweepId = row.sweepId ?? undefined;
    (run as { resume: boolean }).resume = how.action === 'resume';
    this.fork(run);
  }

  private fork(run: ManagedRun): void {
    const launch = this.opts.launch();
    let child: ChildProcess;
    let logFd: number | undefined;
    try {
      mkdirSync(runFolder(run.dbPath, run.runId), { recursive: true });
      // stdout/stderr go to a file, not a pipe: the worker keeps running (and printing) after a window
      // reload, and a pipe with nobody reading would break it. The file also explains a crash.
      logFd = openSync(run.logFile, 'a');
      child = (this.opts.fork ?? nodeFork)(launch.workerPath, [], {
        execPath: launch.nodePath,
        execArgv: launch.execArgv ?? [],
        cwd: run.cwd,
        env: launch.env,
        stdio: ['ignore', logFd, logFd, 'ipc'],
        // Its own process group on POSIX, so the run outlives the window that started it.
        detached: process.platform !== 'win32',
      });
    } catch (e) {
      return this.settle(run, { status: 'failed', error: `could not start the training worker with ${launch.nodePath}: ${(e as Error).message}` });
    } finally {
      if (logFd !== undefined) closeSync(logFd);
    }
    run.child = child;
    run.pid = child.pid;
    child.on('message', (m: WorkerEvent) => this.onMessage(run, m));
    child.on('error', (e) => {
      // Only a failed spawn ends the run here; other errors (a send after exit) are followed by 'exit'.
      if (child.pid === undefined) void this.onExit(run, null, null, `could not start the training worker with ${launch.nodePath}: ${e.message}`);
    });
    child.on('exit', (code, signal) => void this.onExit(run, code, signal));
    const extraModuleDirs = this.opts.extraModuleDirs();
    const start: HostMessage = run.resume
      ? { type: 'resume', dbPath: run.dbPath, runId: run.runId, extraModuleDirs, claimedBy: run.claimedBy }
      : { type: 'start', config: run.config, dbPath: run.dbPath, runId: run.runId, extraModuleDirs, claimedBy: run.claimedBy };
    if (child.pid !== undefined) child.send(start, () => undefined);
    // Cancel pressed while the worker was being forked.
    if (run.cancelRequested) this.sendCancel(run);
    this.changed.fire(run);
  }


  private onMessage(run: ManagedRun, e: WorkerEvent): void {
    switch (e.type) {
      case 'started':
        if (run.phase === 'starting') run.phase = 'running';
        run.backend = e.backend;
        run.device = e.device;
        run.progress = { step: 0, totalSteps: e.totalSteps, epoch: 0, epochs: run.config.epochs };
        break;
      case 'step': {
        const now = Date.now();
        // Within an epoch only: across one, the gap holds the evaluation too.
        if (run.lastStepAt !== undefined && run.progress?.epoch === e.epoch) run.stepMs = now - run.lastStepAt;
        run.lastStepAt = now;
        run.progress = { ...(run.progress ?? { totalSteps: 0, epochs: run.config.epochs }), step: e.step + 1, epoch: e.epoch, loss: e.loss, viewsPerSecond: e.viewsPerSecond };
        break;
      }
      case 'eval':
        if (e.eval.protocol === 'knn') run.lastKnn = e.eval.value;
        break;
      case 'finished':
        run.result = { knn: e.knn, linear: e.linear };
        break;
      case 'failed':
        run.failedError = e.error;
        break;
      case 'stopping':
        // Responsive: give it the time to finish its step or evaluation and save its state.
        if (run.cancelRequested && !run.stoppingAcknowledged) {
          run.stoppingAcknowledged = true;
          this.armKillTimer(run, this.opts.stoppingTimeoutMs ?? 10 * 60_000);
        }
        break;
    }
    this.workerEvent.fire({ run, event: e });
    if (e.type !== 'log' && e.type !== 'checkpoint') this.changed.fire(run);
  }

  private async onExit(run: ManagedRun, code: number | null, signal: NodeJS.Signals | null, spawnError?: string): Promise<void> {
    if (run.settled) return;
    clearTimeout(run.killTimer);
    const printed = tail(run.logFile);
    if (printed.trim()) this.output.fire({ run, text: printed });
    let status: RunEnded['status'] = 'failed';
    let error: string | undefined;
    try {
      const store = await this.store(run.dbPath);
      const row = await store.getRun(run.runId);
      if (row && (row.status === 'queued' || row.status === 'running')) {
        // The worker ended without recording the end: record it, with the best explanation we have.
        if (run.cancelRequested && !spawnError) {
          status = 'cancelled';
          if (run.killedAfterTimeout) error = run.stoppingAcknowledged ? `the worker did not stop within ${seconds(run.killAfterMs!)} s of answering Cancel and was killed` : `the worker did not answer Cancel within ${seconds(run.killAfterMs!)} s and was killed`;
        } else {
          const how = spawnError ?? (signal ? `the training worker was killed (${signal})` : `the training worker exited with code ${code}`);
          error = run.failedError ?? (printed.trim() ? `${how}:\n${printed.trim()}` : how);
        }
        await store.finishRun(run.runId, status, error);
      } else if (row) {
        status = row.status === 'completed' || row.status === 'cancelled' ? row.status : 'failed';
        // A resume the worker refused left the record as it was: its reason is the news.
        error = (run.resume && run.failedError) || (row.error ?? undefined);
      } else {
        status = 'cancelled'; // deleted while it ran
      }
    } catch (e) {
      error = `${spawnError ?? run.failedError ?? 'the training worker ended'}; its end could not be recorded: ${(e as Error).message}`;
    }
    this.settle(run, { status, error, ...run.result });
  }

  private settle(run: ManagedRun, end: Omit<RunEnded, 'runId' | 'dbPath' | 'config'>): void {
    if (run.settled) return;
    run.settled = true;
    clearTimeout(run.killTimer);
    this.runs.delete(key(run.dbPath, run.runId));
    this.ended.fire({ runId: run.runId, dbPath: run.dbPath, config: run.config, ...(run.sweepId !== undefined ? { sweepId: run.sweepId } : {}), ...end });
    this.changed.fire(run);
    this.poke(run.dbPath);
  }

  /**
   * After a tick: a run this manager queued that another runner claimed (another window, the CLI) is no
   * longer this manager's to show; one cancelled elsewhere has ended.
   */
  private async reconcile(dbPath: string, store: RunStore): Promise<void> {
    const mirrored = [...this.runs.values()].filter((r) => r.dbPath === dbPath && r.phase === 'queued');
    for (const run of mirrored) {
      const row = await store.getRun(run.runId);
      if (run.phase !== 'queued' || row?.status === 'queued') continue;
      if (row?.status === 'running') {
        this.runs.delete(key(dbPath, run.runId));
        run.settled = true;
        this.changed.fire(run);
      } else this.settle(run, { status: row?.status === 'completed' || row?.status === 'failed' ? row.status : 'cancelled', error: row?.error ?? undefined });
    }
  }

  /** How long a worker may take to answer Cancel: the configured timeout, or three of its steps if longer. */
  private cancelTimeoutFor(run: ManagedRun): number {
    return Math.max(this.opts.cancelTimeoutMs ?? 15_000, 3 * (run.stepMs ?? 0));
  }

  private armKillTimer(run: ManagedRun, ms: number): void {
    const child = run.child;
    if (!child) return;
    clearTimeout(run.killTimer);
    run.killAfterMs = ms;
    run.killTimer = setTimeout(() => {
      run.killedAfterTimeout = true;
      child.kill('SIGKILL');
    }, ms);
  }

  private sendCancel(run: ManagedRun): void {
    const child = run.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    if (child.connected) child.send({ type: 'cancel' } satisfies HostMessage, () => undefined);
    else child.kill('SIGTERM'); // the worker treats SIGTERM as Cancel too
    this.armKillTimer(run, this.cancelTimeoutFor(run));
  }

  /**
   * Stops a run: a queued one leaves the queue (recorded cancelled); a running one gets Cancel over IPC
   * and is killed if it has not stopped after the timeout. A run started elsewhere (the CLI, another or
   * an earlier window) on this machine gets SIGTERM, which its worker and the CLI treat as Cancel.
   */
  async stop(dbPath: string, runId: number): Promise<StopResult> {
    const run = this.runs.get(key(dbPath, runId));
    if (!run) return this.stopExternal(dbPath, runId);
    if (run.phase === 'queued') {
      const cancelled = await (await this.store(dbPath)).cancelQueued({ runIds: [runId] });
      if (cancelled.length) {
        run.cancelRequested = true;
        this.settle(run, { status: 'cancelled' });
        return { kind: 'dequeued', message: `run ${runId} was removed from the queue` };
      }
      // Claimed meanwhile: by this manager's runner (then it is starting here) or by another one.
      if (run.phase === 'queued') return this.stopExternal(dbPath, runId);
    }
    if (!run.cancelRequested) {
      run.cancelRequested = true;
      run.phase = 'stopping';
      this.sendCancel(run);
      this.changed.fire(run);
    }
    return { kind: 'stopping', message: `run ${runId} is stopping after its current step` };
  }

  private async stopExternal(dbPath: string, runId: number): Promise<StopResult> {
    const store = await this.store(dbPath);
    const row = await store.getRun(runId);
    if (!row) return { kind: 'not-found', message: `there is no run ${runId}` };
    if (row.status === 'queued' && (await store.cancelQueued({ runIds: [runId] })).length)
      return { kind: 'dequeued', message: `run ${runId} was removed from the queue` };
    if (row.status !== 'running') return { kind: 'not-running', message: `run ${runId} is not running (${row.status})` };
    if (row.host && row.host !== hostname()) return { kind: 'other-host', message: `run ${runId} runs on ${row.host}; stop it there` };
    // A stale heartbeat and no process: it crashed. (Never signal a pid we cannot vouch for: it may be reused.)
    if (!row.pid || (row.displayStatus === 'crashed' && !isProcessAlive(row.pid))) {
      await store.finishRun(runId, 'failed', 'the worker stopped without recording an end (crashed or killed)');
      return { kind: 'gone', message: `run ${runId}'s worker is gone; the run is now recorded as failed` };
    }
    try {
      process.kill(row.pid, 'SIGTERM');
    } catch {
      await store.finishRun(runId, 'failed', 'the worker stopped without recording an end (crashed or killed)');
      return { kind: 'gone', message: `run ${runId}'s worker is gone; the run is now recorded as failed` };
    }
    return { kind: 'signalled', message: `run ${runId} (process ${row.pid}) was asked to stop after its current step` };
  }

  /** Resolves when no run of this manager is queued or running (tests, shutdown). */
  whenIdle(): Promise<void> {
    if (!this.runs.size) return Promise.resolve();
    return new Promise((resolve) => {
      const sub = this.onDidEnd(() => {
        if (!this.runs.size) {
          sub.dispose();
          resolve();
        }
      });
    });
  }

  /**
   * Window closing: queued runs stay queued in the database (the next runner, in another window, the CLI
   * or the next session, starts them) and the lease is given up at once; running workers are let go and
   * keep training, their progress still recorded in the store for the next window to show.
   */
  async dispose(): Promise<void> {
    this.disposed = true;
    await Promise.all([...this.runners.values()].map((r) => r.then((runner) => runner.stop(), () => undefined)));
    this.runners.clear();
    for (const run of [...this.runs.values()]) if (run.phase === 'queued') this.runs.delete(key(run.dbPath, run.runId));
    for (const run of this.runs.values()) {
      if (run.cancelRequested) continue; // let the kill timer finish a Cancel the user asked for
      run.child?.removeAllListeners('message');
      if (run.child?.connected) run.child.disconnect();
      run.child?.unref();
    }
    this.changed.dispose();
    this.workerEvent.dispose();
    this.output.dispose();
    this.ended.dispose();
    const stores = [...this.stores.values()];
    this.stores.clear();
    await Promise.all(stores.map((s) => s.then((st) => st.close()).catch(() => undefined)));
  }
}

/** Files of artifacts a re-queued run discarded; one that cannot be removed is left (it is not recorded any more). */
function removeFiles(paths: string[]): void {
  for (const p of paths) rmSync(p, { recursive: true, force: true });
}

/** 0.3, 15, 600: two significant digits at most, for messages. */
function seconds(ms: number): number {
  return Number((ms / 1000).toPrecision(2));
}
