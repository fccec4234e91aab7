import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { resolveConfig, type RunConfig } from '../src/core/config';
import type { WorkerEvent } from '../src/core/events';
import { resumeFolder } from '../src/store/resume';
import { RunStore } from '../src/store/store';
import { RESTRICTED_MESSAGE, startFromConfigFile } from '../src/extension/configFiles';
import { RunManager, type ActiveRun, type ForkFn, type RunEnded, type RunManagerOptions } from '../src/queue/runManager';
import { describeRun, groupRuns, matchesFilter, NO_FILTER, toViews, tooltipMarkdown, statusIcon, contextValue } from '../src/extension/runsModel';

// The run manager is tested with real training workers (the TypeScript source through tsx, so a
// concurrent rebuild of dist/ cannot interfere) on configs small enough to finish in seconds.
const root = resolve(__dirname, '..');
const workerPath = join(root, 'src', 'engine', 'worker.ts');
const tmp = mkdtempSync(join(tmpdir(), 'clab-ext-'));

const tiny = (over: Record<string, unknown> = {}): RunConfig => {
  const { config, problems } = resolveConfig({ method: 'simclr', epochs: 1, trainLimit: 128, batchSize: 32, encoder: { preset: 'tiny' }, projector: { hidden: 32, out: 16 }, eval: { linearProbe: false }, ...over });
  assert.deepEqual(problems, []);
  return config!;
};
/** Long enough to be stopped mid-way, cheap per step. */
const long = () => tiny({ epochs: 200, eval: { knnEvery: 0, linearProbe: false } });

/** A manager whose forks are counted, and the largest number of workers alive at once. */
function manager(over: Partial<RunManagerOptions> = {}) {
  const forks: ChildProcess[] = [];
  let alive = 0;
  let maxAlive = 0;
  const countingFork: ForkFn = (modulePath, args, options) => {
    const child = fork(modulePath, args, options);
    forks.push(child);
    alive++;
    maxAlive = Math.max(maxAlive, alive);
    child.on('exit', () => alive--);
    return child;
  };
  const m = new RunManager({
    launch: () => ({ nodePath: process.execPath, workerPath, execArgv: ['--import', 'tsx'] }),
    maxConcurrentRuns: () => 1,
    extraModuleDirs: () => [],
    fork: countingFork,
    ...over,
  });
  const events: { run: ActiveRun; event: WorkerEvent }[] = [];
  const ends: RunEnded[] = [];
  m.onWorkerEvent((e) => events.push(e));
  m.onDidEnd((e) => ends.push(e));
  const endOf = (runId: number) =>
    new Promise<RunEnded>((res) => {
      const found = ends.find((e) => e.runId === runId);
      if (found) return res(found);
      const sub = m.onDidEnd((e) => {
        if (e.runId === runId) {
          sub.dispose();
          res(e);
        }
      });
    });
  const stepOf = (runId: number, minStep = 1) =>
    new Promise<void>((res) => {
      if (events.some((e) => e.event.type === 'step' && e.event.runId === runId && e.event.step >= minStep)) return res();
      const sub = m.onWorkerEvent((e) => {
        if (e.event.type === 'step' && e.event.runId === runId && e.event.step >= minStep) {
          sub.dispose();
          res();
        }
      });
    });
  return { m, forks, events, ends, endOf, stepOf, maxAlive: () => maxAlive };
}

const toDispose: RunManager[] = [];
after(async () => {
  for (const m of toDispose) await m.dispose();
});

