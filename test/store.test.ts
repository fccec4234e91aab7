import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Database } from 'sqlite3';
import { configHash, resolveConfig, type RunConfig } from '../src/core/config';
import { APPLICATION_ID, SCHEMA_VERSION } from '../src/store/schema';
import { closeDb, exec, get } from '../src/store/sqlite';
import { liveStatus, type Liveness } from '../src/store/liveness';
import { defaultDatabasePath, RunStore, runFolder } from '../src/store/store';
import type { MetricPoint } from '../src/store/types';
import type { WriterMessage } from './fixtures/store-writer';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'clab-store-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const freshPath = () => path.join(tmp, `db${++n}`, 'runs.db');
const config = (over: Record<string, unknown> = {}): RunConfig => resolveConfig({ method: 'simclr', epochs: 3, ...over }).config!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A raw connection, for what the store deliberately does not expose (pragmas, integrity checks). */
async function raw<T>(file: string, sql: string): Promise<T> {
  const db = await new Promise<Database>((resolve, reject) => {
    const d: Database = new Database(file, (err) => (err ? reject(err) : resolve(d)));
  });
  try {
    return (await get<T>(db, sql))!;
  } finally {
    await closeDb(db);
  }
}

test('round trip: runs, steps, evals, embeddings, artifacts, meta, delete', async () => {
  const store = await RunStore.open(freshPath());
  const cfg = config({ name: 'first' });
  const id = await store.createRun(cfg);
  let run = (await store.getRun(id))!;
  assert.equal(run.name, 'first');
  assert.equal(run.method, 'simclr');
  assert.equal(run.dataset, 'builtin');
  assert.deepEqual(run.config, cfg);
  assert.equal(run.configHash, configHash(cfg));
  assert.equal(run.status, 'queued');
  assert.equal(run.displayStatus, 'queued');
  assert.equal(run.startedAt, null);
  assert.equal(run.lastEpoch, null);
  assert.equal(run.lastKnn, null);
  assert.equal(run.starred, false);

  await store.markRunning(id, { backend: 'wasm', device: 'cpu', versions: { node: 'v20' }, pid: 1234, host: 'box' });
  run = (await store.getRun(id))!;
  assert.equal(run.status, 'running');
  assert.equal(run.displayStatus, 'running');
  assert.deepEqual([run.backend, run.device, run.pid, run.host, run.versions], ['wasm', 'cpu', 1234, 'box', { node: 'v20' }]);
  assert.ok(run.startedAt! > 0 && run.heartbeatAt! >= run.startedAt!);

  const points: MetricPoint[] = [];
  for (let step = 0; step < 6; step++)
    for (const name of ['loss', 'lr']) points.push({ step, epoch: Math.floor(step / 2), name, value: name === 'loss' ? 5 - step : 0.1, wallTime: 1000 + step });
  await store.recordStep(id, points.slice(0, 4));
  await store.recordStep(id, points.slice(4));
  // A diverged loss is NaN, which SQLite would otherwise hand back as null.
  await store.recordStep(id, [{ step: 6, epoch: 3, name: 'loss', value: NaN, wallTime: 2000 }]);
  assert.deepEqual((await store.getMetrics(id)).slice(0, 12), points);
  assert.ok(Number.isNaN((await store.getMetrics(id, { afterStep: 5 }))[0].value));
  assert.deepEqual(
    (await store.getMetrics(id, { name: 'loss', afterStep: 3 })).map((p) => p.step),
    [4, 5, 6],
  );

  await store.recordEval(id, { protocol: 'knn', value: 0.41, epoch: 1, details: { k: 200, t: 0.1 } });
  await store.recordEval(id, { protocol: 'linear', value: 0.7, epoch: 2, details: {} });
  await store.recordEval(id, { protocol: 'knn', value: 0.52, epoch: 2, details: { k: 200 } });
  const evals = await store.getEvals(id);
  assert.deepEqual(
    evals.map((e) => [e.protocol, e.value, e.epoch]),
    [['knn', 0.41, 1], ['linear', 0.7, 2], ['knn', 0.52, 2]],
  );
  assert.deepEqual(evals[0].details, { k: 200, t: 0.1 });

  // Views into larger buffers at odd offsets: only the view's bytes may be stored.
  const count = 5;
  const dim = 3;
  const big = Float32Array.from({ length: 40 }, (_, i) => i * 1.5 - 7.25);
  const vectors = big.subarray(3, 3 + count * dim);
  const labels = new Int32Array([9, -1, 2, 3, 4, 5, 6]).subarray(1, 1 + count);
  const indices = Int32Array.from([100, 2 ** 31 - 1, -(2 ** 31), 7, 0]);
  const embId = await store.recordEmbedding(id, { epoch: 2, split: 'test', dim, vectors, labels, indices });
  assert.deepEqual(await store.listEmbeddings(id), [{ id: embId, epoch: 2, split: 'test', dim, count, createdAt: (await store.listEmbeddings(id))[0].createdAt }]);
  const emb = (await store.getEmbedding(embId))!;
  assert.deepEqual([emb.dim, emb.count, emb.split], [dim, count, 'test']);
  assert.deepEqual(Buffer.from(emb.vectors.buffer, emb.vectors.byteOffset, emb.vectors.byteLength), Buffer.from(vectors.buffer, vectors.byteOffset, vectors.byteLength));
  assert.deepEqual(Array.from(emb.vectors), Array.from(vectors));
  assert.deepEqual(Array.from(emb.labels), [-1, 2, 3, 4, 5]);
  assert.deepEqual(Array.from(emb.indices), Array.from(indices));
  assert.equal(await store.getEmbedding(embId + 100), undefined);
  await assert.rejects(store.recordEmbedding(id, { epoch: 2, split: 'test', dim: 4, vectors, labels, indices }), /sizes disagree/);

  const ckpt = path.join(runFolder(store.path, id), 'epoch-2.ckpt');
  await store.recordArtifact(id, { kind: 'checkpoint', path: ckpt, epoch: 2 });
  assert.deepEqual(
    (await store.getArtifacts(id)).map((a) => [a.kind, a.path, a.epoch]),
    [['checkpoint', ckpt, 2]],
  );

  await store.updateRunMeta(id, { name: 'renamed', starred: true, note: 'good one' });
  await store.finishRun(id, 'completed');
  run = (await store.getRun(id))!;
  assert.deepEqual([run.name, run.starred, run.note, run.status, run.displayStatus, run.error], ['renamed', true, 'good one', 'completed', 'completed', null]);
  assert.ok(run.finishedAt! >= run.startedAt!);
  assert.equal(run.lastEpoch, 3);
  assert.equal(run.lastKnn, 0.52);
  await store.updateRunMeta(id, { note: null });
  assert.equal((await store.getRun(id))!.note, null);

  const second = await store.createRun(config({ epochs: 4 }), { status: 'running' });
  await store.finishRun(second, 'failed', 'out of memory');
  const list = await store.listRuns();
  assert.deepEqual(list.map((r) => r.id), [second, id]);
  assert.equal(list[0].error, 'out of memory');
  assert.notEqual(list[0].configHash, list[1].configHash);

  const removed = await store.deleteRun(id);
  assert.deepEqual(removed.map((a) => a.path), [ckpt]);
  assert.equal(await store.getRun(id), undefined);
  assert.deepEqual(await store.getMetrics(id), []);
  assert.deepEqual(await store.getEvals(id), []);
  assert.equal(await store.getEmbedding(embId), undefined);
  assert.deepEqual(await store.getArtifacts(id), []);
  await assert.rejects(store.recordStep(id, points), /run \d+ does not exist/);
  await assert.rejects(store.recordEval(id, evals[0]), /does not exist/);
  await assert.rejects(store.heartbeat(id), /does not exist/);
  // A new run never reuses a deleted run's id (its folder name).
  assert.ok((await store.createRun(config())) > second);
  await store.close();
  await assert.rejects(store.listRuns(), /closed/);
});

