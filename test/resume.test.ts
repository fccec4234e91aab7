import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { resolveConfig, type RunConfig } from '../src/core/config';
import { isHostMessage, type WorkerEvent } from '../src/core/events';
import { initBackend } from '../src/engine/backend';
import { loadCheckpoint } from '../src/engine/checkpoint';
import type { Dataset } from '../src/data/datasets';
import { smallBuiltin } from './helpers/small-dataset';
import { runTraining } from '../src/engine/train';
import { checkResumable, describeResumePoint, latestResumeState, resumeFolder, RESUME_FORMAT, resumeStateFolder } from '../src/store/resume';
import { RunStore, runFolder } from '../src/store/store';

const tmp = mkdtempSync(join(tmpdir(), 'clab-resume-'));
/** 3 steps per epoch, 2 epochs; the final checkpoint holds every variable to compare. */
const tiny = (over: Record<string, unknown>): RunConfig => {
  const { config, problems } = resolveConfig({ epochs: 2, batchSize: 16, trainLimit: 48, encoder: { preset: 'tiny' }, projector: { hidden: 32, out: 16 }, eval: { knnEvery: 0, linearProbe: false }, ...over });
  assert.deepEqual(problems, []);
  return config!;
};

/** The built-in set cut down (512 training images of which the runs use 48, and 64 test images), so evaluations take no time. */
let small: Dataset;
before(async () => {
  await initBackend('wasm');
  small = smallBuiltin();
});

async function open(name: string) {
  const dbPath = join(tmp, `${name}.db`);
  return { dbPath, store: await RunStore.open(dbPath) };
}

/** Trains run `runId`; `stopAtStep` cancels once that step is recorded (the interrupted attempt). */
async function train(store: RunStore, dbPath: string, runId: number, config: RunConfig, o: { stopAtStep?: number; resume?: boolean; logs?: string[] } = {}) {
  const cancel = { requested: false };
  const emit = (e: WorkerEvent) => {
    if (e.type === 'step' && e.step === o.stopAtStep) cancel.requested = true;
    if (e.type === 'log') o.logs?.push(e.message);
  };
  const outcome = await runTraining(config, { store, dbPath, runId, emit, cancel, resume: o.resume, dataset: small });
  return outcome;
}

const finalWeights = (dbPath: string, runId: number, epochs: number) => loadCheckpoint(join(runFolder(dbPath, runId), 'checkpoints', `epoch-${String(epochs).padStart(4, '0')}`));

const CASES: { name: string; over: Record<string, unknown> }[] = [
  // Adam (slots m, v and the bias-correction step), kNN, embeddings and checkpoints every epoch.
  { name: 'SimCLR (Adam)', over: { method: 'simclr', checkpointEvery: 1, eval: { knnEvery: 1, linearProbe: true, embeddingsEvery: 1, embeddingSamples: 32 } } },
  // SGD momentum, the EMA key encoder, the queue and its pointer, the shuffled-BN random stream.
  { name: 'MoCo v2 (queue, EMA, SGD momentum)', over: { method: 'mocov2', params: { queueSize: 200 } } },
  // The memory bank, its rows given to images as they come (trainLimit), log Z, the NCE noise stream.
  { name: 'InstDisc (memory bank, NCE)', over: { method: 'instdisc', params: { loss: 'nce', noiseSamples: 64 } } },
  // A bank filled from features before step 1: done once, not again over the resumed state.
  { name: 'InstDisc (bank from features)', over: { method: 'instdisc', params: { bankInit: 'features' } } },
  // Data-parallel: the shard thread's replica must start from the resumed optimizer too.
  { name: 'SimCLR on 2 threads', over: { method: 'simclr', threads: 2 } },
];

