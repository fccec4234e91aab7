import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { liveStatus, THIS_MACHINE, type Liveness } from './liveness';
import { runFolder, type RunStore } from './store';
import type { RunRow } from './types';

/**
 * A run's resume state: written by the training loop at the end of every epoch into
 * `<run folder>/resume/epoch-NNNN` (every variable, the optimizer's slots, the positions of the method's
 * random streams: see engine/resume.ts) and removed when the run completes. Each epoch's state is renamed
 * into place once complete, and the previous one removed only after that, so a crash at any moment leaves
 * one to resume from. This side reads only its description, so the extension and the CLI can check a
 * resume without loading TensorFlow.js.
 */
export interface ResumePoint {
  /** The last epoch finished, and the steps done by then. */
  epoch: number;
  step: number;
  configHash: string;
}

export const RESUME_FORMAT = 'contrastive-lab-resume';

export function resumeFolder(dbPath: string, runId: number): string {
  return join(runFolder(dbPath, runId), 'resume');
}

/** Where the state after `epoch` goes. */
export function resumeStateFolder(dbPath: string, runId: number, epoch: number): string {
  return join(resumeFolder(dbPath, runId), `epoch-${String(epoch).padStart(4, '0')}`);
}

/** The newest complete resume state of the run (its folder and the point it continues from); undefined when there is none. */
export function latestResumeState(dbPath: string, runId: number): { dir: string; point: ResumePoint } | undefined {
  const root = resumeFolder(dbPath, runId);
  if (!existsSync(root)) return undefined;
  const epochs = readdirSync(root)
    .filter((name) => /^epoch-\d+$/.test(name))
    .sort((a, b) => Number(b.slice(6)) - Number(a.slice(6)));
  for (const name of epochs) {
    const file = join(root, name, 'model.json');
    if (!existsSync(file)) continue;
    const meta = JSON.parse(readFileSync(file, 'utf8')) as Partial<ResumePoint> & { format?: unknown };
    if (meta.format !== RESUME_FORMAT || !Number.isInteger(meta.epoch) || !Number.isInteger(meta.step) || typeof meta.configHash !== 'string')
      throw new Error(`${file} is not a Contrastive Lab resume state`);
    return { dir: join(root, name), point: { epoch: meta.epoch!, step: meta.step!, configHash: meta.configHash } };
  }
  return undefined;
}

/** A resume that cannot be done; nothing was changed. */
export class ResumeRefused extends Error {}

/**
 * Whether run `runId` can be resumed now, and from where; otherwise throws ResumeRefused saying why.
 * Reads only. A `running` run is refused while its worker may be alive: on this machine its pid decides
 * (as in the Runs view), elsewhere its heartbeat (stale after a minute: shown as crashed).
 */
export async function checkResumable(store: RunStore, dbPath: string, runId: number, liveness: Liveness = THIS_MACHINE): Promise<{ run: RunRow; from: ResumePoint; dir: string }> {
  const run = await store.getRun(runId);
  if (!run) throw new ResumeRefused(`there is no run ${runId}`);
  if (run.status === 'completed') throw new ResumeRefused(`run ${runId} is completed: there is nothing to resume (Rerun trains it again)`);
  if (run.status === 'queued') throw new ResumeRefused(`run ${runId} is queued: it has not started yet`);
  if (run.status === 'running' && liveStatus(run, liveness) === 'running') {
    const local = run.pid && run.host === liveness.host;
    throw new ResumeRefused(`run ${runId} is still running (${local ? `process ${run.pid}` : `its worker${run.host ? ` on ${run.host}` : ''} sent a heartbeat recently`}): stop it first`);
  }
  const state = latestResumeState(dbPath, runId);
  if (!state)
    throw new ResumeRefused(
      // Records in epoch 2 or later mean epoch 1 finished, and so a state should have been saved.
      (run.lastEpoch ?? 0) > 1
        ? `run ${runId} has no resume state although it has records up to epoch ${run.lastEpoch}: it was recorded by a version of Contrastive Lab without resume, or its state folder ${resumeFolder(dbPath, runId)} was removed — start it again`
        : `run ${runId} has no resume state: it stopped before finishing its first epoch — start it again`,
    );
  const from = state.point;
  if (from.configHash !== run.configHash)
    throw new ResumeRefused(`run ${runId}'s resume state was saved for another config (hash ${from.configHash}; the run's is ${run.configHash}): start it again`);
  return { run, from, dir: state.dir };
}
