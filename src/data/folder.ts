/**
 * Image-folder datasets (`folder:DIR`), torchvision's ImageFolder convention:
 *
 *   DIR/<class>/…/*.png|jpg|jpeg           labeled; a held-out test split is chosen per class (below)
 *   DIR/train/<class>/…, DIR/test/<class>/… labeled, with your own split (`val/` works for `test/`)
 *   DIR/*.png, or DIR/train/*.png + DIR/test/*.png   unlabeled: trains, but no kNN monitor or
 *                                                    linear probe (there is nothing to score against)
 *
 * Class names are the sub-folder names, sorted (label i = i-th name), as ImageFolder does. Files with
 * other extensions and hidden files are ignored. Every image is decoded (PNG or JPEG, by content),
 * resized so its shorter side is `imageSize` and centre-cropped to imageSize×imageSize; imageSize 0
 * keeps the images' own size, which must then be the same for all. If every image is gray the dataset
 * has one channel, otherwise three (RGB).
 *
 * Without train/ and test/ folders, the test split is 10% of each class (at least one image once a
 * class has two), picked by a fixed shuffle of the sorted file names: the same files on every run.
 *
 * Errors name the file or folder: an image that cannot be decoded, an empty class folder, images of
 * different sizes with imageSize 0, a folder with both images and sub-folders. We stop at a bad image
 * rather than skip it: a run should not silently train on a different set than the one on disk.
 *
 * Decoding is slow in pure JS (a large photo takes tens of milliseconds), so the decoded, resized
 * pixels are cached in <cacheDir>/decoded/folder-<key>.bin, where the key hashes the folder, imageSize
 * and every image's path, size and modification time: the next run loads them in one read, and any
 * change to the folder makes a new key (the stale file for the same folder is then removed).
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { DatasetError } from './idx';
import { decodeImage, IMAGE_EXTENSIONS, isGray, resizeCenterCrop, type RgbImage } from './image';
import { readPixelCache, readPixelCacheHeader, writePixelCache } from './cache';
import { Rng } from '../core/rng';
import type { Split } from './datasets';

/** Bump when the decoded output for the same files would change (resampling, layout). */
const FORMAT_VERSION = 1;
const TEST_FRACTION = 0.1;
const SPLIT_STREAM = 0x464f4c44; // 'FOLD'

export interface FolderOptions {
  /** Output side length; 0 keeps the images' own size. */
  imageSize: number;
  /** Where decoded pixels are cached; undefined = no cache. */
  cacheDir?: string;
  /** Called while decoding (not when the cache is used). */
  onProgress?: (done: number, total: number) => void;
}

export interface FolderDataset {
  train: Split;
  test: Split;
  /** [] for an unlabeled folder. */
  classNames: string[];
  /** How the split was made and whether the cache was used, for the run's provenance line. */
  notes: string[];
  cacheFile?: string;
}

interface ImageFile {
  path: string;
  label: number;
}

interface Scan {
  classNames: string[];
  files: ImageFile[];
}

const isHidden = (name: string) => name.startsWith('.');
const isImage = (name: string) => IMAGE_EXTENSIONS.includes(extname(name).toLowerCase());

function entries(dir: string) {
  let listed;
  try {
    listed = readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    throw new DatasetError(`${dir}: cannot list folder (${(e as Error).message})`);
  }
  const all = listed.filter((e) => !isHidden(e.name));
  const isDir = (e: (typeof all)[number]) => e.isDirectory() || (e.isSymbolicLink() && statSync(join(dir, e.name), { throwIfNoEntry: false })?.isDirectory() === true);
  return { dirs: all.filter(isDir).map((e) => e.name).sort(), images: all.filter((e) => !isDir(e) && isImage(e.name)).map((e) => e.name).sort() };
}