for (const { name, over } of CASES) {
  test(`${name}: stopped mid-epoch 1, at the end of epoch 1 and mid-epoch 2, and resumed each time, gives the losses and weights of an uninterrupted run`, async () => {
    const config = tiny(over);
    const { dbPath, store } = await open(name.replace(/\W+/g, '-'));
    try {
      const straight = await store.createRun(config, { status: 'running' });
      assert.equal((await train(store, dbPath, straight, config)).status, 'completed');
      const resumed = await store.createRun(config, { status: 'running' });
      const tensorsBefore = tf.memory().numTensors;
      // 3 steps per epoch. A stop is seen before the next step: after step 0 (mid-epoch 1), after step 2
      // (epoch 1 ends first, so its end-of-epoch state is the one used) and after step 4 (mid-epoch 2).
      const attempts: { stopAtStep: number; state: string; log?: RegExp }[] = [
        { stopAtStep: 0, state: 'step-00000001' },
        { stopAtStep: 2, state: 'epoch-0001', log: /^resumed in epoch 1 at step 1 \(1 of its 3 steps done\)/ },
        { stopAtStep: 4, state: 'step-00000005', log: /^resumed from epoch 1 \(step 3\)/ },
      ];
      for (const [i, a] of attempts.entries()) {
        const logs: string[] = [];
        assert.equal((await train(store, dbPath, resumed, config, { stopAtStep: a.stopAtStep, resume: i > 0, logs })).status, 'cancelled');
        if (a.log) assert.ok(logs.some((l) => a.log!.test(l)), logs.join('\n'));
        assert.deepEqual(readdirSync(resumeFolder(dbPath, resumed)), [a.state], `attempt ${i + 1}: the resume state kept`);
        assert.equal(tf.memory().numTensors, tensorsBefore, `tensors leaked by attempt ${i + 1}`);
      }
      const point = latestResumeState(dbPath, resumed)!.point;
      assert.deepEqual([point.epoch, point.step, point.stepsPerEpoch, typeof point.partial?.lossSum], [1, 5, 3, 'number']);
      // Nothing of the incomplete epoch 2 is summarised before it completes.
      assert.deepEqual((await store.getMetrics(resumed, { name: 'epoch_loss' })).map((m) => m.epoch), [1]);
      const logs: string[] = [];
      const outcome = await train(store, dbPath, resumed, config, { resume: true, logs });
      assert.equal(outcome.status, 'completed', 'error' in outcome ? outcome.error : '');
      assert.equal(tf.memory().numTensors, tensorsBefore, 'tensors leaked by a resumed run');
      assert.ok(logs.some((l) => l.startsWith('resumed in epoch 2 at step 5 (2 of its 3 steps done)')), logs.join('\n'));

      const a = await store.getMetrics(straight, { name: 'loss' });
      const b = await store.getMetrics(resumed, { name: 'loss' });
      assert.deepEqual(b.map((m) => m.step), [0, 1, 2, 3, 4, 5], 'steps missing or recorded twice');
      // Bit for bit: the same kernels on the same values in the same order.
      for (let i = 0; i < a.length; i++) assert.equal(b[i].value, a[i].value, `step ${i}: ${a[i].value} uninterrupted vs ${b[i].value} resumed`);
      // Each epoch's mean loss over all its steps, those before an interruption too.
      const epochLoss = async (id: number) => (await store.getMetrics(id, { name: 'epoch_loss' })).map((m) => [m.epoch, m.value]);
      assert.deepEqual(await epochLoss(resumed), await epochLoss(straight));
      assert.deepEqual((await store.getMetrics(resumed, { name: 'epoch_seconds' })).map((m) => m.epoch), [1, 2]);
      const ka = finalWeights(dbPath, straight, 2).tensors;
      const kb = finalWeights(dbPath, resumed, 2).tensors;
      assert.deepEqual(Object.keys(kb).sort(), Object.keys(ka).sort());
      for (const k of Object.keys(ka)) {
        const [x, y] = [Array.from(ka[k].dataSync()), Array.from(kb[k].dataSync())];
        const worst = x.reduce((w, v, i) => Math.max(w, Object.is(v, y[i]) ? 0 : Math.abs(v - y[i])), 0); // NaN = NaN (an unused log Z)
        assert.equal(worst, 0, `final ${k} differs by ${worst}`);
      }
      tf.dispose([...Object.values(ka), ...Object.values(kb)]);

      const run = (await store.getRun(resumed))!;
      assert.equal(run.status, 'completed');
      assert.equal(run.error, null);
      assert.equal(existsSync(resumeFolder(dbPath, resumed)), false, 'the resume state was not removed on completion');
      const evalsOf = async (id: number) => (await store.getEvals(id)).map((e) => `${e.protocol}@${e.epoch}`);
      assert.deepEqual(await evalsOf(resumed), await evalsOf(straight), 'evaluations missing or recorded twice');
      assert.deepEqual((await store.getArtifacts(resumed)).map((x) => x.epoch), (await store.getArtifacts(straight)).map((x) => x.epoch));
      assert.deepEqual((await store.listEmbeddings(resumed)).map((x) => x.epoch), (await store.listEmbeddings(straight)).map((x) => x.epoch));
    } finally {
      await store.close();
    }
  });
}

