import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import {
  augmentProblems,
  DEFAULT_ORDER,
  IDENTITY_AUGMENT,
  LEGACY_AUGMENT_FIELDS,
  parseOrder,
  SIMCLR_AUGMENT,
  STUDY_TRANSFORM_IDS,
  STUDY_TRANSFORMS,
  studyAugment,
  type AugmentParams,
} from '../src/core/augment-spec';
import { configHash, resolveConfig } from '../src/core/config';
import { expandSweep } from '../src/core/sweep';
import { initBackend } from '../src/engine/backend';
import { applyAugment, augmentBatch, drawAugment } from '../src/engine/augment/pipeline';
import { rotateImages } from '../src/engine/augment/steps';
import { Rng } from '../src/core/rng';
import { BYOL_VIEW1_AUGMENT, BYOL_VIEW2_AUGMENT } from '../src/core/methods/recipes';
import { AugmentController } from '../src/webviews/controllers/augment';
import { augmentParamsProblems, isAugmentToHost } from '../src/webviews/protocol/augment';

before(async () => {
  await initBackend('wasm');
});

/** A test image with structure: a bright off-centre rectangle on a dark ramp, so every step shows. */
function testImages(b: number, size: number, c: number): tf.Tensor4D {
  const v = new Float32Array(b * size * size * c);
  for (let i = 0; i < b; i++)
    for (let r = 0; r < size; r++)
      for (let q = 0; q < size; q++)
        for (let k = 0; k < c; k++) {
          const inRect = r >= 4 && r < 14 && q >= 6 && q < 20;
          v[((i * size + r) * size + q) * c + k] = inRect ? 0.9 - 0.1 * k : (0.2 * q) / size + 0.02 * i;
        }
  return tf.tensor4d(v, [b, size, size, c]);
}

const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
const valuesOf = (t: tf.Tensor) => Array.from(t.dataSync());

describe('each study transformation', () => {
  for (const id of STUDY_TRANSFORM_IDS) {
    test(`${id}: changes the image, the same seed gives the same result, probability 0 changes nothing and draws nothing`, () => {
      const x = testImages(6, 28, 3);
      const p = studyAugment(id);
      // Random steps (crop, blur, colour) may leave an image as it was; over 6 images and 3 seeds one changes.
      const changed = [1, 2, 3].some((seed) => tf.tidy(() => maxDiff(augmentBatch(x, p, new Rng(seed)), x)) > 0.05);
      assert.ok(changed, `${id} changed no image`);
      const a = augmentBatch(x, p, new Rng(5));
      const b = augmentBatch(x, p, new Rng(5));
      assert.equal(maxDiff(a, b), 0, `${id} is not deterministic for a seed`);
      // The same transformation with its probabilities at 0: the identity, and not one random number drawn
      // beyond what the identity pipeline draws (the crop's).
      const off: AugmentParams = { ...p };
      for (const k of Object.keys(STUDY_TRANSFORMS[id]) as (keyof AugmentParams)[]) if (k.endsWith('Prob')) (off as unknown as Record<string, number>)[k] = 0;
      if (id === 'crop') Object.assign(off, { cropMinScale: 1, cropMinRatio: 1, cropMaxRatio: 1 });
      const r1 = new Rng(9);
      const r2 = new Rng(9);
      const y = augmentBatch(x, off, r1);
      augmentBatch(x, IDENTITY_AUGMENT, r2);
      assert.equal(r1.getState(), r2.getState(), `${id} at probability 0 drew random numbers`);
      assert.ok(maxDiff(y, x) < 1e-6, `${id} at probability 0 changed the image`);
      tf.dispose([x, a, b, y]);
    });
  }
});

test('every step on, in an unusual order, leaves no tensor behind but the result', () => {
  const x = testImages(4, 28, 3);
  const all: AugmentParams = { ...SIMCLR_AUGMENT, blurProb: 1, solarizeProb: 0.5, cutoutProb: 1, sobelProb: 0.5, noiseProb: 1, rotateProb: 1, rotateAngles: 'range', order: 'noise,sobel,rotate,cutout,crop,solarize,blur,color' };
  augmentBatch(x, all, new Rng(0)).dispose(); // warm-up: kernels may cache tensors once
  const before = tf.memory().numTensors;
  const y = augmentBatch(x, all, new Rng(1));
  assert.equal(tf.memory().numTensors, before + 1);
  for (const via of ['js', 'gather'] as const) {
    const r = rotateImages(x, Float32Array.of(10, 0, 90, -5), via);
    assert.equal(tf.memory().numTensors, before + 2, via);
    r.dispose();
  }
  tf.dispose([x, y]);
});

