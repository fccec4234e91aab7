import * as tf from '@tensorflow/tfjs-core';
import { parseOrder, type AugmentParams, type AugmentStep } from '../../core/augment-spec';
import type { Rng } from '../../core/rng';
import { col, cutout, luma, noise, pick, rotateImages, sobel } from './steps';

/**
 * Batched, seeded augmentation on tensors. Every random choice is drawn per image from `rng` in JS
 * (so a seed reproduces a run exactly on any backend) and then applied to the whole batch with a few
 * tensor ops: the crop and flip are one `cropAndResize` with per-image boxes (a box with x1 > x2 is
 * mirrored), jitter is per-image factors broadcast over pixels, blur is one depthwise convolution whose
 * per-image kernels sit in the channel axis, cutout is a mask, rotation sums bilinear taps (rotateImages).
 * The steps run in the order `p.order` lists; the draws are made in one fixed order whatever it is.
 *
 * A step whose probability is 0 draws nothing for the steps added after runs were recorded (cutout,
 * Sobel, noise, rotation): with them off a seed consumes exactly the numbers it did before, so a
 * recorded run replays and resumes bit for bit (test/augment-golden.test.ts).
 *
 * Input and output: [B, H, W, C] floats in [0, 1]. C is 1 (grayscale) or 3 (RGB); saturation, hue and
 * grayscale only apply to RGB.
 */

/** Per-image random choices of one pipeline application; exposed so tests and the preview can inspect them. */
export interface AugmentDraw {
  /** [y1, x1, y2, x2] in cropAndResize's normalised coordinates; x1 > x2 when flipped. */
  boxes: Float32Array;
  flipped: Uint8Array;
  jitter: Uint8Array;
  brightness: Float32Array;
  contrast: Float32Array;
  saturation: Float32Array;
  hue: Float32Array;
  grayscale: Uint8Array;
  blurSigma: Float32Array; // 0 = no blur
  solarize: Uint8Array;
  /** Cutout: the square's side as a fraction of the image side (0 = no cutout), and where it sits: [0, 1) each, of the free range. */
  cutoutSize: Float32Array;
  cutoutY: Float32Array;
  cutoutX: Float32Array;
  sobel: Uint8Array;
  /** Gaussian noise: σ (0 = none) and the seed of the image's noise stream. */
  noiseStd: Float32Array;
  noiseSeed: Uint32Array;
  /** Rotation in degrees, counter-clockwise (0 = none). */
  rotation: Float32Array;
}

/**
 * torchvision's RandomResizedCrop sampling: area fraction s ~ U(minScale, maxScale), log aspect ratio
 * uniform; up to 10 tries for a box that fits, else the whole image (ratio-clamped), as torchvision does.
 * Returns [top, left, height, width] in pixels.
 */
export function sampleCrop(rng: Rng, h: number, w: number, p: AugmentParams): [number, number, number, number] {
  const area = h * w;
  const logLo = Math.log(p.cropMinRatio);
  const logHi = Math.log(p.cropMaxRatio);
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * rng.uniform(p.cropMinScale, p.cropMaxScale);
    const ratio = Math.exp(rng.uniform(logLo, logHi));
    const cw = Math.round(Math.sqrt(target * ratio));
    const ch = Math.round(Math.sqrt(target / ratio));
    if (cw > 0 && ch > 0 && cw <= w && ch <= h) return [rng.int(h - ch + 1), rng.int(w - cw + 1), ch, cw];
  }
  const ratio = w / h;
  let cw = w;
  let ch = h;
  if (ratio < p.cropMinRatio) ch = Math.round(w / p.cropMinRatio);
  else if (ratio > p.cropMaxRatio) cw = Math.round(h * p.cropMaxRatio);
  return [Math.floor((h - ch) / 2), Math.floor((w - cw) / 2), ch, cw];
}