test('a worker that dies during an epoch\'s evaluation resumes with that evaluation, not the epoch\'s training again', async () => {
  const config = tiny({ method: 'simclr', checkpointEvery: 1, eval: { knnEvery: 1, linearProbe: true, embeddingsEvery: 1, embeddingSamples: 32 } });
  const { dbPath, store } = await open('killed-in-evaluation');
  try {
    const straight = await store.createRun(config, { status: 'running' });
    assert.equal((await train(store, dbPath, straight, config)).status, 'completed');
    const killed = await store.createRun(config, { status: 'running' });
    // Dies right after epoch 2's kNN is recorded, before its collapse score, embeddings and checkpoint.
    const died = await runTraining(config, {
      store, dbPath, runId: killed, cancel: { requested: false }, dataset: small,
      emit: (e) => {
        if (e.type === 'eval' && e.eval.epoch === 2 && e.eval.protocol === 'knn') throw new Error('worker killed');
      },
    });
    assert.equal(died.status, 'failed');
    assert.deepEqual(readdirSync(resumeFolder(dbPath, killed)), ['epoch-0002-trained']);
    const state = latestResumeState(dbPath, killed)!;
    assert.deepEqual([state.point.epoch, state.point.step, state.point.evaluationPending], [2, 6, true]);
    assert.equal(describeResumePoint(state.point), 'after epoch 2, with its evaluation');
    const steps: number[] = [];
    const logs: string[] = [];
    const resumed = await runTraining(config, {
      store, dbPath, runId: killed, cancel: { requested: false }, dataset: small, resume: true,
      emit: (e) => {
        if (e.type === 'step') steps.push(e.step);
        if (e.type === 'log') logs.push(e.message);
      },
    });
    assert.equal(resumed.status, 'completed', 'error' in resumed ? resumed.error : '');
    assert.deepEqual(steps, [], 'the trained epoch was trained again');
    assert.ok(logs.some((l) => l.startsWith('resumed from epoch 2 (step 6), its evaluation to be done again')), logs.join('\n'));
    // Everything once, with the values of the uninterrupted run (the same weights evaluated).
    const evals = async (id: number) => (await store.getEvals(id)).map((e) => `${e.protocol}@${e.epoch}=${e.value}`);
    assert.deepEqual(await evals(killed), await evals(straight));
    assert.deepEqual((await store.getMetrics(killed, { name: 'loss' })).map((m) => m.step), [0, 1, 2, 3, 4, 5]);
    assert.deepEqual((await store.getArtifacts(killed)).map((x) => x.epoch), [1, 2]);
    assert.deepEqual((await store.listEmbeddings(killed)).map((x) => x.epoch), [1, 2]);
  } finally {
    await store.close();
  }
});

test('of two resume states at the same step, the evaluated one is used', () => {
  const dbPath = join(tmp, 'same-step.db');
  for (const evaluationPending of [true, false]) {
    const dir = resumeStateFolder(dbPath, 1, { epoch: 3, step: 9, evaluationPending });
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'model.json'), JSON.stringify({ format: RESUME_FORMAT, epoch: 3, step: 9, configHash: 'h', ...(evaluationPending ? { evaluationPending } : {}) }));
  }
  const state = latestResumeState(dbPath, 1)!;
  assert.deepEqual([state.dir.split(/[\\/]/).at(-1), state.point.evaluationPending], ['epoch-0003', undefined]);
});

