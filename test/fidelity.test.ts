import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { configHash, recipeDifferences, resolveConfig, type RunConfig } from '../src/core/config';
import { METHOD_IDS, METHOD_INFO } from '../src/core/methods';
import { initBackend } from '../src/engine/backend';
import type { Dataset } from '../src/data/datasets';
import { Rng } from '../src/core/rng';
import { baselineCacheFile, cachedKnnBaselines, rawPixelKnn } from '../src/engine/eval/baselines';
import { nonSaturatingGeneratorLoss, priorMatchingLoss } from '../src/engine/losses/dim';
import { methodDefinition } from '../src/engine/methods';
import { reverseGradient } from '../src/engine/methods/dim';
import type { Method, TrainBatch } from '../src/engine/methods/types';
import { maxAbsDiff } from './helpers/method-steps';

/**
 * Behaviour the papers' official code fixes and a reimplementation can drift from: DIM's linear global
 * vector and non-saturating prior matching (rdevon/DIM), CPC v1's patch encoder without batch norm (the
 * paper, §3.3), InstDisc's CIFAR recipe (lemniscate `cifar.py`).
 */

before(async () => {
  await initBackend('wasm');
});

const B = 6;

function config(method: string, extra: Record<string, unknown> = {}): RunConfig {
  const r = resolveConfig({ method, recipe: 'paper', encoder: { preset: 'tiny' }, projector: { hidden: 32, out: 16 }, ...extra });
  assert.deepEqual(r.problems, []);
  return r.config!;
}

function create(c: RunConfig, shape: [number, number, number]): Method {
  return methodDefinition(c.method).create({ config: c, inputShape: shape, trainSize: 32, totalSteps: 10, rng: new Rng(c.seed) });
}

function batch(shape: [number, number, number], seed = 5): TrainBatch {
  const views = [0, 1].map((v) => tf.randomNormal([B, ...shape], 0, 1, 'float32', seed + v) as tf.Tensor4D);
  return { views, draws: [], indices: Int32Array.from({ length: B }, (_, i) => i), step: 0, epoch: 1, progress: 0 };
}

/** Gradients of one loss evaluation, by variable name (the method's stable names). */
function gradsByName(method: Method, b: TrainBatch): Map<string, Float32Array> {
  const vars = method.trainableVariables();
  const { value, grads } = tf.variableGrads(() => method.loss(b), vars);
  const names = new Map([...method.namedVariables()].map(([n, v]) => [v.name, n]));
  const out = new Map<string, Float32Array>();
  for (const v of vars) out.set(names.get(v.name)!, grads[v.name].dataSync().slice() as Float32Array);
  tf.dispose([value, grads]);
  return out;
}

const norm = (a: Float32Array) => Math.sqrt(a.reduce((s, v) => s + v * v, 0));

// ---------------------------------------------------------------- DIM

const DIM_SHAPE: [number, number, number] = [12, 12, 1];

test('DIM: the MI estimators read a linear global vector Y; the sigmoid is on the prior path only (rdevon/DIM)', () => {
  const x = batch(DIM_SHAPE).views[0];
  const y = (yActivation?: string) => {
    const m = create(config('dim', yActivation ? { params: { yActivation } } : {}), DIM_SHAPE);
    const out = tf.tidy(() => m.projection(x).dataSync().slice());
    m.dispose();
    return out;
  };
  const linear = y();
  assert.ok(linear.some((v) => v < 0) && linear.some((v) => v > 0), 'Y by default should be the linear output of f (signed), not σ(f)');
  const sigmoid = y('sigmoid');
  assert.ok(sigmoid.every((v) => v > 0 && v < 1), 'yActivation "sigmoid" bounds Y in (0, 1)');
  assert.ok(maxAbsDiff(sigmoid, Array.from(linear, (v) => 1 / (1 + Math.exp(-v)))) < 1e-5, 'σ applied to the same f');
  x.dispose();
});

