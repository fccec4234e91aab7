import * as tf from '@tensorflow/tfjs-core';
import { augmentBatch } from '../../engine/augment/pipeline';
import { imageBatch } from '../../engine/batches';
import type { Split } from '../../data/datasets';
import { Rng } from '../../core/rng';
import type { Thumb } from '../protocol/common';
import type { ViewParams } from '../protocol/augment';

/**
 * The augmentation preview's pictures, made by the training code itself: `imageBatch` and
 * `augmentBatch` are what a worker calls for every step (src/engine/step.ts), so the preview cannot
 * drift from what a run trains on. Needs an initialised tfjs backend.
 */

/** `count` test images spread over the classes: the first of each class, then the second of each… */
export function previewIndices(split: Split, count: number): number[] {
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < split.count; i++) {
    const l = split.labels[i];
    const list = byClass.get(l) ?? [];
    if (list.length < count) list.push(i);
    byClass.set(l, list);
  }
  const classes = [...byClass.keys()].sort((a, b) => a - b);
  const out: number[] = [];
  for (let r = 0; out.length < Math.min(count, split.count); r++)
    for (const c of classes) {
      const v = byClass.get(c)![r];
      if (v !== undefined && out.length < count) out.push(v);
    }
  return out;
}

function toThumbs(t: tf.Tensor4D, keys: number[], labels: number[]): Thumb[] {
  const [b, h, w, c] = t.shape;
  const data = t.dataSync();
  const per = h * w * c;
  return Array.from({ length: b }, (_, i) => {
    const pixels = new Uint8Array(per);
    for (let j = 0; j < per; j++) pixels[j] = Math.round(Math.min(1, Math.max(0, data[i * per + j])) * 255);
    return { key: keys[i], label: labels[i], width: w, height: h, channels: c, pixels };
  });
}

/**
 * Each of the `count` images repeated `perImage` times, augmented per view with that view's parameters
 * and its own sub-stream of `seed` (as the training loop forks one stream per view).
 */
export function renderAugmentations(split: Split, params: ViewParams, seed: number, perImage: number, count: number): { originals: Thumb[]; views: [Thumb[], Thumb[]] } {
  const idx = previewIndices(split, count);
  const labels = idx.map((i) => split.labels[i]);
  const repeated = idx.flatMap((i) => Array<number>(perImage).fill(i));
  const x = imageBatch(split, idx);
  const xr = imageBatch(split, repeated);
  try {
    const originals = toThumbs(x, idx, labels);
    const rng = new Rng(seed);
    const views = [params.view1, params.view2].map((p, v) => {
      const y = augmentBatch(xr, p, rng.fork(v));
      try {
        return toThumbs(y, repeated, repeated.map((i) => split.labels[i]));
      } finally {
        y.dispose();
      }
    }) as [Thumb[], Thumb[]];
    return { originals, views };
  } finally {
    x.dispose();
    xr.dispose();
  }
}
