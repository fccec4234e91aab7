import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, type BackendInfo } from '../src/engine/backend';
import { FILTER_GRAD_CHUNK_FLOATS, registerWasmTrainingKernels } from '../src/engine/wasm-kernels';

const FIXTURES = path.join(__dirname, 'fixtures');
const CHILD = path.join(FIXTURES, 'fake-tfjs-node', 'select-backend.ts');
const ourRequire = createRequire(__filename);

type Shape4 = [number, number, number, number];

/** Deterministic values in [-1, 1), so a failure reproduces. */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, rtol = 1e-4): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let scale = 1e-6;
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]));
    worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  }
  assert.ok(worst <= rtol * scale, `${what}: max |wasm − cpu| = ${worst} > ${rtol} × ${scale}`);
}

/** Runs f on the named backend and returns the result's values, checking that no buffer is left behind. */
async function on(backend: 'cpu' | 'wasm', f: () => tf.Tensor): Promise<Float32Array> {
  assert.ok(await tf.setBackend(backend));
  const buffers = tf.engine().backend.numDataIds();
  const result = tf.tidy(f);
  const data = (await result.data()) as Float32Array;
  result.dispose();
  assert.equal(tf.engine().backend.numDataIds(), buffers, `${backend} buffers leaked`);
  return data;
}

interface ConvCase {
  x: Shape4;
  filter: Shape4;
  stride: 1 | 2;
  pad: 'same' | 'valid' | number;
}

// Batch 1/4, channels 1/3/8, stride 1/2, 'same'/'valid'/numeric pads, odd and even sizes and filters.
const CONV_CASES: ConvCase[] = [
  { x: [1, 28, 28, 1], filter: [3, 3, 1, 8], stride: 1, pad: 'same' },
  { x: [4, 28, 28, 3], filter: [3, 3, 3, 8], stride: 2, pad: 'same' },
  { x: [4, 28, 28, 8], filter: [3, 3, 8, 3], stride: 2, pad: 'valid' },
  { x: [4, 7, 7, 8], filter: [3, 3, 8, 3], stride: 2, pad: 'valid' },
  { x: [1, 7, 7, 3], filter: [3, 3, 3, 1], stride: 1, pad: 'valid' },
  { x: [4, 8, 8, 3], filter: [3, 3, 3, 8], stride: 2, pad: 'valid' }, // last input row never read
  { x: [1, 7, 7, 3], filter: [2, 2, 3, 8], stride: 2, pad: 'same' }, // even filter, odd input
  { x: [4, 8, 6, 1], filter: [4, 3, 1, 3], stride: 2, pad: 'same' }, // non-square
  { x: [4, 7, 7, 3], filter: [5, 5, 3, 8], stride: 1, pad: 1 },
];

test('wasm gets both gradients of conv2d right, as the cpu backend computes them', async () => {
  await initBackend('wasm');
  for (const c of CONV_CASES) {
    const [xv, wv] = [values(tf.util.sizeFromShape(c.x), 1), values(tf.util.sizeFromShape(c.filter), 2)];
    // A weighted sum, so that dy is not all ones.
    const grads = (which: 0 | 1) => () => {
      const loss = (x: tf.Tensor, f: tf.Tensor) => {
        const y = tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, c.stride, c.pad);
        return tf.sum(tf.mul(y, tf.tensor(values(y.size, 3), y.shape)));
      };
      return tf.grads(loss)([tf.tensor4d(xv, c.x), tf.tensor4d(wv, c.filter)])[which];
    };
    assertClose(await on('wasm', grads(0)), await on('cpu', grads(0)), `input gradient ${JSON.stringify(c)}`);
    assertClose(await on('wasm', grads(1)), await on('cpu', grads(1)), `filter gradient ${JSON.stringify(c)}`);
  }
});