export function drawAugment(rng: Rng, batch: number, h: number, w: number, p: AugmentParams): AugmentDraw {
  const d: AugmentDraw = {
    boxes: new Float32Array(batch * 4),
    flipped: new Uint8Array(batch),
    jitter: new Uint8Array(batch),
    brightness: new Float32Array(batch).fill(1),
    contrast: new Float32Array(batch).fill(1),
    saturation: new Float32Array(batch).fill(1),
    hue: new Float32Array(batch),
    grayscale: new Uint8Array(batch),
    blurSigma: new Float32Array(batch),
    solarize: new Uint8Array(batch),
    cutoutSize: new Float32Array(batch),
    cutoutY: new Float32Array(batch),
    cutoutX: new Float32Array(batch),
    sobel: new Uint8Array(batch),
    noiseStd: new Float32Array(batch),
    noiseSeed: new Uint32Array(batch),
    rotation: new Float32Array(batch),
  };
  // Steps added after runs were recorded draw only when they can happen (see the file comment).
  const maybe = (prob: number) => prob > 0 && rng.next() < prob;
  for (let i = 0; i < batch; i++) {
    const [top, left, ch, cw] = sampleCrop(rng, h, w, p);
    // Pixel centres of the crop's first and last rows/columns, normalised so 0 and 1 are the image's.
    const y1 = top / Math.max(1, h - 1);
    const y2 = (top + ch - 1) / Math.max(1, h - 1);
    let x1 = left / Math.max(1, w - 1);
    let x2 = (left + cw - 1) / Math.max(1, w - 1);
    if (rng.next() < p.flipProb) {
      d.flipped[i] = 1;
      [x1, x2] = [x2, x1];
    }
    d.boxes.set([y1, x1, y2, x2], i * 4);
    if (rng.next() < p.jitterProb) {
      d.jitter[i] = 1;
      d.brightness[i] = rng.uniform(1 - p.brightness, 1 + p.brightness);
      d.contrast[i] = rng.uniform(1 - p.contrast, 1 + p.contrast);
      d.saturation[i] = rng.uniform(1 - p.saturation, 1 + p.saturation);
      d.hue[i] = rng.uniform(-p.hue, p.hue);
    }
    d.grayscale[i] = rng.next() < p.grayscaleProb ? 1 : 0;
    if (rng.next() < p.blurProb) d.blurSigma[i] = rng.uniform(p.blurSigmaMin, p.blurSigmaMax);
    d.solarize[i] = rng.next() < p.solarizeProb ? 1 : 0;
    if (maybe(p.cutoutProb)) {
      d.cutoutSize[i] = p.cutoutSize;
      d.cutoutY[i] = rng.next();
      d.cutoutX[i] = rng.next();
    }
    d.sobel[i] = maybe(p.sobelProb) ? 1 : 0;
    if (maybe(p.noiseProb)) {
      d.noiseStd[i] = p.noiseStd;
      d.noiseSeed[i] = Math.floor(rng.next() * 4294967296);
    }
    if (maybe(p.rotateProb)) d.rotation[i] = p.rotateAngles === 'quarter' ? 90 * (1 + rng.int(3)) : rng.uniform(-p.rotateMaxDegrees, p.rotateMaxDegrees);
  }
  return d;
}

/**
 * Hue rotation by `turns` (fraction of a full turn) as a rotation of the chroma plane in YIQ space —
 * a linear, batched approximation of torchvision's HSV hue shift (exact for the luma, close in hue).
 */
function rotateHue(x: tf.Tensor4D, turns: Float32Array): tf.Tensor4D {
  const b = turns.length;
  const toYiq = [
    [0.299, 0.587, 0.114],
    [0.596, -0.274, -0.322],
    [0.211, -0.523, 0.312],
  ];
  const toRgb = [
    [1, 0.956, 0.621],
    [1, -0.272, -0.647],
    [1, -1.106, 1.703],
  ];
  const m = new Float32Array(b * 9);
  for (let i = 0; i < b; i++) {
    const c = Math.cos(2 * Math.PI * turns[i]);
    const s = Math.sin(2 * Math.PI * turns[i]);
    const rot = [
      [1, 0, 0],
      [0, c, -s],
      [0, s, c],
    ];
    // M = toRgb · rot · toYiq, applied as rgb_out = M · rgb_in.
    for (let r = 0; r < 3; r++)
      for (let k = 0; k < 3; k++) {
        let v = 0;
        for (let a = 0; a < 3; a++) for (let q = 0; q < 3; q++) v += toRgb[r][a] * rot[a][q] * toYiq[q][k];
        // Stored transposed ([in, out]) so pixels [B, HW, 3] · M^T [B, 3, 3] gives [B, HW, 3].
        m[i * 9 + k * 3 + r] = v;
      }
  }
  const [, h, w] = x.shape;
  const flat = tf.reshape(x, [b, h * w, 3]) as tf.Tensor3D;
  return tf.reshape(tf.matMul(flat, tf.tensor3d(m, [b, 3, 3])), x.shape) as tf.Tensor4D;
}

/** One 1-D gaussian kernel per image (a unit impulse when sigma = 0), all of odd size `size`. */
function gaussianKernels(sigmas: Float32Array, size: number): Float32Array {
  const half = (size - 1) / 2;
  const out = new Float32Array(sigmas.length * size);
  sigmas.forEach((sigma, i) => {
    if (sigma <= 0) {
      out[i * size + half] = 1;
      return;
    }
    let total = 0;
    for (let t = 0; t < size; t++) total += out[i * size + t] = Math.exp(-((t - half) ** 2) / (2 * sigma * sigma));
    for (let t = 0; t < size; t++) out[i * size + t] /= total;
  });
  return out;
}

/**
 * Per-image gaussian blur in one pass: images move into the channel axis ([1, H, W, B·C]) so a
 * separable depthwise convolution applies each image's own kernel. Reflect-free 'same' padding with
 * zeros would darken the borders, so the kernels are renormalised by a blurred ones-image.
 */
