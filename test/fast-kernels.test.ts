import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels } from '../src/engine/wasm-kernels';
import { registerFastKernels } from '../src/engine/fast-kernels';
import { addBias, BatchNorm, LayerNorm, ParamSet } from '../src/engine/models/layers';
import { cpcOffsetLoss } from '../src/engine/losses/cpc';
import { dimJsdLoss } from '../src/engine/losses/dim';
import { softmaxCrossEntropy } from '../src/engine/losses/softmax';
import { flushSubnormals, MIN_NORMAL_F32, withFlushedGradient } from '../src/engine/losses/subnormal';

before(async () => {
  setWasmPaths(require.resolve('@tensorflow/tfjs-backend-wasm/package.json').replace('package.json', 'dist/'));
  registerWasmTrainingKernels();
  registerFastKernels();
  registerFastKernels(); // idempotent
  await tf.setBackend('wasm');
});

/** Runs `fn` on a backend and returns its results as plain arrays; tensors are made and freed inside. */
async function on(backend: 'cpu' | 'wasm', fn: () => tf.Tensor[]): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  try {
    return tf.tidy(fn).map((t) => {
      const v = t.dataSync() as Float32Array;
      t.dispose();
      return v;
    });
  } finally {
    await tf.setBackend('wasm');
  }
}

function values(shape: number[], seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 1073741824 - 1;
  });
}

