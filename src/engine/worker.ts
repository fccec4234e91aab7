/**
 * The training worker: one process per run, forked by the extension (or by any host) with an IPC
 * channel. Protocol (src/core/events.ts): the host sends `start` or `resume` once, then possibly `cancel`; the worker
 * sends WorkerEvents and exits when the run has ended. SIGTERM also cancels. The worker writes its own
 * run's rows to the store, so nothing depends on the host staying alive.
 */
import { resolveRecordedConfig, resolveConfig, formatProblems } from '../core/config';
import { isHostMessage, type HostMessage, type WorkerEvent } from '../core/events';
import { DatasetError, loadDataset, type Dataset } from '../data/datasets';
import { ResumeRefused } from '../store/resume';
import { RunStore } from '../store/store';
import { releaseBackend } from './backend';
import { runTraining } from './train';

const cancel = { requested: false };
let started = false;
/** The run being trained, once known (a new run's id comes from the store). */
let runId: number | undefined;

function requestCancel(): void {
  cancel.requested = true;
  if (runId !== undefined) send({ type: 'stopping', runId });
}

function send(e: WorkerEvent): void {
  // The host may have gone away (window reload): the run goes on, recorded in the store.
  if (process.connected) process.send?.(e);
}

async function start(m: Extract<HostMessage, { type: 'start' }>): Promise<number> {
  const { config, problems } = resolveConfig(m.config);
  if (!config) {
    send({ type: 'failed', runId: m.runId ?? -1, error: formatProblems(problems) });
    return 2;
  }
  // A run this worker records itself is recorded only for a dataset that loads (a host that recorded the
  // run already checked it); the dataset is then handed to the training, read once.
  let dataset: Dataset | undefined;
  if (m.runId === undefined) {
    try {
      dataset = loadDataset(config.dataset, { imageSize: config.imageSize });
    } catch (e) {
      if (!(e instanceof DatasetError)) throw e;
      send({ type: 'failed', runId: -1, error: e.message });
      return 2;
    }
  }
  const store = await RunStore.open(m.dbPath);
  try {
    runId = m.runId ?? (await store.createRun(config, { status: 'running' }));
    if (cancel.requested) send({ type: 'stopping', runId });
    const outcome = await runTraining(config, { store, dbPath: m.dbPath, runId, emit: send, cancel, dataset, extraModuleDirs: m.extraModuleDirs });
    return outcome.status === 'failed' ? 1 : 0;
  } finally {
    await store.close();
  }
}

/** Continues a recorded run from its saved state, with its recorded config; a refusal changes nothing. */
async function resume(m: Extract<HostMessage, { type: 'resume' }>): Promise<number> {
  runId = m.runId;
  const store = await RunStore.open(m.dbPath);
  try {
    const run = await store.getRun(m.runId);
    if (!run) throw new ResumeRefused(`there is no run ${m.runId}`);
    // Re-validated: a config recorded by an older version may no longer be accepted.
    const { config, problems } = resolveRecordedConfig(run.config as unknown as Record<string, unknown>);
    if (!config) throw new ResumeRefused(`run ${m.runId}'s recorded config is no longer valid: ${formatProblems(problems)}`);
    const outcome = await runTraining(config, { store, dbPath: m.dbPath, runId: m.runId, emit: send, cancel, extraModuleDirs: m.extraModuleDirs, resume: true, claimedBy: m.claimedBy });
    return outcome.status === 'failed' ? 1 : 0;
  } catch (e) {
    if (!(e instanceof ResumeRefused)) throw e;
    send({ type: 'failed', runId: m.runId, error: e.message });
    return 2;
  } finally {
    await store.close();
  }
}

if (!process.send) {
  process.stderr.write('The Contrastive Lab worker is started by the extension with an IPC channel; use `clab train` from a terminal.\n');
  process.exit(2);
}

process.on('SIGTERM', requestCancel);
process.on('message', (m: unknown) => {
  if (!isHostMessage(m)) return;
  if (m.type === 'cancel') {
    requestCancel();
    return;
  }
  if (started) return;
  started = true;
  (m.type === 'resume' ? resume(m) : start(m)).then(
    (code) => {
      process.exitCode = code;
      releaseBackend();
      process.disconnect?.();
    },
    (e: unknown) => {
      send({ type: 'failed', runId: m.runId ?? -1, error: e instanceof Error ? e.message : String(e) });
      process.exitCode = 1;
      releaseBackend();
      process.disconnect?.();
    },
  );
});
