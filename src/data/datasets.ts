/**
 * Datasets as the engine sees them: two splits of uint8 images with integer labels, loaded from
 * a dataset spec string (the `dataset` field of a run config; the grammar is in core/datasets.ts):
 *   builtin                 the Fashion-MNIST subset shipped in data/builtin/ (see its README.md)
 *   fashion-mnist:DIR       a folder with the four standard Fashion-MNIST IDX files
 *   mnist:DIR               the same for MNIST
 *   cifar10:DIR             CIFAR-10, binary version (cifar.ts)
 *   cifar100:DIR            CIFAR-100, binary version, fine labels; cifar100-coarse:DIR for the 20 coarse ones
 *   folder:DIR              an image folder, PNG/JPEG, resized to `imageSize` (folder.ts)
 *   mnist, fashion-mnist, cifar10, cifar100, cifar100-coarse
 *                           the copy `clab data download` put in the dataset cache folder (cache.ts)
 * A dataset with no class names (an unlabeled image folder) has all labels 0: there is no kNN
 * monitor or linear probe for it.
 * Pure TypeScript with no tfjs dependency, so the CLI, tests and the extension host can inspect
 * datasets without loading a backend.
 */
import { DEFAULT_IMAGE_SIZE } from '../core/config';
import { existsSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { DatasetError, readIdxImages, readIdxLabels, type IdxImages } from './idx';
import { Rng } from '../core/rng';
import { defaultCacheDir } from './cache';
import { loadCifar } from './cifar';
import { loadFolder } from './folder';
import { CACHED_KINDS, CIFAR100_COARSE_CLASSES, CIFAR100_FINE_CLASSES, CIFAR10_CLASSES, DATASET_KINDS, FASHION_MNIST_CLASSES, MNIST_CLASSES, type DatasetKind } from '../core/datasets';

export { DatasetError } from './idx';

export interface Split {
  /** count × height × width × channels bytes, HWC order, one image after another. */
  images: Uint8Array;
  labels: Int32Array;
  count: number;
  height: number;
  width: number;
  channels: number;
}

export interface Dataset {
  /** The spec it was loaded from, as given. */
  spec: string;
  name: string;
  train: Split;
  test: Split;
  classNames: string[];
  /** One line of provenance, recorded with each run. */
  source: string;
}

/** `dir` absent: the downloaded copy in the cache folder. */
export type DatasetSpec = { kind: 'builtin' } | { kind: DatasetKind; dir?: string };

export interface LoadOptions {
  builtinDir?: string;
  /** Dataset cache folder (downloads, decoded image folders); default defaultCacheDir(). */
  cacheDir?: string;
  /** Image folders: side length images are resized and cropped to; 0 = their own size. Default 32. */
  imageSize?: number;
  /** Image folders: decoding progress (only when not cached). */
  onProgress?: (done: number, total: number) => void;
}

// Class names live in core so the CLI and the extension can label runs without loading data.
export { FASHION_MNIST_CLASSES, MNIST_CLASSES };

/** The standard IDX file names; each may also carry a `.gz` suffix. */
export const IDX_FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

const SPEC_HELP = 'use builtin, mnist, fashion-mnist, cifar10, cifar100, cifar100-coarse (downloaded), or mnist:DIR, fashion-mnist:DIR, cifar10:DIR, cifar100:DIR, cifar100-coarse:DIR, folder:DIR';

export function parseDatasetSpec(spec: string): DatasetSpec {
  const s = spec.trim();
  if (s === 'builtin') return { kind: 'builtin' };
  if ((CACHED_KINDS as readonly string[]).includes(s)) return { kind: s as DatasetKind };
  // Split at the first colon only, so Windows paths (mnist:C:\data) keep theirs.
  const colon = s.indexOf(':');
  const kind = colon < 0 ? '' : s.slice(0, colon);
  const dir = colon < 0 ? '' : s.slice(colon + 1).trim();
  if ((DATASET_KINDS as readonly string[]).includes(kind) && dir !== '') return { kind: kind as DatasetKind, dir };
  throw new DatasetError(`unknown dataset spec '${spec}': ${SPEC_HELP}`);
}

/** `~/x` → the home folder's x: a shell leaves `folder:~/x` alone (no tilde expansion after a colon). */
function expandHome(dir: string): string {
  return dir === '~' || dir.startsWith('~/') || dir.startsWith('~\\') ? join(homedir(), dir.slice(1)) : dir;
}

/** The cache sub-folder `clab data download NAME` fills, for a kind given without a folder. */
export function cachedDatasetDir(kind: DatasetKind, cacheDir = defaultCacheDir()): string {
  return join(cacheDir, kind === 'cifar100-coarse' ? 'cifar100' : kind);
}

/**
 * Where the built-in subset lives. Order: explicit option, CLAB_BUILTIN_DIR, then a search upward
 * from this file's directory — that finds <root>/data/builtin both from src/data/ (tsx, tests)
 * and from dist/ (esbuild bundles), without hard-coding either depth.
 */
export function resolveBuiltinDir(builtinDir?: string): string {
  const explicit = builtinDir ?? process.env.CLAB_BUILTIN_DIR;
  if (explicit) return resolve(explicit);
  const marker = join('data', 'builtin', `${IDX_FILES.trainImages}.gz`);
  // __dirname exists in both the tsx (CommonJS) and the bundled (cjs) builds; fall back for safety.
  const start = typeof __dirname === 'string' ? __dirname : process.cwd();
  for (let d = start; ; d = dirname(d)) {
    if (existsSync(join(d, marker))) return join(d, 'data', 'builtin');
    if (dirname(d) === d) break;
  }
  throw new DatasetError(`builtin dataset not found: no ${marker} in ${start} or any folder above it; set CLAB_BUILTIN_DIR to the folder holding the built-in IDX files`);
}

/** Parsed datasets by kind and resolved folder. Datasets are shared: callers must not modify them. */
const cache = new Map<string, Dataset>();

/** Forget cached datasets (tests; or after the files on disk changed). */
export function clearDatasetCache(): void {
  cache.clear();
}

/**
 * The folder a spec names, checked to exist: the built-in subset's, the download cache's for a bare
 * kind, or the one given (relative to the working directory, `~` expanded). `label` is the spec as
 * errors should quote it.
 */
export function resolveDatasetDir(spec: string, opts: Pick<LoadOptions, 'builtinDir' | 'cacheDir'> = {}): { parsed: DatasetSpec; dir: string; label: string } {
  const parsed = parseDatasetSpec(spec);
  let dir: string;
  if (parsed.kind === 'builtin') dir = resolveBuiltinDir(opts.builtinDir);
  else if (parsed.dir !== undefined) dir = resolve(expandHome(parsed.dir));
  else {
    dir = cachedDatasetDir(parsed.kind, opts.cacheDir);
    const name = parsed.kind === 'cifar100-coarse' ? 'cifar100' : parsed.kind;
    if (!existsSync(dir)) throw new DatasetError(`${parsed.kind}: not downloaded yet (no ${dir}): run \`clab data download ${name}\`, or name a folder that holds it: ${parsed.kind}:DIR`);
  }
  const label = parsed.kind === 'builtin' ? 'builtin' : parsed.dir === undefined ? parsed.kind : `${parsed.kind}:${parsed.dir}`;
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new DatasetError(`${label}: folder not found: ${dir}`);
  return { parsed, dir, label };
}

export function loadDataset(spec: string, opts: LoadOptions = {}): Dataset {
  const { parsed, dir, label } = resolveDatasetDir(spec, opts);
  const imageSize = opts.imageSize ?? DEFAULT_IMAGE_SIZE;
  // Folder datasets differ by the size they are resized to; the others ignore imageSize.
  const key = `${parsed.kind}\0${dir}${parsed.kind === 'folder' ? `\0${imageSize}` : ''}`;
  const hit = cache.get(key);
  // Different specs can name the same folder (relative vs absolute); report the one asked for.
  if (hit) return hit.spec === spec ? hit : { ...hit, spec };

  let ds: Dataset;
  switch (parsed.kind) {
    case 'cifar10':
    case 'cifar100':
    case 'cifar100-coarse': {
      const { train, test, dir: filesDir } = loadCifar(label, parsed.kind, dir);
      const classNames = parsed.kind === 'cifar10' ? CIFAR10_CLASSES : parsed.kind === 'cifar100' ? CIFAR100_FINE_CLASSES : CIFAR100_COARSE_CLASSES;
      const name = parsed.kind === 'cifar10' ? 'CIFAR-10' : parsed.kind === 'cifar100' ? 'CIFAR-100' : 'CIFAR-100 (coarse labels)';
      const source = `${name}: ${train.count} train / ${test.count} test 32×32 RGB images, ${classNames.length} classes, from ${filesDir}; Krizhevsky, Learning Multiple Layers of Features from Tiny Images (2009)`;
      ds = { spec, name, train, test, classNames: [...classNames], source };
      break;
    }
    case 'folder': {
      const f = loadFolder(label, dir, { imageSize, cacheDir: opts.cacheDir ?? defaultCacheDir(), onProgress: opts.onProgress });
      const { train, test } = f;
      const labels = f.classNames.length ? `${f.classNames.length} classes` : 'unlabeled (no kNN monitor or linear probe)';
      const size = `${train.height}×${train.width}${train.channels === 3 ? ' RGB' : ' gray'}`;
      const source = `image folder ${dir}: ${train.count} train / ${test.count} test ${size} images, ${labels}; ${f.notes.join('; ')}`;
      ds = { spec, name: `folder ${dir.split(/[\\/]/).filter(Boolean).pop() ?? dir}`, train, test, classNames: f.classNames, source };
      break;
    }
    default: {
      const classNames = parsed.kind === 'mnist' ? MNIST_CLASSES : FASHION_MNIST_CLASSES;
      const train = loadSplit(label, dir, IDX_FILES.trainImages, IDX_FILES.trainLabels, classNames.length);
      const test = loadSplit(label, dir, IDX_FILES.testImages, IDX_FILES.testLabels, classNames.length);
      checkSameImageSize(label, train, test);
      const name = parsed.kind === 'builtin' ? 'Fashion-MNIST (built-in subset)' : parsed.kind === 'mnist' ? 'MNIST' : 'Fashion-MNIST';
      const origin = parsed.kind === 'mnist' ? 'MNIST (LeCun, Cortes & Burges)' : 'Fashion-MNIST (Zalando Research, MIT licence)';
      const source = `${name}: ${train.count} train / ${test.count} test ${train.height}×${train.width} images from ${dir}; ${origin}`;
      ds = { spec, name, train, test, classNames: [...classNames], source };
    }
  }
  cache.set(key, ds);
  return ds;
}

/** Finds `base` or `base.gz`, preferring the uncompressed file (no gunzip needed) when both exist. */
export function findIdxFile(label: string, dir: string, base: string): string {
  for (const name of [base, `${base}.gz`]) {
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  throw new DatasetError(`${label}: missing ${base} (or ${base}.gz) in ${dir}`);
}

function loadSplit(label: string, dir: string, imagesBase: string, labelsBase: string, numClasses: number): Split {
  const imagesPath = findIdxFile(label, dir, imagesBase);
  const labelsPath = findIdxFile(label, dir, labelsBase);
  return idxSplit(label, { path: imagesPath, images: readIdxImages(imagesPath) }, { path: labelsPath, labels: readIdxLabels(labelsPath) }, numClasses);
}

/** One split from its parsed IDX files, after checking that they belong together and to this dataset. */
export function idxSplit(label: string, img: { path: string; images: IdxImages }, lab: { path: string; labels: Uint8Array }, numClasses: number): Split {
  const { images, path: imagesPath } = img;
  const { labels: raw, path: labelsPath } = lab;
  if (images.count !== raw.length) {
    throw new DatasetError(`${label}: ${imagesPath} has ${images.count} images but ${labelsPath} has ${raw.length} labels`);
  }
  // Catch a label file from a different dataset early, rather than as an out-of-range one-hot later.
  const labels = new Int32Array(raw.length);
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] >= numClasses) throw new DatasetError(`${labelsPath}: label ${raw[i]} at index ${i} is out of range (expected 0..${numClasses - 1})`);
    labels[i] = raw[i];
  }
  // IDX images are single-channel, so the row-major pixels already are HWC with C = 1.
  return { images: images.pixels, labels, count: images.count, height: images.rows, width: images.cols, channels: 1 };
}

export function checkSameImageSize(label: string, train: Pick<Split, 'height' | 'width'>, test: Pick<Split, 'height' | 'width'>): void {
  if (train.height !== test.height || train.width !== test.width) {
    throw new DatasetError(`${label}: train images are ${train.height}×${train.width} but test images are ${test.height}×${test.width}`);
  }
}

const SHUFFLE_STREAM = 0x5348; // 'SH'

/**
 * A deterministic permutation of 0..n-1 (Fisher–Yates). It draws from its own sub-stream of the
 * seed, so a run's shuffle doesn't share numbers with other consumers seeded with the same value.
 */
export function shuffledIndices(n: number, seed: number): Int32Array {
  const rng = new Rng(seed).fork(SHUFFLE_STREAM);
  const idx = new Int32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = idx[i];
    idx[i] = idx[j];
    idx[j] = t;
  }
  return idx;
}