test('DIM’s generator loss is the non-saturating −log D(σ(Y)): its gradient stays ≈ −1/n where D rejects the encoder, where minimax vanishes', () => {
  const rejected = tf.variable(tf.tensor1d([-12, -10, -8, -9]));
  const ns = tf.variableGrads(() => nonSaturatingGeneratorLoss(rejected), [rejected]);
  assert.ok(Math.abs(ns.value.dataSync()[0] - [-12, -10, -8, -9].reduce((s, d) => s - Math.log(1 / (1 + Math.exp(-d))), 0) / 4) < 1e-4);
  assert.ok(Array.from(ns.grads[rejected.name].dataSync()).every((g) => Math.abs(g + 0.25) < 1e-3), 'non-saturating gradient ≈ −1/n');
  // The minimax encoder loss (ascending D's loss through a reversal) has gradient σ(d)/n → 0 there.
  const prior = tf.zeros([4]);
  const mm = tf.variableGrads(() => priorMatchingLoss(prior, reverseGradient(rejected as unknown as tf.Tensor)), [rejected]);
  assert.ok(Array.from(mm.grads[rejected.name].dataSync()).every((g) => Math.abs(g) < 1e-3), 'minimax gradient saturates');
  tf.dispose([rejected, prior, ns.value, ns.grads, mm.value, mm.grads]);
});

test('DIM prior matching: D descends its own loss (not scaled by γ, no generator gradient); the encoder gets γ·generator loss', () => {
  const b = batch(DIM_SHAPE);
  // β ≈ 0: the encoder's gradient is then only prior matching's.
  const grads = (gamma: number, generatorLoss = 'non-saturating') => {
    const m = create(config('dim', { params: { beta: 1e-12, gamma, generatorLoss } }), DIM_SHAPE);
    const g = gradsByName(m, b);
    m.dispose();
    return g;
  };
  const [g1, g2] = [grads(0.1), grads(0.2)];
  const priorD = [...g1.keys()].filter((n) => n.startsWith('prior_d.'));
  const encoder = [...g1.keys()].filter((n) => n.startsWith('encoder.conv'));
  assert.ok(priorD.length === 6 && encoder.length > 0);
  for (const n of priorD) assert.ok(maxAbsDiff(g1.get(n)!, g2.get(n)!) < 1e-6, `${n}: D's gradient must not depend on γ (a generator gradient leaked into D)`);
  for (const n of encoder) {
    assert.ok(norm(g1.get(n)!) > 0, `${n}: no prior-matching gradient reached the encoder`);
    assert.ok(maxAbsDiff(Array.from(g1.get(n)!, (v) => 2 * v), g2.get(n)!) < 1e-4 * norm(g2.get(n)!) + 1e-9, `${n}: the encoder's prior gradient must be γ·(generator gradient)`);
  }
  // The minimax variant (runs recorded before the fix) scales D's own loss by γ as it did.
  const [m1, m2] = [grads(0.1, 'minimax'), grads(0.2, 'minimax')];
  for (const n of priorD) assert.ok(maxAbsDiff(Array.from(m1.get(n)!, (v) => 2 * v), m2.get(n)!) < 1e-6);
  tf.dispose(b.views);
});

test('DIM paper recipe: the official Adam 1e-4 at batch 64; configs recorded before the fix resolve to the old behaviour', () => {
  const paper = resolveConfig({ method: 'dim', recipe: 'paper' }).config!;
  assert.deepEqual([paper.optimizer.name, paper.optimizer.lr, paper.batchSize], ['adam', 1e-4, 64]);
  assert.deepEqual([paper.params.yActivation, paper.params.generatorLoss], ['linear', 'non-saturating']);
  const { yActivation: _y, generatorLoss: _g, ...before } = paper.params;
  const { recipe: _r, ...recorded } = { ...paper, params: before };
  const old = resolveConfig(recorded, { recorded: true }).config!;
  assert.deepEqual([old.params.yActivation, old.params.generatorLoss, old.recipe], ['sigmoid', 'minimax', 'paper']);
});

// ---------------------------------------------------------------- CPC v1