describe('run manager with real workers', () => {
  test('a run started from the editor trains to completion, relays live events and is recorded completed', async () => {
    const dbPath = join(tmp, 'complete.db');
    const h = manager();
    toDispose.push(h.m);
    const runId = await h.m.enqueue(tiny({ name: 'tiny one' }), { dbPath });
    assert.equal(h.m.get(dbPath, runId)?.config.name, 'tiny one');
    const end = await h.endOf(runId);
    assert.equal(end.status, 'completed', end.error);
    assert.ok(end.knn !== undefined && end.knn > 0.1, `kNN ${end.knn}`);
    const types = new Set(h.events.map((e) => e.event.type));
    for (const t of ['started', 'step', 'epoch', 'eval', 'finished']) assert.ok(types.has(t as WorkerEvent['type']), `no ${t} event relayed`);
    assert.equal(h.m.active().length, 0, 'an ended run is still listed as active');
    const store = await RunStore.open(dbPath);
    const row = (await store.getRun(runId))!;
    assert.equal(row.status, 'completed');
    assert.equal(row.name, 'tiny one');
    assert.equal(row.host, hostname());
    assert.ok(row.lastKnn !== null);
    await store.close();
  });

  test('the queue never runs more workers than allowed; Stop dequeues a waiting run and cancels a running one', async () => {
    const dbPath = join(tmp, 'queue.db');
    const h = manager({ maxConcurrentRuns: () => 1, cancelTimeoutMs: 60_000 });
    toDispose.push(h.m);
    const a = await h.m.enqueue(long(), { dbPath });
    const b = await h.m.enqueue(long(), { dbPath });
    const c = await h.m.enqueue(long(), { dbPath });
    const store = await RunStore.open(dbPath);
    assert.equal((await store.getRun(b))!.status, 'queued', 'the second run is visible in the store as queued');
    // The queue runner claims the first within a tick.
    while (h.m.get(dbPath, a)?.phase === 'queued') await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(
      h.m.active().map((r) => [r.runId, r.phase === 'queued']),
      [
        [a, false],
        [b, true],
        [c, true],
      ],
    );
    // Stopping a queued run removes it without ever starting a worker.
    assert.equal((await h.m.stop(dbPath, c)).kind, 'dequeued');
    assert.equal((await store.getRun(c))!.status, 'cancelled');
    await h.stepOf(a, 2);
    assert.equal((await h.m.stop(dbPath, a)).kind, 'stopping');
    const endA = await h.endOf(a);
    assert.equal(endA.status, 'cancelled');
    assert.equal((await store.getRun(a))!.status, 'cancelled');
    // The freed slot goes to the next queued run.
    await h.stepOf(b, 1);
    assert.equal((await h.m.stop(dbPath, b)).kind, 'stopping');
    assert.equal((await h.endOf(b)).status, 'cancelled');
    assert.equal((await store.getRun(b))!.status, 'cancelled');
    assert.equal(h.forks.length, 2, 'the dequeued run was started anyway');
    assert.equal(h.maxAlive(), 1, 'more than maxConcurrentRuns workers were alive at once');
    assert.ok((await store.getMetrics(a, { name: 'loss' })).length >= 3, 'steps before the Cancel were not kept');
    await store.close();
  });

  test('raising max concurrent runs starts the waiting run: two workers side by side', async () => {
    const dbPath = join(tmp, 'two.db');
    let max = 1;
    const h = manager({ maxConcurrentRuns: () => max, cancelTimeoutMs: 60_000 });
    toDispose.push(h.m);
    const a = await h.m.enqueue(long(), { dbPath });
    const b = await h.m.enqueue(long(), { dbPath });
    assert.equal(h.m.get(dbPath, b)?.phase, 'queued');
    max = 2; // the setting changed
    h.m.reschedule();
    await Promise.all([h.stepOf(a), h.stepOf(b)]);
    assert.equal(h.maxAlive(), 2);
    await h.m.stop(dbPath, a);
    await h.m.stop(dbPath, b);
    assert.deepEqual((await Promise.all([h.endOf(a), h.endOf(b)])).map((e) => e.status), ['cancelled', 'cancelled']);
  });

  test('Resume continues a stopped run from where it stopped in a new worker, to completion, each step once', async () => {
    const dbPath = join(tmp, 'resume.db');
    const h = manager({ cancelTimeoutMs: 60_000 });
    toDispose.push(h.m);
    // 2 steps per epoch: stopped in epoch 2 or later.
    const config = tiny({ epochs: 12, trainLimit: 32, batchSize: 16, eval: { knnEvery: 0, linearProbe: false } });
    const runId = await h.m.enqueue(config, { dbPath });
    await h.stepOf(runId, 2);
    await h.m.stop(dbPath, runId);
    assert.equal((await h.endOf(runId)).status, 'cancelled');
    assert.ok(h.events.some((e) => e.event.type === 'stopping' && e.event.runId === runId), 'the worker did not answer Cancel');
    const store = await RunStore.open(dbPath);
    const stoppedAt = (await store.getMetrics(runId, { name: 'loss' })).length;
    // Only the newest state is kept: at an epoch's end, or at the step it was stopped at in the middle of one.
    const state = stoppedAt % 2 === 0 ? `epoch-${String(stoppedAt / 2).padStart(4, '0')}` : `step-${String(stoppedAt).padStart(8, '0')}`;
    assert.deepEqual(readdirSync(resumeFolder(dbPath, runId)), [state]);
    await h.m.resume(runId, { dbPath });
    assert.equal(h.m.get(dbPath, runId)?.resume, true);
    await new Promise<void>((res) => {
      const sub = h.m.onDidEnd((e) => e.runId === runId && (sub.dispose(), res()));
    });
    const run = (await store.getRun(runId))!;
    assert.equal(run.status, 'completed', run.error ?? '');
    assert.deepEqual((await store.getMetrics(runId, { name: 'loss' })).map((m) => m.step), Array.from({ length: 24 }, (_, i) => i), 'steps missing or recorded twice');
    assert.ok(h.events.some((e) => e.event.type === 'log' && /^resumed (from|in) epoch \d+/.test(e.event.message)), `stopped after ${stoppedAt} steps; no resume logged`);
    await assert.rejects(h.m.resume(runId, { dbPath }), /is completed: there is nothing to resume/);
    await store.close();
  });
});