/** Every image below `dir` (any depth), sorted by path. */
function imagesBelow(dir: string, out: string[] = []): string[] {
  const { dirs, images } = entries(dir);
  for (const f of images) out.push(join(dir, f));
  for (const d of dirs) imagesBelow(join(dir, d), out);
  return out;
}

/** One split root: class sub-folders (labeled) or loose images (unlabeled). */
function scanRoot(label: string, root: string): Scan {
  const { dirs, images } = entries(root);
  if (dirs.length && images.length) {
    throw new DatasetError(`${label}: ${root} holds both images (${images[0]}, …) and sub-folders (${dirs[0]}, …): put every image in a class sub-folder (labeled) or none (unlabeled)`);
  }
  if (!dirs.length) {
    if (!images.length) throw new DatasetError(`${label}: no images in ${root} (expected class sub-folders or .png/.jpg/.jpeg files)`);
    return { classNames: [], files: images.map((f) => ({ path: join(root, f), label: 0 })) };
  }
  const files: ImageFile[] = [];
  dirs.forEach((d, i) => {
    const found = imagesBelow(join(root, d));
    if (!found.length) throw new DatasetError(`${label}: empty class folder ${join(root, d)} (no .png/.jpg/.jpeg images): add images or remove the folder`);
    for (const path of found) files.push({ path, label: i });
  });
  return { classNames: dirs, files };
}

/** Which files make up train and test, and the class names. */
export function scanFolder(label: string, dir: string): { classNames: string[]; train: ImageFile[]; test: ImageFile[]; note: string } {
  const { dirs } = entries(dir);
  const testDir = dirs.includes('test') ? 'test' : dirs.includes('val') ? 'val' : undefined;
  if (dirs.includes('train') && testDir) {
    const train = scanRoot(label, join(dir, 'train'));
    const test = scanRoot(label, join(dir, testDir));
    if ((train.classNames.length === 0) !== (test.classNames.length === 0)) {
      throw new DatasetError(`${label}: ${join(dir, 'train')} and ${join(dir, testDir)} must both have class sub-folders or both hold loose images`);
    }
    const unknown = test.classNames.filter((c) => !train.classNames.includes(c));
    if (unknown.length) throw new DatasetError(`${label}: ${join(dir, testDir, unknown[0])} is a class that ${join(dir, 'train')} does not have`);
    // Test labels follow the train folder's class order.
    const testFiles = test.files.map((f) => ({ path: f.path, label: train.classNames.indexOf(test.classNames[f.label]) }));
    return { classNames: train.classNames, train: train.files, test: testFiles, note: `train/ and ${testDir}/ folders` };
  }
  const all = scanRoot(label, dir);
  const train: ImageFile[] = [];
  const test: ImageFile[] = [];
  const groups = all.classNames.length ? all.classNames.map((_, i) => all.files.filter((f) => f.label === i)) : [all.files];
  const rng = new Rng(0).fork(SPLIT_STREAM);
  for (const g of groups) {
    const nTest = g.length < 2 ? 0 : Math.max(1, Math.round(g.length * TEST_FRACTION));
    const order = g.map((_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [order[i], order[j]] = [order[j], order[i]];
    }
    const isTest = new Set(order.slice(0, nTest));
    g.forEach((f, i) => (isTest.has(i) ? test : train).push(f));
  }
  if (!test.length) throw new DatasetError(`${label}: ${dir} has only ${all.files.length} image(s): at least 2 are needed to hold one out for testing`);
  return { classNames: all.classNames, train, test, note: `test split: ${Math.round(TEST_FRACTION * 100)}% of each ${all.classNames.length ? 'class' : 'folder'}, fixed` };
}

function cacheKey(dir: string, imageSize: number, files: ImageFile[][]): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ v: FORMAT_VERSION, dir, imageSize }));
  for (const split of files) {
    h.update('\0split');
    for (const f of split) {
      const st = statSync(f.path);
      h.update(`\0${relative(dir, f.path).split(sep).join('/')}\0${f.label}\0${st.size}\0${st.mtimeMs}`);
    }
  }
  return h.digest('hex').slice(0, 24);
}