test('concurrent callers on one instance do not interleave their transactions', async () => {
  const store = await RunStore.open(freshPath());
  const id = await store.createRun(config());
  await Promise.all(
    Array.from({ length: 50 }, (_, step) => store.recordStep(id, [0, 1, 2].map((k) => ({ step, epoch: 0, name: `m${k}`, value: k, wallTime: 0 })))),
  );
  assert.equal((await store.getMetrics(id)).length, 150);
  await store.close();
});

test('migrations: fresh file gets the latest version, reopening is idempotent', async () => {
  const file = freshPath();
  const store = await RunStore.open(file);
  const id = await store.createRun(config());
  await store.close();
  assert.equal((await raw<{ user_version: number }>(file, 'PRAGMA user_version')).user_version, SCHEMA_VERSION);
  assert.equal((await raw<{ application_id: number }>(file, 'PRAGMA application_id')).application_id, APPLICATION_ID);
  assert.equal((await raw<{ journal_mode: string }>(file, 'PRAGMA journal_mode')).journal_mode, 'wal');
  const again = await RunStore.open(file);
  assert.deepEqual((await again.listRuns()).map((r) => r.id), [id]);
  await again.close();
  assert.equal((await raw<{ user_version: number }>(file, 'PRAGMA user_version')).user_version, SCHEMA_VERSION);
});