test('the wasm conv gradient kernels handle explicit paddings and NCHW like the cpu kernels', async () => {
  await initBackend('wasm');
  const cases = [
    { x: [2, 9, 9, 3], dy: [2, 4, 4, 4], filter: [3, 3, 3, 4], strides: [2, 2], pad: [[0, 0], [1, 0], [0, 0], [0, 0]], dataFormat: 'NHWC' },
    { x: [2, 7, 7, 4], dy: [2, 3, 3, 6], filter: [3, 3, 4, 6], strides: [2, 2], pad: 0, dataFormat: 'NHWC' },
    { x: [2, 7, 7, 4], dy: [2, 5, 5, 6], filter: [3, 3, 4, 6], strides: [2, 2], pad: 3, dataFormat: 'NHWC' }, // pad > filter
    { x: [2, 8, 8, 4], dy: [2, 4, 4, 6], filter: [1, 1, 4, 6], strides: [2, 2], pad: 'same', dataFormat: 'NHWC' }, // taps miss odd rows
    { x: [2, 3, 8, 8], dy: [2, 4, 4, 4], filter: [3, 3, 3, 4], strides: [2, 2], pad: 'same', dataFormat: 'NCHW' },
    { x: [1, 2, 7, 7], dy: [1, 5, 5, 5], filter: [3, 3, 2, 5], strides: [1, 1], pad: 'valid', dataFormat: 'NCHW' },
  ];
  for (const { x, dy, filter, ...attrs } of cases) {
    const [xv, dyv, wv] = [values(tf.util.sizeFromShape(x), 4), values(tf.util.sizeFromShape(dy), 5), values(tf.util.sizeFromShape(filter), 6)];
    const filterGrad = () => tf.engine().runKernel('Conv2DBackpropFilter', { x: tf.tensor(xv, x), dy: tf.tensor(dyv, dy) }, { ...attrs, filterShape: filter } as unknown as tf.NamedAttrMap) as tf.Tensor;
    const inputGrad = () => tf.engine().runKernel('Conv2DBackpropInput', { dy: tf.tensor(dyv, dy), filter: tf.tensor(wv, filter) }, { ...attrs, inputShape: x } as unknown as tf.NamedAttrMap) as tf.Tensor;
    assertClose(await on('wasm', filterGrad), await on('cpu', filterGrad), `Conv2DBackpropFilter ${JSON.stringify(attrs)}`);
    assertClose(await on('wasm', inputGrad), await on('cpu', inputGrad), `Conv2DBackpropInput ${JSON.stringify(attrs)}`);
  }
});

test('the filter gradient summed over many image chunks (and a short last one) matches cpu', async () => {
  await initBackend('wasm');
  const chunk = FILTER_GRAD_CHUNK_FLOATS.value;
  // dy of one image is 7·7·5 = 245 floats (or 4·4·5 = 80): 300 floats gives chunks of 1 and 3 images.
  try {
    for (const floats of [300, 250]) {
      FILTER_GRAD_CHUNK_FLOATS.value = floats;
      for (const c of [
        { x: [5, 7, 7, 3], filter: [3, 3, 3, 5], stride: 1, pad: 'same' },
        { x: [7, 8, 8, 1], filter: [3, 3, 1, 5], stride: 2, pad: 'same' },
        { x: [5, 9, 9, 2], filter: [3, 3, 2, 5], stride: 2, pad: 'valid' },
      ] as ConvCase[]) {
        const dyShape = tf.conv2d(tf.zeros(c.x) as tf.Tensor4D, tf.zeros(c.filter) as tf.Tensor4D, c.stride, c.pad).shape;
        const [xv, dyv] = [values(tf.util.sizeFromShape(c.x), 11), values(tf.util.sizeFromShape(dyShape), 12)];
        const filterGrad = () => tf.engine().runKernel('Conv2DBackpropFilter', { x: tf.tensor(xv, c.x), dy: tf.tensor(dyv, dyShape) }, { strides: [c.stride, c.stride], pad: c.pad, dataFormat: 'NHWC', filterShape: c.filter } as unknown as tf.NamedAttrMap) as tf.Tensor;
        assertClose(await on('wasm', filterGrad), await on('cpu', filterGrad), `chunked Conv2DBackpropFilter ${floats} ${JSON.stringify(c)}`);
      }
    }
  } finally {
    FILTER_GRAD_CHUNK_FLOATS.value = chunk;
  }
});