describe('run manager: workers that misbehave', () => {
  const fake = (name: string, body: string) => {
    const file = join(tmp, `${name}.js`);
    writeFileSync(file, body);
    return file;
  };

  test('a worker that crashes is recorded failed with what it printed', async () => {
    const dbPath = join(tmp, 'crash.db');
    const crashing = fake('crashing-worker', "process.stderr.write('Error: cannot load the sqlite3 addon\\n'); process.exit(3);");
    const h = manager({ launch: () => ({ nodePath: process.execPath, workerPath: crashing }) });
    toDispose.push(h.m);
    const runId = await h.m.enqueue(tiny(), { dbPath });
    const end = await h.endOf(runId);
    assert.equal(end.status, 'failed');
    assert.match(end.error ?? '', /exited with code 3/);
    assert.match(end.error ?? '', /cannot load the sqlite3 addon/);
    const store = await RunStore.open(dbPath);
    const row = (await store.getRun(runId))!;
    assert.equal(row.status, 'failed');
    assert.match(row.error ?? '', /cannot load the sqlite3 addon/);
    await store.close();
  });

  test('a worker that ignores Cancel is killed after the timeout and the run is recorded cancelled', async () => {
    const dbPath = join(tmp, 'stubborn.db');
    const stubborn = fake('stubborn-worker', "process.on('message', () => {}); process.on('SIGTERM', () => {}); setInterval(() => {}, 1000);");
    const h = manager({ launch: () => ({ nodePath: process.execPath, workerPath: stubborn }), cancelTimeoutMs: 300 });
    toDispose.push(h.m);
    const runId = await h.m.enqueue(tiny(), { dbPath });
    await new Promise((r) => setTimeout(r, 300));
    await h.m.stop(dbPath, runId);
    const end = await h.endOf(runId);
    assert.equal(end.status, 'cancelled');
    assert.match(end.error ?? '', /the worker did not answer Cancel within 0.3 s and was killed/);
    assert.equal(h.forks[0].signalCode, 'SIGKILL');
  });

  // A worker that answers Cancel at once (as ours does when it reads the message) and then needs longer
  // than the answer timeout to stop: an evaluation to finish, a state to save.
  const answering = (name: string, stopAfterMs: number) =>
    fake(
      name,
      `let id; process.on('message', (m) => {
        if (m.type === 'start') id = m.runId;
        if (m.type === 'cancel') { process.send({ type: 'stopping', runId: id }); if (${stopAfterMs} >= 0) setTimeout(() => process.exit(0), ${stopAfterMs}); }
      }); setInterval(() => {}, 1000);`,
    );

  /** Starts a run on `workerPath`, stops it 300 ms later; the run's end, its worker process and the events seen. */
  async function stopAnswering(workerPath: string, stoppingTimeoutMs: number) {
    // One database per manager: the first manager's queue runner would hold the lease on a shared one.
    const dbPath = join(tmp, `answering-${stoppingTimeoutMs}.db`);
    const h = manager({ launch: () => ({ nodePath: process.execPath, workerPath }), cancelTimeoutMs: 300, stoppingTimeoutMs });
    toDispose.push(h.m);
    const runId = await h.m.enqueue(tiny(), { dbPath });
    // The queue runner claims it within a tick; then the worker has 300 ms to start.
    while (!h.forks.length) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 300));
    await h.m.stop(dbPath, runId);
    return { runId, end: await h.endOf(runId), worker: h.forks[0], events: h.events };
  }

  test('a worker that answers Cancel is given the time to stop, and killed only after the stopping timeout', async () => {
    const slow = await stopAnswering(answering('slow-stopper', 1500), 20_000);
    assert.equal(slow.end.status, 'cancelled');
    assert.equal(slow.end.error, undefined, 'killed although it answered');
    assert.equal(slow.worker.signalCode, null);
    assert.ok(slow.events.some((e) => e.event.type === 'stopping' && e.event.runId === slow.runId));

    const stuck = await stopAnswering(answering('never-stops', -1), 800);
    assert.equal(stuck.end.status, 'cancelled');
    assert.match(stuck.end.error ?? '', /the worker did not stop within 0.8 s of answering Cancel and was killed/);
    assert.equal(stuck.worker.signalCode, 'SIGKILL');
  });

  test('a node path that does not exist fails the run with a message naming it', async () => {
    const dbPath = join(tmp, 'nonode.db');
    const h = manager({ launch: () => ({ nodePath: join(tmp, 'no-such-node'), workerPath }) });
    toDispose.push(h.m);
    const runId = await h.m.enqueue(tiny(), { dbPath });
    const end = await h.endOf(runId);
    assert.equal(end.status, 'failed');
    assert.match(end.error ?? '', /no-such-node/);
  });

  test('Stop on a run started elsewhere on this machine sends SIGTERM to its worker', async () => {
    const dbPath = join(tmp, 'external.db');
    const store = await RunStore.open(dbPath);
    const runId = await store.createRun(tiny(), { status: 'running' });
    const target = fork(fake('external-worker', "process.on('SIGTERM', () => { process.send({ got: 'SIGTERM' }); setTimeout(() => process.exit(0), 50); }); process.send({ ready: true }); setInterval(() => {}, 1000);"), [], {
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
    });
    const next = () => new Promise((r) => target.once('message', r));
    // SIGTERM before the handler is installed would just kill it.
    assert.deepEqual(await next(), { ready: true });
    const got = next();
    await store.markRunning(runId, { backend: 'cpu', device: 'cpu', versions: {}, pid: target.pid!, host: hostname() });
    const h = manager();
    toDispose.push(h.m);
    assert.equal((await h.m.stop(dbPath, runId)).kind, 'signalled');
    assert.deepEqual(await got, { got: 'SIGTERM' });
    await new Promise((r) => target.on('exit', r));
    // Its worker is gone without recording an end: Stop now records it, instead of signalling a stale pid.
    assert.equal((await h.m.stop(dbPath, runId)).kind, 'gone');
    assert.equal((await store.getRun(runId))!.status, 'failed');
    await store.close();
  });
});

