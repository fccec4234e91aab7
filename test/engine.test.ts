import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { resolveConfig } from '../src/core/config';
import { SIMCLR_AUGMENT } from '../src/core/augment-spec';
import { initBackend } from '../src/engine/backend';
import { applyAugment, augmentBatch, drawAugment, sampleCrop } from '../src/engine/augment/pipeline';
import { Rng } from '../src/core/rng';
import { ntXent } from '../src/engine/losses/ntxent';
import { knnAccuracy } from '../src/engine/eval/knn';
import { collapseStd } from '../src/engine/eval/collapse';
import { learningRate, createOptimizer } from '../src/engine/optim';
import { methodDefinition } from '../src/engine/methods';
import type { TrainBatch } from '../src/engine/methods/types';
import { createEncoder } from '../src/engine/models/encoder';
import { ParamSet } from '../src/engine/models/layers';
import { loadCheckpoint, saveCheckpoint } from '../src/engine/checkpoint';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

before(async () => {
  await initBackend('wasm');
});

const identity = { ...SIMCLR_AUGMENT, cropMinScale: 1, cropMaxScale: 1, cropMinRatio: 1, cropMaxRatio: 1, flipProb: 0, jitterProb: 0, grayscaleProb: 0 };

test('augmentation with every transform off returns the images unchanged', () => {
  const x = tf.randomUniform([4, 8, 8, 1], 0, 1, 'float32', 1) as tf.Tensor4D;
  const y = augmentBatch(x, identity, new Rng(0));
  assert.ok(tf.max(tf.abs(tf.sub(x, y))).dataSync()[0] < 1e-5);
  tf.dispose([x, y]);
});

test('a flip mirrors the image left to right', () => {
  const x = tf.tensor4d(Float32Array.from({ length: 16 }, (_, i) => i / 16), [1, 4, 4, 1]);
  const y = augmentBatch(x, { ...identity, flipProb: 1 }, new Rng(0));
  assert.deepEqual(Array.from(y.dataSync()).map((v) => +v.toFixed(4)), Array.from(tf.reverse(x, 2).dataSync()).map((v) => +v.toFixed(4)));
  tf.dispose([x, y]);
});

test('the same seed gives the same views; another seed gives other views', () => {
  const x = tf.randomUniform([8, 28, 28, 1], 0, 1, 'float32', 2) as tf.Tensor4D;
  const a = augmentBatch(x, SIMCLR_AUGMENT, new Rng(7));
  const b = augmentBatch(x, SIMCLR_AUGMENT, new Rng(7));
  const c = augmentBatch(x, SIMCLR_AUGMENT, new Rng(8));
  assert.equal(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0], 0);
  assert.ok(tf.max(tf.abs(tf.sub(a, c))).dataSync()[0] > 0.01);
  assert.deepEqual(a.shape, [8, 28, 28, 1]);
  tf.dispose([x, a, b, c]);
});

test('random resized crops respect the scale and ratio ranges', () => {
  const rng = new Rng(3);
  for (let i = 0; i < 500; i++) {
    const [top, left, h, w] = sampleCrop(rng, 28, 28, { ...SIMCLR_AUGMENT, cropMinScale: 0.2, cropMaxScale: 0.6 });
    assert.ok(top >= 0 && left >= 0 && top + h <= 28 && left + w <= 28);
    const area = (h * w) / (28 * 28);
    assert.ok(area > 0.15 && area < 0.7, `area ${area}`);
  }
});

test('blur keeps the mean brightness and smooths; solarize inverts bright pixels; colour ops work on RGB', () => {
  const x = tf.randomUniform([3, 16, 16, 3], 0, 1, 'float32', 4) as tf.Tensor4D;
  const draw = drawAugment(new Rng(1), 3, 16, 16, { ...identity, blurProb: 1, blurSigmaMin: 1.5, blurSigmaMax: 1.5 });
  const blurred = applyAugment(x, draw, { ...identity, blurSigmaMax: 1.5 }, [16, 16]);
  const meanDiff = Math.abs(tf.mean(x).dataSync()[0] - tf.mean(blurred).dataSync()[0]);
  assert.ok(meanDiff < 0.01, `mean moved by ${meanDiff}`);
  assert.ok(tf.moments(blurred).variance.dataSync()[0] < tf.moments(x).variance.dataSync()[0] / 2);
  const sol = augmentBatch(tf.fill([1, 4, 4, 1], 0.9) as tf.Tensor4D, { ...identity, solarizeProb: 1, solarizeThreshold: 0.5 }, new Rng(0));
  assert.ok(Math.abs(sol.dataSync()[0] - 0.1) < 1e-5);
  const gray = augmentBatch(x, { ...identity, grayscaleProb: 1 }, new Rng(0));
  const [r, g, b] = tf.split(gray, 3, 3);
  assert.ok(tf.max(tf.abs(tf.sub(r, g))).dataSync()[0] < 1e-5 && tf.max(tf.abs(tf.sub(g, b))).dataSync()[0] < 1e-5);
  const hue = augmentBatch(x, { ...identity, jitterProb: 1, brightness: 0, contrast: 0, saturation: 0, hue: 0.5 }, new Rng(0));
  assert.ok(tf.max(tf.abs(tf.sub(hue, x))).dataSync()[0] > 0.05, 'hue shift changed nothing');
  tf.dispose([x, blurred, sol, gray, r, g, b, hue]);
});

