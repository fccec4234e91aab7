import * as tf from '@tensorflow/tfjs-core';
import { parseOrder, type AugmentParams, type AugmentStep } from '../../core/augment-spec';
import { Rng } from '../data/rng';

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

const col = (a: ArrayLike<number>) => tf.tensor4d(Float32Array.from(a), [a.length, 1, 1, 1]);

/** ITU-R 601 luma, as torchvision's rgb_to_grayscale. */
function luma(x: tf.Tensor4D): tf.Tensor4D {
  if (x.shape[3] === 1) return x;
  return tf.sum(tf.mul(x, tf.tensor1d([0.299, 0.587, 0.114])), 3, true) as tf.Tensor4D;
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

/** Per-image choice between two batches: `on` where the image's flag is set, else `off` (exactly). */
function pick(flags: ArrayLike<number>, on: tf.Tensor4D, off: tf.Tensor4D): tf.Tensor4D {
  const s = col(flags);
  return tf.add(tf.mul(s, on), tf.mul(tf.sub(1, s), off)) as tf.Tensor4D;
}

/** Edge magnitude of the luma by 3×3 Sobel kernels (borders replicated), /4 so a full 0→1 step edge reads 1. */
function sobel(x: tf.Tensor4D): tf.Tensor4D {
  const [, h, w, c] = x.shape;
  const g = luma(x);
  const rows = tf.concat([tf.slice(g, [0, 0, 0, 0], [-1, 1, -1, -1]), g, tf.slice(g, [0, h - 1, 0, 0], [-1, 1, -1, -1])], 1);
  const padded = tf.concat([tf.slice(rows, [0, 0, 0, 0], [-1, -1, 1, -1]), rows, tf.slice(rows, [0, 0, w - 1, 0], [-1, -1, 1, -1])], 2) as tf.Tensor4D;
  // Filter [3, 3, 1, 2]: output channel 0 = d/dx, 1 = d/dy.
  const gx = [-1, 0, 1, -2, 0, 2, -1, 0, 1];
  const gy = [-1, -2, -1, 0, 0, 0, 1, 2, 1];
  const f = tf.tensor4d(gx.flatMap((v, k) => [v, gy[k]]), [3, 3, 1, 2]);
  const d = tf.conv2d(padded, f, 1, 'valid');
  const mag = tf.clipByValue(tf.div(tf.sqrt(tf.sum(tf.square(d), 3, true)), 4), 0, 1) as tf.Tensor4D;
  return c === 1 ? mag : (tf.tile(mag, [1, 1, 1, c]) as tf.Tensor4D);
}

/** Multiplies each drawn square by 0. */
function cutout(x: tf.Tensor4D, d: AugmentDraw): tf.Tensor4D {
  const [b, h, w] = x.shape;
  const mask = new Float32Array(b * h * w).fill(1);
  for (let i = 0; i < b; i++) {
    if (!(d.cutoutSize[i] > 0)) continue;
    const side = Math.max(1, Math.round(d.cutoutSize[i] * Math.min(h, w)));
    const top = Math.floor(d.cutoutY[i] * (h - side + 1));
    const left = Math.floor(d.cutoutX[i] * (w - side + 1));
    for (let r = top; r < top + side; r++) mask.fill(0, i * h * w + r * w + left, i * h * w + r * w + left + side);
  }
  return tf.mul(x, tf.tensor4d(mask, [b, h, w, 1])) as tf.Tensor4D;
}

/** Adds each image's noise (σ·N(0, 1) per value, from the image's drawn seed), clipped to [0, 1]. */
function noise(x: tf.Tensor4D, d: AugmentDraw): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  const per = h * w * c;
  const n = new Float32Array(b * per);
  for (let i = 0; i < b; i++) {
    const std = d.noiseStd[i];
    if (!(std > 0)) continue;
    const r = new Rng(d.noiseSeed[i]);
    // Box–Muller, both outputs of each pair of uniforms.
    for (let j = 0; j < per; j += 2) {
      const m = std * Math.sqrt(-2 * Math.log(1 - r.next()));
      const a = 2 * Math.PI * r.next();
      n[i * per + j] = m * Math.cos(a);
      if (j + 1 < per) n[i * per + j + 1] = m * Math.sin(a);
    }
  }
  return pick(
    Array.from(d.noiseStd, (v) => (v > 0 ? 1 : 0)),
    tf.clipByValue(tf.add(x, tf.tensor4d(n, x.shape)), 0, 1) as tf.Tensor4D,
    x,
  );
}

