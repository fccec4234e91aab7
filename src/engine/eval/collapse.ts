import * as tf from '@tensorflow/tfjs-core';
import { l2normalize } from '../losses/ntxent';

/**
 * Collapse indicator of SimSiam (arXiv 2011.10566 §4.1): the standard deviation of the L2-normalised
 * output over samples, per dimension, averaged. ≈ 1/√d for a healthy, spread-out embedding, 0 when every
 * image maps to the same point. Returns [std, 1/√d].
 */
export async function collapseStd(z: tf.Tensor2D): Promise<[number, number]> {
  const s = tf.tidy(() => tf.mean(tf.sqrt(tf.moments(l2normalize(z), 0).variance)));
  const v = (await s.data())[0];
  s.dispose();
  return [v, 1 / Math.sqrt(z.shape[1])];
}