test('resuming is refused, changing nothing, for a completed, a running or a state-less run, and for a state of another config; a crashed one is resumable', async () => {
  const config = tiny({ method: 'simclr', epochs: 1 });
  const { dbPath, store } = await open('refusals');
  try {
    const resume = (runId: number, c = config) => runTraining(c, { store, dbPath, runId, emit: () => undefined, cancel: { requested: false }, resume: true, dataset: small });
    const completed = await store.createRun(config, { status: 'running' });
    assert.equal((await train(store, dbPath, completed, config)).status, 'completed');
    await assert.rejects(resume(completed), /run \d+ is completed: there is nothing to resume/);
    assert.ok(!existsSync(resumeFolder(dbPath, completed)));

    const running = await store.createRun(config, { status: 'running' });
    await assert.rejects(resume(running), /run \d+ is still running .*: stop it first/);

    // Stopped in epoch 1, and its state gone (as after a crash or a failure there, which save none).
    const early = await store.createRun(config, { status: 'running' });
    assert.equal((await train(store, dbPath, early, config, { stopAtStep: 1 })).status, 'cancelled');
    assert.equal((await checkResumable(store, dbPath, early)).from.step, 2, 'a stop in epoch 1 saves a state');
    rmSync(resumeFolder(dbPath, early), { recursive: true, force: true });
    await assert.rejects(resume(early), new RegExp(`run ${early} has no resume state: it ended in its first epoch without saving one \\(a stop saves one, a crash or a failure does not\\) — start it again`));
    assert.equal((await store.getRun(early))!.status, 'cancelled');
    assert.equal((await store.getMetrics(early, { name: 'loss' })).length, 2, 'a refused resume changed the records');

    // A cancel before this attempt's first step leaves the state it started from as it was.
    const twice = await store.createRun(config, { status: 'running' });
    assert.equal((await train(store, dbPath, twice, config, { stopAtStep: 0 })).status, 'cancelled');
    const before = latestResumeState(dbPath, twice)!;
    const cancelled = { requested: true };
    assert.equal((await runTraining(config, { store, dbPath, runId: twice, emit: () => undefined, cancel: cancelled, resume: true, dataset: small })).status, 'cancelled');
    assert.deepEqual(latestResumeState(dbPath, twice), before);

    // Epochs recorded but no state (a version without resume recorded it, or the folder was deleted).
    const twoEpochs = tiny({ method: 'simclr', epochs: 2 });
    const stateless = await store.createRun(twoEpochs, { status: 'running' });
    assert.equal((await train(store, dbPath, stateless, twoEpochs, { stopAtStep: 4 })).status, 'cancelled');
    rmSync(resumeFolder(dbPath, stateless), { recursive: true, force: true });
    await assert.rejects(resume(stateless, twoEpochs), /has no resume state although it has records up to epoch 2: it was recorded by a version of Contrastive Lab without resume, or its state folder .* was removed/);

    const fakeState = (configHash: string) => {
      const dir = resumeStateFolder(dbPath, early, { epoch: 1, step: 4 });
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'model.json'), JSON.stringify({ format: RESUME_FORMAT, epoch: 1, step: 4, configHash }));
    };
    fakeState((await store.getRun(early))!.configHash);
    await assert.rejects(resume(early, tiny({ method: 'simclr', epochs: 3 })), /resumed with its recorded config only/);
    fakeState('another-config');
    await assert.rejects(resume(early), /resume state was saved for another config \(hash another-config/);
    await assert.rejects(resume(999), /there is no run 999/);

    // A crashed worker: recorded as running, but its process on this machine is gone (kill -9, a restart).
    await store.markRunning(early, { backend: 'wasm', device: 'cpu', versions: {}, pid: 999_999, host: 'this-host' });
    const liveness = (alive: boolean) => ({ host: 'this-host', isAlive: () => alive });
    await assert.rejects(checkResumable(store, dbPath, early, liveness(true)), /is still running \(process 999999\): stop it first/);
    fakeState((await store.getRun(early))!.configHash);
    assert.equal((await checkResumable(store, dbPath, early, liveness(false))).from.epoch, 1);
  } finally {
    await store.close();
  }
});

