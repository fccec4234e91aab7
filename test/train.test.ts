import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConfig } from '../src/core/config';
import type { WorkerEvent } from '../src/core/events';
import { initBackend } from '../src/engine/backend';
import { METHODS } from '../src/engine/methods';
import { simclr } from '../src/engine/methods/simclr';
import { runTraining } from '../src/engine/train';
import { RunStore } from '../src/store/store';

const tmp = mkdtempSync(join(tmpdir(), 'clab-train-'));
const tiny = { method: 'simclr', epochs: 2, batchSize: 32, trainLimit: 128, encoder: { preset: 'tiny' }, projector: { hidden: 32, out: 16 }, eval: { linearProbe: false } };

before(async () => {
  await initBackend('wasm');
});

test('a loss that becomes NaN stops the run as failed with a clear reason, keeping earlier steps', async () => {
  // A SimCLR whose loss turns NaN at step 3, registered under a test-only id.
  METHODS['nan-at-3'] = {
    info: simclr.info,
    create(ctx) {
      const inner = simclr.create(ctx);
      return Object.assign(Object.create(inner) as typeof inner, {
        loss: (b: Parameters<typeof inner.loss>[0]) => (b.step === 3 ? tf.mul(inner.loss(b), NaN) : inner.loss(b)),
        trainableVariables: () => inner.trainableVariables(),
      });
    },
  };
  const config = { ...resolveConfig(tiny).config!, method: 'nan-at-3' };
  const dbPath = join(tmp, 'nan.db');
  const store = await RunStore.open(dbPath);
  const runId = await store.createRun(config, { status: 'running' });
  const events: WorkerEvent[] = [];
  const outcome = await runTraining(config, { store, dbPath, runId, emit: (e) => events.push(e), cancel: { requested: false } });
  assert.equal(outcome.status, 'failed');
  const run = (await store.getRun(runId))!;
  assert.equal(run.status, 'failed');
  assert.match(run.error!, /loss became NaN at epoch 1, step 3/);
  assert.equal((await store.getMetrics(runId, { name: 'loss' })).length, 3);
  assert.ok(events.some((e) => e.type === 'failed'));
  delete METHODS['nan-at-3'];
  await store.close();
});

test('training does not grow the tensor count across epochs, and a seed reproduces the losses', async () => {
  const config = resolveConfig(tiny).config!;
  const losses: number[][] = [];
  for (let r = 0; r < 2; r++) {
    const dbPath = join(tmp, `repro-${r}.db`);
    const store = await RunStore.open(dbPath);
    const runId = await store.createRun(config, { status: 'running' });
    const before = tf.memory().numTensors;
    const outcome = await runTraining(config, { store, dbPath, runId, emit: () => undefined, cancel: { requested: false } });
    assert.equal(outcome.status, 'completed', 'error' in outcome ? outcome.error : '');
    assert.equal(tf.memory().numTensors, before, 'tensors leaked by a run');
    losses.push((await store.getMetrics(runId, { name: 'loss' })).map((m) => m.value));
    await store.close();
  }
  assert.equal(losses[0].length, 8);
  for (let i = 0; i < losses[0].length; i++) assert.ok(Math.abs(losses[0][i] - losses[1][i]) < 1e-4, `step ${i}: ${losses[0][i]} vs ${losses[1][i]}`);
});