export function loadFolder(label: string, dir: string, opts: FolderOptions): FolderDataset {
  const scan = scanFolder(label, dir);
  const notes = [scan.note];
  const key = cacheKey(dir, opts.imageSize, [scan.train, scan.test]);
  const cacheFile = opts.cacheDir ? join(opts.cacheDir, 'decoded', `folder-${key}.bin`) : undefined;
  if (cacheFile) {
    const hit = readPixelCache(cacheFile);
    if (hit?.splits.train && hit.splits.test) {
      notes.push(`decoded pixels from ${cacheFile}`);
      return { train: hit.splits.train, test: hit.splits.test, classNames: scan.classNames, notes, cacheFile };
    }
  }

  const total = scan.train.length + scan.test.length;
  let done = 0;
  let first: { file: string; w: number; h: number } | undefined;
  let gray = true;
  const decodeAll = (files: ImageFile[]): RgbImage[] =>
    files.map((f) => {
      let bytes: Buffer;
      try {
        bytes = readFileSync(f.path);
      } catch (e) {
        throw new DatasetError(`${f.path}: cannot read file (${(e as Error).message})`);
      }
      let img = decodeImage(f.path, bytes);
      if (opts.imageSize > 0) img = resizeCenterCrop(img, opts.imageSize);
      else if (!first) first = { file: f.path, w: img.width, h: img.height };
      else if (img.width !== first.w || img.height !== first.h) {
        throw new DatasetError(`${f.path}: image is ${img.width}×${img.height} but ${first.file} is ${first.w}×${first.h}; with imageSize 0 all images must have one size: set imageSize (e.g. 32) to resize them`);
      }
      gray &&= isGray(img);
      opts.onProgress?.(++done, total);
      return img;
    });
  const trainImgs = decodeAll(scan.train);
  const testImgs = decodeAll(scan.test);
  const channels = gray ? 1 : 3;
  const toSplit = (imgs: RgbImage[], files: ImageFile[]): Split => {
    const { width, height } = imgs[0] ?? { width: opts.imageSize, height: opts.imageSize };
    const per = width * height * channels;
    const images = new Uint8Array(imgs.length * per);
    imgs.forEach((img, i) => {
      if (channels === 3) images.set(img.data, i * per);
      else for (let p = 0; p < width * height; p++) images[i * per + p] = img.data[p * 3];
    });
    return { images, labels: Int32Array.from(files, (f) => f.label), count: imgs.length, height, width, channels };
  };
  const train = toSplit(trainImgs, scan.train);
  const test = toSplit(testImgs, scan.test);

  if (cacheFile) {
    try {
      writePixelCache(cacheFile, { source: dir, meta: { kind: 'folder', imageSize: opts.imageSize, classNames: scan.classNames, version: FORMAT_VERSION } }, { train, test });
      removeStaleCaches(cacheFile, dir, opts.imageSize);
      notes.push(`decoded ${total} images; cached in ${cacheFile}`);
    } catch (e) {
      // A read-only or full cache folder only costs speed next time.
      notes.push(`decoded ${total} images; could not cache them in ${cacheFile} (${(e as Error).message})`);
    }
  }
  return { train, test, classNames: scan.classNames, notes, cacheFile };
}

/** Older caches of the same folder and size: the folder changed since, so they cannot be used again. */
function removeStaleCaches(current: string, dir: string, imageSize: number): void {
  const decoded = join(current, '..');
  for (const name of readdirSync(decoded)) {
    const p = join(decoded, name);
    if (p === current || !/^folder-[0-9a-f]+\.bin$/.test(name)) continue;
    const h = readPixelCacheHeader(p);
    if (h?.source === dir && h.meta.imageSize === imageSize) rmSync(p, { force: true });
  }
}