test('connections opening one fresh file at once all open it (the editor, a worker and the CLI starting together)', async () => {
  // Before the identity check read one snapshot, and before the WAL switch retried SQLITE_BUSY, about one
  // round in four failed here: "…is not a Contrastive Lab database" or "database is locked".
  for (let round = 0; round < 60; round++) {
    const file = freshPath();
    const opened = await Promise.allSettled([0, 1, 2, 3].map(() => RunStore.open(file)));
    const errors = opened.flatMap((o) => (o.status === 'rejected' ? [String(o.reason)] : []));
    for (const o of opened) if (o.status === 'fulfilled') await o.value.close();
    assert.deepEqual(errors, [], `round ${round}`);
  }
});

// Another process that takes the write lock every 5 ms (busy timeout 0) and reports the longest stretch it could not.
const LOCK_PROBE = `
const { Database } = require('sqlite3');
const db = new Database(process.argv[1]);
let since, longest = 0, stop = false;
process.on('message', () => { stop = true; process.send(since === undefined ? longest : Math.max(longest, Date.now() - since)); process.disconnect(); });
const loop = () => db.exec('BEGIN IMMEDIATE; COMMIT', (err) => {
  const now = Date.now();
  if (err) since ??= now;
  else if (since !== undefined) { longest = Math.max(longest, now - since); since = undefined; }
  if (!stop) setTimeout(loop, 5); else db.close();
});
db.exec('PRAGMA busy_timeout = 0', () => { process.send('ready'); loop(); });
`;

