import * as tf from '@tensorflow/tfjs-core';

/**
 * PixPro's positive pairs (arXiv 2011.10043 §3.1; official `regression_loss`): feature-map cell i of view A
 * and cell j of view B are positives when the distance between their centres, mapped back to the original
 * image, is below `threshold` (the paper's T = 0.7) times the larger of the two views' bin diagonals.
 *
 * Boxes are the augmentation pipeline's crop boxes [y1, x1, y2, x2] (pixel centres normalised by the image
 * size − 1, x1 > x2 when the view is mirrored): the official code's coordinates [x_start, y_start, x_end,
 * y_end], normalised the same way and with x_start and x_end swapped by its flip. As there, a view's
 * h×w map splits its box into bins of (x2 − x1)/w × (y2 − y1)/h (negative width when mirrored, so
 * column 0 lands on the right), and cell (r, c) sits at the bin's centre:
 *   centre = (x1 + (c + ½)·binW, y1 + (r + ½)·binH)
 * Returns [B, h·w, h·w] row-major (cells of A along rows, of B along columns), 1 for positives.
 */
export function pixproPositiveMask(boxesA: Float32Array, boxesB: Float32Array, h: number, w: number, threshold: number): Float32Array {
  const batch = boxesA.length / 4;
  const p = h * w;
  const mask = new Float32Array(batch * p * p);
  const centres = (box: Float32Array, b: number) => {
    const [y1, x1, y2, x2] = box.subarray(b * 4, b * 4 + 4);
    const binH = (y2 - y1) / h;
    const binW = (x2 - x1) / w;
    const cy = Float64Array.from({ length: p }, (_, i) => y1 + (Math.floor(i / w) + 0.5) * binH);
    const cx = Float64Array.from({ length: p }, (_, i) => x1 + ((i % w) + 0.5) * binW);
    return { cy, cx, diag: Math.hypot(binH, binW) };
  };
  for (let b = 0; b < batch; b++) {
    const a = centres(boxesA, b);
    const o = centres(boxesB, b);
    const maxDiag = Math.max(a.diag, o.diag);
    for (let i = 0; i < p; i++)
      for (let j = 0; j < p; j++) if (Math.hypot(a.cy[i] - o.cy[j], a.cx[i] - o.cx[j]) / maxDiag < threshold) mask[(b * p + i) * p + j] = 1;
  }
  return mask;
}

/**
 * The pixel propagation module (§3.2, eq. 2–3): each pixel becomes the similarity-weighted sum of the
 * transformed pixels of its own view,
 *   y_i = Σ_j s(x_i, x_j) · g(x_j),   s(x_i, x_j) = max(cos(x_i, x_j), 0)^γ
 * with g(x_j) L2-normalised as in the official `featprop`. x: [B, P, C]; g maps [B·P, C] → [B·P, C].
 */
export function pixelPropagation(x: tf.Tensor3D, g: (x: tf.Tensor2D) => tf.Tensor2D, gamma: number): tf.Tensor3D {
  return tf.tidy(() => {
    const [b, p, c] = x.shape;
    const unit = tf.div(x, tf.sqrt(tf.maximum(tf.sum(tf.square(x), 2, true), 1e-12))); // [B, P, C]
    const cos = tf.matMul(unit, unit, false, true); // [B, P, P]
    const clamped = tf.relu(cos);
    const s = gamma === 2 ? tf.square(clamped) : gamma === 1 ? clamped : tf.pow(tf.add(clamped, gamma < 1 ? 1e-6 : 0), gamma);
    const flat = g(tf.reshape(x, [b * p, c]) as tf.Tensor2D); // [B·P, C]
    const value = tf.reshape(tf.div(flat, tf.sqrt(tf.maximum(tf.sum(tf.square(flat), 1, true), 1e-12))), [b, p, -1]); // [B, P, C]
    return tf.matMul(s, value) as tf.Tensor3D; // [B, P, C]
  });
}

/**
 * PixPro's consistency loss for one direction (eq. 4; official `regression_loss`): the mean over each
 * image's positive pairs of −cos(y_i, x′_j), y the propagated online pixels, x′ the momentum encoder's,
 * averaged over images and doubled (−2·cos, as the official code; an image without any positive pair
 * contributes 0). pred, target: [B, P, C]; mask: [B, P, P].
 */
export function pixelConsistencyLoss(pred: tf.Tensor3D, target: tf.Tensor3D, mask: tf.Tensor3D): tf.Scalar {
  return tf.tidy(() => {
    const normalise = (t: tf.Tensor3D) => tf.div(t, tf.sqrt(tf.maximum(tf.sum(tf.square(t), 2, true), 1e-12)));
    const cos = tf.matMul(normalise(pred), normalise(target), false, true); // [B, P, P]
    const perImage = tf.div(tf.sum(tf.mul(cos, mask), [1, 2]), tf.add(tf.sum(mask, [1, 2]), 1e-6)); // [B]
    return tf.mul(-2, tf.mean(perImage)) as tf.Scalar;
  });
}