test('CPC v1’s paper recipe trains the patch encoder without batch norm (§3.3); runs recorded before keep theirs', () => {
  assert.equal(resolveConfig({ method: 'cpc', recipe: 'paper' }).config!.params.patchNorm, 'none');
  const { patchNorm: _p, ...params } = resolveConfig({ method: 'cpc', recipe: 'paper' }).config!.params;
  assert.equal(resolveConfig({ method: 'cpc', params }, { recorded: true }).config!.params.patchNorm, 'batch');
  // No batch statistics: a patch's encoding does not depend on the other images of the batch.
  const c = config('cpc', { params: { patchSize: 4, patchStride: 2, negatives: 0, maxOffset: 2 } });
  const m = create(c, [12, 12, 1]);
  const x = tf.randomNormal([4, 12, 12, 1], 0, 1, 'float32', 3) as tf.Tensor4D;
  const together = tf.tidy(() => tf.slice(m.encoder.featureMap(x, true), [0], [1]).dataSync().slice());
  const alone = tf.tidy(() => m.encoder.featureMap(tf.slice(x, [0], [1]) as tf.Tensor4D, true).dataSync().slice());
  assert.ok(maxAbsDiff(together, alone) < 1e-5, 'image 0’s patch encodings changed with the rest of the batch: batch statistics leak between images');
  m.dispose();
  x.dispose();
});

// ---------------------------------------------------------------- InstDisc

test('InstDisc’s paper recipe is lemniscate cifar.py: lr 0.03, τ 0.1, batch 128, m 0.5, 4096 noise samples, no flip', () => {
  const c = resolveConfig({ method: 'instdisc', recipe: 'paper' }).config!;
  assert.deepEqual(
    [c.optimizer.name, c.optimizer.lr, c.optimizer.momentum, c.optimizer.weightDecay, c.batchSize, c.params.temperature, c.params.memoryMomentum, c.params.noiseSamples, c.projector.out],
    ['sgd', 0.03, 0.9, 5e-4, 128, 0.1, 0.5, 4096, 128],
  );
  for (const v of [c.augment.view1, c.augment.view2]) assert.deepEqual([v.cropMinScale, v.flipProb, v.jitterProb, v.hue, v.grayscaleProb], [0.2, 0, 1, 0.4, 0.2]);
});

// ---------------------------------------------------------------- recipes

test('recipes: short is the default up to 20 epochs, paper beyond; a named recipe wins, and the config’s own values win over it', () => {
  const r = (raw: Record<string, unknown>) => resolveConfig({ method: 'byol', ...raw }).config!;
  assert.equal(r({}).recipe, 'short'); // 10 epochs by default
  assert.equal(r({ epochs: 20 }).recipe, 'short');
  assert.equal(r({ epochs: 21 }).recipe, 'paper');
  assert.equal(r({ epochs: 5, recipe: 'paper' }).recipe, 'paper');
  assert.equal(r({ epochs: 100, recipe: 'short' }).recipe, 'short');
  assert.deepEqual([r({ recipe: 'paper' }).optimizer.name, r({ recipe: 'paper' }).optimizer.lr, r({ recipe: 'paper' }).encoder.preset], ['sgd', 0.03, 'small']);
  assert.deepEqual([r({}).optimizer.name, r({}).optimizer.lr, r({}).encoder.preset], ['adam', 1e-3, 'compact']);
  assert.equal(r({ optimizer: { lr: 0.005 } }).optimizer.lr, 0.005);
  assert.equal(r({ optimizer: { lr: 0.005 } }).optimizer.name, 'adam');
  assert.equal(r({ augment: { view2: { solarizeProb: 0.3 } } }).augment.view2.solarizeProb, 0.3);
  assert.match(resolveConfig({ method: 'byol', recipe: 'long' }).problems.map((p) => `${p.path}: ${p.message}`).join(), /recipe: must be one of paper, short/);
});

