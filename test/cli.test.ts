import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { RunStore } from '../src/store/store';
import { writeIdxImages, writeIdxLabels } from '../src/data/idx';

const root = resolve(__dirname, '..');
const cli = join(root, 'dist', 'cli.js');
const tmp = mkdtempSync(join(tmpdir(), 'clab-cli-'));

function clab(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 240_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

// The CLI is tested as users run it: the esbuild bundle (built here if `npm test` has not built it yet).
before(() => {
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'ensure-built.mjs')], { stdio: 'inherit' });
  assert.equal(r.status, 0, 'build failed');
});

test('an invalid config gets one message per problem, exit code 2, and writes nothing', () => {
  const db = join(tmp, 'invalid.db');
  const cfg = join(tmp, 'bad.clrun.json');
  writeFileSync(cfg, JSON.stringify({ method: 'simclr', epochs: -3, optimizer: { lr: 'fast' }, colour: 1 }));
  const r = clab(['train', '--config', cfg, '--batch-size', 'x', '--db', db]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /4 problems/);
  assert.match(r.stderr, /bad\.clrun\.json: epochs: must be ≥ 1, got -3/);
  assert.match(r.stderr, /optimizer\.lr: must be a number/);
  assert.match(r.stderr, /colour: unknown key/);
  assert.match(r.stderr, /batchSize: must be a whole number/);
  assert.equal(existsSync(db), false, 'the database was created for an invalid config');
  const unknown = clab(['train', '--method', 'simclear', '--db', db]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /method: must be one of simclr/);
  const notJson = join(tmp, 'broken.json');
  writeFileSync(notJson, '{ "method": ');
  const broken = clab(['train', '--config', notJson, '--db', db]);
  assert.equal(broken.code, 2);
  assert.match(broken.stderr, /broken\.json is not valid JSON/);
});