test('a heartbeat does not hold the write lock through the synchronous work after it (a training step)', async () => {
  const file = freshPath();
  const store = await RunStore.open(file);
  const id = await store.createRun(config(), { status: 'running' });
  const probe = spawn(process.execPath, ['-e', LOCK_PROBE, file], { cwd: path.join(__dirname, '..'), stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const messages: unknown[] = [];
  probe.on('message', (m) => messages.push(m));
  while (!messages.includes('ready')) await sleep(10);
  await sleep(50);
  // As in the training loop: the timer's beat starts while the loop yields between steps (its first
  // statement goes to SQLite's thread), and the loop goes on to the next step without waiting for it.
  const beat = store.heartbeat(id);
  await new Promise((r) => setImmediate(r));
  const busyUntil = Date.now() + 1500;
  while (Date.now() < busyUntil); // the step: this thread computes synchronously for 1.5 s
  await beat;
  await sleep(50);
  probe.send('stop');
  while (messages.length < 2) await sleep(10);
  await store.close();
  // A BEGIN … COMMIT heartbeat kept the lock until the step ended: ~1,500 ms here.
  assert.ok((messages[1] as number) < 500, `the other process could not write for ${String(messages[1])} ms`);
});

test('a database from a newer version is refused and left untouched', async () => {
  const file = freshPath();
  await (await RunStore.open(file)).close();
  const db = new Database(file);
  await exec(db, 'PRAGMA journal_mode = DELETE; PRAGMA user_version = 99');
  await closeDb(db);
  const before = readFileSync(file);
  await assert.rejects(RunStore.open(file), (e: Error) => e.message.includes(file) && /newer Contrastive Lab \(schema version 99/.test(e.message));
  assert.deepEqual(readFileSync(file), before);
});

test('a file that is not a SQLite database, or another application’s database, is refused by name', async () => {
  const junk = freshPath();
  await (await RunStore.open(junk)).close(); // creates the folder
  rmSync(junk);
  writeFileSync(junk, Buffer.from('this is certainly not a database, just some text that is long enough to be read as a header.'.repeat(20)));
  await assert.rejects(RunStore.open(junk), (e: Error) => e.message === `${junk} is not a Contrastive Lab database: file is not a database`);

  const foreign = path.join(tmp, 'foreign.db');
  const db = new Database(foreign);
  await exec(db, 'CREATE TABLE things (x)');
  await closeDb(db);
  await assert.rejects(RunStore.open(foreign), (e: Error) => e.message.includes(foreign) && /another application/.test(e.message));
});

test('a running run whose heartbeat goes stale is displayed as crashed', async () => {
  const store = await RunStore.open(freshPath(), { staleAfterMs: 80 });
  const id = await store.createRun(config());
  await store.markRunning(id, { backend: 'cpu', device: 'cpu', versions: {}, pid: 1, host: 'h' });
  assert.equal((await store.getRun(id))!.displayStatus, 'running');
  await sleep(150);
  const run = (await store.getRun(id))!;
  assert.deepEqual([run.status, run.displayStatus], ['running', 'crashed']);
  await store.heartbeat(id);
  assert.equal((await store.getRun(id))!.displayStatus, 'running');
  await store.finishRun(id, 'cancelled');
  await sleep(150);
  assert.equal((await store.getRun(id))!.displayStatus, 'cancelled'); // only running runs can look crashed
  await store.close();
});

test('seen from this machine, the process of a local worker decides its status; a remote one is judged by its heartbeat', async () => {
  const store = await RunStore.open(freshPath(), { staleAfterMs: 0 }); // every heartbeat is stale at once
  const here: Liveness = { host: 'here', isAlive: (pid) => pid === 4242 };
  const busy = await store.createRun(config()); // alive, silent (e.g. a minute-long kNN evaluation)
  await store.markRunning(busy, { backend: 'cpu', device: 'cpu', versions: {}, pid: 4242, host: 'here' });
  const killed = await store.createRun(config());
  await store.markRunning(killed, { backend: 'cpu', device: 'cpu', versions: {}, pid: 999, host: 'here' });
  const remote = await store.createRun(config());
  await store.markRunning(remote, { backend: 'cpu', device: 'cpu', versions: {}, pid: 4242, host: 'elsewhere' });
  const done = await store.createRun(config());
  await store.markRunning(done, { backend: 'cpu', device: 'cpu', versions: {}, pid: 4242, host: 'here' });
  await store.finishRun(done, 'completed');
  await sleep(5);
  const status = async (id: number) => liveStatus((await store.getRun(id))!, here);
  assert.deepEqual([await status(busy), await status(killed), await status(remote), await status(done)], ['running', 'crashed', 'crashed', 'completed']);
  await store.close();
});

test('default database path follows the platform conventions; run folders sit beside it', () => {
  const home = '/home/u';
  assert.equal(defaultDatabasePath({ CLAB_DB: '/x/my.db' }, 'linux', home), '/x/my.db');
  assert.equal(defaultDatabasePath({}, 'linux', home), '/home/u/.local/share/contrastive-lab/runs.db');
  assert.equal(defaultDatabasePath({ XDG_DATA_HOME: '/data' }, 'linux', home), '/data/contrastive-lab/runs.db');
  assert.equal(defaultDatabasePath({ XDG_DATA_HOME: 'relative' }, 'linux', home), '/home/u/.local/share/contrastive-lab/runs.db');
  assert.equal(defaultDatabasePath({}, 'darwin', '/Users/u'), '/Users/u/Library/Application Support/contrastive-lab/runs.db');
  assert.equal(defaultDatabasePath({ APPDATA: 'C:\\Users\\u\\AppData\\Roaming' }, 'win32', 'C:\\Users\\u'), 'C:\\Users\\u\\AppData\\Roaming\\contrastive-lab\\runs.db');
  assert.equal(runFolder('/data/contrastive-lab/runs.db', 7), path.join('/data/contrastive-lab', 'runs.artifacts', '7'));
  assert.notEqual(runFolder('/data/a.db', 1), runFolder('/data/b.db', 1));
});

// ---- several processes ---------------------------------------------------------------------------

interface Writer {
  child: ChildProcess;
  ready: Promise<number>;
  started: Promise<number>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; messages: WriterMessage[] }>;
}

function startWriter(file: string, steps: number | 'forever', perStep: number, wait = false): Writer {
  const args = [file, String(steps), String(perStep), ...(wait ? ['wait'] : [])];
  const child = fork(path.join(__dirname, 'fixtures', 'store-writer.ts'), args, {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const messages: WriterMessage[] = [];
  child.on('message', (m: WriterMessage) => messages.push(m));
  const when = (type: 'ready' | 'started') => {
    const p = new Promise<number>((resolve, reject) => {
      child.on('message', (m: WriterMessage) => {
        if (m.type === type) resolve(m.runId);
        if (m.type === 'error') reject(new Error(m.message));
      });
      child.on('exit', () => reject(new Error(`writer exited before it was ${type}`)));
    });
    p.catch(() => undefined); // observed by whoever awaits it; avoid an unhandled rejection otherwise
    return p;
  };
  const [ready, started] = [when('ready'), when('started')];
  const exited = new Promise<Awaited<Writer['exited']>>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, messages })));
  return { child, ready, started, exited };
}