describe('Workspace Trust', () => {
  test('in Restricted Mode a config file is refused: no file read, no run recorded, no process spawned', async () => {
    const dbPath = join(tmp, 'untrusted.db');
    let spawned = 0;
    const m = new RunManager({
      launch: () => ({ nodePath: process.execPath, workerPath }),
      maxConcurrentRuns: () => 1,
      extraModuleDirs: () => [],
      fork: (...a) => {
        spawned++;
        return fork(...a);
      },
    });
    toDispose.push(m);
    const cfg = join(tmp, 'workspace.clrun.json');
    writeFileSync(cfg, JSON.stringify({ method: 'simclr', epochs: 1 }));
    let read = 0;
    const deps = { manager: m, dbPath: () => dbPath, prefs: () => ({}), readText: async () => (read++, '{"method":"simclr"}') };
    const out = await startFromConfigFile(cfg, { ...deps, isTrusted: () => false });
    assert.equal(out.kind, 'untrusted');
    assert.equal(out.kind === 'untrusted' && out.message, RESTRICTED_MESSAGE);
    assert.equal(spawned, 0);
    assert.equal(read, 0);
    assert.equal(existsSync(dbPath), false, 'the database was touched');
    // Invalid files are refused with every problem, also without spawning.
    const bad = await startFromConfigFile(cfg, { ...deps, isTrusted: () => true, readText: async () => '{"method":"simclr","epochs":0,"colour":1}' });
    assert.equal(bad.kind, 'invalid');
    assert.match(bad.kind === 'invalid' ? bad.message : '', /epochs: must be ≥ 1[\s\S]*colour: unknown key/);
    assert.equal(spawned, 0);
    // So is a dataset that cannot be read: checked before the run is recorded.
    const missing = await startFromConfigFile(cfg, { ...deps, isTrusted: () => true, readText: async () => '{"method":"simclr","dataset":"fashion-mnist:/nonexistent"}' });
    assert.equal(missing.kind, 'invalid');
    assert.match(missing.kind === 'invalid' ? missing.message : '', /workspace\.clrun\.json: the dataset cannot be read: fashion-mnist:\/nonexistent: folder not found/);
    await assert.rejects(m.enqueue(tiny({ dataset: 'mnist:/nonexistent' }), { dbPath }), /mnist:\/nonexistent: folder not found/);
    assert.equal(spawned, 0);
    assert.equal(existsSync(dbPath), false, 'a run was recorded for a dataset that cannot be read');
  });
});