test('conv gradients on wasm leave no tensor and no wasm buffer behind', async () => {
  await initBackend('wasm');
  const x = tf.tensor4d(values(4 * 28 * 28 * 3, 6), [4, 28, 28, 3]);
  const w = tf.tensor4d(values(3 * 3 * 3 * 8, 7), [3, 3, 3, 8]);
  const step = () => tf.dispose(tf.grads((x: tf.Tensor, f: tf.Tensor) => tf.sum(tf.square(tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, 2, 'same'))))([x, w]));
  step(); // first use may set up caches
  const tensors = tf.memory().numTensors;
  const buffers = tf.engine().backend.numDataIds();
  for (let i = 0; i < 3; i++) step();
  assert.equal(tf.memory().numTensors, tensors, 'tensors leaked');
  assert.equal(tf.engine().backend.numDataIds(), buffers, 'wasm buffers leaked (intermediates inside a kernel)');
  tf.dispose([x, w]);
});

test('gather, depthwise conv, einsum and comparisons train on wasm and match cpu', async () => {
  await initBackend('wasm');
  const cases: Record<string, () => tf.Tensor> = {
    // gather's gradient is UnsortedSegmentSum; repeated rows must add up
    gather: () => tf.grad((m) => tf.sum(tf.mul(tf.gather(m, tf.tensor1d([0, 3, 3, 1], 'int32')), tf.tensor(values(12, 8), [4, 3]))))(tf.tensor(values(15, 9), [5, 3])),
    segmentSumDropsOutOfRange: () => tf.unsortedSegmentSum(tf.tensor(values(12, 10), [4, 3]), tf.tensor1d([2, -1, 2, 7], 'int32'), 3),
    depthwiseFilter: () => tf.grad((f) => tf.sum(tf.square(tf.depthwiseConv2d(tf.tensor4d(values(2 * 7 * 7 * 3, 11), [2, 7, 7, 3]), f as tf.Tensor4D, 2, 'same'))))(tf.tensor(values(27 * 2, 12), [3, 3, 3, 2])),
    depthwiseInput: () => tf.grad((x) => tf.sum(tf.square(tf.depthwiseConv2d(x as tf.Tensor4D, tf.tensor4d(values(27, 13), [3, 3, 3, 1]), 1, 'same'))))(tf.tensor(values(2 * 6 * 6 * 3, 14), [2, 6, 6, 3])),
    einsum: () => tf.einsum('nc,kc->nk', tf.tensor(values(8, 15), [2, 4]), tf.tensor(values(12, 16), [3, 4])),
    whereGreater: () => tf.grad((x) => tf.sum(tf.where(tf.greater(x, 0), x, tf.mul(x, 0.1))))(tf.tensor(values(10, 17))),
  };
  for (const [name, f] of Object.entries(cases)) assertClose(await on('wasm', f), await on('cpu', f), name);
});

test("cropAndResize on wasm cuts a top-row box of the crop's own size where cpu does (CPC's patch grid)", async () => {
  await initBackend('wasm');
  const pixels = values(2 * 28 * 28, 18);
  // Exact-size boxes [y1, x1, y2, x2] / 27: top row at x = 0, 10, 20 (wasm's own kernel returned x = 0 for
  // all three), a lower row, and a resampled and a flipped box on the same batch.
  const boxes = [[0, 0, 7, 7], [0, 10, 7, 17], [0, 20, 7, 27], [10, 10, 17, 17], [0.5, 3, 9, 14], [0, 17, 7, 10]].flatMap((b) => b.map((v) => v / 27));
  const crop = (withTopRow: boolean) => () => {
    const bx = withTopRow ? boxes : boxes.slice(12, 20);
    return tf.image.cropAndResize(tf.tensor4d(pixels, [2, 28, 28, 1]), tf.tensor2d(bx, [bx.length / 4, 4]), tf.tensor1d(withTopRow ? [0, 0, 1, 1, 0, 1] : [1, 0], 'int32'), [8, 8], 'bilinear');
  };
  assertClose(await on('wasm', crop(true)), await on('cpu', crop(true)), 'boxes with a top edge at 0');
  assertClose(await on('wasm', crop(false)), await on('cpu', crop(false)), 'boxes below the top (wasm kernel)');
});