test('NT-Xent equals its definition computed by hand', () => {
  const z1 = tf.tensor2d([[1, 0], [0, 1]]);
  const z2 = tf.tensor2d([[1, 0.1], [0.2, 1]]);
  const t = 0.5;
  const loss = ntXent(z1, z2, t).dataSync()[0];
  const all = [[1, 0], [0, 1], [1, 0.1], [0.2, 1]].map(([a, b]) => [a / Math.hypot(a, b), b / Math.hypot(a, b)]);
  const sim = (i: number, j: number) => (all[i][0] * all[j][0] + all[i][1] * all[j][1]) / t;
  let expected = 0;
  for (let i = 0; i < 4; i++) {
    const pos = (i + 2) % 4;
    let denom = 0;
    for (let k = 0; k < 4; k++) if (k !== i) denom += Math.exp(sim(i, k));
    expected += -Math.log(Math.exp(sim(i, pos)) / denom);
  }
  assert.ok(Math.abs(loss - expected / 4) < 1e-4, `${loss} vs ${expected / 4}`);
  tf.dispose([z1, z2]);
});

test('NT-Xent of random embeddings is near log(2N−1)', () => {
  const n = 256;
  const z1 = tf.randomNormal([n, 128], 0, 1, 'float32', 1) as tf.Tensor2D;
  const z2 = tf.randomNormal([n, 128], 0, 1, 'float32', 2) as tf.Tensor2D;
  const loss = ntXent(z1, z2, 1).dataSync()[0];
  assert.ok(Math.abs(loss - Math.log(2 * n - 1)) < 0.1, `loss ${loss}`);
  tf.dispose([z1, z2]);
});

test('kNN classifies well-separated clusters perfectly and chance-level noise poorly, letting timers run between chunks', async () => {
  const centers = [[5, 0, 0], [0, 5, 0], [0, 0, 5]];
  const make = (n: number, seed: number) => {
    const r = new Rng(seed);
    const v: number[] = [];
    const l: number[] = [];
    for (let i = 0; i < n; i++) {
      const c = i % 3;
      v.push(...centers[c].map((x) => x + r.normal() * 0.5));
      l.push(c);
    }
    return { x: tf.tensor2d(v, [n, 3]), y: Int32Array.from(l) };
  };
  const bank = make(300, 1);
  const q = make(90, 2);
  assert.equal(await knnAccuracy(bank.x, bank.y, q.x, q.y, 3, 20, 0.1), 1);
  const noise = new Rng(9);
  const shuffled = Int32Array.from(bank.y, () => noise.int(3)); // labels unrelated to the features
  assert.ok((await knnAccuracy(bank.x, shuffled, q.x, q.y, 3, 20, 0.1)) < 0.6);
  // A run's heartbeat is a timer: it must fire while a long kNN is under way (one chunk per query here).
  let ticks = 0;
  const timer = setInterval(() => ticks++, 0);
  const chunked = await knnAccuracy(bank.x, bank.y, q.x, q.y, 3, 20, 0.1, 1);
  clearInterval(timer);
  assert.equal(chunked, 1);
  assert.ok(ticks > 0, 'no timer fired during the kNN');
  tf.dispose([bank.x, q.x]);
});

test('collapse std is 0 for identical embeddings and ≈1/√d for random ones', async () => {
  const same = tf.tile(tf.tensor2d([[1, 2, 3, 4]]), [100, 1]) as tf.Tensor2D;
  assert.ok((await collapseStd(same))[0] < 1e-4);
  const rand = tf.randomNormal([2000, 64], 0, 1, 'float32', 3) as tf.Tensor2D;
  const [std, healthy] = await collapseStd(rand);
  assert.ok(Math.abs(std - healthy) / healthy < 0.1, `${std} vs ${healthy}`);
  tf.dispose([same, rand]);
});