/** max |a − b| relative to max |b|. */
function relErr(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let diff = 0;
  let scale = 1e-12;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

type Pad = 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;
type Shape4 = [number, number, number, number];

/** d(Σ conv2d(x, w) · r)/dx = Conv2DBackpropInput(r, w), on one backend. */
function inputGrad(xShape: Shape4, f: Shape4, stride: number | [number, number], pad: Pad) {
  return (): tf.Tensor[] => {
    const x = tf.tensor4d(values(xShape, 1), xShape);
    const w = tf.tensor4d(values(f, 2), f);
    const outShape = tf.conv2d(x, w, stride, pad).shape;
    const r = tf.tensor(values(outShape, 3), outShape);
    return [tf.grad((xx) => tf.sum(tf.mul(tf.conv2d(xx as tf.Tensor4D, w, stride, pad), r)))(x)];
  };
}

async function checkConv(xShape: Shape4, f: Shape4, stride: number | [number, number], pad: Pad): Promise<void> {
  const [want] = await on('cpu', inputGrad(xShape, f, stride, pad));
  const [got] = await on('wasm', inputGrad(xShape, f, stride, pad));
  const err = relErr(got, want);
  assert.ok(err < 1e-4, `x ${xShape} filter ${f} stride ${stride} pad ${JSON.stringify(pad)}: relative error ${err}`);
}

test('Conv2DBackpropInput on wasm matches the cpu backend: batch, channels, stride, odd/even sizes, same/valid', async () => {
  const channels: [number, number][] = [[1, 16], [3, 1], [8, 3], [16, 8]]; // [Cin, Cout], unequal to catch swapped axes
  for (const batch of [1, 3])
    for (const [cin, cout] of channels)
      for (const stride of [1, 2])
        for (const size of [28, 14, 7, 5])
          for (const pad of ['same', 'valid'] as const) await checkConv([batch, size, size, cin], [3, 3, cin, cout], stride, pad);
});

test('Conv2DBackpropInput on wasm: other filter sizes, strides and paddings', async () => {
  await checkConv([2, 7, 7, 4], [1, 1, 4, 6], 2, 'same'); // a ResNet shortcut: phases without taps
  await checkConv([2, 9, 8, 3], [5, 5, 3, 4], 2, 'same');
  await checkConv([1, 9, 9, 2], [5, 3, 2, 3], 3, 'valid');
  await checkConv([1, 10, 11, 2], [3, 3, 2, 3], [1, 2], 'same');
  await checkConv([2, 10, 10, 3], [3, 3, 3, 2], 1, 1);
  await checkConv([2, 10, 10, 3], [3, 3, 3, 2], 2, 2);
  await checkConv([1, 8, 8, 2], [3, 3, 2, 2], 2, [[0, 0], [4, 0], [1, 2], [0, 0]]); // padding larger than the filter
});

test('conv2dTranspose (the same kernel with a given output shape) matches the cpu backend', async () => {
  const run = () => [tf.conv2dTranspose(tf.tensor4d(values([2, 4, 4, 6], 4), [2, 4, 4, 6]), tf.tensor4d(values([3, 3, 5, 6], 5), [3, 3, 5, 6]), [2, 8, 8, 5], 2, 'same')];
  const [want] = await on('cpu', run);
  const [got] = await on('wasm', run);
  assert.ok(relErr(got, want) < 1e-4);
});

test('Conv2DBackpropInput on wasm frees its intermediates', () => {
  const x = tf.tensor4d(values([2, 14, 14, 8], 1), [2, 14, 14, 8]);
  const w = tf.tensor4d(values([3, 3, 8, 16], 2), [3, 3, 8, 16]);
  const g = tf.grad((xx) => tf.sum(tf.conv2d(xx as tf.Tensor4D, w, 2, 'same')));
  g(x).dispose(); // warm-up
  const tensors = tf.memory().numTensors;
  const data = tf.engine().backend.numDataIds();
  g(x).dispose();
  assert.equal(tf.memory().numTensors, tensors);
  assert.equal(tf.engine().backend.numDataIds(), data);
  tf.dispose([x, w]);
});

test('BatchMatMul on wasm with transposed operands and batches matches the cpu backend and frees its intermediates', async () => {
  const cases: [number[], number[], boolean, boolean][] = [
    [[40, 24], [40, 32], true, false],
    [[24, 40], [32, 40], false, true],
    [[40, 24], [32, 40], true, true],
    [[1, 40, 24], [1, 40, 32], true, false], // rank 3 with batch 1
    [[3, 24, 40], [3, 32, 40], false, true], // batched: one XNNPACK product per entry
    [[3, 24, 40], [3, 40, 32], false, false],
    [[2, 3, 40, 24], [2, 3, 40, 32], true, false], // two batch axes
    [[3, 40, 24], [3, 32, 40], true, true],
    [[3, 24, 40], [1, 40, 32], false, false], // broadcast batch: the original kernel
    [[3, 24, 40], [3, 40, 8], false, false], // a narrow product: the original kernel
    [[50, 8], [50, 1], true, false], // matrix-vector: the original kernel
  ];
  for (const [aShape, bShape, ta, tb] of cases) {
    const run = () => [tf.matMul(tf.tensor(values(aShape, 1), aShape), tf.tensor(values(bShape, 2), bShape), ta, tb)];
    const [want] = await on('cpu', run);
    const data = tf.engine().backend.numDataIds();
    const [got] = await on('wasm', run);
    assert.equal(tf.engine().backend.numDataIds(), data);
    assert.ok(relErr(got, want) < 1e-5, `${aShape} ${bShape} ${ta} ${tb}`);
  }
});

test('Identity on wasm shares data: a clone reads the same values and outlives its source', () => {
  const x = tf.tensor1d([1, 2, 3]);
  const y = tf.clone(x);
  x.dispose();
  assert.deepEqual(Array.from(y.dataSync()), [1, 2, 3]);
  y.dispose();
});

/** Off-centre, so the mean matters. */
function bnInput(shape: number[]): tf.Tensor {
  return tf.add(tf.mul(tf.tensor(values(shape, 8), shape), 3), 0.5);
}

/** dx, dγ, dβ of Σ BN(x) · r through tf.batchNorm + tf.moments, differentiated op by op by tfjs. */
function referenceBnGrads(shape: number[]) {
  return (): tf.Tensor[] => {
    const c = shape[shape.length - 1];
    const axes = shape.slice(0, -1).map((_, i) => i);
    const r = tf.tensor(values(shape, 7), shape);
    const f = (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => {
      const { mean, variance } = tf.moments(x, axes);
      return tf.sum(tf.mul(tf.batchNorm(x, mean, variance, beta, gamma, 1e-5), r));
    };
    return tf.grads(f)([bnInput(shape), tf.tensor1d(values([c], 9)), tf.tensor1d(values([c], 10))]);
  };
}

/** The same through BatchNorm's custom gradient: dx by tf.grad, dγ and dβ by tf.variableGrads on its variables. */
function bnGrads(shape: number[]) {
  return (): tf.Tensor[] => {
    const c = shape[shape.length - 1];
    const ps = new ParamSet(1);
    const bn = new BatchNorm(ps, 'bn', c);
    bn.gamma.assign(tf.tensor1d(values([c], 9)));
    bn.beta.assign(tf.tensor1d(values([c], 10)));
    const r = tf.tensor(values(shape, 7), shape);
    const x = bnInput(shape);
    const dx = tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(bn.apply(xx, true), r)))(x);
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(bn.apply(x, true), r)) as tf.Scalar, [bn.gamma, bn.beta]);
    const out = [dx, grads[bn.gamma.name], grads[bn.beta.name]].map((t) => tf.keep(t.clone()));
    tf.dispose([value, grads]);
    ps.dispose();
    return out;
  };
}