test('forcing wasm or cpu reports the device, and the kernels training needs are there', async () => {
  const wasm = await initBackend('wasm');
  assert.equal(wasm.backend, 'wasm');
  assert.match(wasm.device, /^CPU \(wasm, (SIMD|no SIMD), \d+ threads?\)$/);
  assert.equal(wasm.tfjsVersion, tf.version_core);
  assert.deepEqual(wasm.tried, [{ name: 'wasm' }]);
  assert.equal(tf.getBackend(), 'wasm');
  assert.ok(tf.getKernel('Conv2DBackpropFilter', 'wasm'));
  assert.deepEqual(registerWasmTrainingKernels(), [], 'registering again changes nothing');
  const cpu = await initBackend('cpu');
  assert.deepEqual([cpu.backend, cpu.device, tf.getBackend()], ['cpu', 'CPU (pure JS)', 'cpu']);
  await tf.setBackend('wasm');
});

test('forcing a native backend that is not installed names it and says how to install it', async () => {
  const hidden = (id: string): never => {
    throw Object.assign(new Error(`Cannot find module '${id}'`), { code: 'MODULE_NOT_FOUND' });
  };
  await assert.rejects(
    initBackend('tfjs-node-gpu', { requireFn: hidden, extraModuleDirs: [path.join(FIXTURES, 'nowhere')] }),
    /backend tfjs-node-gpu is not available: Cannot find module '@tensorflow\/tfjs-node-gpu' \(looked in node_modules, .*nowhere\) — run 'Contrastive Lab: Enable GPU Training'/,
  );
});

// Native backends register globally and cannot be unloaded: each scenario runs in a fresh process.
interface ChildResult {
  ok: boolean;
  error?: string;
  info?: BackendInfo;
  engineBackend?: string;
  matmul?: number[];
  coreFiles?: string[];
}

function selectInChild(choice: string, extraModuleDirs: string[]): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = fork(CHILD, [JSON.stringify({ choice, extraModuleDirs })], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    let stderr = '';
    let result: ChildResult | undefined;
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('message', (m) => {
      result = m as ChildResult;
      child.kill();
    });
    child.on('exit', (code) => (result ? resolve(result) : reject(new Error(`backend child exited with ${code}: ${stderr}`))));
  });
}

const fixture = (name: string) => path.join(FIXTURES, name);

test('auto picks tfjs-node from an extension-installed directory, and it computes', async () => {
  const r = await selectInChild('auto', [fixture('fake-tfjs-node')]);
  assert.ok(r.ok, r.error);
  assert.equal(r.info!.backend, 'tfjs-node');
  assert.equal(r.info!.device, 'CPU (libtensorflow)');
  assert.equal(r.info!.tried[0].name, 'tfjs-node-gpu');
  assert.match(r.info!.tried[0].error!, /Cannot find module '@tensorflow\/tfjs-node-gpu'/);
  assert.equal(r.info!.tried[1].name, 'webgpu');
  assert.match(r.info!.tried[1].error!, /Cannot find module 'webgpu'/);
  assert.deepEqual(r.info!.tried[2], { name: 'tfjs-node' });
  assert.equal(r.engineBackend, 'tensorflow');
  assert.deepEqual(r.matmul, [17, 39]);
});

test('auto prefers tfjs-node-gpu and reports a GPU device', async () => {
  const r = await selectInChild('auto', [fixture('fake-tfjs-node'), fixture('fake-tfjs-node-gpu')]);
  assert.ok(r.ok, r.error);
  assert.equal(r.info!.backend, 'tfjs-node-gpu');
  assert.match(r.info!.device, /^GPU/);
  assert.deepEqual(r.info!.tried, [{ name: 'tfjs-node-gpu' }]);
});

