import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/engine/backend';
import { countSubnormals, profileKernels } from '../scripts/profile-kernels';

before(async () => {
  await initBackend('wasm');
});

test('countSubnormals counts only non-zero floats below 2^-126', () => {
  assert.equal(countSubnormals(Float32Array.from([0, -0, 1e-40, -1e-39, 1.2e-38, 1, 2e-45])), 3);
});

test('profileKernels times the kernels of real steps, reports shapes and subnormals, and unwraps the kernels after', async () => {
  const before = new Map(tf.getKernelsForBackend('wasm').map((k) => [k.kernelName, k.kernelFunc]));
  const lines: string[] = [];
  const r = await profileKernels({ method: 'simclr', sets: ['encoder.preset=tiny'], steps: 1, batch: 8, trainSize: 64, shapes: ['Conv2D'], subnormals: ['BatchMatMul'], report: (l) => lines.push(l) });
  const conv = r.kernels.find((k) => k.kernel === 'Conv2D');
  assert.ok(conv && conv.calls > 0, 'no Conv2D timed');
  // The tiny encoder's three convolutions, forward, on the two views as one batch of 16.
  assert.equal(conv.calls, 3);
  assert.ok(lines.some((l) => l.startsWith('Conv2D [[16,28,28,1],[3,3,1,16]]')), lines.slice(0, 3).join('\n'));
  assert.ok(lines.some((l) => /^BatchMatMul .* subnormal inputs \d+\/\d+ \d+\/\d+/.test(l)));
  const kernelCpu = r.kernels.reduce((s, k) => s + k.cpuMs, 0);
  assert.ok(kernelCpu <= r.stepCpuMs + 1, `kernels ${kernelCpu} ms > step ${r.stepCpuMs} ms`);
  for (const k of tf.getKernelsForBackend('wasm')) assert.equal(k.kernelFunc, before.get(k.kernelName), `${k.kernelName} is still wrapped`);
});
