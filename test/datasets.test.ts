import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { classNamesFor, CIFAR100_COARSE_CLASSES, CIFAR100_FINE_CLASSES, CIFAR10_CLASSES } from '../src/core/datasets';
import { resolveConfig } from '../src/core/config';
import { defaultCacheDir } from '../src/data/cache';
import { cachedDatasetDir, clearDatasetCache, DatasetError, loadDataset, parseDatasetSpec } from '../src/data/datasets';
import { decodeImage, resizeCenterCrop } from '../src/data/image';
import { listLocalDatasets } from '../src/data/registry';
import { cifarPixel, pngBytes, writeCifar10, writeCifar100, writeImageFolder } from './fixtures/datasets/make';

// Tests are written `void test(...)`: node:test awaits each test itself; the returned promise is only for chaining.

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'clab-datasets-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  clearDatasetCache();
  return dir;
}

/** Asserts a DatasetError whose message matches every pattern. */
function throwsDatasetError(fn: () => unknown, ...patterns: RegExp[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof DatasetError, `expected a DatasetError, got ${String(e)}`);
    for (const p of patterns) assert.match(e.message, p);
    return true;
  });
}

const esc = (s: string) => new RegExp(s.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&'));

// ---------------------------------------------------------------- specs and config

void test('dataset specs: every kind with a folder, and the downloadable ones without', () => {
  assert.deepEqual(parseDatasetSpec('cifar10:/d/c10'), { kind: 'cifar10', dir: '/d/c10' });
  assert.deepEqual(parseDatasetSpec('cifar100-coarse:C:\\data'), { kind: 'cifar100-coarse', dir: 'C:\\data' });
  assert.deepEqual(parseDatasetSpec('folder:./pics'), { kind: 'folder', dir: './pics' });
  for (const k of ['mnist', 'fashion-mnist', 'cifar10', 'cifar100', 'cifar100-coarse']) assert.deepEqual(parseDatasetSpec(k), { kind: k });
  for (const bad of ['folder', 'folder:', 'imagenet:/x', 'cifar', 'CIFAR10:/x']) throwsDatasetError(() => parseDatasetSpec(bad), esc(`unknown dataset spec '${bad}'`), /folder:DIR/);
  // A shell does not expand ~ after the colon, so we do.
  throwsDatasetError(() => loadDataset('folder:~/no-such-clab-folder'), esc(`folder not found: ${join(homedir(), 'no-such-clab-folder')}`));
  // Both CIFAR-100 label sets live in the one downloaded folder.
  assert.equal(cachedDatasetDir('cifar100-coarse', '/c'), join('/c', 'cifar100'));
  assert.equal(cachedDatasetDir('fashion-mnist', '/c'), join('/c', 'fashion-mnist'));
});

void test('the config accepts the new dataset specs and has imageSize (default 32)', () => {
  for (const dataset of ['cifar10', 'cifar100-coarse', 'folder:/x/y', 'cifar100:rel/dir', 'mnist', 'builtin']) {
    const r = resolveConfig({ method: 'simclr', dataset });
    assert.deepEqual(r.problems, [], dataset);
    assert.equal(r.config?.imageSize, 32);
  }
  for (const dataset of ['imagenet:/x', 'folder', 'cifar10:']) {
    const r = resolveConfig({ method: 'simclr', dataset });
    assert.equal(r.problems.length, 1, dataset);
    assert.match(r.problems[0].message, /folder/);
  }
  assert.deepEqual(resolveConfig({ method: 'simclr', imageSize: 0 }).problems, []);
  assert.equal(resolveConfig({ method: 'simclr', imageSize: -1 }).problems.length, 1);
});

void test('class names by spec, without touching the disk', () => {
  assert.equal(classNamesFor('cifar10:/x')[0], 'airplane');
  assert.equal(classNamesFor('cifar10').length, 10);
  assert.equal(classNamesFor('cifar100:/x').length, 100);
  assert.equal(classNamesFor('cifar100-coarse').length, 20);
  assert.equal(CIFAR100_FINE_CLASSES[99], 'worm');
  assert.equal(CIFAR100_COARSE_CLASSES[19], 'vehicles_2');
  assert.equal(new Set(CIFAR100_FINE_CLASSES).size, 100);
  assert.deepEqual(classNamesFor('folder:/x'), []);
  assert.equal(classNamesFor('builtin')[0], 'T-shirt/top');
});

void test('the cache folder follows the platform conventions and CLAB_CACHE', () => {
  assert.equal(defaultCacheDir({ CLAB_CACHE: '/tmp/cc' }, 'linux', '/home/u'), '/tmp/cc');
  assert.equal(defaultCacheDir({}, 'linux', '/home/u'), '/home/u/.cache/contrastive-lab');
  assert.equal(defaultCacheDir({ XDG_CACHE_HOME: '/xdg' }, 'linux', '/home/u'), '/xdg/contrastive-lab');
  assert.equal(defaultCacheDir({ XDG_CACHE_HOME: 'relative' }, 'linux', '/home/u'), '/home/u/.cache/contrastive-lab');
  assert.equal(defaultCacheDir({}, 'darwin', '/Users/u'), '/Users/u/Library/Caches/contrastive-lab');
  assert.equal(defaultCacheDir({ LOCALAPPDATA: 'C:\\Users\\u\\AppData\\Local' }, 'win32', 'C:\\Users\\u'), 'C:\\Users\\u\\AppData\\Local\\contrastive-lab\\Cache');
});

// ---------------------------------------------------------------- CIFAR

void test('CIFAR-10 binary batches load as colour 32×32 HWC with their labels', (t) => {
  const dir = tempDir(t);
  writeCifar10(dir, 12, 15);
  const ds = loadDataset(`cifar10:${dir}`);
  assert.equal(ds.train.count, 60);
  assert.equal(ds.test.count, 15);
  for (const s of [ds.train, ds.test]) assert.deepEqual([s.height, s.width, s.channels], [32, 32, 3]);
  assert.deepEqual(ds.classNames, CIFAR10_CLASSES);
  assert.deepEqual([...ds.train.labels.subarray(0, 13)], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2]);
  assert.equal(ds.test.labels[0], 1000 % 10);
  // Planar CHW on disk → HWC in memory, and batches in order 1..5.
  const px = (s: typeof ds.train, r: number, y: number, x: number, c: number) => s.images[((r * 32 + y) * 32 + x) * 3 + c];
  for (const [r, y, x, c] of [[0, 0, 0, 0], [0, 5, 7, 2], [13, 31, 31, 1], [59, 16, 3, 2]]) assert.equal(px(ds.train, r, y, x, c), cifarPixel(r, y, x, c));
  assert.equal(px(ds.test, 14, 2, 9, 1), cifarPixel(1014, 2, 9, 1));
  assert.match(ds.source, /CIFAR-10: 60 train \/ 15 test 32×32 RGB/);
});

