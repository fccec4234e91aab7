import * as tf from '@tensorflow/tfjs-core';
import { gatherRows } from '../parallel/collective';

/** Rows scaled to unit L2 norm (with an epsilon so a zero row does not give NaN). */
export function l2normalize(x: tf.Tensor2D): tf.Tensor2D {
  return tf.div(x, tf.sqrt(tf.maximum(tf.sum(tf.square(x), 1, true), 1e-12))) as tf.Tensor2D;
}

/**
 * NT-Xent, the normalized temperature-scaled cross-entropy of SimCLR (arXiv 2002.05709, eq. 1):
 *   ℓ(i,j) = −log exp(sim(z_i,z_j)/τ) / Σ_{k≠i} exp(sim(z_i,z_k)/τ)
 * averaged over all 2N anchors; each anchor has one positive and 2N−2 negatives.
 */
export function ntXent(z1: tf.Tensor2D, z2: tf.Tensor2D, temperature: number): tf.Scalar {
  return tf.tidy(() => {
    // Data-parallel training: every thread's pairs, so the negatives are the whole batch's (else identity).
    [z1, z2] = gatherRows(z1, z2);
    const n = z1.shape[0];
    const z = l2normalize(tf.concat([z1, z2], 0)); // [2N, D]
    const selfMask = tf.mul(tf.eye(2 * n), 1e9); // exclude k = i from the denominator
    const logits = tf.sub(tf.div(tf.matMul(z, z, false, true), temperature), selfMask); // [2N, 2N]
    const logProb = tf.logSoftmax(logits); // [2N, 2N]
    // The positive of anchor i is i+N (first half) or i−N (second half).
    const positive = tf.oneHot(tf.concat([tf.range(n, 2 * n, 1, 'int32'), tf.range(0, n, 1, 'int32')]), 2 * n); // [2N, 2N]
    return tf.neg(tf.mean(tf.sum(tf.mul(logProb, positive), 1))) as tf.Scalar;
  });
}