test('the identity pipeline returns every image exactly, on grayscale and RGB', () => {
  for (const c of [1, 3]) {
    const x = testImages(4, 28, c);
    const y = augmentBatch(x, IDENTITY_AUGMENT, new Rng(0));
    assert.ok(maxDiff(x, y) < 1e-6);
    tf.dispose([x, y]);
  }
});

test('cutout erases one square of the set size, inside the image; elsewhere the image is untouched', () => {
  const x = tf.fill([5, 28, 28, 1], 0.7) as tf.Tensor4D;
  const y = augmentBatch(x, { ...IDENTITY_AUGMENT, cutoutProb: 1, cutoutSize: 0.25 }, new Rng(3));
  const v = y.dataSync();
  for (let i = 0; i < 5; i++) {
    const img = Array.from(v.subarray(i * 784, (i + 1) * 784));
    const zeros = img.map((p, j) => (p === 0 ? j : -1)).filter((j) => j >= 0);
    assert.equal(zeros.length, 7 * 7, 'a 7×7 square (0.25 of 28 px)');
    const rows = new Set(zeros.map((j) => Math.floor(j / 28)));
    const cols = new Set(zeros.map((j) => j % 28));
    assert.equal(rows.size, 7);
    assert.equal(cols.size, 7);
    assert.ok(img.every((p) => p === 0 || Math.abs(p - 0.7) < 1e-6));
  }
  tf.dispose([x, y]);
});

test('Sobel: a flat image has no edges; a vertical step edge reads 1 along the step, 0 away from it', () => {
  const flat = tf.fill([1, 8, 8, 1], 0.6) as tf.Tensor4D;
  const s0 = augmentBatch(flat, { ...IDENTITY_AUGMENT, sobelProb: 1 }, new Rng(0));
  assert.ok(tf.max(s0).dataSync()[0] < 1e-6, 'replicated borders make no edge');
  const step = tf.tensor4d(Float32Array.from({ length: 64 }, (_, j) => (j % 8 >= 4 ? 1 : 0)), [1, 8, 8, 1]);
  const s = augmentBatch(step, { ...IDENTITY_AUGMENT, sobelProb: 1 }, new Rng(0)).dataSync();
  for (let r = 0; r < 8; r++) {
    assert.deepEqual(Array.from(s.subarray(r * 8, r * 8 + 8)).map((v) => +v.toFixed(4)), [0, 0, 0, 1, 1, 0, 0, 0]);
  }
  // RGB: the edge map of the luma, in every channel.
  const rgb = tf.tile(tf.reshape(step, [1, 8, 8, 1]), [1, 1, 1, 3]) as tf.Tensor4D;
  const sr = augmentBatch(rgb, { ...IDENTITY_AUGMENT, sobelProb: 1 }, new Rng(0));
  const [r, g, b] = tf.split(sr, 3, 3);
  assert.ok(maxDiff(r, g) < 1e-6 && maxDiff(g, b) < 1e-6 && Math.abs(tf.max(r).dataSync()[0] - 1) < 1e-5);
  tf.dispose([flat, s0, step, rgb, sr, r, g, b]);
});

test('noise has the set standard deviation, stays in [0, 1], and differs per image', () => {
  const x = tf.fill([4, 28, 28, 1], 0.5) as tf.Tensor4D;
  const y = augmentBatch(x, { ...IDENTITY_AUGMENT, noiseProb: 1, noiseStd: 0.1 }, new Rng(2));
  const v = y.dataSync();
  const imgs = [0, 1, 2, 3].map((i) => Array.from(v.subarray(i * 784, (i + 1) * 784)));
  for (const img of imgs) {
    const mean = img.reduce((a, b) => a + b, 0) / img.length;
    const std = Math.sqrt(img.reduce((a, b) => a + (b - mean) ** 2, 0) / img.length);
    assert.ok(Math.abs(mean - 0.5) < 0.015 && Math.abs(std - 0.1) < 0.01, `mean ${mean}, std ${std}`);
  }
  assert.notDeepEqual(imgs[0], imgs[1]);
  const loud = augmentBatch(x, { ...IDENTITY_AUGMENT, noiseProb: 1, noiseStd: 1 }, new Rng(2));
  assert.ok(tf.min(loud).dataSync()[0] === 0 && tf.max(loud).dataSync()[0] === 1, 'clipped to [0, 1]');
  tf.dispose([x, y, loud]);
});