test('recipes: a run recorded before recipes existed resolves as paper and keeps its hash; short hashes differently', () => {
  const paper = resolveConfig({ method: 'simclr', recipe: 'paper' }).config!;
  const { recipe: _r, ...recorded } = paper;
  const again = resolveConfig(recorded, { recorded: true }).config!;
  assert.equal(again.recipe, 'paper');
  assert.equal(configHash(again), configHash(paper));
  assert.equal(configHash(paper), '8657b0a6fada', 'a paper run must hash as runs recorded before recipes');
  assert.notEqual(configHash(resolveConfig({ method: 'simclr' }).config!), configHash(paper));
  // Not recorded (a user's config file without recipe): the epoch budget decides.
  assert.equal(resolveConfig(recorded).config!.recipe, 'short');
});

test('every method has a short recipe that changes its paper config, says why, and resolves without problems', () => {
  for (const id of METHOD_IDS) {
    const info = METHOD_INFO[id];
    const short = resolveConfig({ method: id, recipe: 'short' });
    assert.deepEqual(short.problems, [], id);
    const diffs = recipeDifferences(id);
    assert.ok(diffs.length > 0, `${id}: short changes nothing`);
    assert.ok(info.short.why.length > 0, `${id}: short says nothing about why`);
    for (const d of diffs) assert.notDeepEqual(d.paper, d.short, `${id}: ${d.path}`);
  }
  const byol = recipeDifferences('byol').map((d) => d.path);
  for (const p of ['optimizer.name', 'optimizer.lr', 'encoder.preset', 'projector.hidden', 'augment.view1.cropMinScale', 'augment.view2.solarizeProb']) assert.ok(byol.includes(p), `byol short should change ${p}`);
});

// ---------------------------------------------------------------- kNN baselines

/** 2 classes of 4×4 images: class 0 bright on the left half, class 1 on the right; n per split. */
function twoClassData(n: number): Dataset {
  const split = (seed: number) => {
    const rng = new Rng(seed);
    const images = new Uint8Array(n * 16);
    const labels = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      labels[i] = i % 2;
      for (let p = 0; p < 16; p++) images[i * 16 + p] = ((p % 4 < 2) === (labels[i] === 0) ? 200 : 20) + Math.floor(rng.next() * 40);
    }
    return { images, labels, count: n, height: 4, width: 4, channels: 1 };
  };
  return { spec: 'test:two-class', name: 'two classes', train: split(1), test: split(2), classNames: ['left', 'right'], source: 'synthetic' };
}

test('kNN baselines: raw pixels separate what pixels separate; each number is computed once per database and then read from its cache', async () => {
  const data = twoClassData(40);
  const idx = Int32Array.from({ length: 40 }, (_, i) => i);
  const { raw, centred } = await rawPixelKnn(data, idx, 5, 0.1);
  assert.equal(raw, 1);
  assert.equal(centred, 1);
  const dir = mkdtempSync(join(tmpdir(), 'clab-baselines-'));
  const file = baselineCacheFile(join(dir, 'runs.db'));
  const c = config('simclr', { eval: { knnK: 5 } });
  const first = await cachedKnnBaselines(c, 'hash-a', data, idx, file);
  assert.deepEqual([first.rawPixels, first.rawPixelsCentred], [1, 1]);
  assert.ok(first.untrainedEncoder >= 0 && first.untrainedEncoder <= 1);
  // Read back, not recomputed: overwrite the cached values and they come back.
  const cached = JSON.parse(readFileSync(file, 'utf8')) as Record<string, number>;
  for (const k of Object.keys(cached)) cached[k] = 0.123;
  writeFileSync(file, JSON.stringify(cached));
  assert.deepEqual(await cachedKnnBaselines(c, 'hash-a', data, idx, file), { rawPixels: 0.123, rawPixelsCentred: 0.123, untrainedEncoder: 0.123 });
  // Another config: the pixels' numbers are shared, the untrained encoder's is its own.
  const other = await cachedKnnBaselines(c, 'hash-b', data, idx, file);
  assert.equal(other.rawPixels, 0.123);
  assert.notEqual(other.untrainedEncoder, 0.123);
  rmSync(dir, { recursive: true, force: true });
});