test('a dataset that cannot be read is refused before a run is recorded: exit 2, the problem first, no database', () => {
  const db = join(tmp, 'bad-dataset.db');
  const idx = join(tmp, 'idx');
  mkdirSync(idx);
  const images = (n: number) => ({ count: n, rows: 4, cols: 4, pixels: new Uint8Array(n * 16) });
  writeIdxImages(join(idx, 'train-images-idx3-ubyte'), images(8));
  writeIdxLabels(join(idx, 'train-labels-idx1-ubyte'), [0, 1, 2, 3, 4, 5, 6, 11]);
  writeIdxImages(join(idx, 't10k-images-idx3-ubyte'), images(4));
  writeIdxLabels(join(idx, 't10k-labels-idx1-ubyte'), [0, 1, 2, 3]);
  const cases: [string, RegExp][] = [
    ['fashion-mnist:/nonexistent', /^clab train: fashion-mnist:\/nonexistent: folder not found: \/nonexistent\n/],
    [`mnist:${idx}`, /^clab train: .*train-labels-idx1-ubyte: label 11 at index 7 is out of range \(expected 0\.\.9\)\n/],
    [`folder:${join(tmp, 'no-images')}`, /^clab train: folder:.*no-images: folder not found/],
  ];
  for (const [dataset, message] of cases) {
    const r = clab(['train', '--method', 'simclr', '--dataset', dataset, '--db', db]);
    assert.equal(r.code, 2, `${dataset}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.match(r.stderr, /no run was recorded/);
    assert.doesNotMatch(r.stderr, /backend/, 'backend probing printed before the dataset error');
  }
  writeIdxLabels(join(idx, 'train-labels-idx1-ubyte'), [0, 1, 2, 3, 4, 5, 6, 7]);
  truncateSync(join(idx, 't10k-images-idx3-ubyte'), 40);
  const truncated = clab(['train', '--method', 'simclr', '--dataset', `fashion-mnist:${idx}`, '--db', db]);
  assert.equal(truncated.code, 2);
  assert.match(truncated.stderr, /t10k-images-idx3-ubyte: truncated: expected 80 bytes for 4×4×4 image data, got 40/);
  assert.equal(existsSync(db), false, 'the database was created for a dataset that cannot be read');
});

test('train --json trains SimCLR on builtin, and runs/show/export see the recorded run', () => {
  const db = join(tmp, 'runs.db');
  const r = clab(['train', '--method', 'simclr', '--dataset', 'builtin', '--epochs', '2', '--batch-size', '64', '--train-limit', '512', '--encoder', 'tiny', '--set', 'projector.hidden=64', '--set', 'projector.out=32', '--set', 'checkpointEvery=1', '--db', db, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1, 'train --json must print exactly one line');
  const out = JSON.parse(lines[0]);
  assert.equal(out.status, 'completed');
  assert.ok(out.knn > 0.3 && out.knn <= 1, `kNN ${out.knn}`);
  assert.ok(out.linear > 0.3, `linear ${out.linear}`);
  assert.equal(out.backend, 'wasm');

  const runs = JSON.parse(clab(['runs', '--json', '--db', db]).stdout);
  assert.equal(runs.length, 1);
  assert.equal(runs[0].id, out.runId);
  assert.equal(runs[0].status, 'completed');
  assert.equal(runs[0].lastEpoch, 2);

  const show = JSON.parse(clab(['show', String(out.runId), '--json', '--db', db]).stdout);
  assert.deepEqual(show.evals.filter((e: { protocol: string }) => e.protocol === 'knn').map((e: { epoch: number }) => e.epoch), [1, 2]);
  assert.equal(show.artifacts.filter((a: { kind: string }) => a.kind === 'checkpoint').length, 2);
  assert.ok(existsSync(join(show.artifacts[1].path, 'model.json')) && existsSync(join(show.artifacts[1].path, 'weights.bin')));
  assert.equal(show.embeddings.length, 1);
  assert.equal(show.embeddings[0].count, 1000);
  assert.match(clab(['show', String(out.runId), '--db', db]).stdout, /linear probe/);
  // Beside the run's number: raw pixels and the untrained encoder, with the same kNN protocol.
  assert.ok(out.baselines.rawPixels > 0.3 && out.baselines.untrainedEncoder > 0.1, JSON.stringify(out.baselines));
  assert.deepEqual(show.evals.filter((e: { protocol: string }) => e.protocol.startsWith('knn-')).map((e: { protocol: string; epoch: number }) => `${e.protocol}@${e.epoch}`), ['knn-raw-pixels@0', 'knn-raw-pixels-centred@0', 'knn-untrained@0']);
  assert.match(clab(['show', String(out.runId), '--db', db]).stdout, /kNN baselines, same protocol: raw pixels \d+\.\d\d% \(mean-centred \d+\.\d\d%\), untrained encoder \d+\.\d\d%/);

  const dir = join(tmp, 'export');
  assert.equal(clab(['export', String(out.runId), '--out', dir, '--db', db]).code, 0);
  const metrics = readFileSync(join(dir, 'metrics.csv'), 'utf8').trim().split('\n');
  assert.equal(metrics[0], 'step,epoch,name,value,wall_time');
  assert.equal(metrics.filter((l) => l.includes(',loss,')).length, 2 * 8, 'one loss per step (512/64 × 2 epochs)');
  const vectors = readFileSync(join(dir, 'embeddings.tsv'), 'utf8').trim().split('\n');
  const meta = readFileSync(join(dir, 'metadata.tsv'), 'utf8').trim().split('\n');
  assert.equal(vectors.length, 1000);
  assert.equal(vectors[0].split('\t').length, 64);
  assert.equal(meta.length, 1001);
  assert.match(meta[1], /^\d\t[A-Za-z]/);

  // pack on this machine, unpack into another database: the run, its evaluations and its files arrive.
  const packed = join(tmp, 'moved.clabrun');
  const pack = clab(['pack', String(out.runId), '--out', packed, '--checkpoints', 'last', '--db', db]);
  assert.equal(pack.code, 0, pack.stderr);
  assert.match(pack.stdout, /packed into .*moved\.clabrun \([\d.]+ MB\): \d+ metric points, 8 evaluations, 1 embeddings, 1 checkpoints; no resume state/);
  assert.match(clab(['pack', String(out.runId), '--embeddings', 'some', '--db', db]).stderr, /clab pack: --embeddings is all, last or none; got 'some'/);
  const other = join(tmp, 'other.db');
  const unpack = clab(['unpack', packed, '--db', other]);
  assert.equal(unpack.code, 0, unpack.stderr);
  assert.match(unpack.stdout, new RegExp(`moved\\.clabrun added as run 1 \\(run ${out.runId} of .*runs\\.db on .*\\), 1 embeddings, 1 checkpoints`));
  const moved = JSON.parse(clab(['show', '1', '--json', '--db', other]).stdout);
  assert.deepEqual(moved.evals, show.evals);
  assert.equal(moved.artifacts.length, 1);
  assert.ok(existsSync(join(moved.artifacts[0].path, 'weights.bin')));
  const notPack = clab(['unpack', db, '--db', other]);
  assert.equal(notPack.code, 2);
  assert.match(notPack.stderr, /clab unpack: .*runs\.db is not a readable run pack/);
  assert.equal(JSON.parse(clab(['runs', '--json', '--db', other]).stdout).length, 1);
});

test('runs on a file that is not a database says so and names it', () => {
  const bogus = join(tmp, 'notes.txt');
  writeFileSync(bogus, 'these are my notes, not a database '.repeat(100));
  const r = clab(['runs', '--db', bogus]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /notes\.txt is not a Contrastive Lab database/);
  assert.match(readFileSync(bogus, 'utf8'), /^these are my notes/, 'the file was changed');
});

test('show on a missing run and an unknown command fail clearly', async () => {
  const db = join(tmp, 'empty.db');
  const s = await RunStore.open(db);
  await s.close();
  assert.match(clab(['show', '42', '--db', db]).stderr, /no run 42/);
  assert.equal(clab(['frobnicate']).code, 2);
});
