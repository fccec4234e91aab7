import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { resolveConfig, type RunConfig } from '../src/core/config';
import { drawAugment } from '../src/engine/augment/pipeline';
import { initBackend } from '../src/engine/backend';
import { Rng } from '../src/core/rng';
import { crossViewInfoNce, viewPairs } from '../src/engine/losses/cmc';
import { cpcOffsetLoss, futureLabels } from '../src/engine/losses/cpc';
import { logSumExpRows, softmaxCrossEntropy } from '../src/engine/losses/softmax';
import { dimInfoNceLoss, dimJsdLoss, jsdEstimate } from '../src/engine/losses/dim';
import { pixelConsistencyLoss, pixproPositiveMask } from '../src/engine/losses/pixpro';
import { methodDefinition } from '../src/engine/methods';
import type { Cpc, Direction } from '../src/engine/methods/cpc';
import { reverseGradient } from '../src/engine/methods/dim';
import type { MomentumCopy } from '../src/engine/methods/shared/ema';
import type { MemoryBank } from '../src/engine/methods/shared/memory-bank';
import { byolTau } from '../src/engine/methods/shared/ema';
import { extractPatches, patchGrid } from '../src/engine/methods/shared/patches';
import { frequencyBands, rgbToLab } from '../src/engine/methods/shared/view-split';
import type { Method, TrainBatch } from '../src/engine/methods/types';
import { createOptimizer } from '../src/engine/optim';
import { mapImages, maxAbsDiff, step } from './helpers/method-steps';

before(async () => {
  await initBackend('wasm');
});

const B = 8;
const NEW_METHODS = ['cpc', 'cpcv2', 'dim', 'cmc', 'pixpro'] as const;

/** A small config of the paper recipe: the tiny encoder, small heads, and the parameters a test needs. */
function smallConfig(method: string, extra: Record<string, unknown> = {}): RunConfig {
  const r = resolveConfig({ method, recipe: 'paper', encoder: { preset: 'tiny' }, projector: { hidden: 32, out: 16 }, ...extra });
  assert.deepEqual(r.problems, []);
  return r.config!;
}

function create(config: RunConfig, shape: [number, number, number], trainSize = 64): Method {
  return methodDefinition(config.method).create({ config, inputShape: shape, trainSize, totalSteps: 10, rng: new Rng(config.seed) });
}

/** Two random views of B images with real augmentation draws (PixPro reads their crop boxes). */
function makeBatch(config: RunConfig, shape: [number, number, number], seed: number): TrainBatch {
  const [h, w] = shape;
  const views = [0, 1].map((v) => tf.randomNormal([B, ...shape], 0, 1, 'float32', seed + v) as tf.Tensor4D);
  const rng = new Rng(seed);
  const draws = [drawAugment(rng.fork(1), B, h, w, config.augment.view1), drawAugment(rng.fork(2), B, h, w, config.augment.view2)];
  return { views, draws, indices: Int32Array.from({ length: B }, (_, i) => i), step: 0, epoch: 1, progress: 0 };
}

/** Rows [from, to) of a [B, R, C, D] grid, as numbers. */
function rows(t: tf.Tensor4D, from: number, to: number): Float32Array {
  return tf.tidy(() => tf.slice(t, [0, from, 0, 0], [-1, to - from, -1, -1]).dataSync() as Float32Array);
}

/** z with rows [from, to) replaced by other random values. */
function perturbRows(z: tf.Tensor4D, from: number, to: number, seed: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [b, r, c, d] = z.shape;
    const keep = tf.reshape(tf.tensor1d(Array.from({ length: r }, (_, i) => (i >= from && i < to ? 0 : 1))), [1, r, 1, 1]);
    return tf.add(tf.mul(z, keep), tf.mul(tf.randomNormal([b, r, c, d], 0, 1, 'float32', seed), tf.sub(1, keep))) as tf.Tensor4D;
  });
}

// ---------------------------------------------------------------- CPC and CPC v2

const CPC_SHAPE: [number, number, number] = [16, 16, 1];
/** 4-px patches every 2 px on 16-px images: a 7×7 grid, like the papers'. */
const CPC_GRID = { patchSize: 4, patchStride: 2, negatives: 0 };

test('the patch grid is centred and cut exactly: patch (i, j) holds pixels [top + i·stride, +size)', () => {
  const g = patchGrid(28, 28, 10, 4);
  assert.deepEqual([g.rows, g.cols, g.top, g.left], [5, 5, 1, 1]);
  assert.deepEqual([patchGrid(28, 28, 8, 4).rows, patchGrid(16, 16, 4, 2).rows], [6, 7]);
  const x = tf.tensor4d(Float32Array.from({ length: 16 * 16 }, (_, i) => i), [1, 16, 16, 1]); // pixel value = its index
  const p = extractPatches(x, patchGrid(16, 16, 4, 2)); // [49, 4, 4, 1]
  const patch = tf.tidy(() => tf.slice(p, [2 * 7 + 3, 0, 0, 0], [1, 4, 4, 1]).dataSync()); // row 2, column 3
  const expected = Array.from({ length: 16 }, (_, k) => (4 + Math.floor(k / 4)) * 16 + 6 + (k % 4));
  assert.ok(maxAbsDiff(patch, expected) < 1e-3, `patch (2, 3) is ${Array.from(patch)}`);
  tf.dispose([x, p]);
});

