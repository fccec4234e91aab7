import * as tf from '@tensorflow/tfjs-core';
import { softmaxCrossEntropy } from './softmax';

/**
 * MoCo's contrastive loss, InfoNCE over one positive key and a queue of negatives (arXiv 1911.05722,
 * eq. 1 and Algorithm 1):
 *   L_q = −log exp(q·k₊/τ) / (exp(q·k₊/τ) + Σ_{k∈queue} exp(q·k/τ))
 * i.e. cross-entropy over logits [l_pos | l_neg]/τ with label 0. q and k must be L2-normalised; k and
 * the queue are constants (the caller computes them without gradient).
 */
export function mocoInfoNce(q: tf.Tensor2D, k: tf.Tensor2D, queue: tf.Tensor2D, temperature: number): tf.Scalar {
  return tf.tidy(() => {
    const lPos = tf.sum(tf.mul(q, k), 1, true); // [N, 1]
    const lNeg = tf.matMul(q, queue, false, true); // [N, K]
    const logits = tf.div(tf.concat([lPos, lNeg], 1), temperature) as tf.Tensor2D; // [N, 1+K]
    return softmaxCrossEntropy(logits, new Int32Array(logits.shape[0])); // labels = 0: the positive is column 0
  });
}
