/**
 * CIFAR-10 and CIFAR-100, "binary version" (https://www.cs.toronto.edu/~kriz/cifar.html):
 *   CIFAR-10   data_batch_1.bin … data_batch_5.bin (train), test_batch.bin; 10000 records each of
 *              <1 byte label><3072 bytes pixels>
 *   CIFAR-100  train.bin (50000 records), test.bin (10000) of <1 byte coarse label><1 byte fine label><3072 bytes>
 * The 3072 pixel bytes are the red, then green, then blue 32×32 plane, rows top to bottom: we turn
 * them into the engine's HWC layout. The folder given may be the one holding the files or the one the
 * archive was extracted into (with cifar-10-batches-bin/ or cifar-100-binary/ inside).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatasetError } from './idx';
import type { Split } from './datasets';

export type CifarVariant = 'cifar10' | 'cifar100' | 'cifar100-coarse';

export const CIFAR_SIDE = 32;
const PIXELS = CIFAR_SIDE * CIFAR_SIDE * 3;

export const CIFAR_LAYOUT = {
  cifar10: { subdir: 'cifar-10-batches-bin', train: ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'], test: ['test_batch.bin'], labelBytes: 1, classes: 10, title: 'CIFAR-10' },
  cifar100: { subdir: 'cifar-100-binary', train: ['train.bin'], test: ['test.bin'], labelBytes: 2, classes: 100, title: 'CIFAR-100' },
} as const;

export function cifarLayout(variant: CifarVariant) {
  return CIFAR_LAYOUT[variant === 'cifar10' ? 'cifar10' : 'cifar100'];
}

/** The folder that holds the batch files: `dir` itself or the archive's sub-folder inside it. */
export function resolveCifarDir(label: string, variant: CifarVariant, dir: string): string {
  const layout = cifarLayout(variant);
  const files = [...layout.train, ...layout.test];
  for (const d of [dir, join(dir, layout.subdir)]) {
    if (files.some((f) => existsSync(join(d, f)))) {
      const missing = files.filter((f) => !existsSync(join(d, f)));
      if (missing.length) throw new DatasetError(`${label}: missing ${missing.join(', ')} in ${d} (a ${layout.title} folder holds ${files.join(', ')})`);
      return d;
    }
  }
  throw new DatasetError(`${label}: no ${layout.title} batch files in ${dir} or ${join(dir, layout.subdir)} (expected ${files.join(', ')} from the binary version of the dataset)`);
}

/** How many records a batch file of `bytes` bytes holds; throws when the size is not whole records. */
export function cifarRecordCount(file: string, bytes: number, variant: CifarVariant): number {
  const layout = cifarLayout(variant);
  const record = layout.labelBytes + PIXELS;
  if (bytes === 0) throw new DatasetError(`${file}: empty file; download or extract the dataset again`);
  if (bytes % record !== 0) {
    const other = layout.labelBytes === 1 ? 'CIFAR-100 (3074-byte records)' : 'CIFAR-10 (3073-byte records)';
    const hint = bytes % (layout.labelBytes === 1 ? PIXELS + 2 : PIXELS + 1) === 0 ? `; its size fits ${other}: is it the other dataset?` : '; the file is incomplete: download or extract the dataset again';
    throw new DatasetError(`${file}: truncated: ${bytes} bytes is ${Math.floor(bytes / record)} whole ${record}-byte ${layout.title} records and ${bytes % record} bytes more${hint}`);
  }
  return bytes / record;
}

/** Reads one batch file into an HWC split. Labels are checked against the class count. */
export function readCifarBatch(file: string, variant: CifarVariant): Split {
  const layout = cifarLayout(variant);
  const record = layout.labelBytes + PIXELS;
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch (e) {
    throw new DatasetError(`${file}: cannot read file (${(e as Error).message})`);
  }
  const count = cifarRecordCount(file, buf.length, variant);
  const images = new Uint8Array(count * PIXELS);
  const labels = new Int32Array(count);
  const plane = CIFAR_SIDE * CIFAR_SIDE;
  // CIFAR-100 records carry <coarse><fine>; CIFAR-10 records one label.
  const labelOffset = variant === 'cifar100' ? 1 : 0;
  const classes = variant === 'cifar100-coarse' ? 20 : layout.classes;
  for (let r = 0; r < count; r++) {
    const base = r * record;
    const label = buf[base + labelOffset];
    if (label >= classes) {
      throw new DatasetError(`${file}: record ${r} has ${variant === 'cifar100-coarse' ? 'coarse ' : variant === 'cifar100' ? 'fine ' : ''}label ${label}, expected 0..${classes - 1}: not a ${layout.title} batch file`);
    }
    labels[r] = label;
    const src = base + layout.labelBytes;
    const dst = r * PIXELS;
    for (let p = 0; p < plane; p++) {
      images[dst + p * 3] = buf[src + p];
      images[dst + p * 3 + 1] = buf[src + plane + p];
      images[dst + p * 3 + 2] = buf[src + 2 * plane + p];
    }
  }
  return { images, labels, count, height: CIFAR_SIDE, width: CIFAR_SIDE, channels: 3 };
}

/** Concatenates splits of equal image shape. */
export function concatSplits(parts: Split[]): Split {
  if (parts.length === 1) return parts[0];
  const count = parts.reduce((n, p) => n + p.count, 0);
  const per = parts[0].height * parts[0].width * parts[0].channels;
  const images = new Uint8Array(count * per);
  const labels = new Int32Array(count);
  let at = 0;
  for (const p of parts) {
    images.set(p.images, at * per);
    labels.set(p.labels, at);
    at += p.count;
  }
  return { ...parts[0], images, labels, count };
}

export function loadCifar(label: string, variant: CifarVariant, dir: string): { train: Split; test: Split; dir: string } {
  const d = resolveCifarDir(label, variant, dir);
  const layout = cifarLayout(variant);
  const train = concatSplits(layout.train.map((f) => readCifarBatch(join(d, f), variant)));
  const test = concatSplits(layout.test.map((f) => readCifarBatch(join(d, f), variant)));
  return { train, test, dir: d };
}

/**
 * Batch-file bytes for HWC RGB 32×32 images (tests and fixtures). CIFAR-100 records need both labels:
 * pass `coarse` alongside the fine `labels`.
 */
export function encodeCifarBatch(images: Uint8Array, labels: ArrayLike<number>, coarse?: ArrayLike<number>): Buffer {
  const n = labels.length;
  const lb = coarse ? 2 : 1;
  const plane = CIFAR_SIDE * CIFAR_SIDE;
  if (images.length !== n * PIXELS) throw new Error(`encodeCifarBatch: ${images.length} bytes for ${n} 32×32×3 images`);
  const out = Buffer.alloc(n * (lb + PIXELS));
  for (let r = 0; r < n; r++) {
    const base = r * (lb + PIXELS);
    if (coarse) {
      out[base] = coarse[r];
      out[base + 1] = labels[r];
    } else out[base] = labels[r];
    for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) out[base + lb + c * plane + p] = images[r * PIXELS + p * 3 + c];
  }
  return out;
}