test('CPC’s positives are the same image’s patch k rows below; InfoNCE is log(#targets) for blind predictions, ≈0 for perfect ones', () => {
  // 2 images, 3×2 grid, k = 1: predictions from rows 0–1 point at rows 1–2 of the same image.
  assert.deepEqual(Array.from(futureLabels(2, 3, 2, 1)), [2, 3, 4, 5, 8, 9, 10, 11]);
  const targets = tf.tidy(() => tf.reshape(tf.mul(tf.eye(24), 1), [2, 3, 4, 24]) as tf.Tensor4D); // 24 orthonormal patches
  const blind = tf.zeros([2, 2, 4, 24]) as tf.Tensor4D;
  assert.ok(Math.abs(cpcOffsetLoss(blind, targets, 1).dataSync()[0] - Math.log(24)) < 1e-5);
  const perfect = tf.tidy(() => tf.mul(tf.slice(targets, [0, 1, 0, 0], [-1, 2, -1, -1]), 30) as tf.Tensor4D); // 30·z_{i+1,j}
  assert.ok(cpcOffsetLoss(perfect, targets, 1).dataSync()[0] < 1e-6);
  // Sampled negatives: the positive itself is never among them, so a perfect prediction still scores ≈ 0.
  const negatives = Int32Array.from({ length: 24 }, (_, i) => i);
  assert.ok(cpcOffsetLoss(perfect, targets, 1, negatives).dataSync()[0] < 1e-6);
  assert.ok(Math.abs(cpcOffsetLoss(blind, targets, 1, negatives).dataSync()[0] - Math.log(24)) < 1e-5, '1 positive + 23 negatives');
  tf.dispose([targets, blind, perfect]);
});

test('the fused softmax cross-entropy has the value and gradient of the op-by-op one', () => {
  const x = tf.variable(tf.randomNormal([6, 9], 0, 3, 'float32', 5));
  const labels = Int32Array.from([0, 8, 3, 3, 5, 1]);
  const fused = tf.variableGrads(() => softmaxCrossEntropy(x as unknown as tf.Tensor2D, labels), [x]);
  const reference = tf.variableGrads(
    () => tf.mean(tf.sub(tf.logSumExp(x, 1), tf.sum(tf.mul(x, tf.oneHot(tf.tensor1d(labels, 'int32'), 9)), 1))) as tf.Scalar,
    [x],
  );
  assert.ok(Math.abs(fused.value.dataSync()[0] - reference.value.dataSync()[0]) < 1e-5);
  assert.ok(maxAbsDiff(fused.grads[x.name].dataSync(), reference.grads[x.name].dataSync()) < 1e-6);
  tf.dispose([x, fused.value, fused.grads, reference.value, reference.grads]);
});

test('the fused row log-sum-exp has the value and gradient of tf.logSumExp, large logits included', () => {
  const x = tf.variable(tf.randomNormal([5, 11], 0, 40, 'float32', 6));
  const w = tf.randomNormal([5, 1], 0, 1, 'float32', 7); // a non-uniform upstream gradient
  const fused = tf.variableGrads(() => tf.sum(tf.mul(logSumExpRows(x as unknown as tf.Tensor2D), w)) as tf.Scalar, [x]);
  const reference = tf.variableGrads(() => tf.sum(tf.mul(tf.logSumExp(x, 1, true), w)) as tf.Scalar, [x]);
  assert.ok(Math.abs(fused.value.dataSync()[0] - reference.value.dataSync()[0]) < 1e-3);
  assert.ok(maxAbsDiff(fused.grads[x.name].dataSync(), reference.grads[x.name].dataSync()) < 1e-5);
  tf.dispose([x, w, fused.value, fused.grads, reference.value, reference.grads]);
});

test('CPC: the context at row t never sees rows below t', () => {
  const method = create(smallConfig('cpc', { params: CPC_GRID }), CPC_SHAPE) as Cpc;
  const z = tf.randomNormal([2, 7, 7, 64], 0, 1, 'float32', 1) as tf.Tensor4D;
  for (const t of [0, 3, 5]) {
    const c = method.contextOf(z, 'top-down');
    const zBelow = perturbRows(z, t + 1, 7, 10 + t);
    const c2 = method.contextOf(zBelow, 'top-down');
    assert.equal(maxAbsDiff(rows(c, 0, t + 1), rows(c2, 0, t + 1)), 0, `context rows ≤ ${t} changed when rows > ${t} did`);
    assert.ok(maxAbsDiff(rows(c, t + 1, 7), rows(c2, t + 1, 7)) > 1e-3, 'the perturbation did not reach the rows below (vacuous test)');
    tf.dispose([c, c2, zBelow]);
  }
  tf.dispose(z);
  method.dispose();
});

