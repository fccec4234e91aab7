import * as tf from '@tensorflow/tfjs-core';

/**
 * Mean cross-entropy of softmax(logits) [n, m] at `labels`, with its analytic gradient
 * (softmax − onehot)/n. Every contrastive loss here is one of these over an n×m score matrix, often the
 * largest tensor of the step (InstDisc: 256 × 60,000). tfjs differentiates logSumExp op by op — max with
 * an Equal mask against the broadcast maximum, exp, log, … — about ten passes over the matrix, and wasm's
 * broadcasting Equal alone took 2.1 of InstDisc's 5.6 CPU-s per step; this needs three.
 */
export function softmaxCrossEntropy(logits: tf.Tensor2D, labels: Int32Array): tf.Scalar {
  const [n, m] = logits.shape;
  const flat = tf.tensor1d(
    labels.map((label, row) => row * m + label),
    'int32',
  );
  const ce = tf.customGrad((x, save) => {
    const logit = x as tf.Tensor2D;
    const shift = tf.max(logit, 1, true); // [n, 1], for exp without overflow
    const e = tf.exp(tf.sub(logit, shift)); // [n, m]
    const sum = tf.sum(e, 1, true); // [n, 1]
    const lse = tf.add(tf.log(sum), shift); // [n, 1]
    const positive = tf.gather(tf.reshape(logit, [-1]), flat); // [n]
    (save as tf.GradSaveFunc)([tf.div(e, sum)]); // softmax
    return {
      value: tf.mean(tf.sub(tf.reshape(lse, [n]), positive)) as tf.Scalar,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        // (wasm's OneHot writes integer bits into a float32 output, so it is cast instead.)
        tf.tidy(() => tf.mul(tf.sub(saved[0], tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), m), 'float32')), tf.div(dy, n))),
    };
  });
  const out = ce(logits) as tf.Scalar;
  flat.dispose();
  return out;
}

/**
 * log Σ_j exp(x_ij) per row, [n, m] → [n, 1], with its analytic gradient dy·softmax(x) (see
 * softmaxCrossEntropy for why not tf.logSumExp under the tape).
 */
export function logSumExpRows(x: tf.Tensor2D): tf.Tensor2D {
  const lse = tf.customGrad((input, save) => {
    const logit = input as tf.Tensor2D;
    const shift = tf.max(logit, 1, true); // [n, 1]
    const e = tf.exp(tf.sub(logit, shift)); // [n, m]
    const sum = tf.sum(e, 1, true); // [n, 1]
    (save as tf.GradSaveFunc)([tf.div(e, sum)]);
    return { value: tf.add(tf.log(sum), shift) as tf.Tensor2D, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(saved[0], dy) };
  });
  return lse(x) as tf.Tensor2D;
}