test('a tfjs-node whose native library is missing makes auto fall back to wasm, and says why', async () => {
  const r = await selectInChild('auto', [fixture('fake-tfjs-node-broken')]);
  assert.ok(r.ok, r.error);
  assert.equal(r.info!.backend, 'wasm');
  assert.equal(r.engineBackend, 'wasm');
  assert.deepEqual(r.matmul, [17, 39]);
  const node = r.info!.tried.find((t) => t.name === 'tfjs-node')!;
  assert.match(node.error!, /@tensorflow\/tfjs-node failed to load: .*fake-tfjs-node-broken: libtensorflow\.so\.2: cannot open shared object file/);
});

test('forcing a tfjs-node that cannot load throws the loader error with the install hint', async () => {
  const r = await selectInChild('tfjs-node', [fixture('fake-tfjs-node-broken')]);
  assert.equal(r.ok, false);
  assert.match(r.error!, /^backend tfjs-node is not available: .*libtensorflow\.so\.2.* — npm install @tensorflow\/tfjs-node@/);
});

test('a broken copy does not hide a working one in a later directory', async () => {
  const r = await selectInChild('tfjs-node', [fixture('fake-tfjs-node-broken'), fixture('fake-tfjs-node')]);
  assert.ok(r.ok, r.error);
  assert.equal(r.info!.backend, 'tfjs-node');
  assert.deepEqual(r.matmul, [17, 39]);
});

/**
 * A directory as the extension's installer leaves it: the native package next to its own copy of
 * tfjs-core (here a copy of ours, relabelled `version`). Its other dependencies link to ours.
 */
function packageWithOwnCore(version: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'clab-own-core-'));
  const nm = path.join(dir, 'node_modules');
  cpSync(path.join(fixture('fake-tfjs-node'), 'node_modules/@tensorflow/tfjs-node'), path.join(nm, '@tensorflow/tfjs-node'), { recursive: true });
  const ourCore = path.dirname(ourRequire.resolve('@tensorflow/tfjs-core/package.json'));
  const core = path.join(nm, '@tensorflow/tfjs-core');
  mkdirSync(path.join(core, 'dist'), { recursive: true });
  cpSync(path.join(ourCore, 'dist/tf-core.node.js'), path.join(core, 'dist/tf-core.node.js'));
  const pkg = JSON.parse(readFileSync(path.join(ourCore, 'package.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(path.join(core, 'package.json'), JSON.stringify({ ...pkg, version }));
  for (const dep of ['seedrandom', '@tensorflow/tfjs-backend-cpu']) {
    symlinkSync(path.dirname(ourRequire.resolve(`${dep}/package.json`)), path.join(nm, dep), 'dir');
  }
  return dir;
}

test('a native package with its own copy of tfjs-core registers into our engine', async () => {
  const dir = packageWithOwnCore(tf.version_core);
  try {
    const r = await selectInChild('tfjs-node', [dir]);
    assert.ok(r.ok, r.error);
    assert.equal(r.engineBackend, 'tensorflow');
    assert.deepEqual(r.matmul, [17, 39]);
    assert.equal(r.coreFiles!.length, 2, `two tfjs-core copies were loaded: ${r.coreFiles!.join(', ')}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a native package built on another tfjs-core version is refused before it loads', async () => {
  const dir = packageWithOwnCore('4.9.0');
  try {
    const r = await selectInChild('auto', [dir]);
    assert.ok(r.ok, r.error);
    assert.equal(r.info!.backend, 'wasm');
    const node = r.info!.tried.find((t) => t.name === 'tfjs-node')!;
    assert.match(node.error!, new RegExp(`uses @tensorflow/tfjs-core 4\\.9\\.0, but this build uses ${tf.version_core.replace(/\./g, '\\.')}`));
    assert.equal(r.coreFiles!.length, 1, 'the refused package was not loaded');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