test('BatchNorm custom gradient equals differentiating tf.batchNorm + tf.moments (4-D and 2-D, cpu and wasm)', async () => {
  for (const shape of [[4, 5, 6, 3], [3, 7, 7, 8], [16, 10]]) {
    const want = await on('cpu', referenceBnGrads(shape));
    for (const backend of ['cpu', 'wasm'] as const) {
      const got = await on(backend, bnGrads(shape));
      ['dx', 'dgamma', 'dbeta'].forEach((name, i) => {
        const err = relErr(got[i], want[i]);
        assert.ok(err < 1e-4, `${backend} ${shape} ${name}: relative error ${err}`);
      });
    }
  }
});

/** dx, dγ, dβ of Σ LN(x)·r: the layer's own gradient, or (reference) tf.moments and broadcasting ops differentiated op by op. */
function lnGrads(shape: number[], reference: boolean) {
  return (): tf.Tensor[] => {
    const c = shape[shape.length - 1];
    const r = tf.tensor(values(shape, 7), shape);
    const ps = new ParamSet(1);
    const ln = new LayerNorm(ps, 'ln', c);
    const f = (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => {
      if (!reference) return tf.sum(tf.mul(ln.apply(x), r));
      const { mean, variance } = tf.moments(x, shape.slice(1).map((_, i) => i + 1), true);
      return tf.sum(tf.mul(tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5))), gamma), beta), r));
    };
    const gamma = tf.tensor1d(values([c], 9));
    const beta = tf.tensor1d(values([c], 10));
    ln.gamma.assign(gamma);
    ln.beta.assign(beta);
    const x = bnInput(shape);
    const out = reference
      ? tf.grads(f)([x, gamma, beta])
      : (() => {
          const dx = tf.grad((xx: tf.Tensor) => f(xx, gamma, beta))(x);
          const { value, grads } = tf.variableGrads(() => f(x, gamma, beta) as tf.Scalar, [ln.gamma, ln.beta]);
          const kept = [dx, grads[ln.gamma.name], grads[ln.beta.name]].map((t) => tf.keep(t.clone()));
          tf.dispose([value, grads]);
          return kept;
        })();
    ps.dispose();
    return out;
  };
}

test('LayerNorm custom gradient equals differentiating its formula op by op (4-D and 2-D, cpu and wasm)', async () => {
  for (const shape of [[4, 5, 6, 3], [3, 7, 7, 8], [16, 10]]) {
    const want = await on('cpu', lnGrads(shape, true));
    for (const backend of ['cpu', 'wasm'] as const) {
      const got = await on(backend, lnGrads(shape, false));
      ['dx', 'dgamma', 'dbeta'].forEach((name, i) => {
        const err = relErr(got[i], want[i]);
        assert.ok(err < 1e-4, `${backend} ${shape} ${name}: relative error ${err}`);
      });
    }
  }
});