test('CPC v2: the bottom-up context at row t never sees rows above t, and bottom-up is top-down on the flipped grid', () => {
  const method = create(smallConfig('cpcv2', { params: { ...CPC_GRID, minOffset: 2, maxOffset: 4, patchAugment: false } }), CPC_SHAPE) as Cpc;
  const { orient, offsets } = method.internals;
  assert.deepEqual(offsets, [2, 3, 4]);
  const z = tf.randomNormal([2, 7, 7, 64], 0, 1, 'float32', 2) as tf.Tensor4D;
  const bottomUp = (g: tf.Tensor4D) => tf.tidy(() => tf.reverse(method.contextOf(orient(g, 'bottom-up'), 'bottom-up'), 1) as tf.Tensor4D); // back in image order
  for (const t of [6, 3, 1]) {
    const c = bottomUp(z);
    const zAbove = perturbRows(z, 0, t, 20 + t);
    const c2 = bottomUp(zAbove);
    assert.equal(maxAbsDiff(rows(c, t, 7), rows(c2, t, 7)), 0, `bottom-up context rows ≥ ${t} changed when rows < ${t} did`);
    assert.ok(maxAbsDiff(rows(c, 0, t), rows(c2, 0, t)) > 1e-3, 'vacuous');
    tf.dispose([c, c2, zAbove]);
  }
  // With the top-down weights copied into the bottom-up networks, the bottom-up loss of a grid equals the
  // top-down loss of the same grid flipped upside down: the two directions are mirror images.
  const vars = method.namedVariables();
  for (const [name, v] of vars) if (name.includes('bottom-up')) v.assign(vars.get(name.replace('bottom-up', 'top-down'))!);
  const sum = (dir: Direction, g: tf.Tensor4D) => tf.tidy(() => tf.addN(method.directionLosses(g, dir)).dataSync()[0]);
  const flipped = tf.reverse(z, 1) as tf.Tensor4D;
  const [up, down] = [sum('bottom-up', z), sum('top-down', flipped)];
  assert.ok(Math.abs(up - down) < 1e-4 * Math.abs(down), `bottom-up ${up} vs top-down on the flipped grid ${down}`);
  assert.ok(Math.abs(sum('top-down', z) - down) > 1e-3, 'the grid is symmetric (vacuous test)');
  tf.dispose([z, flipped]);
  method.dispose();
});

test('CPC v2 with directions "all" adds left-right and right-left terms: one InfoNCE term per direction and offset', () => {
  const config = smallConfig('cpcv2', { params: { ...CPC_GRID, minOffset: 2, maxOffset: 3, directions: 'all' } });
  const method = create(config, CPC_SHAPE) as Cpc;
  assert.deepEqual([...method.internals.heads.keys()], ['top-down', 'bottom-up', 'left-right', 'right-left']);
  const batch = makeBatch(config, CPC_SHAPE, 3);
  // Blind predictions score log(#patches) per term: at init (scale 0.1) the loss is close to 8·log(8·49).
  const loss = tf.tidy(() => method.loss(batch).dataSync()[0]);
  assert.ok(Math.abs(loss - 8 * Math.log(B * 49)) < 0.5, `loss ${loss} vs ${8 * Math.log(B * 49)}`);
  method.dispose();
  tf.dispose(batch.views);
});

test('CPC v2 uses layer norm, CPC v1 no normalisation in the patch encoder (the paper; batch norm on request); offsets that fall off the grid are refused', () => {
  const names = (id: string, params: Record<string, unknown> = {}) => {
    const method = create(smallConfig(id, { params: { ...CPC_GRID, ...params } }), CPC_SHAPE);
    const out = [...method.namedVariables().keys()];
    method.dispose();
    return out;
  };
  assert.ok(names('cpcv2').some((n) => n.startsWith('encoder.ln')) && !names('cpcv2').some((n) => n.startsWith('encoder.bn')));
  const v1 = names('cpc');
  assert.ok(!v1.some((n) => n.startsWith('encoder.bn') || n.startsWith('encoder.ln')), 'CPC v1’s patch encoder must have no batch (or layer) norm');
  assert.ok(v1.includes('encoder.conv0.bias') && !v1.some((n) => n.includes('bottom-up')));
  assert.ok(names('cpc', { patchNorm: 'batch' }).some((n) => n.startsWith('encoder.bn')));
  assert.throws(() => create(smallConfig('cpc', { params: { ...CPC_GRID, minOffset: 7, maxOffset: 8 } }), CPC_SHAPE), /no patch is 7 rows away/);
  assert.throws(() => create(smallConfig('cpc', { params: { ...CPC_GRID, minOffset: 3, maxOffset: 2 } }), CPC_SHAPE), /minOffset/);
});

// ---------------------------------------------------------------- DIM

