/**
 * What datasets are available on this machine (`clab data list`): the built-in subset, the downloadable
 * sets in the cache folder (complete, partly downloaded or missing) and the image folders decoded
 * so far. Reads headers and file sizes only, so it is quick even for CIFAR.
 */
import { closeSync, existsSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { constants, gunzipSync } from 'node:zlib';
import { readPixelCacheHeader } from './cache';
import { CIFAR_LAYOUT, CIFAR_SIDE } from './cifar';
import { IDX_FILES, resolveBuiltinDir } from './datasets';
import { DOWNLOADS, readCompleteMarker } from './download';
import { CIFAR100_COARSE_CLASSES, FASHION_MNIST_CLASSES, MNIST_CLASSES } from '../core/datasets';

export type DatasetState = 'ready' | 'partial' | 'missing' | 'stale';

export interface LocalDataset {
  /** What to give as `--dataset` / the config's `dataset`. */
  spec: string;
  title: string;
  dir: string;
  state: DatasetState;
  /** Bytes on disk (including partial downloads). */
  bytes: number;
  train?: number;
  test?: number;
  classes?: number;
  channels?: number;
  height?: number;
  width?: number;
  /** What to do next, or anything else worth knowing. */
  note?: string;
}

function sizeOf(path: string): number {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) return 0;
  if (!st.isDirectory()) return st.size;
  return readdirSync(path).reduce((n, f) => n + sizeOf(join(path, f)), 0);
}

/** The dimension sizes in an IDX file's header, reading (and if gzipped, inflating) only its start. */
export function idxDims(path: string): number[] | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    let head: Buffer = Buffer.alloc(4096);
    head = head.subarray(0, readSync(fd, head, 0, head.length, 0));
    if (head[0] === 0x1f && head[1] === 0x8b) head = gunzipSync(head, { finishFlush: constants.Z_SYNC_FLUSH });
    if (head.length < 4 || head[0] !== 0 || head[1] !== 0 || head[2] !== 8) return undefined;
    const n = head[3];
    if (head.length < 4 + 4 * n) return undefined;
    return Array.from({ length: n }, (_, i) => head.readUInt32BE(4 + 4 * i));
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function findIdx(dir: string, base: string): string | undefined {
  return [join(dir, base), join(dir, `${base}.gz`)].find((p) => existsSync(p));
}

function idxEntry(spec: string, title: string, dir: string, classes: number): LocalDataset {
  const bases = [IDX_FILES.trainImages, IDX_FILES.trainLabels, IDX_FILES.testImages, IDX_FILES.testLabels];
  const found = bases.map((b) => findIdx(dir, b));
  // 28×28 until the files say otherwise (a folder of IDX files may hold another size).
  const e: LocalDataset = { spec, title, dir, state: 'missing', bytes: sizeOf(dir), classes, channels: 1, height: 28, width: 28 };
  if (found.every(Boolean)) {
    const tr = idxDims(found[0]!);
    const te = idxDims(found[2]!);
    e.state = 'ready';
    e.train = tr?.[0];
    e.test = te?.[0];
    e.height = tr?.[1] ?? e.height;
    e.width = tr?.[2] ?? e.width;
  } else if (found.some(Boolean) || readdirSafe(dir).some((f) => f.endsWith('.part'))) e.state = 'partial';
  return e;
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function cifarEntry(id: 'cifar10' | 'cifar100', dir: string, downloads: string): LocalDataset {
  const layout = CIFAR_LAYOUT[id];
  const record = layout.labelBytes + CIFAR_SIDE * CIFAR_SIDE * 3;
  const filesDir = [join(dir, layout.subdir), dir].find((d) => existsSync(join(d, layout.test[0]))) ?? join(dir, layout.subdir);
  const archive = DOWNLOADS[id].files[0].name;
  const e: LocalDataset = { spec: id, title: layout.title, dir, state: 'missing', bytes: sizeOf(dir), classes: layout.classes, channels: 3, height: CIFAR_SIDE, width: CIFAR_SIDE };
  const count = (files: readonly string[]) => files.reduce((n, f) => n + Math.floor(sizeOf(join(filesDir, f)) / record), 0);
  if ([...layout.train, ...layout.test].every((f) => existsSync(join(filesDir, f)))) {
    e.state = 'ready';
    e.train = count(layout.train);
    e.test = count(layout.test);
  } else {
    const partial = [join(downloads, archive), join(downloads, `${archive}.part`)].filter((p) => existsSync(p));
    if (partial.length || e.bytes > 0) e.state = 'partial';
    e.bytes += partial.reduce((n, p) => n + sizeOf(p), 0);
  }
  if (id === 'cifar100') e.note = `fine labels; cifar100-coarse for the ${CIFAR100_COARSE_CLASSES.length} superclasses`;
  return e;
}

export function listLocalDatasets(cacheDir: string, opts: { builtinDir?: string } = {}): LocalDataset[] {
  const out: LocalDataset[] = [];
  try {
    const dir = resolveBuiltinDir(opts.builtinDir);
    out.push({ ...idxEntry('builtin', 'Fashion-MNIST (built-in subset)', dir, FASHION_MNIST_CLASSES.length), note: 'ships with Contrastive Lab' });
  } catch {
    // No built-in subset in this installation: nothing to list.
  }
  const downloads = join(cacheDir, 'downloads');
  for (const id of Object.keys(DOWNLOADS)) {
    const dir = join(cacheDir, id);
    const e =
      id === 'cifar10' || id === 'cifar100'
        ? cifarEntry(id, dir, downloads)
        : idxEntry(id, DOWNLOADS[id].title, dir, (id === 'mnist' ? MNIST_CLASSES : FASHION_MNIST_CLASSES).length);
    const notes = [e.note];
    if (e.state === 'ready' && !readCompleteMarker(dir)) notes.push('files put here by hand: not verified by clab data download');
    if (e.state === 'partial') notes.unshift(`incomplete: run \`clab data download ${id}\` to resume`);
    if (e.state === 'missing') notes.unshift(`not downloaded: \`clab data download ${id}\``);
    e.note = notes.filter(Boolean).join('; ');
    out.push(e);
  }
  const decoded = join(cacheDir, 'decoded');
  for (const f of readdirSafe(decoded).filter((n) => /^folder-[0-9a-f]+\.bin$/.test(n)).sort()) {
    const path = join(decoded, f);
    const h = readPixelCacheHeader(path);
    if (!h) continue;
    const train = h.splits.find((s) => s.name === 'train');
    const test = h.splits.find((s) => s.name === 'test');
    const names = Array.isArray(h.meta.classNames) ? (h.meta.classNames as string[]) : [];
    const gone = !existsSync(h.source);
    out.push({
      spec: `folder:${h.source}`,
      title: `image folder (imageSize ${String(h.meta.imageSize)})`,
      dir: h.source,
      state: gone ? 'stale' : 'ready',
      bytes: sizeOf(path),
      train: train?.count,
      test: test?.count,
      classes: names.length,
      channels: train?.channels,
      height: train?.height,
      width: train?.width,
      note: [names.length ? undefined : 'unlabeled: no kNN monitor or linear probe', gone ? `the folder is gone; ${path} can be deleted` : `decoded copy: ${path}`].filter(Boolean).join('; '),
    });
  }
  return out;
}