/** Groups a run's metric rows by step and checks the steps are 0..n-1, each with all its rows. */
function assertWholeSteps(points: MetricPoint[], perStep: number): number {
  const perStepCount = new Map<number, number>();
  for (const p of points) perStepCount.set(p.step, (perStepCount.get(p.step) ?? 0) + 1);
  const steps = [...perStepCount.keys()].sort((a, b) => a - b);
  steps.forEach((s, i) => assert.equal(s, i, `step ${i} missing`));
  for (const [s, c] of perStepCount) assert.equal(c, perStep, `step ${s} has ${c} of ${perStep} rows`);
  return steps.length;
}

test('two processes writing to one database at once lose nothing', async () => {
  const file = freshPath(); // both writers race to create and migrate it
  const writers = [startWriter(file, 300, 3, true), startWriter(file, 300, 3, true)];
  await Promise.all(writers.map((w) => w.ready));
  for (const w of writers) w.child.send('go');
  const results = await Promise.all(writers.map((w) => w.exited));
  for (const r of results) {
    assert.equal(r.code, 0, JSON.stringify(r.messages));
    assert.ok(r.messages.some((m) => m.type === 'done'));
  }
  const store = await RunStore.open(file);
  const runs = await store.listRuns();
  assert.equal(runs.length, 2);
  const spans: number[][] = [];
  for (const run of runs) {
    assert.equal(run.status, 'completed');
    const points = await store.getMetrics(run.id);
    assert.equal(assertWholeSteps(points, 3), 300);
    spans.push([points[0].wallTime, points[points.length - 1].wallTime]);
  }
  // The writes really were concurrent: each writer's span of steps overlaps the other's.
  assert.ok(spans[0][0] <= spans[1][1] && spans[1][0] <= spans[0][1], JSON.stringify(spans));
  await store.close();
  assert.equal((await raw<{ integrity_check: string }>(file, 'PRAGMA integrity_check')).integrity_check, 'ok');
});

test('kill -9 while writing leaves an intact database holding whole steps only', async () => {
  const file = freshPath();
  const perStep = 4;
  const w = startWriter(file, 'forever', perStep);
  const runId = await w.started;
  await sleep(1000);
  w.child.kill('SIGKILL');
  assert.equal((await w.exited).signal, 'SIGKILL');

  assert.equal((await raw<{ integrity_check: string }>(file, 'PRAGMA integrity_check')).integrity_check, 'ok');
  const store = await RunStore.open(file, { staleAfterMs: 50 });
  const written = assertWholeSteps(await store.getMetrics(runId), perStep);
  assert.ok(written > 10, `only ${written} steps in a second`);
  await sleep(100);
  const run = (await store.getRun(runId))!;
  assert.deepEqual([run.status, run.displayStatus], ['running', 'crashed']);
  assert.equal(run.lastEpoch, Math.floor((written - 1) / 100));
  await store.close();
});
