import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '../../../core/rng';

/**
 * CPC's grid of overlapping patches (arXiv 1807.03748 §3.3: a 256-px image cut into a 7×7 grid of
 * 64-px patches with a 32-px stride). Patches are cut with one `cropAndResize` whose per-patch boxes
 * sample exactly the patch's pixels, so the same call also applies CPC v2's per-patch augmentation
 * (a box inside the patch, mirrored when flipped).
 */
export interface PatchGrid {
  /** Patch side, in pixels. */
  size: number;
  stride: number;
  rows: number;
  cols: number;
  /** Pixel of the first patch's top-left corner: the grid is centred when it does not fill the image exactly. */
  top: number;
  left: number;
  imageHeight: number;
  imageWidth: number;
}

/** The grid of `size`-px patches every `stride` px that fits in an H×W image, centred. Throws if none fits. */
export function patchGrid(imageHeight: number, imageWidth: number, size: number, stride: number): PatchGrid {
  if (size > imageHeight || size > imageWidth) throw new Error(`patch size ${size} is larger than the ${imageHeight}×${imageWidth} image`);
  const rows = Math.floor((imageHeight - size) / stride) + 1;
  const cols = Math.floor((imageWidth - size) / stride) + 1;
  const top = Math.floor((imageHeight - (size + (rows - 1) * stride)) / 2);
  const left = Math.floor((imageWidth - (size + (cols - 1) * stride)) / 2);
  return { size, stride, rows, cols, top, left, imageHeight, imageWidth };
}

/** Per-patch augmentation of CPC v2 (its "PA"), as ranges; every choice is drawn per patch. */
export interface PatchAugment {
  /** Smallest side of the random sub-square, as a fraction of the patch side (1 = no crop). */
  minScale: number;
  flipProb: number;
  /** Contrast factor drawn from [1 − c, 1 + c], applied around the patch's mean. */
  contrast: number;
  /** Additive brightness shift drawn from [−b, b], in units of the dataset's std (inputs are normalised). */
  brightness: number;
}

/**
 * cropAndResize boxes [y1, x1, y2, x2] of every patch of every image, row-major within an image:
 * patch (b, i, j) is row b·rows·cols + i·cols + j. Coordinates are pixel centres normalised by (H − 1),
 * the convention of the augmentation pipeline, so an unaugmented box samples exactly the patch's pixels.
 */
export function patchBoxes(g: PatchGrid, batch: number, augment?: { params: PatchAugment; rng: Rng }): Float32Array {
  const per = g.rows * g.cols;
  const out = new Float32Array(batch * per * 4);
  const ny = Math.max(1, g.imageHeight - 1);
  const nx = Math.max(1, g.imageWidth - 1);
  for (let b = 0; b < batch; b++)
    for (let i = 0; i < g.rows; i++)
      for (let j = 0; j < g.cols; j++) {
        let top = g.top + i * g.stride;
        let left = g.left + j * g.stride;
        let side = g.size;
        let flip = false;
        if (augment) {
          const { params, rng } = augment;
          side = g.size * rng.uniform(params.minScale, 1);
          top += rng.uniform(0, g.size - side);
          left += rng.uniform(0, g.size - side);
          flip = rng.next() < params.flipProb;
        }
        const y1 = top / ny;
        const y2 = (top + side - 1) / ny;
        const x1 = left / nx;
        const x2 = (left + side - 1) / nx;
        out.set(flip ? [y1, x2, y2, x1] : [y1, x1, y2, x2], ((b * g.rows + i) * g.cols + j) * 4);
      }
  return out;
}

/**
 * The patches of a batch: [B·rows·cols, size, size, C], patch (b, i, j) at row b·rows·cols + i·cols + j.
 * With `augment`, each patch is also a random sub-square (resized back to size), maybe mirrored, with its
 * own contrast and brightness.
 */
export function extractPatches(x: tf.Tensor4D, g: PatchGrid, augment?: { params: PatchAugment; rng: Rng }): tf.Tensor4D {
  return tf.tidy(() => {
    const b = x.shape[0];
    const n = b * g.rows * g.cols;
    const boxes = tf.tensor2d(patchBoxes(g, b, augment), [n, 4]);
    const imageOf = tf.tensor1d(Int32Array.from({ length: n }, (_, k) => Math.floor(k / (g.rows * g.cols))), 'int32');
    const patches = tf.image.cropAndResize(x, boxes, imageOf, [g.size, g.size], 'bilinear'); // [N, size, size, C]
    if (!augment) return patches;
    const { params, rng } = augment;
    const contrast = Float32Array.from({ length: n }, () => rng.uniform(1 - params.contrast, 1 + params.contrast));
    const shift = Float32Array.from({ length: n }, () => rng.uniform(-params.brightness, params.brightness));
    const mean = tf.mean(patches, [1, 2, 3], true); // [N, 1, 1, 1]
    const scaled = tf.add(tf.mul(tf.sub(patches, mean), tf.tensor4d(contrast, [n, 1, 1, 1])), mean);
    return tf.add(scaled, tf.tensor4d(shift, [n, 1, 1, 1])) as tf.Tensor4D;
  });
}