/** cos and sin of an angle in degrees, exact for multiples of 90° so quarter turns move pixels without resampling. */
function cosSin(degrees: number): [number, number] {
  const q = degrees / 90;
  if (Number.isInteger(q)) return ([[1, 0], [0, 1], [-1, 0], [0, -1]] as [number, number][])[((q % 4) + 4) % 4];
  const a = (degrees * Math.PI) / 180;
  return [Math.cos(a), Math.sin(a)];
}

/** Bilinear source taps of every output pixel of a rotation: 4 (flat index, weight) per pixel, -1 outside the image. */
function rotationTaps(b: number, h: number, w: number, degrees: Float32Array): { idx: Int32Array; wt: Float32Array } {
  const n = h * w;
  const idx = new Int32Array(b * n * 4).fill(-1);
  const wt = new Float32Array(b * n * 4);
  const cy = (h - 1) / 2;
  const cx = (w - 1) / 2;
  for (let i = 0; i < b; i++) {
    const [cs, sn] = cosSin(degrees[i]);
    for (let r = 0; r < h; r++)
      for (let q = 0; q < w; q++) {
        const dx = q - cx;
        const dy = r - cy;
        const sx = cx + cs * dx - sn * dy;
        const sy = cy + sn * dx + cs * dy;
        const x0 = Math.floor(sx);
        const y0 = Math.floor(sy);
        const fx = sx - x0;
        const fy = sy - y0;
        const o = (i * n + r * w + q) * 4;
        for (let t = 0; t < 4; t++) {
          const ty = y0 + (t >> 1);
          const tx = x0 + (t & 1);
          const weight = (t & 1 ? fx : 1 - fx) * (t >> 1 ? fy : 1 - fy);
          if (weight === 0 || ty < 0 || ty >= h || tx < 0 || tx >= w) continue;
          idx[o + t] = i * n + ty * w + tx;
          wt[o + t] = weight;
        }
      }
  }
  return { idx, wt };
}

/**
 * Rotation of each image about its centre by its drawn angle (counter-clockwise), bilinear, 0 outside
 * the image. An image with angle 0, or a quarter turn of a square image, lands every pixel on a pixel
 * with weight 1: an exact copy. Where the batch lives in CPU memory (wasm, cpu) the taps are summed in
 * JS on the read-back batch — tfjs's Gather is over 10× slower than this loop on wasm
 * (scripts/bench-augment.ts); elsewhere (GPU backends, where a synchronous read-back is slow or, on
 * webgpu in Node, impossible) with one gather on the device.
 */
export function rotateImages(x: tf.Tensor4D, degrees: Float32Array, via: 'js' | 'gather' = ['wasm', 'cpu'].includes(tf.getBackend()) ? 'js' : 'gather'): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  const n = h * w;
  const { idx, wt } = rotationTaps(b, h, w, degrees);
  if (via === 'gather') {
    return tf.tidy(() => {
      // Taps outside the image point at an extra zero row.
      const flat = tf.concat([tf.reshape(x, [b * n, c]), tf.zeros([1, c])], 0);
      const taps = tf.gather(flat, tf.tensor1d(idx.map((v) => (v < 0 ? b * n : v)), 'int32'));
      return tf.reshape(tf.sum(tf.mul(tf.reshape(taps, [b * n, 4, c]), tf.tensor3d(wt, [b * n, 4, 1])), 1), [b, h, w, c]) as tf.Tensor4D;
    });
  }
  const src = x.dataSync();
  const out = new Float32Array(src.length);
  for (let j = 0; j < b * n; j++)
    for (let k = 0; k < c; k++) {
      let v = 0;
      for (let t = 0; t < 4; t++) if (idx[j * 4 + t] >= 0) v += wt[j * 4 + t] * src[idx[j * 4 + t] * c + k];
      out[j * c + k] = v;
    }
  return tf.tensor4d(out, x.shape);
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
        if (d.cutoutSize.some((v) => v > 0)) y = cutout(y, d);
      },
      sobel: () => {
        if (d.sobel.some((v) => v)) y = pick(d.sobel, sobel(y), y);
      },
      noise: () => {
        if (d.noiseStd.some((v) => v > 0)) y = noise(y, d);
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
