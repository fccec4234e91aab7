import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tar from 'tar';
import { resolveConfig, type RunConfig } from '../src/core/config';
import type { WorkerEvent } from '../src/core/events';
import { initBackend } from '../src/engine/backend';
import { loadCheckpoint } from '../src/engine/checkpoint';
import type { Dataset } from '../src/data/datasets';
import { runTraining } from '../src/engine/train';
import { packRun, PackError, unpackRun } from '../src/store/pack';
import { checkResumable, latestResumeState } from '../src/store/resume';
import { RunStore, runFolder } from '../src/store/store';
import { smallBuiltin } from './helpers/small-dataset';

const tmp = mkdtempSync(join(tmpdir(), 'clab-pack-'));
let small: Dataset;
before(async () => {
  await initBackend('wasm');
  small = smallBuiltin();
});

/** SimCLR, 3 steps per epoch, 2 epochs, with kNN, embeddings and a checkpoint every epoch. */
function tiny(): RunConfig {
  const { config, problems } = resolveConfig({
    method: 'simclr', epochs: 2, batchSize: 16, trainLimit: 48, encoder: { preset: 'tiny' }, projector: { hidden: 32, out: 16 },
    checkpointEvery: 1, eval: { knnEvery: 1, linearProbe: false, embeddingsEvery: 1, embeddingSamples: 32 },
  });
  assert.deepEqual(problems, []);
  return config!;
}

async function train(store: RunStore, dbPath: string, runId: number, config: RunConfig, o: { stopAtStep?: number; resume?: boolean } = {}) {
  const cancel = { requested: false };
  const emit = (e: WorkerEvent) => {
    if (e.type === 'step' && e.step === o.stopAtStep) cancel.requested = true;
  };
  return runTraining(config, { store, dbPath, runId, emit, cancel, resume: o.resume, dataset: small });
}

let counter = 0;
async function open(name: string) {
  const dbPath = join(tmp, `${name}-${counter++}.db`);
  return { dbPath, store: await RunStore.open(dbPath) };
}

/** A run of `tiny()` stopped in the middle of epoch 2 (after step 4), in a database of its own. */
async function stoppedRun() {
  const { dbPath, store } = await open('source');
  const config = tiny();
  const id = await store.createRun(config, { status: 'running' });
  assert.equal((await train(store, dbPath, id, config, { stopAtStep: 4 })).status, 'cancelled');
  await store.updateRunMeta(id, { starred: true, note: 'moved between machines' });
  return { dbPath, store, id, config };
}

const rowsOf = async (store: RunStore, id: number) => ({
  metrics: await store.getMetrics(id),
  evals: await store.getEvals(id),
  embeddings: await Promise.all((await store.listEmbeddings(id)).map(async (e) => {
    const { id: _, ...rest } = (await store.getEmbedding(e.id))!;
    return rest;
  })),
});

test('a run stopped mid-epoch, packed and unpacked into another database, arrives whole and resumes to the same weights as an uninterrupted run', async () => {
  const src = await stoppedRun();
  const { dbPath, store } = await open('target');
  try {
    // Into a folder that does not exist yet.
    const file = join(tmp, 'to', 'be', 'made', 'stopped.clabrun');
    const summary = await packRun(src.store, src.dbPath, src.id, file);
    assert.deepEqual([summary.embeddings, summary.checkpoints, summary.resume?.step, summary.skipped], [1, 1, 5, []]);
    // Another run first, so the unpacked one gets a different id from the one it had.
    await store.createRun(tiny());
    const r = await unpackRun(store, dbPath, file);
    assert.equal(r.runId, 2);
    assert.deepEqual(r.from, { host: r.from.host, database: src.dbPath, runId: src.id });

    const [a, b] = [(await src.store.getRun(src.id))!, (await store.getRun(r.runId))!];
    for (const k of ['name', 'method', 'dataset', 'config', 'configHash', 'status', 'createdAt', 'startedAt', 'finishedAt', 'backend', 'device', 'versions', 'error', 'host', 'starred', 'note', 'lastEpoch', 'lastKnn'] as const)
      assert.deepEqual(b[k], a[k], `run.${k}`);
    assert.equal(b.pid, null, "another machine's process id is not carried over");
    assert.deepEqual(await rowsOf(store, r.runId), await rowsOf(src.store, src.id));
    // The checkpoint is in the new run's folder, recorded there, and holds the same weights.
    const [ca] = await src.store.getArtifacts(src.id);
    const [cb] = await store.getArtifacts(r.runId);
    assert.equal(cb.path, join(runFolder(dbPath, r.runId), 'checkpoints', 'epoch-0001'));
    assert.deepEqual([cb.kind, cb.epoch, cb.createdAt], [ca.kind, ca.epoch, ca.createdAt]);
    assert.deepEqual(readFileSync(join(cb.path, 'weights.bin')), readFileSync(join(ca.path, 'weights.bin')));
    const state = latestResumeState(dbPath, r.runId)!;
    assert.deepEqual(state.point, latestResumeState(src.dbPath, src.id)!.point);
    assert.equal(JSON.parse(readFileSync(join(state.dir, 'model.json'), 'utf8')).runId, r.runId, 'the state names the run it now belongs to');
    await checkResumable(store, dbPath, r.runId);

    const resumed = await train(store, dbPath, r.runId, src.config, { resume: true });
    assert.equal(resumed.status, 'completed', 'error' in resumed ? resumed.error : '');
    const straight = await src.store.createRun(src.config, { status: 'running' });
    assert.equal((await train(src.store, src.dbPath, straight, src.config)).status, 'completed');
    const losses = async (s: RunStore, id: number) => (await s.getMetrics(id, { name: 'loss' })).map((m) => [m.step, m.value]);
    assert.deepEqual(await losses(store, r.runId), await losses(src.store, straight));
    const wa = loadCheckpoint(join(runFolder(src.dbPath, straight), 'checkpoints', 'epoch-0002')).tensors;
    const wb = loadCheckpoint(join(runFolder(dbPath, r.runId), 'checkpoints', 'epoch-0002')).tensors;
    for (const k of Object.keys(wa)) assert.deepEqual(Array.from(wb[k].dataSync()), Array.from(wa[k].dataSync()), `final ${k}`);
    tf.dispose([...Object.values(wa), ...Object.values(wb)]);
    // The source is as it was: packing only reads.
    assert.equal((await src.store.getRun(src.id))!.status, 'cancelled');
    assert.ok(latestResumeState(src.dbPath, src.id));
  } finally {
    await store.close();
    await src.store.close();
  }
});

