import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { claimQueue, logName, parseCurveEntries, planCurves } from '../scripts/curves';
import type { RunRow } from '../src/store/types';

let nextId = 1;
function run(method: string, configHash: string, status: RunRow['displayStatus'], lastEpoch: number | null = null): RunRow {
  return {
    id: nextId++,
    name: method,
    method,
    dataset: 'fashion-mnist:/data',
    config: {} as RunRow['config'],
    configHash,
    status: status === 'crashed' ? 'running' : status,
    displayStatus: status,
    createdAt: 0,
    startedAt: null,
    finishedAt: null,
    heartbeatAt: null,
    backend: null,
    device: null,
    versions: {},
    error: null,
    pid: null,
    host: null,
    starred: false,
    note: null,
    lastEpoch,
    lastKnn: null,
    sweepId: null,
    sweepIndex: null,
    axisValues: null,
    queuedAt: null,
    claimedBy: null,
    attempts: 0,
  };
}

test('the curve queue: done, training now, resumed from its state, or trained anew — only runs of the wanted config count', () => {
  const hashOf = (m: string) => `h-${m}`;
  const done = run('simclr', 'h-simclr', 'completed', 10);
  const otherConfig = run('mocov1', 'h-other', 'completed', 10); // e.g. another τ: not this curve
  const live = run('mocov2', 'h-mocov2', 'running', 4);
  const crashed = run('byol', 'h-byol', 'crashed', 3);
  const stale = run('simsiam', 'h-simsiam', 'cancelled', 0); // stopped before its first epoch: no state
  const cancelled = run('instdisc', 'h-instdisc', 'cancelled', 2);
  const runs = [cancelled, stale, crashed, live, otherConfig, done].reverse(); // newest first, as listRuns
  const points = new Map([
    [crashed.id, { epoch: 3, step: 12, configHash: 'h-byol' }],
    [cancelled.id, { epoch: 2, step: 9, configHash: 'h-instdisc', partial: { lossSum: 1, seconds: 1 } }],
  ]);
  const plan = planCurves(runs, parseCurveEntries('simclr,mocov1,mocov2,byol,simsiam,instdisc'), (e) => hashOf(e.method), (r) => points.get(r.id));
  assert.deepEqual(
    plan.map((s) => [s.entry.method, s.action, s.runId]),
    [
      ['simclr', 'done', done.id],
      ['mocov1', 'train', undefined],
      ['mocov2', 'running', live.id],
      ['byol', 'resume', crashed.id],
      ['simsiam', 'train', undefined],
      ['instdisc', 'resume', cancelled.id],
    ],
  );
  assert.match(plan[4].why, new RegExp(`runs ${stale.id} cannot be resumed`));
  assert.equal(plan[3].why, `run ${crashed.id} (crashed) resumes after epoch 3`);
  assert.equal(plan[5].why, `run ${cancelled.id} (cancelled) resumes in epoch 3 at step 9`);
});

test('one curve queue per database: a second one is refused while the first lives; a dead one is taken over', () => {
  const logs = mkdtempSync(join(tmpdir(), 'clab-queue-'));
  try {
    const release = claimQueue(logs);
    assert.equal(readFileSync(join(logs, 'queue.pid'), 'utf8'), `${process.pid}\n`);
    // Another live queue holds it (this test's parent process stands in for one).
    writeFileSync(join(logs, 'queue.pid'), `${process.ppid}\n`);
    assert.throws(() => claimQueue(logs), new RegExp(`another curve queue \\(pid ${process.ppid}\\) is running on this database; stop it first: kill -TERM ${process.ppid}`));
    release(); // not ours any more: left alone
    assert.equal(readFileSync(join(logs, 'queue.pid'), 'utf8'), `${process.ppid}\n`);
    // A queue that was killed (no such process) left its file.
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    writeFileSync(join(logs, 'queue.pid'), `${dead.stdout}\n`);
    const mine = claimQueue(logs);
    assert.equal(readFileSync(join(logs, 'queue.pid'), 'utf8'), `${process.pid}\n`);
    mine();
    assert.equal(existsSync(join(logs, 'queue.pid')), false);
  } finally {
    rmSync(logs, { recursive: true, force: true });
  }
});

test('curves --dry-run plans every method on an empty database; an unknown method or a missing dataset stops it with the reason', () => {
  const dir = mkdtempSync(join(tmpdir(), 'clab-curves-'));
  try {
    const script = join(__dirname, '..', 'scripts', 'curves.ts');
    const ok = spawnSync(process.execPath, ['--import', 'tsx', script, '--db', join(dir, 'runs.db'), '--methods', 'simclr,cpc', '--dry-run'], { encoding: 'utf8' });
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /^simclr\s+train\s+no run yet\ncpc\s+train\s+no run yet\n$/);
    // A variant beside the default curve: its own config, so its own plan line; wrong overrides name the entry.
    const variant = spawnSync(process.execPath, ['--import', 'tsx', script, '--db', join(dir, 'runs.db'), '--methods', 'simsiam,simsiam:optimizer.lr=0.06+optimizer.warmupEpochs=1', '--dry-run'], { encoding: 'utf8' });
    assert.equal(variant.status, 0, variant.stderr);
    assert.match(variant.stdout, /^simsiam\s+train\s+no run yet\nsimsiam:optimizer\.lr=0\.06\+optimizer\.warmupEpochs=1 train\s+no run yet\n$/);
    const negative = spawnSync(process.execPath, ['--import', 'tsx', script, '--db', join(dir, 'runs.db'), '--methods', 'simsiam:optimizer.lr=-1', '--dry-run'], { encoding: 'utf8' });
    assert.equal(negative.status, 1);
    assert.match(negative.stderr, /--methods simsiam:optimizer\.lr=-1: optimizer\.lr: must be > 0, got -1/);
    const bad = spawnSync(process.execPath, ['--import', 'tsx', script, '--db', join(dir, 'runs.db'), '--methods', 'simclr,swav', '--dry-run'], { encoding: 'utf8' });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /--methods swav: method: must be one of simclr, .*got "swav"/);
    // A dataset that is not there stops the queue before any training starts, with clab's message.
    const env = { ...process.env, CLAB_CACHE: join(dir, 'empty-cache') };
    const missing = spawnSync(process.execPath, ['--import', 'tsx', script, '--db', join(dir, 'runs.db'), '--methods', 'simclr', '--dataset', 'fashion-mnist'], { encoding: 'utf8', env });
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /dataset fashion-mnist: .*not downloaded yet.*clab data download fashion-mnist/);
    assert.doesNotMatch(missing.stdout, /: train \(log/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('curve entries: a method, or a method with clab train --set overrides joined by +; each with its own log file', () => {
  assert.deepEqual(parseCurveEntries('byol, simsiam:optimizer.lr=0.06+params.predictorHidden=256,'), [
    { label: 'byol', method: 'byol', sets: [] },
    { label: 'simsiam:optimizer.lr=0.06+params.predictorHidden=256', method: 'simsiam', sets: ['optimizer.lr=0.06', 'params.predictorHidden=256'] },
  ]);
  assert.throws(() => parseCurveEntries('simsiam:optimizer.lr'), /--methods simsiam:optimizer\.lr: each override is key\.path=value, got 'optimizer\.lr'/);
  assert.equal(logName(parseCurveEntries('byol')[0]), 'byol.log');
  assert.equal(logName(parseCurveEntries('simsiam:optimizer.lr=0.06+optimizer.warmupEpochs=1')[0]), 'simsiam_optimizer.lr=0.06_optimizer.warmupEpochs=1.log');
});
