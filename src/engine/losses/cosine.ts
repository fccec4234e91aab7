import * as tf from '@tensorflow/tfjs-core';
import { gatherRows } from '../parallel/collective';
import { l2normalize } from './ntxent';

/** Cosine similarity of matching rows: [N, D] × [N, D] → [N]. */
export function cosineRows(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => tf.sum(tf.mul(l2normalize(a), l2normalize(b)), 1) as tf.Tensor1D);
}

/**
 * BYOL's loss (arXiv 2006.07733 eq. 2): the mean squared error of the L2-normalised prediction and
 * target projection, ‖p̄ − z̄′‖² = 2 − 2·⟨p, z′⟩/(‖p‖·‖z′‖), averaged over the batch. 0 when aligned,
 * 2 for orthogonal vectors, 4 for opposite ones. z′ must be a constant (the target network's output).
 */
export function byolLoss(p: tf.Tensor2D, zTarget: tf.Tensor2D): tf.Scalar {
  // Data-parallel training: the mean over every thread's rows (else identity).
  return tf.tidy(() => tf.mean(tf.sub(2, tf.mul(2, cosineRows(...gatherRows(p, zTarget))))) as tf.Scalar);
}

/**
 * SimSiam's D(p, z) = −(p/‖p‖₂)·(z/‖z‖₂) averaged over the batch (arXiv 2011.10566 eq. 1). The caller
 * passes z through the stop-gradient (eq. 3: D(p₁, stopgrad(z₂))).
 */
export function negativeCosine(p: tf.Tensor2D, z: tf.Tensor2D): tf.Scalar {
  // Data-parallel training: the mean over every thread's rows (else identity).
  return tf.tidy(() => tf.neg(tf.mean(cosineRows(...gatherRows(p, z)))) as tf.Scalar);
}