void test('CIFAR-10 also loads from the folder the archive was extracted into', (t) => {
  const dir = tempDir(t);
  writeCifar10(join(dir, 'cifar-10-batches-bin'), 2, 3);
  const ds = loadDataset(`cifar10:${dir}`);
  assert.equal(ds.train.count, 10);
  assert.match(ds.source, /cifar-10-batches-bin/);
});

void test('CIFAR-100 gives fine or coarse labels from the same files', (t) => {
  const dir = tempDir(t);
  writeCifar100(dir, 20, 10);
  const fine = loadDataset(`cifar100:${dir}`);
  const coarse = loadDataset(`cifar100-coarse:${dir}`);
  assert.equal(fine.train.count, 20);
  assert.equal(fine.test.count, 10);
  assert.equal(fine.classNames.length, 100);
  assert.equal(coarse.classNames.length, 20);
  assert.deepEqual([...fine.train.labels.subarray(0, 4)], [0, 7, 14, 21]);
  assert.deepEqual([...coarse.train.labels.subarray(0, 4)], [0, 1, 2, 3]);
  assert.equal(coarse.test.labels[3], 1003 % 20);
  assert.equal(fine.train.images[((5 * 32 + 1) * 32 + 2) * 3 + 2], cifarPixel(5, 1, 2, 2));
  assert.equal(fine.train.channels, 3);
});