test('addBias: value and gradients equal tf.add with broadcasting (cpu and wasm)', async () => {
  const shape = [3, 4, 5, 6];
  const run = (custom: boolean) => (): tf.Tensor[] => {
    const x = tf.tensor(values(shape, 3), shape);
    const b = tf.tensor1d(values([6], 4));
    const r = tf.tensor(values(shape, 5), shape);
    const f = (xx: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(custom ? addBias(xx, bb as tf.Tensor1D) : tf.add(xx, bb), r));
    return [custom ? addBias(x, b) : tf.add(x, b), ...tf.grads(f)([x, b])];
  };
  const want = await on('cpu', run(false));
  for (const backend of ['cpu', 'wasm'] as const) {
    const got = await on(backend, run(true));
    ['value', 'dx', 'db'].forEach((name, i) => assert.ok(relErr(got[i], want[i]) < 1e-5, `${backend} ${name}: relative error ${relErr(got[i], want[i])}`));
  }
});

test('BatchNorm training forward normalises with batch statistics and updates the running ones', () => {
  const ps = new ParamSet(1);
  const bn = new BatchNorm(ps, 'bn', 2);
  const x = tf.tensor2d([1, 10, 3, 20, 5, 60], [3, 2]);
  const y = bn.apply(x, true);
  const { mean, variance } = tf.moments(x, 0);
  const want = tf.batchNorm(x, mean, variance, bn.beta, bn.gamma, 1e-5);
  assert.ok(relErr(y.dataSync() as Float32Array, want.dataSync() as Float32Array) < 1e-5);
  // momentum 0.1, unbiased variance (n/(n−1)) in the running estimate, as PyTorch
  const m = mean.dataSync();
  const v = variance.dataSync();
  assert.ok(relErr(bn.runningMean.dataSync() as Float32Array, Float32Array.from(m, (a) => 0.1 * a)) < 1e-5);
  assert.ok(relErr(bn.runningVar.dataSync() as Float32Array, Float32Array.from(v, (a) => 0.9 + (0.1 * a * 3) / 2)) < 1e-5);
  tf.dispose([x, y, mean, variance, want]);
  ps.dispose();
});

test('BatchNorm training step leaks no tensors', () => {
  const ps = new ParamSet(1);
  const bn = new BatchNorm(ps, 'bn', 4);
  const x = tf.tensor4d(values([2, 3, 3, 4], 1), [2, 3, 3, 4]);
  const step = () => {
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(bn.apply(x, true))) as tf.Scalar, [bn.gamma, bn.beta]);
    tf.dispose([value, grads]);
  };
  step();
  const tensors = tf.memory().numTensors;
  const data = tf.engine().backend.numDataIds();
  step();
  tf.tidy(() => {
    bn.apply(x, true); // forward only: nothing saved for a backward pass
  });
  assert.equal(tf.memory().numTensors, tensors);
  assert.equal(tf.engine().backend.numDataIds(), data);
  x.dispose();
  ps.dispose();
});

const subnormals = (v: Float32Array) => v.filter((x) => x !== 0 && Math.abs(x) < MIN_NORMAL_F32).length;

test('flushSubnormals zeroes only subnormal entries; withFlushedGradient is the identity with a flushed gradient (cpu and wasm)', async () => {
  const input = [1e-40, -3e-39, 1e-37, 0, 1, -3, 2e-45];
  const stored = Float32Array.from(input);
  assert.equal(subnormals(stored), 3, 'the fixture lost its subnormals');
  for (const backend of ['cpu', 'wasm'] as const) {
    const [flushed, value, grad] = await on(backend, () => {
      const x = tf.tensor1d(stored);
      const r = tf.tensor1d(Float32Array.from(input).reverse());
      return [flushSubnormals(x), withFlushedGradient(x), tf.grad((t: tf.Tensor) => tf.sum(tf.mul(withFlushedGradient(t), r)))(x)];
    });
    assert.deepEqual(Array.from(flushed), [0, 0, stored[2], 0, 1, -3, 0], `${backend}: flushed`);
    assert.deepEqual(Array.from(value), Array.from(stored), `${backend}: the value changed`);
    assert.equal(subnormals(grad), 0, `${backend}: the gradient kept subnormals`);
    assert.deepEqual(Array.from(grad), Array.from(Float32Array.from(input).reverse()).map((x) => (Math.abs(x) < MIN_NORMAL_F32 ? 0 : x)), `${backend}: gradient`);
  }
});

