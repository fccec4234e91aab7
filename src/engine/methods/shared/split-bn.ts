import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '../../../core/rng';

/**
 * MoCo's "Shuffling BN" on one device (arXiv 1911.05722 §3.3). MoCo trains on 8 GPUs, each normalising
 * its own sub-batch; the key encoder's batch is shuffled across GPUs first, so a query and its positive
 * key are normalised with statistics of different samples. Otherwise the batch statistics leak which
 * key belongs to the current batch and the model "cheats" the pretext task (the CIFAR demo loses ~4%
 * kNN at 800 epochs without it). The official one-GPU demo simulates the GPUs with `SplitBatchNorm`;
 * here the encoder simply runs once per sub-batch, which normalises identically.
 */

/** Sub-batch sizes of B split into `splits` near-equal parts of at least 2 (BN needs 2 samples). */
export function splitSizes(b: number, splits: number): number[] {
  const s = Math.max(1, Math.min(splits, Math.floor(b / 2)));
  return Array.from({ length: s }, (_, i) => Math.floor(b / s) + (i < b % s ? 1 : 0));
}

/** `f` applied to each sub-batch of x [B, …] separately (BN statistics per sub-batch); outputs concatenated in order. */
export function perSubBatch(x: tf.Tensor4D, splits: number, f: (x: tf.Tensor4D) => tf.Tensor2D): tf.Tensor2D {
  const sizes = splitSizes(x.shape[0], splits);
  if (sizes.length === 1) return f(x);
  return tf.concat(tf.split(x, sizes, 0).map((part) => f(part as tf.Tensor4D)), 0) as tf.Tensor2D;
}

/** `_batch_shuffle_single_gpu` → per-sub-batch `f` → `_batch_unshuffle_single_gpu`: rows come back in x's order. */
export function shuffledPerSubBatch(x: tf.Tensor4D, splits: number, rng: Rng, f: (x: tf.Tensor4D) => tf.Tensor2D): tf.Tensor2D {
  const b = x.shape[0];
  const perm = Int32Array.from({ length: b }, (_, i) => i);
  for (let i = b - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  const unshuffle = new Int32Array(b);
  perm.forEach((p, i) => (unshuffle[p] = i));
  return tf.tidy(() => {
    const y = perSubBatch(tf.gather(x, tf.tensor1d(perm, 'int32')) as tf.Tensor4D, splits, f); // [B, C], shuffled order
    return tf.gather(y, tf.tensor1d(unshuffle, 'int32')) as tf.Tensor2D;
  });
}
