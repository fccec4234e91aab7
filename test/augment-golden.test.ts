import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs-core';
import { configHash, resolveConfig } from '../src/core/config';
import { METHOD_IDS, METHOD_INFO } from '../src/core/methods';
import { initBackend } from '../src/engine/backend';
import { applyAugment, drawAugment } from '../src/engine/augment/pipeline';
import { Rng } from '../src/core/rng';

// Golden fingerprints computed on the pipeline as it was before cutout, Sobel, noise, rotation and
// `order` existed. With those off (their defaults), a seed must draw the same random numbers, leave the
// generator in the same state and make the same pixels, so recorded runs reproduce and resume bit for
// bit; and every method's default config must keep its hash, so recorded runs are still found. The pixel
// fingerprints were taken again once, when wasm's CropAndResize got its fix for a box whose top edge is 0
// and whose size is the crop's (src/engine/wasm-kernels.ts): tfjs-backend-wasm 4.22 copied the wrong
// pixels there, so those crops differ from what earlier runs trained on; the draws and states did not change.

before(async () => {
  await initBackend('wasm');
});

/** The draw's arrays that existed before, in a fixed order: new fields may be added, these must not change. */
const LEGACY_DRAW_KEYS = ['boxes', 'flipped', 'jitter', 'brightness', 'contrast', 'saturation', 'hue', 'grayscale', 'blurSigma', 'solarize'] as const;

function images(seed: number, b: number, h: number, w: number, c: number): tf.Tensor4D {
  const r = new Rng(seed);
  return tf.tensor4d(Float32Array.from({ length: b * h * w * c }, () => r.next()), [b, h, w, c]);
}

function fingerprint(method: string, c: number, size: number): { draws: string; state: number; pixels: string } {
  const x = images(11, 8, size, size, c);
  const draws = createHash('sha256');
  const pixels = createHash('sha256');
  const rng = new Rng(7);
  let state = 0;
  METHOD_INFO[method].views.forEach((p, v) => {
    const r = rng.fork(v);
    // Two batches per view: the second starts where the first left the stream, as consecutive steps do.
    for (let step = 0; step < 2; step++) {
      const d = drawAugment(r, 8, size, size, p);
      for (const k of LEGACY_DRAW_KEYS) draws.update(Buffer.from((d as unknown as Record<string, ArrayBufferView>)[k].buffer));
      const y = applyAugment(x, d, p, [size, size]);
      // 1/4096 quantisation: bit-exact on one machine, and immune to last-bit differences of another CPU.
      pixels.update(Buffer.from(Int32Array.from(y.dataSync(), (v) => Math.round(v * 4096)).buffer));
      y.dispose();
    }
    state = (state * 31 + r.getState()) | 0;
  });
  x.dispose();
  return { draws: createHash('sha256').update(draws.digest()).digest('hex').slice(0, 16), state, pixels: pixels.digest('hex').slice(0, 16) };
}

test('default pipelines draw, consume and make exactly what they did before the new transforms', () => {
  const got = Object.fromEntries(
    [
      ['simclr', 1, 28],
      ['simclr', 3, 32],
      ['byol', 3, 32],
      ['mocov1', 3, 32],
      ['cpc', 1, 28],
    ].map(([m, c, s]) => [`${m}/${c}ch/${s}px`, fingerprint(m as string, c as number, s as number)]),
  );
  assert.deepEqual(got, GOLDEN_PIPELINE);
});

test("every method's default config keeps its hash", () => {
  // The paper recipe: what a config meant before recipes existed (recipe `paper` hashes as if absent).
  // CPC, DIM and InstDisc changed their paper defaults on purpose (docs/methods.md: the fidelity fixes), so
  // their defaults hash anew; a run recorded before keeps its hash, its config holding the old values.
  const got = Object.fromEntries(METHOD_IDS.map((m) => [m, configHash(resolveConfig({ method: m, recipe: 'paper' }).config!)]));
  assert.deepEqual(got, GOLDEN_HASHES);
});

const GOLDEN_PIPELINE = {
  'simclr/1ch/28px': { draws: 'f5b66a2ef4695fbe', state: 81288863, pixels: '8099742a64740a9e' },
  'simclr/3ch/32px': { draws: '3a140265f613ce7e', state: 81288863, pixels: '0de2a9412763d83e' },
  'byol/3ch/32px': { draws: '716675ea96b9e3b0', state: 77043360, pixels: '62c159e51aa40781' },
  'mocov1/3ch/32px': { draws: '642a02fe40d71712', state: 1848913479, pixels: 'e83e29d6e4f36658' },
  'cpc/1ch/28px': { draws: '606eb96cd28e1ba8', state: -428411301, pixels: 'fc9c7cd0a6596d5c' },
};
const GOLDEN_HASHES = {
  simclr: '8657b0a6fada',
  mocov1: '7cab17eff3f3',
  mocov2: '57673bc902ac',
  byol: 'd0ce2da75e7f',
  simsiam: 'e3305b77c36a',
  instdisc: 'be25deef200a',
  cpc: '19170ee8ea7a',
  cpcv2: '324ea84e5a47',
  dim: 'ed933befa045',
  cmc: '3bf097077281',
  pixpro: '0a0b0a85b57a',
};