test('pack --embeddings last --checkpoints none keeps the last embedding and no checkpoint, but always the resume state', async () => {
  const { dbPath, store } = await open('completed');
  const target = await open('lean');
  try {
    const config = tiny();
    const id = await store.createRun(config, { status: 'running' });
    assert.equal((await train(store, dbPath, id, config, { stopAtStep: 3 })).status, 'cancelled'); // epoch 1 done, 1 step of epoch 2
    assert.equal((await train(store, dbPath, id, config, { resume: true })).status, 'completed');
    const full = await packRun(store, dbPath, id, join(tmp, 'full.clabrun'));
    assert.deepEqual([full.embeddings, full.checkpoints, full.resume], [2, 2, null], 'a completed run has no resume state');
    const lean = await packRun(store, dbPath, id, join(tmp, 'lean.clabrun'), { embeddings: 'last', checkpoints: 'none' });
    assert.deepEqual([lean.embeddings, lean.checkpoints], [1, 0]);
    assert.ok(lean.bytes < full.bytes);
    const r = await unpackRun(target.store, target.dbPath, join(tmp, 'lean.clabrun'));
    assert.deepEqual((await target.store.listEmbeddings(r.runId)).map((e) => e.epoch), [2]);
    assert.deepEqual(await target.store.getArtifacts(r.runId), []);
    assert.equal((await target.store.getRun(r.runId))!.status, 'completed');
    assert.deepEqual((await target.store.getEvals(r.runId)).map((e) => [e.protocol, e.epoch, e.value]), (await store.getEvals(id)).map((e) => [e.protocol, e.epoch, e.value]));
  } finally {
    await store.close();
    await target.store.close();
  }
});

test('a running or queued run is not packed; a crashed one arrives as failed, with why, and resumable', async () => {
  const { dbPath, store } = await open('live');
  try {
    const config = tiny();
    const queued = await store.createRun(config);
    await assert.rejects(packRun(store, dbPath, queued, join(tmp, 'q.clabrun')), (e: Error) => e instanceof PackError && /queued/.test(e.message));
    await assert.rejects(packRun(store, dbPath, 99, join(tmp, 'q.clabrun')), /there is no run 99/);
    const id = await store.createRun(config, { status: 'running' });
    assert.equal((await train(store, dbPath, id, config, { stopAtStep: 4 })).status, 'cancelled');
    // As a worker killed with -9 leaves it: status running, its pid recorded on this host.
    await store.markRunning(id, { backend: 'wasm', device: 'cpu', versions: {}, pid: 4242, host: 'this-host' });
    const alive = { host: 'this-host', isAlive: () => true };
    await assert.rejects(packRun(store, dbPath, id, join(tmp, 'r.clabrun'), { liveness: alive }), /run \d+ is running \(process 4242\): stop it first/);
    assert.equal(existsSync(join(tmp, 'r.clabrun')), false);
    await packRun(store, dbPath, id, join(tmp, 'r.clabrun'), { liveness: { host: 'this-host', isAlive: () => false } });
    const r = await unpackRun(store, dbPath, join(tmp, 'r.clabrun'));
    const run = (await store.getRun(r.runId))!;
    assert.equal(run.status, 'failed');
    assert.match(run.error!, /worker on this-host stopped without a word \(crashed\)/);
    assert.equal((await checkResumable(store, dbPath, r.runId)).from.step, 5);
  } finally {
    await store.close();
  }
});