test('DIM’s JSD estimator equals 2·JSD(P‖Q) at the optimal critic log(p/q), and 0 for a constant-zero critic', () => {
  const [p, q] = [
    [0.8, 0.2],
    [0.3, 0.7],
  ];
  const critic = [Math.log(p[0] / q[0]), Math.log(p[1] / q[1])];
  // Samples in exact proportion: 8 and 2 of ten from P, 3 and 7 of ten from Q.
  const positive = tf.tensor1d([...new Array<number>(8).fill(critic[0]), ...new Array<number>(2).fill(critic[1])]);
  const negative = tf.tensor1d([...new Array<number>(3).fill(critic[0]), ...new Array<number>(7).fill(critic[1])]);
  const m = [0, 1].map((i) => (p[i] + q[i]) / 2);
  const jsd = 0.5 * [0, 1].reduce((s, i) => s + p[i] * Math.log(p[i] / m[i]) + q[i] * Math.log(q[i] / m[i]), 0);
  assert.ok(Math.abs(jsdEstimate(positive, negative).dataSync()[0] - 2 * jsd) < 1e-6);
  const zeros = tf.zeros([5]);
  assert.ok(Math.abs(jsdEstimate(zeros, zeros).dataSync()[0]) < 1e-7);
  // On a score tensor: positives are the a = b entries, negatives a ≠ b.
  const [c, d] = [1.5, -0.5];
  const scores = tf.tidy(() => tf.add(tf.mul(tf.reshape(tf.eye(3), [3, 3, 1]), c - d), tf.fill([3, 3, 4], d)) as tf.Tensor3D);
  const softplus = (x: number) => Math.log1p(Math.exp(x));
  const closed = softplus(d) - Math.LN2 - (Math.LN2 - softplus(-c));
  assert.ok(Math.abs(dimJsdLoss(scores).dataSync()[0] - closed) < 1e-6);
  // InfoNCE: each positive against the 2·4 local features of the other two images.
  assert.ok(Math.abs(dimInfoNceLoss(scores).dataSync()[0] - -Math.log(Math.exp(c) / (Math.exp(c) + 8 * Math.exp(d)))) < 1e-5);
  tf.dispose([positive, negative, zeros, scores]);
});

test('DIM’s prior matching reverses the gradient into the encoder’s output', () => {
  const y = tf.variable(tf.tensor2d([[0.2, -1.3]]));
  const w = tf.tensor2d([[0.5], [2]]);
  const f = (x: tf.Tensor2D) => tf.sum(tf.softplus(tf.matMul(x, w))) as tf.Scalar;
  const plain = tf.variableGrads(() => f(y as unknown as tf.Tensor2D), [y]);
  const reversed = tf.variableGrads(() => f(reverseGradient(y as unknown as tf.Tensor2D)), [y]);
  assert.equal(plain.value.dataSync()[0], reversed.value.dataSync()[0]);
  assert.ok(maxAbsDiff(reversed.grads[y.name].dataSync(), Array.from(plain.grads[y.name].dataSync(), (v) => -v)) < 1e-7);
  tf.dispose([y, w, plain.value, plain.grads, reversed.value, reversed.grads]);
});

// ---------------------------------------------------------------- CMC

test('CMC: full graph = every view pair, core view = the pairs with view 1, each pair counted both ways', () => {
  assert.deepEqual(viewPairs(3, 'full-graph'), [[0, 1], [0, 2], [1, 2]]);
  assert.deepEqual(viewPairs(4, 'core-view'), [[0, 1], [0, 2], [0, 3]]);
  assert.deepEqual(viewPairs(2, 'core-view'), viewPairs(2, 'full-graph'));
  const shape: [number, number, number] = [12, 12, 1];
  for (const objective of ['full-graph', 'core-view'] as const) {
    const config = smallConfig('cmc', { params: { numViews: 3, contrast: 'in-batch', objective, temperature: 0.5 } });
    const method = create(config, shape) as Method & { embed(x: tf.Tensor4D, training: boolean): tf.Tensor2D[] };
    const batch = makeBatch(config, shape, 30);
    const loss = tf.tidy(() => method.loss(batch).dataSync()[0]);
    const expected = tf.tidy(() => {
      const z = method.embed(batch.views[0], true);
      const pairs = objective === 'full-graph' ? [[0, 1], [0, 2], [1, 2]] : [[0, 1], [0, 2]];
      return pairs.reduce((s, [i, j]) => s + crossViewInfoNce(z[i], z[j], 0.5).dataSync()[0] + crossViewInfoNce(z[j], z[i], 0.5).dataSync()[0], 0);
    });
    assert.ok(Math.abs(loss - expected) < 1e-4 * expected, `${objective}: loss ${loss} vs Σ over its pairs ${expected}`);
    method.dispose();
    tf.dispose(batch.views);
  }
});

