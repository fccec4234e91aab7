import * as tf from '@tensorflow/tfjs-core';
import type { AugmentParams } from '../core/augment-spec';
import { augmentBatch } from './augment/pipeline';
import { imageBatch, normalize } from './batches';
import type { Split } from './data/datasets';
import type { Rng } from './data/rng';
import type { Method, TrainBatch } from './methods/types';
import type { Optimizer } from './optim';

/** The views of one batch: load the images, augment each view with its own pipeline and seed, normalise. */
export function makeViews(split: Split, indices: Int32Array, viewParams: AugmentParams[], stats: { mean: number[]; std: number[] }, rngFor: (view: number) => Rng): tf.Tensor4D[] {
  const raw = imageBatch(split, indices);
  try {
    return viewParams.map((p, v) => tf.tidy(() => normalize(augmentBatch(raw, p, rngFor(v)), stats)));
  } finally {
    raw.dispose();
  }
}

/**
 * One optimisation step: loss and gradients under the tape, the optimizer update, then the method's
 * non-gradient updates. Returns the loss (read back, which also waits for the backend to finish).
 * The caller owns `batch.views`.
 */
export async function trainStep(method: Method, vars: tf.Variable[], optimizer: Optimizer, batch: TrainBatch, lr: number): Promise<number> {
  const { value, grads } = tf.variableGrads(() => method.loss(batch), vars);
  try {
    const loss = (await value.data())[0];
    if (!Number.isFinite(loss)) return loss; // the caller fails the run; no update with a broken gradient
    optimizer.apply(grads, lr);
    method.afterStep?.(batch);
    return loss;
  } finally {
    tf.dispose([value, grads]);
  }
}