void test('bad CIFAR input: a truncated batch, a missing batch, a label out of range, the other dataset — each names the file', (t) => {
  const dir = tempDir(t);
  writeCifar10(dir, 4, 4);
  const batch3 = join(dir, 'data_batch_3.bin');
  truncateSync(batch3, 4 * 3073 - 100);
  throwsDatasetError(() => loadDataset(`cifar10:${dir}`), esc(batch3), /truncated: 12192 bytes is 3 whole 3073-byte CIFAR-10 records and 2973 bytes more/, /download or extract the dataset again/);

  writeCifar10(dir, 4, 4);
  rmSync(join(dir, 'data_batch_5.bin'));
  throwsDatasetError(() => loadDataset(`cifar10:${dir}`), /missing data_batch_5\.bin/, esc(dir));

  writeCifar10(dir, 4, 4);
  const test = readFileSync(join(dir, 'test_batch.bin'));
  test[3073 * 2] = 10; // third record's label
  writeFileSync(join(dir, 'test_batch.bin'), test);
  throwsDatasetError(() => loadDataset(`cifar10:${dir}`), esc(join(dir, 'test_batch.bin')), /record 2 has label 10, expected 0\.\.9/);

  // CIFAR-100 files named as CIFAR-10 ones: the size says which dataset it is.
  const c100 = join(dir, 'c100');
  writeCifar100(c100, 30, 30);
  writeCifar10(dir, 4, 4);
  writeFileSync(join(dir, 'data_batch_1.bin'), readFileSync(join(c100, 'train.bin')));
  throwsDatasetError(() => loadDataset(`cifar10:${dir}`), esc(join(dir, 'data_batch_1.bin')), /fits CIFAR-100 \(3074-byte records\)/);

  writeFileSync(join(dir, 'data_batch_1.bin'), '');
  throwsDatasetError(() => loadDataset(`cifar10:${dir}`), /data_batch_1\.bin: empty file/);

  throwsDatasetError(() => loadDataset(`cifar100:${join(dir, 'nothing')}`), /folder not found/);
  mkdirSync(join(dir, 'empty'));
  throwsDatasetError(() => loadDataset(`cifar100:${join(dir, 'empty')}`), /no CIFAR-100 batch files/, /train\.bin, test\.bin/);
});