test('learning rate: linear warmup, then cosine to zero', () => {
  const cfg = resolveConfig({ method: 'simclr', optimizer: { lr: 1, warmupEpochs: 1 } }).config!.optimizer;
  assert.equal(learningRate(cfg, 0, 100, 10), 0.1);
  assert.equal(learningRate(cfg, 9, 100, 10), 1);
  assert.ok(Math.abs(learningRate(cfg, 55, 100, 10) - 0.5) < 1e-9);
  assert.ok(learningRate(cfg, 99, 100, 10) < 0.01);
});

test('SGD with momentum follows the update rule', () => {
  const v = tf.variable(tf.tensor2d([[1, 2]]));
  const opt = createOptimizer({ name: 'sgd', lr: 0.1, momentum: 0.9, weightDecay: 0, warmupEpochs: 0, schedule: 'constant' }, [v]);
  const g = tf.tensor2d([[1, 1]]);
  opt.apply({ [v.name]: g }, 0.1); // buf = g, w -= 0.1 g
  opt.apply({ [v.name]: g }, 0.1); // buf = 0.9 g + g = 1.9 g
  assert.deepEqual(Array.from(v.dataSync()).map((x) => +x.toFixed(5)), [1 - 0.1 - 0.19, 2 - 0.1 - 0.19].map((x) => +x.toFixed(5)));
  opt.dispose();
  tf.dispose([v, g]);
});

for (const optimizer of ['adam', 'sgd', 'lars'] as const) {
  test(`a SimCLR step (${optimizer}) lowers the loss on a fixed batch and leaks no tensors`, () => {
    const config = resolveConfig({ method: 'simclr', encoder: { preset: 'tiny' }, projector: { hidden: 32, out: 16 }, optimizer: { name: optimizer, lr: optimizer === 'adam' ? 0.01 : 0.5 } }).config!;
    const method = methodDefinition('simclr').create({ config, inputShape: [12, 12, 1], trainSize: 16, totalSteps: 10, rng: new Rng(0) });
    const vars = method.trainableVariables();
    const opt = createOptimizer(config.optimizer, vars);
    const x = tf.randomUniform([16, 12, 12, 1], 0, 1, 'float32', 5) as tf.Tensor4D;
    const views = [augmentBatch(x, SIMCLR_AUGMENT, new Rng(1)), augmentBatch(x, SIMCLR_AUGMENT, new Rng(2))];
    const batch: TrainBatch = { views, draws: [], indices: new Int32Array(16), step: 0, epoch: 1, progress: 0 };
    const losses: number[] = [];
    let before = 0;
    for (let i = 0; i < 6; i++) {
      if (i === 2) before = tf.memory().numTensors;
      const { value, grads } = tf.variableGrads(() => method.loss(batch), vars);
      losses.push(value.dataSync()[0]);
      opt.apply(grads, config.optimizer.lr);
      tf.dispose([value, grads]);
      method.afterStep?.(batch);
    }
    assert.equal(tf.memory().numTensors, before, 'tensors leaked across steps');
    assert.ok(losses[5] < losses[0], `loss did not fall: ${losses.join(', ')}`);
    opt.dispose();
    method.dispose();
    tf.dispose([x, ...views]);
  });
}

test('encoder presets give the documented feature sizes, ResNet-18 included', () => {
  for (const [preset, dim] of [['tiny', 64], ['small', 128], ['medium', 256], ['resnet18-cifar', 512]] as const) {
    const ps = new ParamSet(0);
    const enc = createEncoder(preset, 3, ps);
    const f = tf.tidy(() => enc.features(tf.zeros([2, 32, 32, 3]) as tf.Tensor4D, false));
    assert.deepEqual(f.shape, [2, dim], preset);
    f.dispose();
    ps.dispose();
  }
});

test('a checkpoint round-trips every variable by name', async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'clab-ckpt-')), 'epoch-0001');
  const ps = new ParamSet(3);
  createEncoder('tiny', 1, ps);
  await saveCheckpoint(dir, ps.vars, { epoch: 1 });
  const { tensors, meta } = loadCheckpoint(dir);
  assert.equal(meta.epoch, 1);
  assert.deepEqual(Object.keys(tensors).sort(), [...ps.vars.keys()].sort());
  for (const [name, v] of ps.vars) assert.deepEqual(Array.from(tensors[name].dataSync()), Array.from(v.dataSync()), name);
  tf.dispose(Object.values(tensors));
  ps.dispose();
});
