import * as tf from '@tensorflow/tfjs-core';
import type { AugmentParams } from '../core/augment-spec';
import { applyAugment, drawAugment, type AugmentDraw } from './augment/pipeline';
import { imageBatch, normalize } from './batches';
import type { Split } from '../data/datasets';
import type { Rng } from '../core/rng';
import type { Method, TrainBatch } from './methods/types';
import type { Optimizer } from './optim';

/**
 * The views of one batch: load the images, augment each view with its own pipeline and seed, normalise.
 * Also returns each view's random draws (crop boxes, flips…): PixPro matches pixels across views by them.
 */
export function makeViews(
  split: Split,
  indices: Int32Array,
  viewParams: AugmentParams[],
  stats: { mean: number[]; std: number[] },
  rngFor: (view: number) => Rng,
): { views: tf.Tensor4D[]; draws: AugmentDraw[] } {
  const raw = imageBatch(split, indices);
  const [, h, w] = raw.shape;
  try {
    const draws = viewParams.map((p, v) => drawAugment(rngFor(v), indices.length, h, w, p));
    const views = viewParams.map((p, v) => tf.tidy(() => normalize(applyAugment(raw, draws[v], p, [h, w]), stats)));
    return { views, draws };
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
