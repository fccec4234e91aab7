import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../../core/rng';

/**
 * The pipeline's building blocks added with the SimCLR augmentation study (cutout, Sobel, noise,
 * rotation) and the helpers every step shares. Each takes the batch and the drawn per-image choices and
 * is pure: the same choices give the same images. [B, H, W, C] floats in [0, 1].
 */

/** Per-image factors as a [B, 1, 1, 1] tensor, broadcast over pixels. */
export const col = (a: ArrayLike<number>) => tf.tensor4d(Float32Array.from(a), [a.length, 1, 1, 1]);

/** ITU-R 601 luma, as torchvision's rgb_to_grayscale. */
export function luma(x: tf.Tensor4D): tf.Tensor4D {
  if (x.shape[3] === 1) return x;
  return tf.sum(tf.mul(x, tf.tensor1d([0.299, 0.587, 0.114])), 3, true) as tf.Tensor4D;
}

/** Per-image choice between two batches: `on` where the image's flag is set, else `off` (exactly). */
export function pick(flags: ArrayLike<number>, on: tf.Tensor4D, off: tf.Tensor4D): tf.Tensor4D {
  const s = col(flags);
  return tf.add(tf.mul(s, on), tf.mul(tf.sub(1, s), off)) as tf.Tensor4D;
}

/** Edge magnitude of the luma by 3×3 Sobel kernels (borders replicated), /4 so a full 0→1 step edge reads 1. */
export function sobel(x: tf.Tensor4D): tf.Tensor4D {
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

/** Sets each drawn square to 0: side `size[i]` × the shorter image side, at fractions `ys[i]`, `xs[i]` of the free range. */
export function cutout(x: tf.Tensor4D, size: Float32Array, ys: Float32Array, xs: Float32Array): tf.Tensor4D {
  const [b, h, w] = x.shape;
  const mask = new Float32Array(b * h * w).fill(1);
  for (let i = 0; i < b; i++) {
    if (!(size[i] > 0)) continue;
    const side = Math.max(1, Math.round(size[i] * Math.min(h, w)));
    const top = Math.floor(ys[i] * (h - side + 1));
    const left = Math.floor(xs[i] * (w - side + 1));
    for (let r = top; r < top + side; r++) mask.fill(0, i * h * w + r * w + left, i * h * w + r * w + left + side);
  }
  return tf.mul(x, tf.tensor4d(mask, [b, h, w, 1])) as tf.Tensor4D;
}

/** Adds each image's noise, σ = `stds[i]` (0 = none) × N(0, 1) per value from the stream of `seeds[i]`, clipped to [0, 1]. */
export function noise(x: tf.Tensor4D, stds: Float32Array, seeds: Uint32Array): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  const per = h * w * c;
  const n = new Float32Array(b * per);
  for (let i = 0; i < b; i++) {
    const std = stds[i];
    if (!(std > 0)) continue;
    const r = new Rng(seeds[i]);
    // Box–Muller, both outputs of each pair of uniforms.
    for (let j = 0; j < per; j += 2) {
      const m = std * Math.sqrt(-2 * Math.log(1 - r.next()));
      const a = 2 * Math.PI * r.next();
      n[i * per + j] = m * Math.cos(a);
      if (j + 1 < per) n[i * per + j + 1] = m * Math.sin(a);
    }
  }
  return pick(
    Array.from(stds, (v) => (v > 0 ? 1 : 0)),
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