/** Rewrites one pack into another with `edit` applied to its extracted files. */
async function tamper(file: string, out: string, edit: (dir: string) => void) {
  const dir = mkdtempSync(join(tmp, 'tamper-'));
  await tar.x({ file, cwd: dir });
  edit(dir);
  await tar.c({ gzip: true, file: out, cwd: dir }, readdirSync(dir));
}
const editManifest = (fn: (m: Record<string, unknown>) => void) => (dir: string) => {
  const m = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as Record<string, unknown>;
  fn(m);
  writeFileSync(join(dir, 'run.json'), JSON.stringify(m));
};

test('a bad pack is refused with what is wrong and where, and the database keeps exactly what it had', async () => {
  const src = await stoppedRun();
  const { dbPath, store } = await open('refuses');
  try {
    const good = join(tmp, 'good.clabrun');
    await packRun(src.store, src.dbPath, src.id, good);
    await unpackRun(store, dbPath, good); // run 1, which must survive every refusal below
    const before = await rowsOf(store, 1);
    const bad = join(tmp, 'bad.clabrun');
    const cases: [string, (dir: string) => void, RegExp][] = [
      ['format', editManifest((m) => (m.format = 'something-else')), /run\.json: format is not 'contrastive-lab-run'/],
      ['version', editManifest((m) => (m.version = 7)), /version is 7; this Contrastive Lab reads version 1/],
      ['the config', editManifest((m) => (((m.run as Record<string, unknown>).config as Record<string, unknown>).epochs = 0)), /run\.config is not a config this Contrastive Lab accepts:\n.*epochs: must be ≥ 1, got 0/],
      ['a metric', editManifest((m) => ((m.metrics as unknown[])[3] = [1, 1, 'loss'])), /metrics\[3\] should be \[step, epoch, name, value, wall time\]/],
      ['the status', editManifest((m) => ((m.run as Record<string, unknown>).status = 'running')), /run\.status should be 'completed', 'failed' or 'cancelled'/],
      ['an artifact path', editManifest((m) => ((m.artifacts as Record<string, unknown>[])[0].path = '../../etc')), /artifacts\[0\]\.path should be a path inside the run folder/],
      ['a missing checkpoint', (d) => rmSync(join(d, 'checkpoints'), { recursive: true }), /lists checkpoints\/epoch-0001, which the pack does not hold/],
      ['a short embedding', (d) => writeFileSync(join(d, 'embeddings', '0.labels'), Buffer.alloc(8)), /embeddings\[0\] \(epoch 1\) should hold 32 × \d+ values and 32 labels/],
      ['no resume state', (d) => rmSync(join(d, 'resume'), { recursive: true }), /resume\.folder "resume\/step-00000005" does not hold a resume state/],
      ['no manifest', (d) => rmSync(join(d, 'run.json')), /run\.json is missing or not JSON/],
    ];
    for (const [what, edit, message] of cases) {
      await tamper(good, bad, edit);
      await assert.rejects(unpackRun(store, dbPath, bad), (e: Error) => e instanceof PackError && message.test(e.message), what);
    }
    writeFileSync(bad, 'not a tar file at all');
    await assert.rejects(unpackRun(store, dbPath, bad), /bad\.clabrun is not a readable run pack/);
    await assert.rejects(unpackRun(store, dbPath, join(tmp, 'nowhere.clabrun')), /nowhere\.clabrun: no such file/);
    assert.deepEqual((await store.listRuns()).map((r) => r.id), [1]);
    assert.deepEqual(await rowsOf(store, 1), before);
    assert.deepEqual(readdirSync(tmp).filter((n) => n.startsWith('.clab-')), [], 'staging folders left behind');
    assert.deepEqual(readdirSync(join(tmp, `${'refuses'}-${counter - 1}.artifacts`)), ['1'], 'files of a refused pack left behind');
  } finally {
    await store.close();
    await src.store.close();
  }
});

test('a run whose files cannot be put in place is not added', async () => {
  const src = await stoppedRun();
  const { dbPath, store } = await open('blocked');
  try {
    const file = join(tmp, 'blocked.clabrun');
    await packRun(src.store, src.dbPath, src.id, file);
    // Run 1's folder is taken by a file, so its checkpoints cannot go there.
    mkdirSync(join(tmp, `blocked-${counter - 1}.artifacts`), { recursive: true });
    writeFileSync(join(tmp, `blocked-${counter - 1}.artifacts`, '1'), 'in the way');
    await assert.rejects(unpackRun(store, dbPath, file), /could not put run 1's files in .*; the run was not added/);
    assert.deepEqual(await store.listRuns(), []);
    assert.equal(readFileSync(join(tmp, `blocked-${counter - 1}.artifacts`, '1'), 'utf8'), 'in the way', 'a file it did not write was removed');
  } finally {
    await store.close();
    await src.store.close();
  }
});