describe('Runs view data from a real database', () => {
  test('runs are newest first, grouped, filtered and described with method, dataset, progress and kNN', async () => {
    const dbPath = join(tmp, 'tree.db');
    const store = await RunStore.open(dbPath);
    const done = await store.createRun(tiny({ name: 'baseline', epochs: 2 }), { status: 'running' });
    await store.markRunning(done, { backend: 'wasm', device: 'cpu', versions: {}, pid: process.pid, host: hostname() });
    await store.recordStep(done, [{ step: 0, epoch: 2, name: 'loss', value: 4.1, wallTime: Date.now() }]);
    await store.recordEval(done, { protocol: 'knn', value: 0.7125, epoch: 2, details: {} });
    await store.finishRun(done, 'completed');
    const failed = await store.createRun(tiny({ name: 'too hot', dataset: 'fashion-mnist:/data/sets/fmnist' }), { status: 'running' });
    await store.finishRun(failed, 'failed', 'NaN loss at step 3');
    const dead = await store.createRun(tiny({ name: 'killed' }), { status: 'running' });
    await store.markRunning(dead, { backend: 'wasm', device: 'cpu', versions: {}, pid: 999_999_999, host: hostname() });
    const queued = await store.createRun(tiny({ name: 'next' }), { status: 'queued' });
    await store.updateRunMeta(done, { starred: true, note: 'reference run' });

    const views = toViews(await store.listRuns(), () => undefined, { host: hostname(), isAlive: (pid) => pid === process.pid });
    assert.deepEqual(
      views.map((v) => v.row.id),
      [queued, dead, failed, done],
      'newest first',
    );
    assert.deepEqual(
      views.map((v) => v.status),
      ['queued', 'crashed', 'failed', 'completed'],
      'a running run whose worker pid is gone on this host shows as crashed at once',
    );
    assert.equal(describeRun(views[3]), 'SimCLR · builtin · 2 epochs · kNN 71.3%');
    assert.equal(describeRun(views[2]), 'SimCLR · fashion-mnist:…/fmnist');
    assert.equal(statusIcon('running').id, 'loading~spin');
    assert.match(tooltipMarkdown(views[2]), /NaN loss at step 3/);
    assert.match(tooltipMarkdown(views[2], 'Resume continues it in epoch 2 at step 812.'), /\n\nResume continues it in epoch 2 at step 812\.$/);
    assert.match(tooltipMarkdown(views[3]), /temperature = 0\.5[\s\S]*wasm \(cpu\)[\s\S]*reference run/);
    assert.equal(contextValue(views[3], false), 'run ended completed starred');

    const byStatus = groupRuns(views, 'status');
    assert.deepEqual(
      byStatus.map((g) => [g.label, g.runs.length]),
      [
        ['Queued', 1],
        ['Crashed', 1],
        ['Failed', 1],
        ['Completed', 1],
      ],
    );
    assert.deepEqual(
      groupRuns(views, 'dataset').map((g) => g.label),
      ['builtin', 'fashion-mnist:…/fmnist'],
    );
    assert.deepEqual(
      groupRuns(views, 'method').map((g) => [g.label, g.runs.length]),
      [['SimCLR', 4]],
    );
    const only = (f: Partial<typeof NO_FILTER>) => views.filter((v) => matchesFilter(v, { ...NO_FILTER, ...f })).map((v) => v.row.name);
    assert.deepEqual(only({ text: 'HOT' }), ['too hot']);
    assert.deepEqual(only({ text: 'reference' }), ['baseline'], 'the note is searched');
    assert.deepEqual(only({ starredOnly: true }), ['baseline']);
    assert.deepEqual(only({ statuses: ['failed', 'crashed'] }), ['killed', 'too hot']);
    assert.deepEqual(only({ methods: ['moco'] }), []);
    await store.close();
  });
});
