import * as tf from '@tensorflow/tfjs-core';
import { softmaxCrossEntropy } from './softmax';
import { withFlushedGradient } from './subnormal';

/**
 * The row of each prediction's positive among the flattened targets: a prediction made from context row
 * i, column j of image b (rows 0 … R−k−1) is scored against z_{i+k, j} of the same image, which sits at
 * row b·R·C + (i+k)·C + j of the targets [B·R·C, d]. The CPC v2 pseudocode's
 * `labels = b * col_dim * rows + (i+1) * rows + col`.
 */
export function futureLabels(batch: number, rows: number, cols: number, k: number): Int32Array {
  const perImage = (rows - k) * cols;
  return Int32Array.from({ length: batch * perImage }, (_, n) => {
    const b = Math.floor(n / perImage);
    const r = n % perImage; // = i·C + j
    return b * rows * cols + k * cols + r;
  });
}

/**
 * CPC's InfoNCE for one prediction offset k (arXiv 1807.03748 eq. 4; CPC v2 pseudocode):
 *   ẑ_{i+k,j} = W_k c_{i,j}          preds [B, R−k, C, d], one per context position that has a row k below
 *   logits = ẑ · zᵀ                  every patch of every image in the batch: [B·(R−k)·C, B·R·C]
 *   L_k = CE(logits, positive = z_{i+k,j} of the same image)
 * The negatives are the other locations of the same image and every location of the other images
 * ("other locations in the image and other images in the mini-batch", CPC v2 §3). With `negatives`
 * (indices into the flattened targets, shared by all predictions) only those patches are scored, as in
 * CPC v1's "set of randomly sampled feature vectors", and a prediction's own positive is masked out of
 * them. No temperature: the scores are the log-bilinear f_k = exp(zᵀ W_k c) of the paper.
 */
export function cpcOffsetLoss(preds: tf.Tensor4D, targets: tf.Tensor4D, k: number, negatives?: Int32Array): tf.Scalar {
  return tf.tidy(() => {
    const [b, rows, cols, d] = targets.shape;
    if (preds.shape[1] !== rows - k || preds.shape[2] !== cols) throw new Error(`cpcOffsetLoss: predictions ${preds.shape} do not match targets ${targets.shape} at offset ${k}`);
    const p = tf.reshape(preds, [-1, d]) as tf.Tensor2D; // [n, d], n = B·(R−k)·C
    const z = tf.reshape(targets, [-1, d]) as tf.Tensor2D; // [B·R·C, d]
    const labels = futureLabels(b, rows, cols, k); // [n]
    // The scores are unbounded, so once trained, softmax · 1/n underflows for far negatives (1.3% of the score
    // gradient after one epoch on Fashion-MNIST), and wasm multiplies subnormals many times slower: flushed
    // before the products (profiled on a trained state: BatchMatMul 2.0–2.8 → 1.4 CPU-s per step).
    if (!negatives) return softmaxCrossEntropy(withFlushedGradient(tf.matMul(p, z, false, true)), labels); // [n, B·R·C]
    const n = labels.length;
    const positive = tf.sum(tf.mul(p, tf.gather(z, tf.tensor1d(labels, 'int32'))), 1, true); // [n, 1]
    const negative = tf.matMul(p, tf.gather(z, tf.tensor1d(negatives, 'int32')), false, true); // [n, N]
    const columnsOf = new Map<number, number[]>(); // target row → its columns among the negatives
    negatives.forEach((t, col) => columnsOf.set(t, [...(columnsOf.get(t) ?? []), col]));
    const isPositive = new Float32Array(n * negatives.length);
    labels.forEach((label, row) => columnsOf.get(label)?.forEach((col) => (isPositive[row * negatives.length + col] = 1e9)));
    const logits = withFlushedGradient(tf.concat([positive, tf.sub(negative, tf.tensor2d(isPositive, [n, negatives.length]))], 1) as tf.Tensor2D); // [n, 1+N]
    return softmaxCrossEntropy(logits, new Int32Array(n)); // the positive is column 0
  });
}