test('quarter rotations move pixels exactly; a range rotation stays within its angles', () => {
  const x = testImages(1, 28, 1);
  const d = drawAugment(new Rng(0), 1, 28, 28, IDENTITY_AUGMENT);
  const at = (deg: number) => applyAugment(x, { ...d, rotation: Float32Array.of(deg) }, IDENTITY_AUGMENT, [28, 28]);
  // Counter-clockwise: 90° is a transpose then an up-down flip.
  const r90 = at(90);
  assert.deepEqual(valuesOf(r90), valuesOf(tf.reverse(tf.transpose(x, [0, 2, 1, 3]), 1)));
  assert.deepEqual(valuesOf(at(180)), valuesOf(tf.reverse(x, [1, 2])));
  assert.deepEqual(valuesOf(applyAugment(r90, { ...d, rotation: Float32Array.of(270) }, IDENTITY_AUGMENT, [28, 28])), valuesOf(x), '90° then 270° is the identity');
  assert.deepEqual(valuesOf(at(0)), valuesOf(x));

  const quarter = drawAugment(new Rng(4), 300, 28, 28, { ...IDENTITY_AUGMENT, rotateProb: 1, rotateAngles: 'quarter' });
  assert.deepEqual([...new Set(quarter.rotation)].sort((a, b) => a - b), [90, 180, 270], 'the paper’s three angles, never 0');
  const range = drawAugment(new Rng(4), 300, 28, 28, { ...IDENTITY_AUGMENT, rotateProb: 1, rotateAngles: 'range', rotateMaxDegrees: 15 });
  assert.ok(range.rotation.every((a) => Math.abs(a) <= 15) && Math.max(...range.rotation) > 10 && Math.min(...range.rotation) < -10);
  const small = at(10);
  assert.ok(maxDiff(small, x) > 0.1 && maxDiff(small, x) < 1, 'a 10° turn resamples');
  tf.dispose([x, r90, small]);
});

test('rotation on the device (GPU backends) and in JS (wasm, cpu) agree; quarter turns exactly', () => {
  for (const c of [1, 3]) {
    const x = testImages(6, 28, c);
    const angles = Float32Array.of(0, 90, 180, 270, 12.5, -33);
    const js = rotateImages(x, angles, 'js');
    const gathered = rotateImages(x, angles, 'gather');
    assert.ok(maxDiff(js, gathered) < 1e-6);
    const quarter = Float32Array.of(90, 180, 270, 0, 90, 270);
    assert.deepEqual(valuesOf(rotateImages(x, quarter, 'js')), valuesOf(rotateImages(x, quarter, 'gather')));
    tf.dispose([x, js, gathered]);
  }
});

test('order: the same draws in another order give another image; cutout before crop is cropped with the image', () => {
  const x = testImages(4, 28, 1);
  const p: AugmentParams = { ...studyAugment('cutout', 'crop') };
  assert.equal(p.order, 'cutout,crop,rotate,color,blur,solarize,sobel,noise');
  assert.equal(studyAugment('crop', 'cutout').order, 'crop,cutout,rotate,color,blur,solarize,sobel,noise');
  const d = drawAugment(new Rng(1), 4, 28, 28, p);
  const a = applyAugment(x, d, p, [28, 28]);
  const b = applyAugment(x, d, { ...p, order: 'crop,cutout,rotate,color,blur,solarize,sobel,noise' }, [28, 28]);
  assert.ok(maxDiff(a, b) > 0.1, 'the order matters');
  // Crop then cutout: an exact 14×14 square of zeros in each image; cutout then crop: the square is resized with the crop.
  const zerosPerImage = (t: tf.Tensor) => [0, 1, 2, 3].map((i) => Array.from(t.dataSync().subarray(i * 784, (i + 1) * 784)).filter((v) => v === 0).length);
  assert.deepEqual(zerosPerImage(b), [196, 196, 196, 196]);
  assert.notDeepEqual(zerosPerImage(a), [196, 196, 196, 196]);
  // Drawing is independent of the order: the same stream position after either.
  const r1 = new Rng(3);
  const r2 = new Rng(3);
  drawAugment(r1, 4, 28, 28, p);
  drawAugment(r2, 4, 28, 28, { ...p, order: DEFAULT_ORDER });
  assert.equal(r1.getState(), r2.getState());
  tf.dispose([x, a, b]);
});