test('clab resume continues a stopped run to completion with one final JSON line, and refuses a completed one', async () => {
  const root = resolve(__dirname, '..');
  assert.equal(spawnSync(process.execPath, [join(root, 'scripts', 'ensure-built.mjs')], { stdio: 'inherit' }).status, 0, 'build failed');
  const clab = (...args: string[]) => {
    const r = spawnSync(process.execPath, [join(root, 'dist', 'cli.js'), ...args], { encoding: 'utf8', timeout: 240_000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  // Stopped in epoch 2 in this process, on the built-in set the CLI loads too.
  const config = tiny({ method: 'simclr', dataset: 'builtin' });
  const { dbPath, store } = await open('cli');
  const runId = await store.createRun(config, { status: 'running' });
  const cancel = { requested: false };
  const stopped = await runTraining(config, { store, dbPath, runId, emit: (e) => void (e.type === 'step' && e.step === 4 && (cancel.requested = true)), cancel });
  assert.equal(stopped.status, 'cancelled');
  await store.close();

  // `clab show` says where it would continue.
  assert.match(clab('show', String(runId), '--db', dbPath).stdout, new RegExp(`\\n  resume     clab resume ${runId} continues it in epoch 2 at step 5\\n`));
  assert.deepEqual(JSON.parse(clab('show', String(runId), '--db', dbPath, '--json').stdout).resumeFrom, { epoch: 1, step: 5, midEpoch: true, evaluationPending: false });
  const r = clab('resume', String(runId), '--db', dbPath, '--json');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /resumed in epoch 2 at step 5 \(2 of its 3 steps done\)/);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1, 'resume --json must print exactly one line');
  const out = JSON.parse(lines[0]);
  assert.equal(out.runId, runId);
  assert.equal(out.status, 'completed');
  const reopened = await RunStore.open(dbPath);
  assert.equal(out.configHash, (await reopened.getRun(runId))!.configHash);
  assert.equal((await reopened.getRun(runId))!.status, 'completed');
  await reopened.close();

  assert.doesNotMatch(clab('show', String(runId), '--db', dbPath).stdout, /resume /, 'a completed run has nothing to resume');
  const again = clab('resume', String(runId), '--db', dbPath);
  assert.equal(again.code, 2);
  assert.match(again.stderr, new RegExp(`clab resume: run ${runId} is completed`));
  assert.equal(clab('resume', 'seven', '--db', dbPath).code, 2);
  assert.match(clab('--help').stdout, /resume <id>/);
});

test('the worker protocol accepts a resume message with a run id and rejects malformed ones', () => {
  assert.ok(isHostMessage({ type: 'resume', dbPath: '/x/runs.db', runId: 7 }));
  assert.ok(isHostMessage({ type: 'resume', dbPath: '/x/runs.db', runId: 7, extraModuleDirs: [] }));
  assert.ok(!isHostMessage({ type: 'resume', dbPath: '/x/runs.db' }), 'no run id');
  assert.ok(!isHostMessage({ type: 'resume', dbPath: '/x/runs.db', runId: '7' }), 'run id as a string');
  assert.ok(!isHostMessage({ type: 'resume', dbPath: '/x/runs.db', runId: 0 }), 'run id 0');
  assert.ok(!isHostMessage({ type: 'resume', runId: 7 }), 'no database');
  assert.ok(isHostMessage({ type: 'start', dbPath: '/x/runs.db', config: {} }));
  assert.ok(!isHostMessage({ type: 'start', dbPath: '/x/runs.db', config: null }));
});
