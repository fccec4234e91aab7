import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Database } from 'sqlite3';
import { resolveConfig, type RunConfig } from '../src/core/config';
import type { WorkerEvent } from '../src/core/events';
import { initBackend } from '../src/engine/backend';
import type { Dataset } from '../src/data/datasets';
import { smallBuiltin } from './helpers/small-dataset';
import { PatientWriter } from '../src/engine/patient-writer';
import { runTraining } from '../src/engine/train';
import { closeDb, exec } from '../src/store/sqlite';
import { RunStore } from '../src/store/store';

// Another process holding the database's write lock longer than the busy timeout (a stopped process
// mid-transaction) must not cost a training run its progress: the records wait and are written once the
// lock goes, each exactly once. The store's busy timeout is cut to 20 ms here so a lock shows in ~1 s.

const tmp = mkdtempSync(join(tmpdir(), 'clab-locked-'));
const config = (): RunConfig => resolveConfig({ method: 'simclr', epochs: 2, batchSize: 16, trainLimit: 48, encoder: { preset: 'tiny' }, projector: { hidden: 32, out: 16 }, eval: { knnEvery: 1, linearProbe: false } }).config!;

/** A second connection that takes the write lock and keeps it until released, as a stopped writer would. */
async function holdWriteLock(dbPath: string): Promise<{ release(): Promise<void> }> {
  const db = await new Promise<Database>((resolve, reject) => {
    const d: Database = new Database(dbPath, (e) => (e ? reject(e) : resolve(d)));
  });
  await exec(db, 'BEGIN IMMEDIATE');
  return {
    async release() {
      await exec(db, 'COMMIT');
      await closeDb(db);
    },
  };
}

async function open(name: string) {
  const dbPath = join(tmp, `${name}.db`);
  const store = await RunStore.open(dbPath, { busyTimeoutMs: 20 });
  return { dbPath, store, runId: await store.createRun(config(), { status: 'running' }) };
}

const point = (step: number) => ({ step, epoch: 1, name: 'loss', value: step, wallTime: Date.now() });

test('while another process holds the write lock, step records wait in memory without holding up the caller, then land once each', async () => {
  const { dbPath, store, runId } = await open('steps');
  const logs: string[] = [];
  const w = new PatientWriter(store, runId, (m) => logs.push(m), 60_000, 20);
  await w.steps([point(0)]);
  const lock = await holdWriteLock(dbPath);
  await w.steps([point(1)]); // finds the lock (after the store's own retries)
  const t0 = Date.now();
  for (let s = 2; s < 6; s++) await w.steps([point(s)]);
  assert.ok(Date.now() - t0 < 500, 'steps waited for the locked database');
  assert.match(logs.join('\n'), /is locked by another process; training goes on/);
  assert.ok(w.waiting >= 4);
  await lock.release();
  await w.write(() => store.finishRun(runId, 'completed'));
  const steps = (await store.getMetrics(runId, { name: 'loss' })).map((m) => m.step);
  assert.deepEqual(steps, [0, 1, 2, 3, 4, 5]);
  assert.equal(w.waiting, 0);
  assert.equal((await store.getRun(runId))?.status, 'completed');
  assert.match(logs.join('\n'), /writable again/);
  await store.close();
});

test('a lock that outlasts the give-up time fails the write with a message that names the database and what to do', async () => {
  const { dbPath, store, runId } = await open('give-up');
  const w = new PatientWriter(store, runId, () => undefined, 300, 20);
  const lock = await holdWriteLock(dbPath);
  await assert.rejects(
    w.write(() => store.finishRun(runId, 'completed')),
    (e: Error) => e.message.includes(dbPath) && /locked by another process for \d+ min/.test(e.message) && /resume this run/.test(e.message),
  );
  await lock.release();
  await store.close();
});

test('other store errors are not retried', async () => {
  const { store, runId } = await open('other');
  const w = new PatientWriter(store, runId, () => undefined, 60_000, 20);
  await assert.rejects(w.write(() => store.finishRun(runId + 99, 'completed')), /does not exist/);
  await store.close();
});

let small: Dataset;
before(async () => {
  await initBackend('wasm');
  small = smallBuiltin();
});

test('a training run locked out of its database for a while completes with every step and evaluation recorded once', async () => {
  const { dbPath, store, runId } = await open('training');
  let lock: Promise<{ release(): Promise<void> }> | undefined;
  const logs: string[] = [];
  const emit = (e: WorkerEvent) => {
    if (e.type === 'log') logs.push(e.message);
    // Locked from step 1 of epoch 1 until 1.5 s later: several steps and the epoch's kNN fall in it.
    if (e.type === 'step' && e.step === 1 && !lock) {
      lock = holdWriteLock(dbPath);
      void lock.then((l) => setTimeout(() => void l.release(), 1500));
    }
  };
  const outcome = await runTraining(config(), { store, dbPath, runId, emit, cancel: { requested: false }, dataset: small });
  assert.equal(outcome.status, 'completed', JSON.stringify(outcome));
  assert.deepEqual(
    (await store.getMetrics(runId, { name: 'loss' })).map((m) => m.step),
    [0, 1, 2, 3, 4, 5],
  );
  assert.deepEqual(
    (await store.getEvals(runId)).filter((e) => e.protocol === 'knn').map((e) => e.epoch),
    [1, 2],
  );
  assert.match(logs.join('\n'), /is locked by another process/);
  assert.equal((await store.getRun(runId))?.status, 'completed');
  await store.close();
});
