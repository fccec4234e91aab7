import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { liveStatus, THIS_MACHINE, type Liveness } from './liveness';
import { runFolder, type RunStore } from './store';
import type { RunRow } from './types';

/**
 * A run's resume state: written by the training loop at the end of every epoch into
 * `<run folder>/resume/epoch-NNNN`, and when a stop is requested in the middle of an epoch into
 * `<run folder>/resume/step-NNNNNNNN` (every variable, the optimizer's slots, the positions of the method's
 * random streams: see engine/resume.ts); removed when the run completes. Each state is renamed into place
 * once complete, and the previous one removed only after that, so a crash at any moment leaves one to
 * resume from. This side reads only its description, so the extension and the CLI can check a resume
 * without loading TensorFlow.js.
 */
export interface ResumePoint {
  /** The last epoch finished, and the steps done in all (more than that epoch's end when stopped mid-epoch). */
  epoch: number;
  step: number;
  configHash: string;
  /** Steps per epoch when it was saved (absent in states saved before mid-epoch resume existed). */
  stepsPerEpoch?: number;
  /**
   * Stopped in the middle of epoch `epoch + 1`: the sum of the losses of its steps done so far and the
   * seconds they took, so the epoch's mean loss and time come out as if it had not been interrupted.
   */
  partial?: { lossSum: number; seconds: number };
  /**
   * Epoch `epoch` is trained but its end-of-epoch work (kNN and collapse evaluation, embeddings, checkpoint)
   * was not done: the state is saved before that work, and again after it, so a worker killed during an
   * evaluation (which takes minutes on a large split) loses the evaluation, not the epoch's training.
   */
  evaluationPending?: boolean;
}

export const RESUME_FORMAT = 'contrastive-lab-resume';

export function resumeFolder(dbPath: string, runId: number): string {
  return join(runFolder(dbPath, runId), 'resume');
}

/**
 * Where the state at `point` goes: named by the epoch at an epoch's end (`epoch-0003`; `epoch-0003-trained`
 * before that epoch's evaluation), by the step in the middle of one (`step-00000812`).
 */
export function resumeStateFolder(dbPath: string, runId: number, point: Pick<ResumePoint, 'epoch' | 'step' | 'partial' | 'evaluationPending'>): string {
  const epoch = `epoch-${String(point.epoch).padStart(4, '0')}`;
  const name = point.partial ? `step-${String(point.step).padStart(8, '0')}` : point.evaluationPending ? `${epoch}-trained` : epoch;
  return join(resumeFolder(dbPath, runId), name);
}

/** The newest complete resume state of the run (its folder and the point it continues from); undefined when there is none. */
export function latestResumeState(dbPath: string, runId: number): { dir: string; point: ResumePoint } | undefined {
  const root = resumeFolder(dbPath, runId);
  if (!existsSync(root)) return undefined;
  let latest: { dir: string; point: ResumePoint } | undefined;
  // Folders being written have other names (see engine/checkpoint.ts), and one without model.json is not complete.
  for (const name of readdirSync(root).filter((n) => /^(epoch-\d+(-trained)?|step-\d+)$/.test(n))) {
    const file = join(root, name, 'model.json');
    if (!existsSync(file)) continue;
    const point = readPoint(file);
    // At the same step (a crash between writing the evaluated state and removing the one before), the evaluated one.
    const later = !latest || point.step > latest.point.step || (point.step === latest.point.step && !!latest.point.evaluationPending && !point.evaluationPending);
    if (later) latest = { dir: join(root, name), point };
  }
  return latest;
}