test('DIM JSD gradient: scores far below zero give subnormals op by op, none through the loss', () => {
  // Negatives (a ≠ b) at −85: sigmoid(−85)·1/(N(N−1)P) ≈ 1.2e-37 · 0.028 ≈ 3e-39, the underflow seen in real DIM steps.
  const n = 4;
  const p = 3;
  const values = Float32Array.from({ length: n * n * p }, (_, i) => (Math.floor(i / p) % (n + 1) === 0 ? 2 : -85));
  const scores = tf.tensor3d(values, [n, n, p]);
  const opByOp = (s: tf.Tensor) => {
    const same = tf.reshape(tf.eye(n), [n, n, 1]);
    const ePos = tf.div(tf.sum(tf.mul(same, tf.sub(Math.LN2, tf.softplus(tf.neg(s))))), n * p);
    const eNeg = tf.div(tf.sum(tf.mul(tf.sub(1, same), tf.sub(tf.softplus(s), Math.LN2))), n * (n - 1) * p);
    return tf.sub(eNeg, ePos) as tf.Scalar;
  };
  const raw = tf.grad(opByOp)(scores);
  const flushed = tf.grad((s: tf.Tensor) => dimJsdLoss(s as tf.Tensor3D))(scores);
  assert.ok(subnormals(raw.dataSync() as Float32Array) > 0, 'the reference produced no subnormals: the test would prove nothing');
  assert.equal(subnormals(flushed.dataSync() as Float32Array), 0);
  assert.ok(Math.abs(opByOp(scores).dataSync()[0] - dimJsdLoss(scores).dataSync()[0]) < 1e-6, 'the loss value changed');
  tf.dispose([scores, raw, flushed]);
});

test('CPC’s InfoNCE: no subnormal of its score gradient reaches the products behind it, and the loss is unchanged', () => {
  // One prediction (B 1, R 2, C 1, d 1, k 1) scoring its positive 2 and its negative −88: softmax(−90) ≈ 8e-40.
  const preds = tf.tensor4d([1], [1, 1, 1, 1]);
  const targets = tf.tensor4d([-88, 2], [1, 2, 1, 1]);
  const seen: number[] = [];
  const kernel = tf.getKernel('BatchMatMul', tf.getBackend())! as { kernelFunc: tf.KernelFunc };
  const inner = kernel.kernelFunc;
  kernel.kernelFunc = (args) => {
    for (const t of Object.values(args.inputs)) seen.push(subnormals(tf.engine().backend.readSync(t!.dataId) as Float32Array));
    return inner(args);
  };
  try {
    const reference = (p: tf.Tensor, z: tf.Tensor) => softmaxCrossEntropy(tf.matMul(tf.reshape(p, [-1, 1]), tf.reshape(z, [-1, 1]), false, true), Int32Array.from([1]));
    const [refLoss, refGrads] = [reference(preds, targets), tf.grads(reference)([preds, targets])];
    assert.ok(seen.some((c) => c > 0), 'the reference produced no subnormals: the test would prove nothing');
    // Every target as candidate (CPC v2), and sampled negatives (CPC's default): target row 0 only.
    for (const negatives of [undefined, Int32Array.from([0])]) {
      seen.length = 0;
      const loss = (p: tf.Tensor, z: tf.Tensor) => cpcOffsetLoss(p as tf.Tensor4D, z as tf.Tensor4D, 1, negatives);
      const grads = tf.grads(loss)([preds, targets]);
      assert.ok(seen.length > 0, 'no product ran');
      assert.deepEqual(seen, seen.map(() => 0), `subnormal inputs of the products (negatives ${negatives ? 'sampled' : 'all'})`);
      assert.equal(loss(preds, targets).dataSync()[0], refLoss.dataSync()[0]);
      grads.forEach((g, i) => assert.ok(Math.abs(tf.sum(g).dataSync()[0] - tf.sum(refGrads[i]).dataSync()[0]) < 1e-30, `gradient ${i}`));
    }
  } finally {
    kernel.kernelFunc = inner;
  }
});
