import * as tf from '@tensorflow/tfjs-core';
import { readdirSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { RESUME_FORMAT, resumeFolder, resumeStateFolder, type ResumePoint } from '../store/resume';
import { loadCheckpoint, saveCheckpoint } from './checkpoint';
import type { Method, MethodState } from './methods/types';
import { stableNames, type Optimizer } from './optim';

/**
 * The training state a run resumes from (src/store/resume.ts says where it lives and when it may be used):
 * a checkpoint (tfjs weights manifest + one .bin, written atomically) holding every variable of the method
 * by its stable name, the optimizer's slots as `optimizer/<slot>/<variable>` (e.g. `optimizer/m/encoder.conv0.weight`),
 * and in model.json the point reached, the optimizer's update count and the method's state outside its
 * variables (random-stream positions, memory-bank rows). Batches need nothing: the epoch order is seeded
 * by the epoch and each step's augmentation by the step.
 */

const OPTIMIZER = 'optimizer/';

/** Saves the state at `point`, then removes the earlier one (and anything a crash left half-written). */
export async function saveResumeState(dbPath: string, s: { runId: number; point: ResumePoint; method: Method; optimizer: Optimizer }): Promise<void> {
  const optimizer = s.optimizer.exportState(stableNames(s.method));
  const tensors = new Map<string, tf.Tensor>(s.method.namedVariables());
  for (const [name, slot] of optimizer.slots) tensors.set(OPTIMIZER + name, slot);
  const methodState: MethodState = s.method.saveState?.() ?? {};
  const dir = resumeStateFolder(dbPath, s.runId, s.point);
  await saveCheckpoint(dir, tensors, { format: RESUME_FORMAT, runId: s.runId, ...s.point, optimizerStep: optimizer.step, methodState });
  const root = resumeFolder(dbPath, s.runId);
  for (const name of readdirSync(root)) if (name !== basename(dir)) rmSync(join(root, name), { recursive: true, force: true });
}

/** Loads the state in `dir` into a freshly created method and optimizer; returns the point it continues from. */
export function loadResumeState(dir: string, method: Method, optimizer: Optimizer): ResumePoint {
  const { tensors, meta } = loadCheckpoint(dir);
  try {
    for (const [name, v] of method.namedVariables()) {
      const t = tensors[name];
      if (!t) throw new Error(`the resume state has no variable ${name}`);
      if (!tf.util.arraysEqual(t.shape, v.shape)) throw new Error(`the resume state's ${name} is shaped [${t.shape}], the method's [${v.shape}]`);
      v.assign(t);
    }
    const slots: tf.NamedTensorMap = {};
    for (const [name, t] of Object.entries(tensors)) if (name.startsWith(OPTIMIZER)) slots[name.slice(OPTIMIZER.length)] = t;
    optimizer.importState({ step: Number(meta.optimizerStep), slots }, stableNames(method));
    method.restoreState?.((meta.methodState ?? {}) as MethodState);
  } finally {
    tf.dispose(Object.values(tensors));
  }
  const partial = meta.partial as ResumePoint['partial'];
  return {
    epoch: Number(meta.epoch),
    step: Number(meta.step),
    configHash: String(meta.configHash),
    ...(meta.stepsPerEpoch === undefined ? {} : { stepsPerEpoch: Number(meta.stepsPerEpoch) }),
    ...(partial ? { partial: { lossSum: Number(partial.lossSum), seconds: Number(partial.seconds) } } : {}),
    ...(meta.evaluationPending === true ? { evaluationPending: true } : {}),
  };
}