function blur(x: tf.Tensor4D, sigmas: Float32Array, maxSigma: number): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  const size = Math.min(2 * Math.ceil(2 * maxSigma) + 1, 2 * Math.floor((Math.min(h, w) - 1) / 2) + 1);
  const k = gaussianKernels(sigmas, size);
  const perChannel = new Float32Array(b * c * size);
  for (let i = 0; i < b; i++) for (let ch = 0; ch < c; ch++) perChannel.set(k.subarray(i * size, (i + 1) * size), (i * c + ch) * size);
  // Filters [size, 1, B·C, 1] and [1, size, B·C, 1]: element (t, ·, j) = kernel of channel j at tap t.
  const taps = new Float32Array(size * b * c);
  for (let j = 0; j < b * c; j++) for (let t = 0; t < size; t++) taps[t * b * c + j] = perChannel[j * size + t];
  const fv = tf.tensor4d(taps, [size, 1, b * c, 1]);
  const fh = tf.tensor4d(taps, [1, size, b * c, 1]);
  const stacked = tf.reshape(tf.transpose(x, [1, 2, 0, 3]), [1, h, w, b * c]) as tf.Tensor4D;
  const run = (t: tf.Tensor4D) => tf.depthwiseConv2d(tf.depthwiseConv2d(t, fv, 1, 'same'), fh, 1, 'same');
  const norm = run(tf.onesLike(stacked));
  const blurred = tf.div(run(stacked), norm);
  return tf.transpose(tf.reshape(blurred, [h, w, b, c]), [2, 0, 1, 3]) as tf.Tensor4D;
}

/**
 * Applies drawn choices to a batch, step by step in `p.order`. Pure tensor code, no randomness (noise
 * comes from the seeds in the draw): the same draw gives the same images. A step none of the images
 * drew is skipped, so a pipeline with the new steps off runs the very ops it ran before they existed.
 */
export function applyAugment(x: tf.Tensor4D, d: AugmentDraw, p: AugmentParams, outSize: [number, number]): tf.Tensor4D {
  const parsed = parseOrder(p.order);
  if ('problem' in parsed) throw new Error(`augmentation order: ${parsed.problem}`);
  return tf.tidy(() => {
    const b = x.shape[0];
    let y = x;
    const step: Record<AugmentStep, () => void> = {
      crop: () => {
        y = tf.image.cropAndResize(y, tf.tensor2d(d.boxes, [b, 4]), tf.range(0, b, 1, 'int32') as tf.Tensor1D, outSize, 'bilinear');
      },
      color: () => {
        const rgb = y.shape[3] === 3;
        if (d.jitter.some((v) => v)) {
          // torchvision's order: brightness, contrast, saturation, hue (we keep it fixed rather than random).
          y = tf.clipByValue(tf.mul(y, col(d.brightness)), 0, 1) as tf.Tensor4D;
          const mean = tf.mean(luma(y), [1, 2, 3], true);
          y = tf.clipByValue(tf.add(tf.mul(tf.sub(y, mean), col(d.contrast)), mean), 0, 1) as tf.Tensor4D;
          if (rgb) {
            const g = luma(y);
            y = tf.clipByValue(tf.add(tf.mul(tf.sub(y, g), col(d.saturation)), g), 0, 1) as tf.Tensor4D;
            if (d.hue.some((v) => v !== 0)) y = tf.clipByValue(rotateHue(y, d.hue), 0, 1);
          }
        }
        if (rgb && d.grayscale.some((v) => v)) {
          const g = col(d.grayscale);
          y = tf.add(tf.mul(g, luma(y)), tf.mul(tf.sub(1, g), y)) as tf.Tensor4D;
        }
      },
      blur: () => {
        if (d.blurSigma.some((v) => v > 0)) y = blur(y, d.blurSigma, p.blurSigmaMax);
      },
      solarize: () => {
        if (d.solarize.some((v) => v)) y = pick(d.solarize, tf.where(tf.greaterEqual(y, p.solarizeThreshold), tf.sub(1, y), y) as tf.Tensor4D, y);
      },
      cutout: () => {
        if (d.cutoutSize.some((v) => v > 0)) y = cutout(y, d.cutoutSize, d.cutoutY, d.cutoutX);
      },
      sobel: () => {
        if (d.sobel.some((v) => v)) y = pick(d.sobel, sobel(y), y);
      },
      noise: () => {
        if (d.noiseStd.some((v) => v > 0)) y = noise(y, d.noiseStd, d.noiseSeed);
      },
      rotate: () => {
        if (d.rotation.some((v) => v !== 0)) y = rotateImages(y, d.rotation);
      },
    };
    for (const s of parsed.steps) step[s]();
    return y;
  });
}

/** Draw and apply: one view of a batch. This is what the training loop and the augmentation preview call. */
export function augmentBatch(x: tf.Tensor4D, p: AugmentParams, rng: Rng, outSize?: [number, number]): tf.Tensor4D {
  const [b, h, w] = x.shape;
  return applyAugment(x, drawAugment(rng, b, h, w, p), p, outSize ?? [h, w]);
}
