import * as tf from '@tensorflow/tfjs-core';
import { yieldToEventLoop } from '../util';

/**
 * Linear probe: a multinomial logistic regression on frozen, standardised features, trained on the
 * train split with Adam (full batches of up to 4096), evaluated top-1 on the test split.
 * Returns test accuracy in [0, 1].
 */
export async function linearProbeAccuracy(
  train: tf.Tensor2D, // [N, D]
  trainLabels: Int32Array,
  test: tf.Tensor2D, // [Q, D]
  testLabels: Int32Array,
  numClasses: number,
  opts: { epochs?: number; lr?: number; batch?: number; seed?: number } = {},
): Promise<number> {
  const epochs = opts.epochs ?? 30;
  const batch = opts.batch ?? 4096;
  const { mean, variance } = tf.moments(train, 0);
  const std = tf.tidy(() => tf.sqrt(tf.add(variance, 1e-6)));
  const x = tf.tidy(() => tf.div(tf.sub(train, mean), std));
  const y = tf.tidy(() => tf.oneHot(tf.tensor1d(trainLabels, 'int32'), numClasses));
  const d = train.shape[1];
  // In a tidy: a variable does not own its initial value, which would otherwise be left behind.
  const w = tf.tidy(() => tf.variable(tf.zeros([d, numClasses])));
  const b = tf.tidy(() => tf.variable(tf.zeros([numClasses])));
  const opt = tf.train.adam(opts.lr ?? 0.01);
  const n = train.shape[0];
  try {
    for (let e = 0; e < epochs; e++) {
      for (let s = 0; s < n; s += batch) {
        const size = Math.min(batch, n - s);
        const cost = opt.minimize(
          () => {
            const xb = tf.slice(x, [s, 0], [size, -1]);
            const yb = tf.slice(y, [s, 0], [size, -1]);
            return tf.losses.softmaxCrossEntropy(yb, tf.add(tf.matMul(xb, w), b)) as tf.Scalar;
          },
          true,
          [w, b],
        );
        cost?.dispose();
      }
      await yieldToEventLoop();
    }
    const pred = tf.tidy(() => tf.argMax(tf.add(tf.matMul(tf.div(tf.sub(test, mean), std), w), b), 1));
    const p = await pred.data();
    pred.dispose();
    let correct = 0;
    for (let i = 0; i < p.length; i++) if (p[i] === testLabels[i]) correct++;
    return correct / p.length;
  } finally {
    tf.dispose([mean, variance, std, x, y, w, b]);
    opt.dispose();
  }
}