test('CMC with NCE: Z is estimated once per direction, and each view’s memory bank takes that view’s embeddings with momentum', () => {
  const shape: [number, number, number] = [12, 12, 1];
  const config = smallConfig('cmc', { params: { contrast: 'nce', noiseSamples: 20, memoryMomentum: 0.5 } });
  const method = create(config, shape, 40) as Method & { embed(x: tf.Tensor4D, training: boolean): tf.Tensor2D[]; internals: { banks: { bank: tf.Variable }[] } };
  const batch = makeBatch(config, shape, 35);
  const z = tf.tidy(() => method.embed(batch.views[0], true).map((t) => t.arraySync()));
  const before = method.internals.banks.map((b) => b.bank.arraySync() as number[][]);
  const opt = createOptimizer({ ...config.optimizer, lr: 0 }, method.trainableVariables()); // embeddings stay as computed above
  const loss = step(method, opt, batch, 0);
  assert.ok(Number.isFinite(loss) && loss > 0);
  method.internals.banks.forEach((bank, v) => {
    const after = bank.bank.arraySync() as number[][];
    for (let i = 0; i < B; i++) {
      const mixed = before[v][i].map((x, j) => 0.5 * x + 0.5 * z[v][i][j]);
      const norm = Math.hypot(...mixed);
      assert.ok(maxAbsDiff(after[i], mixed.map((x) => x / norm)) < 1e-4, `view ${v} bank row ${i}`);
    }
    assert.deepEqual(after[B], before[v][B], 'a row of an image outside the batch changed');
  });
  const logZ = () => [...method.namedVariables()].filter(([n]) => n.startsWith('nce_log_z')).map(([, v]) => v.dataSync()[0]);
  const first = logZ();
  assert.equal(first.length, 2);
  assert.ok(first.every(Number.isFinite));
  step(method, opt, { ...batch, step: 1 }, 0);
  assert.deepEqual(logZ(), first, 'Z was re-estimated');
  opt.dispose();
  method.dispose();
  tf.dispose(batch.views);
});

