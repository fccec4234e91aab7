import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConfig } from '../src/core/config';
import { initBackend } from '../src/engine/backend';
import { Rng } from '../src/core/rng';
import { methodDefinition } from '../src/engine/methods';
import { methodOptimizer } from '../src/engine/optim';
import { saveResumeState } from '../src/engine/resume';
import { latestResumeState } from '../src/store/resume';
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

test('profileKernels given a recorded run starts from its resume state (weights as trained, not as initialised)', async () => {
  const config = resolveConfig({ method: 'simclr', batchSize: 8, encoder: { preset: 'tiny' } }).config!;
  const method = methodDefinition('simclr').create({ config, inputShape: [28, 28, 1], trainSize: 64, totalSteps: 10, rng: new Rng(0) });
  const optimizer = methodOptimizer(config.optimizer, method);
  // The first convolution's filter, every entry subnormal: a value no initialiser draws.
  const [name, filter] = [...method.namedVariables()].find(([, v]) => v.shape.join() === '3,3,1,16')!;
  filter.assign(tf.fill(filter.shape, 1e-39));
  const dbPath = join(mkdtempSync(join(tmpdir(), 'clab-profile-')), 'runs.db');
  await saveResumeState(dbPath, { runId: 3, point: { epoch: 1, step: 4, configHash: 'h' }, method, optimizer });
  optimizer.dispose();
  method.dispose();
  const stateDir = latestResumeState(dbPath, 3)!.dir;

  const lines: string[] = [];
  await profileKernels({ method: 'ignored', run: { config, stateDir }, steps: 1, trainSize: 64, subnormals: ['Conv2D'], report: (l) => lines.push(l) });
  const first = lines.find((l) => l.startsWith('Conv2D [[16,28,28,1],[3,3,1,16]]'));
  assert.match(first ?? lines.join('\n'), / subnormal inputs 0\/12544 144\/144,/, `${name} was not loaded`);
});
