import * as tf from '@tensorflow/tfjs-core';

/**
 * CMC's views: one image split into channels that see the same scene through different "sensors"
 * (arXiv 1906.05849 §3.1, §4.1). Colour images: L vs ab of the Lab colour space (the paper's ImageNet and
 * STL-10 setting), or L, a, b as three views. Grayscale images: spatial-frequency bands (see
 * `frequencyBands`). Splits run on the input side of the encoders and are not differentiated.
 */

/** sRGB in [0, 1] → CIE Lab (D65, 2° observer), as skimage.color.rgb2lab, which the official code calls. */
export function rgbToLab(rgb: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const [b, h, w] = rgb.shape;
    const c = tf.clipByValue(rgb, 0, 1);
    // Undo the sRGB gamma: linear light.
    const linear = tf.where(tf.greater(c, 0.04045), tf.pow(tf.div(tf.add(c, 0.055), 1.055), 2.4), tf.div(c, 12.92));
    // XYZ, each divided by the D65 white point (0.95047, 1, 1.08883); stored [in, out] for pixels · M.
    const white = [0.95047, 1, 1.08883];
    const m = [
      [0.412453, 0.35758, 0.180423],
      [0.212671, 0.71516, 0.072169],
      [0.019334, 0.119193, 0.950227],
    ];
    const toXyz = tf.tensor2d([0, 1, 2].flatMap((i) => [0, 1, 2].map((o) => m[o][i] / white[o])), [3, 3]);
    const xyz = tf.matMul(tf.reshape(linear, [-1, 3]), toXyz); // [B·H·W, 3]
    const f = tf.where(tf.greater(xyz, 0.008856), tf.pow(tf.maximum(xyz, 0.008856), 1 / 3), tf.add(tf.mul(xyz, 7.787), 16 / 116));
    const [fx, fy, fz] = tf.split(f, 3, 1);
    const lab = tf.concat([tf.sub(tf.mul(fy, 116), 16), tf.mul(tf.sub(fx, fy), 500), tf.mul(tf.sub(fy, fz), 200)], 1);
    return tf.reshape(lab, [b, h, w, 3]) as tf.Tensor4D;
  });
}

/**
 * The official code's normalisation of Lab channels to about [−1, 1]: the centre and half-width of each
 * channel's range over sRGB (L ∈ [0, 100], a ∈ [−86.183, 98.233], b ∈ [−107.857, 94.478]).
 */
export function normaliseLab(lab: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const mean = tf.tensor1d([50, (-86.183 + 98.233) / 2, (-107.857 + 94.478) / 2]);
    const std = tf.tensor1d([50, (86.183 + 98.233) / 2, (107.857 + 94.478) / 2]);
    return tf.div(tf.sub(lab, mean), std) as tf.Tensor4D;
  });
}

/**
 * Gaussian blur of each channel with standard deviation `sigma` px, as a separable depthwise convolution.
 * Zero padding would darken the border (and the normalised background is not zero), so the result is
 * divided by the blur of an all-ones image: each pixel is the weighted mean of the pixels inside the image.
 */
export function gaussianBlur(x: tf.Tensor4D, sigma: number): tf.Tensor4D {
  return tf.tidy(() => {
    const c = x.shape[3];
    const radius = Math.max(1, Math.ceil(3 * sigma));
    const taps = Array.from({ length: 2 * radius + 1 }, (_, t) => Math.exp(-((t - radius) ** 2) / (2 * sigma * sigma)));
    const perChannel = taps.flatMap((v) => new Array<number>(c).fill(v)); // [taps, C]
    const vertical = tf.tensor4d(perChannel, [taps.length, 1, c, 1]);
    const horizontal = tf.tensor4d(perChannel, [1, taps.length, c, 1]);
    const run = (t: tf.Tensor4D) => tf.depthwiseConv2d(tf.depthwiseConv2d(t, vertical, 1, 'same'), horizontal, 1, 'same');
    return tf.div(run(x), run(tf.onesLike(x))) as tf.Tensor4D;
  });
}

/**
 * `count` spatial-frequency bands of x that sum to x exactly (a Laplacian-pyramid split without
 * subsampling): with σ₁ = sigma, σ_k = σ_{k−1}/2,
 *   band 1 = G_{σ₁} * x                      (lowest frequencies: silhouette, overall intensity)
 *   band k = G_{σ_k} * x − G_{σ_{k−1}} * x   (1 < k < count)
 *   band count = x − G_{σ_{count−1}} * x     (highest: edges, seams, texture)
 */
export function frequencyBands(x: tf.Tensor4D, count: number, sigma: number): tf.Tensor4D[] {
  const blurred = Array.from({ length: count - 1 }, (_, k) => gaussianBlur(x, sigma / 2 ** k));
  const bands = [tf.clone(blurred[0])];
  for (let k = 1; k < count - 1; k++) bands.push(tf.sub(blurred[k], blurred[k - 1]) as tf.Tensor4D);
  bands.push(tf.sub(x, blurred[count - 2]) as tf.Tensor4D);
  tf.dispose(blurred);
  return bands;
}

export type ViewSplit = { kind: 'lab'; count: 2 | 3; stats?: { mean: number[]; std: number[] } } | { kind: 'frequency'; count: number; sigma: number };

/** Channels of each view for an input with `channels` channels. */
export function viewChannels(split: ViewSplit, channels: number): number[] {
  if (split.kind === 'lab') return split.count === 2 ? [1, 2] : [1, 1, 1];
  return new Array<number>(split.count).fill(channels);
}

/**
 * The views of a normalised batch. Lab needs sRGB in [0, 1], so the input normalisation is undone first
 * with `stats` (without them the input is taken to be in [0, 1] already). Frequency bands are linear and
 * are taken of the normalised image directly.
 */
export function splitViews(x: tf.Tensor4D, split: ViewSplit): tf.Tensor4D[] {
  if (split.kind === 'frequency') return tf.tidy(() => frequencyBands(x, split.count, split.sigma));
  return tf.tidy(() => {
    const rgb = split.stats ? tf.add(tf.mul(x, tf.tensor1d(split.stats.std)), tf.tensor1d(split.stats.mean)) : x;
    const lab = normaliseLab(rgbToLab(rgb as tf.Tensor4D));
    return split.count === 2 ? (tf.split(lab, [1, 2], 3) as tf.Tensor4D[]) : (tf.split(lab, 3, 3) as tf.Tensor4D[]);
  });
}