test('CMC bankInit "features": before step 1 each view’s bank holds that view’s embedding of every training image, in the row the image keeps', async () => {
  const shape: [number, number, number] = [12, 12, 1];
  const datasetSize = 40;
  const images = tf.randomNormal([datasetSize, ...shape], 0, 1, 'float32', 41) as tf.Tensor4D;
  // A run on 24 of the 40 images (trainLimit), three frequency views: three banks, rows in prepare's order.
  const trainIndices = Int32Array.from({ length: 24 }, (_, i) => (i * 7) % datasetSize);
  const config = smallConfig('cmc', { trainLimit: 24, params: { numViews: 3, bankInit: 'features' } });
  type WithBanks = Method & { embed(x: tf.Tensor4D, training: boolean): tf.Tensor2D[]; internals: { banks: MemoryBank[] } };
  const method = create(config, shape, datasetSize) as WithBanks;
  const mapTrain = mapImages(images, trainIndices);
  try {
    await method.prepare!({ trainIndices, mapTrain });
    const expected = tf.tidy(() => method.embed(tf.gather(images, tf.tensor1d(trainIndices, 'int32')) as tf.Tensor4D, false).map((z) => z.arraySync()));
    assert.equal(method.internals.banks.length, 3);
    method.internals.banks.forEach((bank, v) => {
      const rows = bank.rowsFor(trainIndices); // the rows prepare gave them: a step reads these
      assert.deepEqual([...rows].sort((a, b) => a - b), Array.from({ length: 24 }, (_, i) => i), `view ${v}: each image its own row`);
      const got = tf.tidy(() => tf.gather(bank.bank, tf.tensor1d(rows, 'int32')).arraySync() as number[][]);
      const worst = Math.max(...got.flatMap((r, i) => r.map((x, j) => Math.abs(x - expected[v][i][j]))));
      assert.ok(worst < 1e-5, `view ${v}: bank rows differ from its embeddings by ${worst}`);
    });
    // The default leaves the random banks as they were; in-batch negatives have no bank to fill.
    const plain = create(smallConfig('cmc', { trainLimit: 24 }), shape, datasetSize) as WithBanks;
    const before = plain.internals.banks.map((b) => b.bank.arraySync());
    await plain.prepare!({ trainIndices, mapTrain: () => Promise.reject(new Error('the default banks must not be computed')) });
    assert.deepEqual(plain.internals.banks.map((b) => b.bank.arraySync()), before);
    plain.dispose();
    assert.throws(() => create(smallConfig('cmc', { params: { contrast: 'in-batch', bankInit: 'features' } }), shape), /in-batch" has none/);
  } finally {
    method.dispose();
    images.dispose();
  }
});

test('CMC views: frequency bands sum to the image; Lab matches skimage on white and pure red; lab is refused on grayscale', () => {
  const x = tf.randomNormal([2, 12, 12, 1], 0, 1, 'float32', 40) as tf.Tensor4D;
  const bands = frequencyBands(x, 3, 1.5);
  assert.equal(bands.length, 3);
  assert.ok(maxAbsDiff(tf.tidy(() => tf.addN(bands).dataSync()), x.dataSync()) < 1e-5);
  // The low band is smooth: much less pixel-to-pixel variation than the high band.
  const roughness = (t: tf.Tensor4D) => tf.tidy(() => tf.mean(tf.abs(tf.sub(tf.slice(t, [0, 0, 1, 0], [-1, -1, 11, -1]), tf.slice(t, [0, 0, 0, 0], [-1, -1, 11, -1])))).dataSync()[0]);
  assert.ok(roughness(bands[0]) < 0.3 * roughness(bands[2]));
  const lab = tf.tidy(() => rgbToLab(tf.tensor4d([1, 1, 1, 1, 0, 0], [1, 1, 2, 3])).dataSync());
  assert.ok(maxAbsDiff(lab, [100, 0, 0, 53.2408, 80.0925, 67.2032]) < 0.02, `Lab ${Array.from(lab)}`);
  assert.throws(() => create(smallConfig('cmc', { params: { views: 'lab' } }), [12, 12, 1]), /needs colour/);
  const rgb = create(smallConfig('cmc', { params: { numViews: 3 } }), [12, 12, 3]);
  assert.equal((rgb as unknown as { internals: { split: { kind: string } } }).internals.split.kind, 'lab', '`auto` did not pick Lab for RGB data');
  rgb.dispose();
  tf.dispose([x, ...bands]);
});

// ---------------------------------------------------------------- PixPro

test('PixPro’s positive mask matches hand-computed overlaps, including a mirrored crop', () => {
  const box = (y1: number, x1: number, y2: number, x2: number) => Float32Array.from([y1, x1, y2, x2]);
  const mask = (a: Float32Array, b: Float32Array) => Array.from(pixproPositiveMask(a, b, 2, 2, 0.7));
  // Same box: a neighbouring cell is 1 bin away = 0.707 diagonals > 0.7, so each cell matches itself only.
  assert.deepEqual(mask(box(0, 0, 1, 1), box(0, 0, 1, 1)), [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]);
  // The same box mirrored: column c of one view is column 1 − c of the other.
  assert.deepEqual(mask(box(0, 0, 1, 1), box(0, 1, 1, 0)), [0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0]);
  // View A = the top-left quarter (cell centres 0.125, 0.375), view B = the whole image (0.25, 0.75); the
  // larger bin diagonal is B's, 0.707, so positives are closer than 0.495. Rows: A's cells; columns: B's.
  //   A(0,0) at (.125,.125): B(0,0) 0.177 ✓, others ≥ 0.637      A(0,1) at (.125,.375): B(0,0) 0.177 ✓, B(0,1) 0.395 ✓
  //   A(1,0) at (.375,.125): B(0,0) ✓, B(1,0) 0.395 ✓            A(1,1) at (.375,.375): B(0,0), B(0,1), B(1,0) ✓, B(1,1) 0.530 ✗
  const quarter = box(0, 0, 0.5, 0.5);
  assert.deepEqual(mask(quarter, box(0, 0, 1, 1)), [1, 0, 0, 0, 1, 1, 0, 0, 1, 0, 1, 0, 1, 1, 1, 0]);
  // B mirrored: its columns swap.
  assert.deepEqual(mask(quarter, box(0, 1, 1, 0)), [0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 0, 1, 1, 1, 0, 1]);
  // Disjoint crops share nothing.
  assert.deepEqual(mask(quarter, box(0.6, 0.6, 1, 1)), new Array<number>(16).fill(0));
  // Batched: each image uses its own boxes.
  assert.deepEqual(Array.from(pixproPositiveMask(Float32Array.from([0, 0, 1, 1, 0, 0, 1, 1]), Float32Array.from([0, 0, 1, 1, 0, 1, 1, 0]), 2, 2, 0.7)), [
    ...mask(box(0, 0, 1, 1), box(0, 0, 1, 1)),
    ...mask(box(0, 0, 1, 1), box(0, 1, 1, 0)),
  ]);
});

test('PixPro’s loss is −2·(mean cos over positive pairs); an image without positives adds 0', () => {
  const pred = tf.tensor3d([[[1, 0], [0, 1]], [[1, 0], [0, 1]]]); // [2 images, 2 cells, 2]
  const target = tf.tensor3d([[[2, 0], [1, 1]], [[0, 1], [1, 0]]]);
  const mask = tf.tensor3d([[[1, 0], [0, 1]], [[0, 0], [0, 0]]]);
  // Image 0: cos 1 and 1/√2, mean (1 + 0.7071)/2; image 1: no positives → 0.
  const expected = -2 * ((1 + Math.SQRT1_2) / 2 + 0) / 2;
  assert.ok(Math.abs(pixelConsistencyLoss(pred, target, mask).dataSync()[0] - expected) < 1e-5);
  tf.dispose([pred, target, mask]);
});

test('PixPro: no gradient into the momentum encoder, which follows the EMA with the cosine τ', () => {
  const shape: [number, number, number] = [12, 12, 1];
  const config = smallConfig('pixpro', { params: { momentum: 0.9 } });
  const method = create(config, shape);
  const { target } = (method as unknown as { internals: { target: MomentumCopy<unknown> } }).internals;
  const batch = { ...makeBatch(config, shape, 50), progress: 0.5 };
  const targetVars = [...target.params.vars.values()];
  for (const v of targetVars) v.trainable = true;
  const { value, grads } = tf.variableGrads(() => method.loss(batch), [...method.trainableVariables(), ...targetVars]);
  for (const v of targetVars) v.trainable = false;
  assert.equal(targetVars.filter((v) => grads[v.name]).length, 0, 'gradient reached the momentum encoder');
  assert.ok(method.trainableVariables().some((v) => grads[v.name]));
  tf.dispose([value, grads]);
  const before = target.pairs.map((p) => p.target.dataSync().slice());
  const opt = createOptimizer(config.optimizer, method.trainableVariables());
  step(method, opt, batch, 0.1);
  const tau = byolTau(0.9, 0.5);
  target.pairs.forEach(({ online, target: t }, i) => {
    const theta = online.dataSync();
    const expected = before[i].map((x, j) => tau * x + (1 - tau) * theta[j]);
    assert.ok(maxAbsDiff(t.dataSync(), expected) < 1e-5, `${t.name} did not follow the EMA`);
  });
  assert.ok(![...target.params.vars.keys()].some((n) => n.startsWith('ppm')), 'the propagation module has a momentum copy');
  opt.dispose();
  method.dispose();
  tf.dispose(batch.views);
});

test('PixPro + instance: the loss adds w·(−2·cos) of the pooled predictions and the momentum projections, both directions', () => {
  const shape: [number, number, number] = [12, 12, 1];
  const config = (w: number) => smallConfig('pixpro', { params: { instanceWeight: w } });
  const [one, three] = [create(config(1), shape), create(config(3), shape)];
  const batch = makeBatch(config(1), shape, 70);
  type Head = { apply(x: tf.Tensor2D, training: boolean): tf.Tensor2D };
  type Net = { encoder: { featureMap(x: tf.Tensor4D, training: boolean): tf.Tensor4D }; instanceProjector?: Head };
  const { online, target, predictor } = (one as unknown as { internals: { online: Net; target: MomentumCopy<Net>; predictor?: Head } }).internals;
  assert.ok(predictor && online.instanceProjector && target.net.instanceProjector, 'no instance branch with instanceWeight 1');
  // By hand: per-pixel heads on the feature map's cells, averaged per image, then cosines in plain numbers.
  const pooled = (net: Net, heads: Head[], x: tf.Tensor4D): number[][] =>
    tf.tidy(() => {
      const m = net.encoder.featureMap(x, true);
      const [b, h, w, d] = m.shape;
      let cells = tf.reshape(m, [b * h * w, d]) as tf.Tensor2D;
      for (const head of heads) cells = head.apply(cells, true);
      return tf.mean(tf.reshape(cells, [b, h * w, -1]), 1).arraySync() as number[][];
    });
  const cos = (a: number[], b: number[]) => {
    const dot = a.reduce((s, x, i) => s + x * b[i], 0);
    return dot / Math.hypot(...a) / Math.hypot(...b);
  };
  const meanCos = (p: number[][], z: number[][]) => p.reduce((s, row, i) => s + cos(row, z[i]), 0) / p.length;
  const [v1, v2] = batch.views;
  const p1 = pooled(online, [online.instanceProjector!, predictor!], v1);
  const p2 = pooled(online, [online.instanceProjector!, predictor!], v2);
  const z1 = pooled(target.net, [target.net.instanceProjector!], v1);
  const z2 = pooled(target.net, [target.net.instanceProjector!], v2);
  const instance = -2 * meanCos(p1, z2) - 2 * meanCos(p2, z1);
  const loss = (m: Method) => tf.tidy(() => m.loss(batch).dataSync()[0]);
  // Same seed, same initial weights: the two losses differ by (3 − 1)·instance.
  assert.ok(Math.abs(loss(three) - loss(one) - 2 * instance) < 1e-4, `${loss(three) - loss(one)} vs ${2 * instance}`);
  // The predictor is trained, the momentum instance projector gets no gradient and follows the EMA.
  const targetVars = [...target.params.vars.entries()].filter(([n]) => n.startsWith('instance.')).map(([, v]) => v);
  assert.ok(targetVars.length > 0, 'the instance projector has no momentum copy');
  assert.ok(![...target.params.vars.keys()].some((n) => n.startsWith('instance.predictor')), 'the predictor has a momentum copy');
  for (const v of targetVars) v.trainable = true;
  const { value, grads } = tf.variableGrads(() => one.loss(batch), [...one.trainableVariables(), ...targetVars]);
  for (const v of targetVars) v.trainable = false;
  assert.equal(targetVars.filter((v) => grads[v.name]).length, 0, 'gradient reached the momentum instance projector');
  const named = [...one.namedVariables().entries()];
  const gradOf = (prefix: string) => named.filter(([n]) => n.startsWith(prefix)).some(([, v]) => grads[v.name] && tf.tidy(() => tf.max(tf.abs(grads[v.name])).dataSync()[0]) > 0);
  assert.ok(gradOf('instance.predictor') && gradOf('instance.projector'), 'the instance heads are not trained');
  tf.dispose([value, grads]);
  assert.ok(target.pairs.some((p) => targetVars.includes(p.target)), 'the momentum instance projector is not EMA-updated');
  for (const m of [one, three]) m.dispose();
  tf.dispose(batch.views);
});

// ---------------------------------------------------------------- every new method

const STEP_SETUP: Record<(typeof NEW_METHODS)[number], { shape: [number, number, number]; params: Record<string, unknown> }> = {
  cpc: { shape: CPC_SHAPE, params: { ...CPC_GRID, maxOffset: 3, negatives: 64 } },
  cpcv2: { shape: CPC_SHAPE, params: { ...CPC_GRID, minOffset: 2, maxOffset: 3 } },
  dim: { shape: [12, 12, 1], params: { alpha: 1, units: 32 } },
  cmc: { shape: [12, 12, 1], params: { numViews: 3 } },
  pixpro: { shape: [12, 12, 1], params: {} },
};

const STEP_CASES: [string, (typeof NEW_METHODS)[number], { shape: [number, number, number]; params: Record<string, unknown> }][] = [
  ...NEW_METHODS.map((id) => [id, id, STEP_SETUP[id]] as [string, (typeof NEW_METHODS)[number], (typeof STEP_SETUP)[typeof id]]),
  ['pixpro + instance', 'pixpro', { shape: [12, 12, 1], params: { instanceWeight: 1 } }],
];

for (const [label, id, { shape, params }] of STEP_CASES) {
  test(`${label}: steps leak no tensors and the loss falls on a fixed batch`, () => {
    const config = smallConfig(id, { params, optimizer: { name: 'adam', lr: 0.01 } });
    const method = create(config, shape, 32);
    const opt = createOptimizer(config.optimizer, method.trainableVariables());
    const batch = makeBatch(config, shape, 60);
    const losses: number[] = [];
    let before = 0;
    for (let i = 0; i < 8; i++) {
      if (i === 2) before = tf.memory().numTensors;
      losses.push(step(method, opt, { ...batch, step: i, progress: i / 10 }, config.optimizer.lr));
    }
    assert.equal(tf.memory().numTensors, before, 'tensors leaked across steps');
    assert.ok(losses.every(Number.isFinite), `losses ${losses.join(', ')}`);
    const [first, last] = [losses[0], Math.min(...losses.slice(5))];
    assert.ok(last < first, `loss did not fall: ${losses.map((l) => l.toFixed(3)).join(', ')}`);
    // Evaluation: pooled features and projections of the right shapes, without leaks.
    const x = batch.views[0];
    const f = tf.tidy(() => method.encoder.features(x, false));
    const z = tf.tidy(() => method.projection(x));
    assert.equal(f.shape[1], method.encoder.featureDim);
    assert.equal(f.shape[0], B);
    assert.equal(z.shape[0], B);
    tf.dispose([f, z]);
    opt.dispose();
    method.dispose();
    tf.dispose(batch.views);
  });
}

// ---------------------------------------------------------------- configs

test('each new method resolves with its paper defaults and overrides', () => {
  const c = (method: string) => resolveConfig({ method, recipe: 'paper' }).config!;
  assert.deepEqual(c('cpc').params, { patchSize: 8, patchStride: 4, minOffset: 1, maxOffset: 5, negatives: 1024, contextBlocks: 5, patchNorm: 'none' });
  assert.deepEqual(c('cpcv2').params, { patchSize: 10, patchStride: 4, minOffset: 3, maxOffset: 4, negatives: 1024, contextBlocks: 5, directions: 'vertical', targetDim: 64, patchAugment: true });
  assert.deepEqual([c('cpc').augment.view1.cropMinScale, c('cpc').augment.view1.jitterProb], [0.73, 0]);
  assert.deepEqual(c('dim').params, { alpha: 0, beta: 1, gamma: 0.1, estimator: 'jsd', units: 256, yActivation: 'linear', generatorLoss: 'non-saturating' });
  assert.equal(c('dim').projector.out, 64);
  assert.deepEqual(c('cmc').params, { views: 'auto', numViews: 2, lowPassSigma: 1.5, objective: 'full-graph', contrast: 'softmax', temperature: 0.07, memoryMomentum: 0.5, noiseSamples: 16384, bankInit: 'random' });
  assert.deepEqual([c('cmc').optimizer.name, c('cmc').optimizer.lr], ['sgd', 0.03]);
  assert.deepEqual(c('pixpro').params, { positiveRadius: 0.7, sharpness: 2, momentum: 0.99, instanceWeight: 0 });
  assert.deepEqual([c('pixpro').augment.view1.cropMinScale, c('pixpro').augment.view2.solarizeProb], [0.08, 0.2]);
});

test('out-of-range and unknown parameters of the new methods are rejected with their path', () => {
  const bad: [string, Record<string, unknown>, string][] = [
    ['cpc', { patchSize: 1 }, 'params.patchSize'],
    ['cpc', { minOffset: 0 }, 'params.minOffset'],
    ['cpc', { negatives: -1 }, 'params.negatives'],
    ['cpcv2', { directions: 'diagonal' }, 'params.directions'],
    ['cpcv2', { patchAugment: 'yes' }, 'params.patchAugment'],
    ['dim', { estimator: 'dv' }, 'params.estimator'],
    ['dim', { gamma: -1 }, 'params.gamma'],
    ['cmc', { views: 'halves' }, 'params.views'],
    ['cmc', { numViews: 5 }, 'params.numViews'],
    ['cmc', { temperature: 0 }, 'params.temperature'],
    ['pixpro', { positiveRadius: 0 }, 'params.positiveRadius'],
    ['pixpro', { momentum: 1.5 }, 'params.momentum'],
    ['pixpro', { queueSize: 10 }, 'params.queueSize'],
    ['pixpro', { instanceWeight: -1 }, 'params.instanceWeight'],
  ];
  for (const [method, params, path] of bad) {
    const r = resolveConfig({ method, params });
    assert.equal(r.config, undefined, `${method} accepted ${JSON.stringify(params)}`);
    assert.deepEqual(
      r.problems.map((p) => p.path),
      [path],
    );
  }
});
