import * as tf from '@tensorflow/tfjs-core';
import type { Split } from '../data/datasets';

/** Per-channel mean and std of a split's pixels in [0, 1], for input normalisation. */
export function channelStats(split: Split): { mean: number[]; std: number[] } {
  const c = split.channels;
  const sum = new Float64Array(c);
  const sq = new Float64Array(c);
  const px = split.images;
  for (let i = 0; i < px.length; i++) {
    const v = px[i] / 255;
    sum[i % c] += v;
    sq[i % c] += v * v;
  }
  const n = px.length / c;
  const mean = [...sum].map((s) => s / n);
  const std = [...sq].map((s, k) => Math.sqrt(Math.max(1e-8, s / n - mean[k] ** 2)));
  return { mean, std };
}

/** The images at `indices` as a [B, H, W, C] float tensor in [0, 1]. */
export function imageBatch(split: Split, indices: ArrayLike<number>): tf.Tensor4D {
  const per = split.height * split.width * split.channels;
  const out = new Float32Array(indices.length * per);
  for (let b = 0; b < indices.length; b++) {
    const src = indices[b] * per;
    const dst = b * per;
    for (let j = 0; j < per; j++) out[dst + j] = split.images[src + j] / 255;
  }
  return tf.tensor4d(out, [indices.length, split.height, split.width, split.channels]);
}

/** (x − mean) / std per channel. */
export function normalize(x: tf.Tensor4D, stats: { mean: number[]; std: number[] }): tf.Tensor4D {
  return tf.tidy(() => tf.div(tf.sub(x, tf.tensor1d(stats.mean)), tf.tensor1d(stats.std)) as tf.Tensor4D);
}

/**
 * Runs `fn` over the split in batches (evaluation mode) and gathers its [b, D] outputs into one
 * Float32Array [N, D]. Yields between batches so Cancel and progress events still get through.
 */
export async function mapSplit(
  split: Split,
  indices: ArrayLike<number>,
  stats: { mean: number[]; std: number[] },
  fn: (x: tf.Tensor4D) => tf.Tensor2D,
  batch = 500,
): Promise<{ values: Float32Array; dim: number }> {
  let out: Float32Array | undefined;
  let dim = 0;
  for (let s = 0; s < indices.length; s += batch) {
    const idx = Array.prototype.slice.call(indices, s, Math.min(indices.length, s + batch)) as number[];
    const raw = imageBatch(split, idx);
    const y = tf.tidy(() => fn(normalize(raw, stats)));
    raw.dispose();
    const v = (await y.data()) as Float32Array;
    dim = y.shape[1];
    y.dispose();
    out ??= new Float32Array(indices.length * dim);
    out.set(v, s * dim);
  }
  return { values: out ?? new Float32Array(0), dim };
}
