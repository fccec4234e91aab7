import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkDataset } from '../src/data/check';
import { clearDatasetCache, DatasetError, loadDataset, resolveBuiltinDir } from '../src/data/datasets';
import { writeIdxImages, writeIdxLabels } from '../src/data/idx';
import { consoleReporter } from '../src/cli/progress';
import { probeLine } from '../src/engine/train';
import { pngBytes, writeCifar10, writeImageFolder } from './fixtures/datasets/make';

// Tests are written `void test(...)`: node:test awaits each test itself; the returned promise is only for chaining.

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'clab-check-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  clearDatasetCache();
  return dir;
}

/** Four IDX files of `train`/`test` 4×4 images with labels i % 10. */
function writeIdxSet(dir: string, train = 20, test = 10, gz = false): void {
  mkdirSync(dir, { recursive: true });
  const ext = gz ? '.gz' : '';
  const split = (n: number) => ({ images: { count: n, rows: 4, cols: 4, pixels: new Uint8Array(n * 16).map((_, i) => i & 0xff) }, labels: Array.from({ length: n }, (_, i) => i % 10) });
  const tr = split(train);
  const te = split(test);
  writeIdxImages(join(dir, `train-images-idx3-ubyte${ext}`), tr.images);
  writeIdxLabels(join(dir, `train-labels-idx1-ubyte${ext}`), tr.labels);
  writeIdxImages(join(dir, `t10k-images-idx3-ubyte${ext}`), te.images);
  writeIdxLabels(join(dir, `t10k-labels-idx1-ubyte${ext}`), te.labels);
}

/** The check must refuse what loading refuses, with the same message, so a run is never recorded for it. */
async function bothRefuse(spec: string, ...patterns: RegExp[]): Promise<void> {
  let loadMessage = '';
  try {
    clearDatasetCache();
    loadDataset(spec);
    assert.fail(`loadDataset accepted ${spec}`);
  } catch (e) {
    assert.ok(e instanceof DatasetError, `loadDataset(${spec}): expected a DatasetError, got ${String(e)}`);
    loadMessage = e.message;
  }
  await assert.rejects(checkDataset(spec), (e: unknown) => {
    assert.ok(e instanceof DatasetError, `checkDataset(${spec}): expected a DatasetError, got ${String(e)}`);
    for (const p of patterns) assert.match(e.message, p);
    assert.equal(e.message, loadMessage, 'check and load word the problem differently');
    return true;
  });
}

void test('the dataset check passes good datasets and counts their images without loading them', async (t) => {
  const dir = tempDir(t);
  assert.deepEqual(await checkDataset('builtin'), { dir: resolveBuiltinDir(), train: 6000, test: 1000, classes: 10 });
  writeIdxSet(join(dir, 'raw'), 20, 10);
  writeIdxSet(join(dir, 'gz'), 30, 12, true);
  assert.deepEqual(await checkDataset(`mnist:${join(dir, 'raw')}`), { dir: join(dir, 'raw'), train: 20, test: 10, classes: 10 });
  assert.deepEqual(await checkDataset(`fashion-mnist:${join(dir, 'gz')}`), { dir: join(dir, 'gz'), train: 30, test: 12, classes: 10 });
  writeCifar10(join(dir, 'c10'), 4, 5);
  assert.deepEqual(await checkDataset(`cifar10:${join(dir, 'c10')}`), { dir: join(dir, 'c10'), train: 20, test: 5, classes: 10 });
  writeImageFolder(join(dir, 'pics'), { classes: { cat: 10, dog: 10 } });
  assert.deepEqual(await checkDataset(`folder:${join(dir, 'pics')}`), { dir: join(dir, 'pics'), train: 18, test: 2, classes: 2 });
});

