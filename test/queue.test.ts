import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { RunStore } from '../src/store/store';
import type { RunRow } from '../src/store/types';

// The queue with real runners (the CLI bundle, as users run it) and real training workers, on sweeps of
// runs small enough to take seconds each.
const root = resolve(__dirname, '..');
const cli = join(root, 'dist', 'cli.js');
const tmp = mkdtempSync(join(tmpdir(), 'clab-queue-'));

before(() => {
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'ensure-built.mjs')], { stdio: 'inherit' });
  assert.equal(r.status, 0, 'build failed');
});

function sweepFile(name: string, grid: Record<string, unknown[]>, over: Record<string, unknown> = {}): string {
  const file = join(tmp, `${name}.clsweep.json`);
  const base = { method: 'simclr', epochs: 1, trainLimit: 96, batchSize: 32, encoder: { preset: 'tiny' }, projector: { hidden: 16, out: 8 }, eval: { linearProbe: false, knnK: 20 }, ...over };
  writeFileSync(file, JSON.stringify({ name, base, grid }));
  return file;
}

function clab(args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 300_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function runner(db: string, jobs: number): ChildProcess {
  return spawn(process.execPath, [cli, 'queue', 'run', '--jobs', String(jobs), '--db', db], { stdio: ['ignore', 'ignore', 'pipe'] });
}

const exited = (c: ChildProcess) => new Promise<number | null>((res) => (c.exitCode !== null ? res(c.exitCode) : c.on('exit', (code) => res(code))));

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 240_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The most runs of `runs` that were training at the same moment (from their recorded start and end). */
function maxOverlap(runs: RunRow[]): number {
  const ev = runs.flatMap((r) => [
    [r.startedAt!, 1],
    [r.finishedAt!, -1],
  ]);
  ev.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let n = 0;
  let max = 0;
  for (const [, d] of ev) max = Math.max(max, (n += d));
  return max;
}

describe('the run queue, with real runners and workers', () => {
  test('a 2×2 sweep completes with --jobs 2: every run once, never more than 2 at a time, and sweep show reads it', async () => {
    const db = join(tmp, 'grid.db');
    const r = clab(['sweep', 'start', sweepFile('grid', { 'optimizer.lr': [0.001, 0.003], seed: [0, 1] }), '--jobs', '2', '--db', db]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /sweep "grid": 4 runs/);
    assert.match(r.stderr, /\[4\/4\] run \d+ optimizer\.lr=0\.003 seed=\d completed: kNN/);
    assert.match(r.stdout, /4\/4 done/);
    const store = await RunStore.open(db);
    const runs = await store.sweepRuns(1);
    assert.deepEqual(runs.map((x) => [x.status, x.attempts]), Array(4).fill(['completed', 1]));
    assert.ok(maxOverlap(runs) <= 2, 'more than 2 runs trained at once');
    await store.close();
    const show = JSON.parse(clab(['sweep', 'show', '1', '--json', '--db', db]).stdout);
    assert.equal(show.cells.length, 2);
    assert.equal(show.cells[0].metrics.knn.n, 2);
    assert.ok(show.best === 0 || show.best === 1);
    const bad = join(tmp, 'bad.clsweep.json');
    writeFileSync(bad, JSON.stringify({ base: { method: 'simclr', epochs: -1 }, grid: { 'optimizer.lr': [0.1, 'fast'] } }));
    const refused = clab(['sweep', 'start', bad, '--db', join(tmp, 'never.db')]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /bad\.clsweep\.json: base\.epochs: must be ≥ 1, got -1 \(in 2 runs\)/);
    assert.match(refused.stderr, /bad\.clsweep\.json: grid\."optimizer\.lr"\[1\]: must be a number, got "fast" \(optimizer\.lr\)/);
    const big = clab(['sweep', 'start', sweepFile('big', { seed: Array.from({ length: 12 }, (_, i) => i) }), '--max-runs', '10', '--db', join(tmp, 'big.db')]);
    assert.equal(big.code, 2);
    assert.match(big.stderr, /12 runs is more than --max-runs 10; pass --yes/);
    // A built-in study written by `sweep new` is a file `sweep start` accepts (here refused over --max-runs: nothing runs).
    const studyFile = join(tmp, 'study.clsweep.json');
    assert.equal(clab(['sweep', 'new', 'simclr-augmentation', '--out', studyFile]).code, 0);
    const study = clab(['sweep', 'start', studyFile, '--max-runs', '10', '--db', join(tmp, 'big.db')]);
    assert.match(study.stderr, /sweep "SimCLR augmentation study": 49 runs/);
    assert.match(clab(['sweep', 'new']).stdout, /simclr-augmentation +SimCLR augmentation study/);
    const none = await RunStore.open(join(tmp, 'big.db'));
    assert.deepEqual(await none.listRuns(), [], 'a refused sweep queued runs');
    await none.close();
  });

  test('a runner killed mid-sweep: the next one finishes the sweep, no run started twice and none lost', async () => {
    const db = join(tmp, 'killed.db');
    const q = clab(['sweep', 'start', sweepFile('killed', { seed: [0, 1, 2, 3] }, { epochs: 2 }), '--detach', '--db', db]);
    assert.equal(q.code, 0, q.stderr);
    const store = await RunStore.open(db);
    const first = runner(db, 1);
    // Killed while its first run trains (the worker, in its own process group, trains on).
    await waitFor('a run to record a step', async () => ((await store.sweepRuns(1)).some((r) => r.lastEpoch !== null) ? true : undefined));
    first.kill('SIGKILL');
    await exited(first);
    const second = runner(db, 1);
    assert.equal(await exited(second), 0);
    const runs = await store.sweepRuns(1);
    assert.deepEqual(runs.map((r) => [r.status, r.attempts]), Array(4).fill(['completed', 1]), JSON.stringify(runs.map((r) => [r.id, r.status, r.attempts, r.error])));
    for (const r of runs) assert.deepEqual((await store.getMetrics(r.id, { name: 'loss' })).map((m) => m.step), [0, 1, 2, 3, 4, 5], `run ${r.id}: steps missing or recorded twice`);
    assert.ok(maxOverlap(runs) <= 1, 'the new runner started a run beside the one still training');
    await store.close();
  });

  test('two runners on one database never run the same run; a killed worker fails its run and the queue moves on', async () => {
    const db = join(tmp, 'two.db');
    assert.equal(clab(['sweep', 'start', sweepFile('two', { seed: [0, 1, 2, 3, 4] }), '--detach', '--db', db]).code, 0);
    const store = await RunStore.open(db);
    const a = runner(db, 2);
    const b = runner(db, 2);
    let stderr = '';
    a.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    b.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    // Kill the worker of the first run that reports itself running.
    const victim = await waitFor('a worker to start', async () => (await store.sweepRuns(1)).find((r) => r.status === 'running' && r.pid !== null));
    process.kill(victim.pid!, 'SIGKILL');
    // Both followed the whole queue, so both report its failed run.
    assert.deepEqual(await Promise.all([exited(a), exited(b)]), [1, 1], stderr);
    const runs = await store.sweepRuns(1);
    assert.deepEqual(
      runs.map((r) => [r.id === victim.id ? 'victim' : 'other', r.status, r.attempts]),
      runs.map((r) => (r.id === victim.id ? ['victim', 'failed', 1] : ['other', 'completed', 1])),
    );
    assert.match(runs.find((r) => r.id === victim.id)!.error ?? '', /killed \(SIGKILL\)/);
    assert.ok(maxOverlap(runs) <= 2);
    assert.match(stderr, /another runner drains this queue/);
    // Retry puts the failed run back; a runner trains it to completion.
    const retry = clab(['sweep', 'retry', '1', '--db', db]);
    assert.match(retry.stdout, new RegExp(`run ${victim.id} queued again`));
    assert.equal(await exited(runner(db, 1)), 0);
    assert.equal((await store.getRun(victim.id))!.status, 'completed');
    assert.equal((await store.getRun(victim.id))!.attempts, 2);
    await store.close();
  });
});