describe('study pipelines', () => {
  test('studyAugment sets the first and second transformation on top of the identity, nothing else', () => {
    const p = studyAugment('color', 'blur');
    assert.deepEqual(p, { ...IDENTITY_AUGMENT, ...STUDY_TRANSFORMS.color, ...STUDY_TRANSFORMS.blur, order: 'color,blur,crop,rotate,solarize,sobel,cutout,noise' });
    assert.deepEqual(studyAugment('sobel', 'sobel'), studyAugment('sobel'));
    assert.throws(() => studyAugment('jitter' as never), /unknown transformation "jitter"/);
    for (const a of STUDY_TRANSFORM_IDS) for (const b of STUDY_TRANSFORM_IDS) assert.deepEqual(augmentProblems(studyAugment(a, b), 'v'), [], `${a}+${b}`);
  });

  test('a study cell is a valid run config whose hash depends on the cell', () => {
    const hashes = new Set<string>();
    for (const a of STUDY_TRANSFORM_IDS)
      for (const b of STUDY_TRANSFORM_IDS) {
        const { config, problems } = resolveConfig({ method: 'simclr', augment: { view1: studyAugment(a, b), view2: IDENTITY_AUGMENT } });
        assert.deepEqual(problems, []);
        hashes.add(configHash(config!));
      }
    assert.equal(hashes.size, 49);
  });
});

describe('validation', () => {
  test('bad values of the new fields are named by their key path', () => {
    const { problems } = resolveConfig({
      method: 'simclr',
      augment: { view1: { cutoutSize: 1.5, noiseStd: -1, rotateAngles: 'any', order: 'crop,crop' }, view2: { rotateMaxDegrees: 360, order: 'crop, color' } },
    });
    const byPath = Object.fromEntries(problems.map((p) => [p.path, p.message]));
    assert.match(byPath['augment.view1.cutoutSize'], /≤ 1, got 1\.5/);
    assert.match(byPath['augment.view1.noiseStd'], /≥ 0, got -1/);
    assert.match(byPath['augment.view1.rotateAngles'], /one of quarter, range/);
    assert.match(byPath['augment.view2.rotateMaxDegrees'], /≤ 180, got 360/);
    assert.match(byPath['augment.view2.order'], /separated by commas/);
    // `order` reaches the cross-field check once every field is valid.
    const order = resolveConfig({ method: 'simclr', augment: { view1: { order: 'crop,crop,color' }, view2: { order: 'crop,zoom' } } }).problems;
    assert.deepEqual(
      order.map((p) => p.path),
      ['augment.view1.order', 'augment.view2.order'],
    );
    assert.match(order[0].message, /lists crop more than once/);
    assert.match(order[1].message, /unknown step "zoom"/);
    const missing = parseOrder('crop,color');
    assert.ok('problem' in missing);
    assert.match(missing.problem, /misses blur, solarize, cutout, sobel, noise, rotate/);
  });

  test('the new fields at their legacy values keep the config hash; other values change it', () => {
    const base = resolveConfig({ method: 'simclr' }).config!;
    const explicit = resolveConfig({ method: 'simclr', augment: { view1: { ...LEGACY_AUGMENT_FIELDS } } }).config!;
    assert.equal(configHash(explicit), configHash(base));
    // A run recorded before the fields existed: its config lacks them, and resolving it fills them in as legacy.
    const recorded = structuredClone(base) as unknown as { augment: { view1: Record<string, unknown>; view2: Record<string, unknown> } };
    for (const k of Object.keys(LEGACY_AUGMENT_FIELDS)) for (const v of ['view1', 'view2'] as const) delete recorded.augment[v][k];
    const resolved = resolveConfig(recorded).config!;
    assert.deepEqual(resolved.augment.view1, SIMCLR_AUGMENT);
    assert.equal(configHash(resolved), configHash(base));
    const on = resolveConfig({ method: 'simclr', augment: { view1: { cutoutProb: 0.5 } } }).config!;
    assert.notEqual(configHash(on), configHash(base));
  });

  test('PixPro refuses rotation: it matches pixels across views by their crop boxes', () => {
    const { problems } = resolveConfig({ method: 'pixpro', augment: { view2: { rotateProb: 0.5 } } });
    assert.deepEqual(problems.map((p) => p.path), ['augment.view2.rotateProb']);
    assert.match(problems[0].message, /PixPro/);
    assert.deepEqual(resolveConfig({ method: 'pixpro', augment: { view2: { cutoutProb: 0.5, sobelProb: 0.2, noiseProb: 1 } } }).problems, []);
  });
});