void test('bad datasets are refused by the check with the message loading gives: folder, files, headers, counts, labels', async (t) => {
  const dir = tempDir(t);
  await bothRefuse('fashion-mnist:/nonexistent-clab-folder', /fashion-mnist:\/nonexistent-clab-folder: folder not found/);

  const missing = join(dir, 'missing');
  writeIdxSet(missing);
  rmSync(join(missing, 't10k-labels-idx1-ubyte'));
  await bothRefuse(`mnist:${missing}`, /missing t10k-labels-idx1-ubyte \(or t10k-labels-idx1-ubyte\.gz\)/);

  const truncated = join(dir, 'truncated');
  writeIdxSet(truncated);
  truncateSync(join(truncated, 'train-images-idx3-ubyte'), 100);
  await bothRefuse(`fashion-mnist:${truncated}`, /train-images-idx3-ubyte: truncated: expected 336 bytes/);

  const truncatedGz = join(dir, 'truncated-gz');
  writeIdxSet(truncatedGz, 20, 10, true);
  truncateSync(join(truncatedGz, 't10k-images-idx3-ubyte.gz'), 30);
  await bothRefuse(`fashion-mnist:${truncatedGz}`, /t10k-images-idx3-ubyte\.gz: corrupt gzip data/);

  // Labels swapped for images: the magic says which file is which.
  const swapped = join(dir, 'swapped');
  writeIdxSet(swapped);
  copyFileSync(join(swapped, 'train-labels-idx1-ubyte'), join(swapped, 'train-images-idx3-ubyte'));
  await bothRefuse(`mnist:${swapped}`, /not an IDX image file \(magic 0x00000801, expected 0x00000803\)/);

  const counts = join(dir, 'counts');
  writeIdxSet(counts);
  writeIdxLabels(join(counts, 't10k-labels-idx1-ubyte'), [1, 2, 3]);
  await bothRefuse(`mnist:${counts}`, /t10k-images-idx3-ubyte has 10 images but .*t10k-labels-idx1-ubyte has 3 labels/);

  const mislabelled = join(dir, 'mislabelled');
  writeIdxSet(mislabelled);
  writeIdxLabels(join(mislabelled, 'train-labels-idx1-ubyte'), Array.from({ length: 20 }, (_, i) => (i === 7 ? 42 : 0)));
  await bothRefuse(`fashion-mnist:${mislabelled}`, /train-labels-idx1-ubyte: label 42 at index 7 is out of range \(expected 0\.\.9\)/);

  const c10 = join(dir, 'c10');
  writeCifar10(c10, 4, 5);
  truncateSync(join(c10, 'data_batch_2.bin'), 3073 * 3 + 10);
  await bothRefuse(`cifar10:${c10}`, /data_batch_2\.bin: truncated: .* 3 whole 3073-byte CIFAR-10 records and 10 bytes more/);

  const mixed = join(dir, 'mixed');
  writeImageFolder(mixed, { classes: { cat: 3 } });
  writeFileSync(join(mixed, 'stray.png'), pngBytes(8, 8, () => [1, 2, 3]));
  await bothRefuse(`folder:${mixed}`, /holds both images .* and sub-folders/);

  const emptyClass = join(dir, 'empty-class');
  writeImageFolder(emptyClass, { classes: { cat: 3 } });
  mkdirSync(join(emptyClass, 'dog'));
  await bothRefuse(`folder:${emptyClass}`, /empty class folder .*dog/);

  const one = join(dir, 'one');
  mkdirSync(one);
  writeFileSync(join(one, 'notes.txt'), 'no images here');
  await bothRefuse(`folder:${one}`, /no images in/);
});

void test('the backend probing is one debug line, printed by clab only with --verbose', () => {
  const line = probeLine({
    backend: 'wasm',
    device: 'CPU (wasm, SIMD, 1 thread)',
    tried: [
      { name: 'tfjs-node-gpu', error: "Cannot find module '@tensorflow/tfjs-node-gpu' (looked in node_modules)" },
      { name: 'tfjs-node', error: '@tensorflow/tfjs-node failed to load: libtensorflow.so.2: cannot open shared object file' },
      { name: 'wasm' },
    ],
  });
  assert.equal(line, 'backend wasm: CPU (wasm, SIMD, 1 thread); not used: tfjs-node-gpu (not installed), tfjs-node (@tensorflow/tfjs-node failed to load: libtensorflow.so.2: cannot open shared object file)');
  assert.equal(probeLine({ backend: 'cpu', device: 'CPU (pure JS)', tried: [{ name: 'cpu' }] }), 'backend cpu: CPU (pure JS)');

  const print = (verbose: boolean) => {
    let text = '';
    const out = { isTTY: false, write: (s: string) => ((text += s), true) } as unknown as NodeJS.WriteStream;
    const report = consoleReporter(out, { verbose });
    report({ type: 'log', runId: 1, level: 'debug', message: line });
    report({ type: 'log', runId: 1, level: 'warn', message: 'backend tfjs-node not used: …' });
    return text;
  };
  assert.equal(print(false), 'warn: backend tfjs-node not used: …\n');
  assert.equal(print(true), `debug: ${line}\nwarn: backend tfjs-node not used: …\n`);
});
