import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { resolveConfig } from '../src/core/config';
import type { WorkerEvent } from '../src/core/events';
import { Database } from 'sqlite3';
import { RunStore } from '../src/store/store';

const workerPath = resolve(__dirname, '..', 'src', 'engine', 'worker.ts');
const tmp = mkdtempSync(join(tmpdir(), 'clab-worker-'));

/** A long run on a tiny network: long enough to be cancelled or killed mid-way. */
const longConfig = resolveConfig({ method: 'simclr', epochs: 50, batchSize: 32, trainLimit: 256, encoder: { preset: 'tiny' }, projector: { hidden: 32, out: 16 }, eval: { knnEvery: 0, linearProbe: false } }).config!;

function startWorker(dbPath: string, runId: number) {
  const child = fork(workerPath, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  const events: WorkerEvent[] = [];
  const waiters: { pred: (e: WorkerEvent) => boolean; resolve: () => void }[] = [];
  child.on('message', (m: WorkerEvent) => {
    events.push(m);
    for (const w of waiters.filter((w) => w.pred(m))) w.resolve();
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  child.send({ type: 'start', config: longConfig, dbPath, runId });
  const waitFor = (pred: (e: WorkerEvent) => boolean) => new Promise<void>((r) => (events.some(pred) ? r() : waiters.push({ pred, resolve: r })));
  return { child, events, exited, waitFor };
}

for (const how of ['IPC cancel message', 'SIGTERM'] as const) {
  test(`cancel by ${how} ends the current step, records cancelled and keeps the steps so far`, async () => {
    const dbPath = join(tmp, `cancel-${how.replace(/\W/g, '')}.db`);
    const store = await RunStore.open(dbPath);
    const runId = await store.createRun(longConfig);
    const w = startWorker(dbPath, runId);
    await w.waitFor((e) => e.type === 'step' && e.step >= 2);
    if (how === 'SIGTERM') w.child.kill('SIGTERM');
    else w.child.send({ type: 'cancel' });
    assert.equal(await w.exited, 0);
    const run = (await store.getRun(runId))!;
    assert.equal(run.status, 'cancelled');
    assert.ok(run.backend && run.device, 'backend and device recorded');
    const losses = await store.getMetrics(runId, { name: 'loss' });
    assert.ok(losses.length >= 3, `only ${losses.length} steps kept`);
    assert.ok(losses.length < 50 * 8, 'the run was not stopped');
    assert.ok(w.events.some((e) => e.type === 'started'));
    assert.ok(w.events.some((e) => e.type === 'finished' && e.status === 'cancelled'));
    await store.close();
  });
}

test('kill -9 mid-run leaves a sound database and the run shows as crashed once its heartbeat is stale', async () => {
  const dbPath = join(tmp, 'kill9.db');
  const store = await RunStore.open(dbPath);
  const runId = await store.createRun(longConfig);
  const w = startWorker(dbPath, runId);
  await w.waitFor((e) => e.type === 'step' && e.step >= 3);
  w.child.kill('SIGKILL');
  await w.exited;
  await store.close();
  const integrity = await new Promise<string>((resolve, reject) => {
    const db = new Database(dbPath, (err) => err && reject(err));
    db.get('PRAGMA integrity_check', (err, row: { integrity_check: string }) => (err ? reject(err) : db.close(() => resolve(row.integrity_check))));
  });
  assert.equal(integrity, 'ok');
  const reopened = await RunStore.open(dbPath, { staleAfterMs: 200 });
  await new Promise((r) => setTimeout(r, 300));
  const run = (await reopened.getRun(runId))!;
  assert.equal(run.status, 'running');
  assert.equal(run.displayStatus, 'crashed');
  const steps = (await reopened.getMetrics(runId, { name: 'loss' })).map((m) => m.step);
  assert.ok(steps.length >= 4);
  assert.deepEqual(steps, steps.map((_, i) => i), 'recorded steps are not a contiguous prefix');
  await reopened.close();
});

test('a bad config sent to the worker is reported as failed without training', async () => {
  const dbPath = join(tmp, 'bad.db');
  const child = fork(workerPath, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  const events: WorkerEvent[] = [];
  child.on('message', (m: WorkerEvent) => events.push(m));
  child.send({ type: 'start', config: { method: 'simclr', epochs: 0 }, dbPath });
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  assert.equal(code, 2);
  const failed = events.find((e) => e.type === 'failed');
  assert.ok(failed && failed.type === 'failed' && /epochs: must be ≥ 1/.test(failed.error));

  // A dataset that cannot be read: the same, and no run is recorded for it.
  const again = fork(workerPath, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  const more: WorkerEvent[] = [];
  again.on('message', (m: WorkerEvent) => more.push(m));
  again.send({ type: 'start', config: { method: 'simclr', dataset: 'mnist:/nonexistent' }, dbPath });
  assert.equal(await new Promise<number | null>((r) => again.on('exit', r)), 2);
  const refused = more.find((e) => e.type === 'failed');
  assert.ok(refused && refused.type === 'failed' && /mnist:\/nonexistent: folder not found/.test(refused.error), JSON.stringify(more));
  assert.equal(existsSync(dbPath), false, 'a run was recorded for a dataset that cannot be read');
});
