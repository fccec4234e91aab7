/**
 * End to end: `clab train` (the CLI bundle, as users run it) on generated colour datasets — an image
 * folder with classes, an unlabeled one, and CIFAR-10 batch files. Colour goes through augmentation
 * and into a 3-channel encoder; the unlabeled run completes without kNN or linear probe.
 */
import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { RunStore } from '../src/store/store';
import { writeCifar10, writeImageFolder } from './fixtures/datasets/make';

const root = resolve(__dirname, '..');
const cli = join(root, 'dist', 'cli.js');
const tmp = mkdtempSync(join(tmpdir(), 'clab-ds-train-'));
const cacheDir = join(tmp, 'cache');
after(() => rmSync(tmp, { recursive: true, force: true }));

before(() => {
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'ensure-built.mjs')], { stdio: 'inherit' });
  assert.equal(r.status, 0, 'build failed');
});

function train(dataset: string, db: string, extra: string[] = []) {
  const args = ['train', '--method', 'simclr', '--dataset', dataset, '--epochs', '1', '--batch-size', '8', '--encoder', 'tiny', '--db', db, '--json', ...extra];
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, CLAB_CACHE: cacheDir }, timeout: 120_000 });
  const seconds = (Date.now() - t0) / 1000;
  assert.equal(r.status, 0, `clab train failed (${r.status}):\n${r.stderr}`);
  return { out: JSON.parse(r.stdout.trim()) as { runId: number; status: string; knn: number | null; linear: number | null }, stderr: r.stderr, seconds };
}

void test('SimCLR trains on a colour image folder (PNG + JPEG, mixed sizes) and records kNN', async () => {
  const dir = join(tmp, 'shapes');
  writeImageFolder(dir, { classes: { red: 8, green: 8, blue: 8 }, sizes: [[20, 24], [33, 17], [32, 32]], mixFormats: true });
  const db = join(tmp, 'ds.db');
  const { out, stderr, seconds } = train(`folder:${dir}`, db);
  assert.equal(out.status, 'completed');
  assert.ok(out.knn !== null && out.knn >= 0 && out.knn <= 1, `kNN ${out.knn}`);
  assert.ok(out.linear !== null, 'the linear probe did not run');
  assert.ok(seconds < 30, `took ${seconds} s`);
  assert.doesNotMatch(stderr, /no labels/);
  // Decoded once, cached in the cache folder for the next run.
  assert.equal(readdirSync(join(cacheDir, 'decoded')).length, 1);
  const store = await RunStore.open(db);
  try {
    const run = await store.getRun(out.runId);
    assert.equal(run?.config.dataset, `folder:${dir}`);
    assert.equal(run?.config.imageSize, 32);
  } finally {
    await store.close();
  }
});

void test('an unlabeled folder trains to completion and says there is no kNN or linear probe', () => {
  const dir = join(tmp, 'unlabeled');
  writeImageFolder(dir, { classes: { '': 18 }, sizes: [[40, 30]], mixFormats: true });
  const { out, stderr } = train(`folder:${dir}`, join(tmp, 'unlabeled.db'), ['--set', 'imageSize=16']);
  assert.equal(out.status, 'completed');
  assert.equal(out.knn, null);
  assert.equal(out.linear, null);
  assert.match(stderr, /no labels: no kNN monitor or linear probe/);
});

void test('SimCLR trains on CIFAR-10 batch files', () => {
  const dir = join(tmp, 'cifar');
  writeCifar10(dir, 8, 10);
  const { out } = train(`cifar10:${dir}`, join(tmp, 'cifar.db'));
  assert.equal(out.status, 'completed');
  assert.ok(out.knn !== null);
  assert.ok(existsSync(join(tmp, 'cifar.db')));
});