void test('a downloadable set named without a folder is looked up in the cache folder, or says how to get it', (t) => {
  const cacheDir = tempDir(t);
  throwsDatasetError(() => loadDataset('cifar10', { cacheDir }), /cifar10: not downloaded yet/, /clab data download cifar10/);
  throwsDatasetError(() => loadDataset('cifar100-coarse', { cacheDir }), /clab data download cifar100`/);
  writeCifar100(join(cacheDir, 'cifar100', 'cifar-100-binary'), 4, 4);
  assert.equal(loadDataset('cifar100-coarse', { cacheDir }).classNames.length, 20);
});

// ---------------------------------------------------------------- image folders

void test('an image folder of PNG and JPEG files of any size loads as labeled colour images at imageSize', (t) => {
  const dir = tempDir(t);
  const root = join(dir, 'pets');
  writeImageFolder(root, { classes: { dog: 10, cat: 5, bird: 3 }, sizes: [[20, 24], [40, 30], [16, 16], [7, 9]], mixFormats: true });
  writeFileSync(join(root, 'cat', 'notes.txt'), 'not an image');
  writeFileSync(join(root, 'cat', '.DS_Store'), 'hidden');
  const ds = loadDataset(`folder:${root}`, { imageSize: 16, cacheDir: join(dir, 'cache') });
  assert.deepEqual(ds.classNames, ['bird', 'cat', 'dog'], 'class names are the sorted folder names');
  assert.equal(ds.train.count + ds.test.count, 18);
  // 10% of each class held out, at least one once a class has two images.
  assert.equal(ds.test.count, 3);
  assert.deepEqual([...ds.test.labels].sort(), [0, 1, 2]);
  for (const s of [ds.train, ds.test]) assert.deepEqual([s.height, s.width, s.channels], [16, 16, 3]);
  assert.equal(ds.train.images.length, ds.train.count * 16 * 16 * 3);
  // The fixture paints its first class (dog) red and its third (bird) blue; labels follow the sorted names.
  const first = (label: number) => ds.train.images.subarray([...ds.train.labels].indexOf(label) * 768, [...ds.train.labels].indexOf(label) * 768 + 3);
  assert.ok(first(2)[0] > 150 && first(2)[2] < 120, `dog pixel ${[...first(2)]}`);
  assert.ok(first(0)[2] > 150 && first(0)[0] < 120, `bird pixel ${[...first(0)]}`);
  assert.match(ds.source, /image folder .*pets: 15 train \/ 3 test 16×16 RGB images, 3 classes/);
  // The same files on every load: the split does not depend on the run's seed.
  clearDatasetCache();
  const again = loadDataset(`folder:${root}`, { imageSize: 16, cacheDir: join(dir, 'cache') });
  assert.deepEqual([...again.test.labels], [...ds.test.labels]);
  assert.deepEqual(again.test.images, ds.test.images);
});

void test('gray images make a one-channel dataset; imageSize 0 keeps their size', (t) => {
  const dir = tempDir(t);
  writeImageFolder(dir, { classes: { a: 3, b: 3 }, sizes: [[12, 20]], gray: true, mixFormats: true });
  const ds = loadDataset(`folder:${dir}`, { imageSize: 0, cacheDir: join(dir, '..', `${dir.split(/[\\/]/).pop()}-cache`) });
  t.after(() => rmSync(join(dir, '..', `${dir.split(/[\\/]/).pop()}-cache`), { recursive: true, force: true }));
  assert.deepEqual([ds.train.height, ds.train.width, ds.train.channels], [20, 12, 1]);
  assert.equal(ds.train.images.length, ds.train.count * 20 * 12);
});

void test('train/ and test/ folders give the split; classes follow train/', (t) => {
  const dir = tempDir(t);
  writeImageFolder(join(dir, 'train'), { classes: { ant: 4, bee: 6 } });
  writeImageFolder(join(dir, 'test'), { classes: { bee: 2 } });
  const cacheDir = join(dir, '.cache');
  const ds = loadDataset(`folder:${dir}`, { cacheDir });
  assert.deepEqual(ds.classNames, ['ant', 'bee']);
  assert.equal(ds.train.count, 10);
  assert.equal(ds.test.count, 2);
  assert.deepEqual([...ds.test.labels], [1, 1], 'test labels use the train folder class order');
  assert.deepEqual([ds.train.height, ds.train.width], [32, 32], 'imageSize defaults to 32');

  writeImageFolder(join(dir, 'test'), { classes: { wasp: 1 } });
  clearDatasetCache();
  throwsDatasetError(() => loadDataset(`folder:${dir}`, { cacheDir }), esc(join(dir, 'test', 'wasp')), /a class that .* does not have/);
});

void test('an unlabeled folder trains without labels: no class names, all labels 0', (t) => {
  const dir = tempDir(t);
  writeImageFolder(dir, { classes: { '': 10 }, mixFormats: true });
  const ds = loadDataset(`folder:${dir}`, { imageSize: 8, cacheDir: join(dir, '.cache') });
  assert.deepEqual(ds.classNames, []);
  assert.equal(ds.train.count, 9);
  assert.equal(ds.test.count, 1);
  assert.ok([...ds.train.labels].every((l) => l === 0));
  assert.match(ds.source, /unlabeled \(no kNN monitor or linear probe\)/);
});

void test('decoded folders are cached on disk: the next load reads them back, a changed folder decodes again', (t) => {
  const dir = tempDir(t);
  const root = join(dir, 'imgs');
  const cacheDir = join(dir, 'cache');
  const paths = writeImageFolder(root, { classes: { x: 4, y: 4 }, mixFormats: true });
  const first = loadDataset(`folder:${root}`, { imageSize: 16, cacheDir });
  assert.match(first.source, /decoded 8 images; cached in .*folder-[0-9a-f]+\.bin/);
  const files = readdirSync(join(cacheDir, 'decoded'));
  assert.equal(files.length, 1);

  clearDatasetCache();
  let decoded = 0;
  const second = loadDataset(`folder:${root}`, { imageSize: 16, cacheDir, onProgress: () => decoded++ });
  assert.equal(decoded, 0, 'the cache was not used: images were decoded again');
  assert.match(second.source, /decoded pixels from/);
  assert.deepEqual(second.train.images, first.train.images);
  assert.deepEqual(second.train.labels, first.train.labels);
  assert.deepEqual(second.classNames, ['x', 'y']);

  // Another imageSize is another cache entry; both stay.
  clearDatasetCache();
  loadDataset(`folder:${root}`, { imageSize: 8, cacheDir });
  assert.equal(readdirSync(join(cacheDir, 'decoded')).length, 2);

  // A replaced image (new content and mtime) gives a new key; the stale 16-px entry is removed.
  clearDatasetCache();
  writeFileSync(paths[0], pngBytes(20, 24, () => [1, 2, 3]));
  utimesSync(paths[0], new Date(), new Date(Date.now() + 5000));
  const third = loadDataset(`folder:${root}`, { imageSize: 16, cacheDir, onProgress: () => decoded++ });
  assert.equal(decoded, 8);
  assert.match(third.source, /decoded 8 images/);
  assert.equal(readdirSync(join(cacheDir, 'decoded')).length, 2);
  assert.ok(!readdirSync(join(cacheDir, 'decoded')).includes(files[0]), 'the stale cache file was kept');

  // A damaged cache file is ignored and rewritten.
  const [current] = readdirSync(join(cacheDir, 'decoded')).filter((f) => f !== files[0]).map((f) => join(cacheDir, 'decoded', f)).filter((f) => readFileSync(f).length > 5000);
  truncateSync(current, 100);
  clearDatasetCache();
  const fourth = loadDataset(`folder:${root}`, { imageSize: 16, cacheDir });
  assert.deepEqual(fourth.train.images, third.train.images);

  // The registry lists decoded folders with their shape and classes.
  const listed = listLocalDatasets(cacheDir).filter((d) => d.spec === `folder:${root}`);
  assert.equal(listed.length, 2);
  assert.ok(listed.every((d) => d.classes === 2 && d.channels === 3 && d.state === 'ready'));
});

void test('bad image folders: each error names the file or folder', (t) => {
  const dir = tempDir(t);
  const cacheDir = join(dir, '.cache');
  const load = (root: string, imageSize = 16) => {
    clearDatasetCache();
    return loadDataset(`folder:${root}`, { imageSize, cacheDir });
  };

  const garbage = join(dir, 'garbage');
  writeImageFolder(garbage, { classes: { a: 3, b: 3 } });
  writeFileSync(join(garbage, 'b', 'broken.png'), 'this is not a png at all');
  throwsDatasetError(() => load(garbage), esc(join(garbage, 'b', 'broken.png')), /not a PNG or JPEG image/);

  const truncated = join(dir, 'truncated');
  writeImageFolder(truncated, { classes: { a: 3 } });
  const good = pngBytes(30, 30, (x, y) => [x * 8, y * 8, 100]);
  writeFileSync(join(truncated, 'a', 'half.png'), good.subarray(0, good.length >> 1));
  throwsDatasetError(() => load(truncated), esc(join(truncated, 'a', 'half.png')), /cannot decode PNG image/);

  const badJpeg = join(dir, 'badjpeg');
  writeImageFolder(badJpeg, { classes: { a: 2 } });
  writeFileSync(join(badJpeg, 'a', 'x.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0, 1, 2, 3]));
  throwsDatasetError(() => load(badJpeg), esc(join(badJpeg, 'a', 'x.jpg')), /cannot decode JPEG image/);

  const emptyClass = join(dir, 'emptyclass');
  writeImageFolder(emptyClass, { classes: { a: 2, c: 2 } });
  mkdirSync(join(emptyClass, 'b'));
  writeFileSync(join(emptyClass, 'b', 'readme.txt'), 'no images here');
  throwsDatasetError(() => load(emptyClass), esc(`empty class folder ${join(emptyClass, 'b')}`));

  const mixed = join(dir, 'mixed');
  writeImageFolder(mixed, { classes: { a: 3 }, sizes: [[10, 10], [12, 10]] });
  throwsDatasetError(() => load(mixed, 0), esc(join(mixed, 'a', 'img001.png')), /is 12×10 but .*img000\.png is 10×10/, /set imageSize/);
  assert.equal(load(mixed, 10).train.width, 10, 'with an imageSize, mixed sizes are fine');

  const both = join(dir, 'both');
  writeImageFolder(both, { classes: { a: 2 } });
  writeFileSync(join(both, 'loose.png'), good);
  throwsDatasetError(() => load(both), esc(both), /both images .*and sub-folders/);

  const none = join(dir, 'none');
  mkdirSync(none);
  throwsDatasetError(() => load(none), esc(`no images in ${none}`));

  const single = join(dir, 'single');
  writeImageFolder(single, { classes: { '': 1 } });
  throwsDatasetError(() => load(single), /only 1 image/);
});

void test('decoding drops alpha; resizing keeps flat colours exact, centre-crops, and averages when shrinking', () => {
  const rgba = decodeImage('x.png', pngBytes(4, 3, () => [10, 20, 30], 0));
  assert.deepEqual([rgba.width, rgba.height, ...rgba.data.subarray(0, 3)], [4, 3, 10, 20, 30]);
  const flat = resizeCenterCrop({ width: 37, height: 23, data: new Uint8Array(37 * 23 * 3).fill(77) }, 16);
  assert.ok(flat.data.every((v) => v === 77));
  // 48×16, thirds red / green / blue: shorter side is already 16, so the crop is the green middle.
  const thirds = new Uint8Array(48 * 16 * 3);
  for (let y = 0; y < 16; y++) for (let x = 0; x < 48; x++) thirds[(y * 48 + x) * 3 + Math.floor(x / 16)] = 255;
  const mid = resizeCenterCrop({ width: 48, height: 16, data: thirds }, 16);
  for (let p = 0; p < 256; p++) assert.deepEqual([...mid.data.subarray(p * 3, p * 3 + 3)], [0, 255, 0]);
  // A one-pixel checkerboard halved: antialiasing gives mid-gray, not black or white.
  const checker = new Uint8Array(32 * 32 * 3);
  for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) checker.fill((x + y) % 2 ? 255 : 0, (y * 32 + x) * 3, (y * 32 + x) * 3 + 3);
  const half = resizeCenterCrop({ width: 32, height: 32, data: checker }, 16);
  for (let y = 1; y < 15; y++) for (let x = 1; x < 15; x++) assert.ok(Math.abs(half.data[(y * 16 + x) * 3] - 127.5) <= 1, `pixel ${x},${y} = ${half.data[(y * 16 + x) * 3]}`);
});

void test('the registry lists the built-in set and the downloadable ones with what to do next', (t) => {
  const cacheDir = tempDir(t);
  writeCifar10(join(cacheDir, 'cifar10', 'cifar-10-batches-bin'), 3, 2);
  mkdirSync(join(cacheDir, 'downloads'), { recursive: true });
  writeFileSync(join(cacheDir, 'downloads', 'cifar-100-binary.tar.gz.part'), Buffer.alloc(1234));
  const rows = listLocalDatasets(cacheDir);
  const by = (spec: string) => rows.find((r) => r.spec === spec)!;
  assert.equal(by('builtin').state, 'ready');
  assert.equal(by('builtin').channels, 1);
  assert.ok(by('builtin').train! > 0);
  assert.deepEqual([by('cifar10').state, by('cifar10').train, by('cifar10').test, by('cifar10').channels, by('cifar10').classes], ['ready', 15, 2, 3, 10]);
  assert.match(by('cifar10').note!, /not verified/);
  assert.equal(by('cifar100').state, 'partial');
  assert.equal(by('cifar100').bytes, 1234);
  assert.match(by('cifar100').note!, /clab data download cifar100/);
  assert.equal(by('mnist').state, 'missing');
  assert.ok(!existsSync(join(cacheDir, 'mnist')), 'listing must not create folders');
});