describe('Preview Augmentations messages', () => {
  test('carry the new fields, validated as the run config validates them, naming the key', () => {
    const params = { view1: studyAugment('cutout', 'rotate'), view2: { ...IDENTITY_AUGMENT, rotateAngles: 'range', rotateMaxDegrees: 45 } };
    assert.ok(isAugmentToHost({ type: 'render', requestId: 1, params, seed: 0, perImage: 4, count: 8 }));
    const problems = (v: unknown) => augmentParamsProblems(v).map((p) => `${p.path}: ${p.message}`);
    assert.deepEqual(problems(SIMCLR_AUGMENT), []);
    assert.match(problems({ ...SIMCLR_AUGMENT, cutoutSize: 2 }).join(), /^cutoutSize: must be ≤ 1/);
    assert.match(problems({ ...SIMCLR_AUGMENT, rotateAngles: 'free' }).join(), /^rotateAngles: must be one of quarter, range/);
    assert.match(problems({ ...SIMCLR_AUGMENT, order: 'crop,color,blur,solarize,cutout,sobel,noise,noise' }).join(), /^order: lists noise more than once/);
    assert.match(problems({ ...SIMCLR_AUGMENT, order: 3 }).join(), /^order: must be a string/);
    const { noiseStd: _dropped, ...missing } = SIMCLR_AUGMENT;
    assert.deepEqual(problems(missing), ['noiseStd: is missing']);
    assert.match(problems({ ...SIMCLR_AUGMENT, evil: 1 }).join(), /^evil: unknown key/);
    for (const bad of [{ ...params, view1: { ...params.view1, order: 'crop' } }, { ...params, view2: { ...params.view2, sobelProb: -0.1 } }])
      assert.ok(!isAugmentToHost({ type: 'render', requestId: 1, params: bad, seed: 0, perImage: 4, count: 8 }));
  });
});

test("Preview Augmentations shows a run recorded before the new fields with its own pipeline, the new steps off", async () => {
  const config = resolveConfig({ method: 'byol', recipe: 'paper' }).config! as unknown as { augment: Record<string, Record<string, unknown>> };
  for (const v of ['view1', 'view2']) for (const k of Object.keys(LEGACY_AUGMENT_FIELDS)) delete config.augment[v][k];
  const posted: unknown[] = [];
  const logs: string[] = [];
  const store = { path: 'test.db', getRun: async () => ({ id: 3, name: 'old BYOL', dataset: 'builtin', config }) };
  const c = new AugmentController(3, { store: async () => store as never, post: (m) => posted.push(m), dbPath: () => 'test.db', log: (m) => logs.push(m) }, {} as never);
  c.handle({ type: 'ready' });
  for (let i = 0; i < 50 && !posted.length; i++) await new Promise((r) => setTimeout(r, 10));
  const init = posted[0] as { type: string; runParams: { view1: AugmentParams; view2: AugmentParams } | null };
  assert.equal(init.type, 'init');
  assert.deepEqual(logs, []);
  assert.deepEqual(init.runParams, { view1: BYOL_VIEW1_AUGMENT, view2: BYOL_VIEW2_AUGMENT });
  c.dispose();
});

test("docs/augmentations.md's study cell is studyAugment('crop', 'color') against the identity", () => {
  const md = readFileSync(join(__dirname, '..', 'docs', 'augmentations.md'), 'utf8');
  const json = /```json\n([\s\S]*?)```/.exec(md);
  assert.ok(json, 'the page shows a run config');
  const { config, problems } = resolveConfig(JSON.parse(json[1]));
  assert.deepEqual(problems, []);
  assert.deepEqual(config!.augment, { view1: studyAugment('crop', 'color'), view2: IDENTITY_AUGMENT });
});

test('the 7×7 study as a sweep: one named axis of studyAugment cells expands into 49 valid runs, a bad step named by its key path', () => {
  const cells = STUDY_TRANSFORM_IDS.flatMap((a) => STUDY_TRANSFORM_IDS.map((b) => ({ label: a === b ? a : `${a}→${b}`, set: { 'augment.view1': studyAugment(a, b), 'augment.view2': IDENTITY_AUGMENT } })));
  const { runs } = expandSweep({ name: 'SimCLR augmentation study', base: { method: 'simclr', epochs: 1 }, grid: { cell: cells } });
  assert.equal(runs.length, 49);
  const i = STUDY_TRANSFORM_IDS.indexOf('crop') * 7 + STUDY_TRANSFORM_IDS.indexOf('color');
  assert.equal(runs[i].axisValues.cell, 'crop→color');
  assert.deepEqual(runs[i].config.augment, { view1: studyAugment('crop', 'color'), view2: IDENTITY_AUGMENT });
  assert.throws(
    () => expandSweep({ name: 's', base: { method: 'simclr' }, grid: { 'augment.view1.order': ['crop,crop,color,blur,solarize,sobel,cutout,noise'] } }),
    (e: Error) => /augment\.view1\.order/.test(e.message) && /more than once/.test(e.message),
  );
});