function readPoint(file: string): ResumePoint {
  const meta = JSON.parse(readFileSync(file, 'utf8')) as Partial<ResumePoint> & { format?: unknown };
  const partial = meta.partial as Partial<NonNullable<ResumePoint['partial']>> | undefined;
  if (
    meta.format !== RESUME_FORMAT ||
    !Number.isInteger(meta.epoch) ||
    !Number.isInteger(meta.step) ||
    typeof meta.configHash !== 'string' ||
    (meta.stepsPerEpoch !== undefined && !Number.isInteger(meta.stepsPerEpoch)) ||
    (partial !== undefined && (typeof partial.lossSum !== 'number' || typeof partial.seconds !== 'number')) ||
    (meta.evaluationPending !== undefined && typeof meta.evaluationPending !== 'boolean')
  )
    throw new Error(`${file} is not a Contrastive Lab resume state`);
  return {
    epoch: meta.epoch!,
    step: meta.step!,
    configHash: meta.configHash,
    ...(meta.stepsPerEpoch === undefined ? {} : { stepsPerEpoch: meta.stepsPerEpoch }),
    ...(partial ? { partial: { lossSum: partial.lossSum!, seconds: partial.seconds! } } : {}),
    ...(meta.evaluationPending ? { evaluationPending: true } : {}),
  };
}

/**
 * Where a run resumes: "after epoch 3", "in epoch 4 at step 812" when it was stopped in the middle of one, or
 * "after epoch 3, with its evaluation" when it died during that evaluation (redone first).
 */
export function describeResumePoint(p: ResumePoint): string {
  return p.partial ? `in epoch ${p.epoch + 1} at step ${p.step}` : p.evaluationPending ? `after epoch ${p.epoch}, with its evaluation` : `after epoch ${p.epoch}`;
}

/** Statuses (as shown on this machine) of a run that may have a state to resume from. */
export function isResumableStatus(status: string): boolean {
  return status === 'cancelled' || status === 'failed' || status === 'crashed';
}

/** A resume that cannot be done; nothing was changed. */
export class ResumeRefused extends Error {}

/**
 * Whether run `runId` can be resumed now, and from where; otherwise throws ResumeRefused saying why.
 * Reads only. A `running` run is refused while its worker may be alive: on this machine its pid decides
 * (as in the Runs view), elsewhere its heartbeat (stale after a minute: shown as crashed).
 */
export async function checkResumable(
  store: RunStore,
  dbPath: string,
  runId: number,
  liveness: Liveness = THIS_MACHINE,
  opts: { claimedBy?: string } = {},
): Promise<{ run: RunRow; from: ResumePoint; dir: string }> {
  const run = await store.getRun(runId);
  if (!run) throw new ResumeRefused(`there is no run ${runId}`);
  // Claimed by the queue runner that starts this worker: running by that claim, not by another worker.
  const claimed = opts.claimedBy !== undefined && run.status === 'running' && run.claimedBy === opts.claimedBy;
  if (!claimed) refuseByStatus(run, liveness);
  const state = latestResumeState(dbPath, runId);
  if (!state)
    throw new ResumeRefused(
      // Records in epoch 2 or later mean epoch 1 finished, and so a state should have been saved.
      (run.lastEpoch ?? 0) > 1
        ? `run ${runId} has no resume state although it has records up to epoch ${run.lastEpoch}: it was recorded by a version of Contrastive Lab without resume, or its state folder ${resumeFolder(dbPath, runId)} was removed — start it again`
        : `run ${runId} has no resume state: it ended in its first epoch without saving one (a stop saves one, a crash or a failure does not) — start it again`,
    );
  const from = state.point;
  if (from.configHash !== run.configHash)
    throw new ResumeRefused(`run ${runId}'s resume state was saved for another config (hash ${from.configHash}; the run's is ${run.configHash}): start it again`);
  return { run, from, dir: state.dir };
}

/** A run that is not resumable by its status: completed, queued, or still running. */
function refuseByStatus(run: RunRow, liveness: Liveness): void {
  const runId = run.id;
  if (run.status === 'completed') throw new ResumeRefused(`run ${runId} is completed: there is nothing to resume (Rerun trains it again)`);
  else if (run.status === 'queued') throw new ResumeRefused(`run ${runId} is queued: it has not started yet`);
  else if (run.status === 'running' && liveStatus(run, liveness) === 'running') {
    const local = run.pid && run.host === liveness.host;
    throw new ResumeRefused(`run ${runId} is still running (${local ? `process ${run.pid}` : `its worker${run.host ? ` on ${run.host}` : ''} sent a heartbeat recently`}): stop it first`);
  }
}
