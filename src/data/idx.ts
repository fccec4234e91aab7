/**
 * Reader and writer for the IDX format used by MNIST and Fashion-MNIST
 * (http://yann.lecun.com/exdb/mnist/): a big-endian header — magic (0, 0, type 0x08 = ubyte, number of
 * dimensions), then one uint32 size per dimension — followed by the raw bytes. Files may be gzipped,
 * as they are distributed; we detect that by content (1f 8b) rather than by name, because people
 * often gunzip a file and keep the name or vice versa.
 *
 * Everything is synchronous: datasets are read once per run, before training starts.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { gunzip, gunzipSync, gzipSync } from 'node:zlib';

const gunzipAsync = promisify(gunzip);

/** A dataset could not be read. The message names the file (or spec) and what is wrong with it. */
export class DatasetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DatasetError';
  }
}

export interface IdxImages {
  count: number;
  rows: number;
  cols: number;
  /** count × rows × cols bytes, row-major, one image after another. */
  pixels: Uint8Array;
}

export const IDX_IMAGES_MAGIC = 0x00000803; // ubyte, 3 dimensions
export const IDX_LABELS_MAGIC = 0x00000801; // ubyte, 1 dimension

const hex = (n: number) => '0x' + n.toString(16).padStart(8, '0');

/** Reads a file and gunzips it if needed. Byte counts in later errors refer to the decompressed data. */
function readMaybeGzipped(path: string): { data: Buffer; gz: boolean } {
  let raw: Buffer;
  try {
    raw = readFileSync(path);
  } catch (e) {
    throw readError(path, e);
  }
  if (!isGzip(raw)) return { data: raw, gz: false };
  try {
    return { data: gunzipSync(raw), gz: true };
  } catch (e) {
    throw new DatasetError(`${path}: corrupt gzip data (${(e as Error).message})`);
  }
}

/** The same off the event loop (file read and gunzip in libuv's thread pool), for a host that must stay responsive. */
async function readMaybeGzippedAsync(path: string): Promise<{ data: Buffer; gz: boolean }> {
  let raw: Buffer;
  try {
    raw = await readFile(path);
  } catch (e) {
    throw readError(path, e);
  }
  if (!isGzip(raw)) return { data: raw, gz: false };
  try {
    return { data: await gunzipAsync(raw), gz: true };
  } catch (e) {
    throw new DatasetError(`${path}: corrupt gzip data (${(e as Error).message})`);
  }
}

const isGzip = (raw: Buffer) => raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b;

function readError(path: string, e: unknown): DatasetError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new DatasetError(`${path}: file not found`);
  return new DatasetError(`${path}: cannot read file (${(e as Error).message})`);
}

/** Checks the magic and the total size, and returns the dimension sizes from the header. */
function parseHeader(path: string, data: Buffer, gz: boolean, magic: number, what: string): number[] {
  const ndims = magic & 0xff;
  const headerBytes = 4 + 4 * ndims;
  const sizeNote = gz ? ' after gunzip' : '';
  if (data.length < 4) throw new DatasetError(`${path}: truncated: expected at least ${headerBytes} header bytes, got ${data.length}${sizeNote}`);
  const found = data.readUInt32BE(0);
  if (found !== magic) throw new DatasetError(`${path}: not an IDX ${what} file (magic ${hex(found)}, expected ${hex(magic)})`);
  if (data.length < headerBytes) throw new DatasetError(`${path}: truncated: expected at least ${headerBytes} header bytes, got ${data.length}${sizeNote}`);
  const dims: number[] = [];
  for (let i = 0; i < ndims; i++) dims.push(data.readUInt32BE(4 + 4 * i));
  const expected = headerBytes + dims.reduce((a, b) => a * b, 1);
  if (data.length < expected) {
    throw new DatasetError(`${path}: truncated: expected ${expected} bytes for ${dims.join('×')} ${what} data, got ${data.length}${sizeNote}`);
  }
  // Trailing bytes mean the header and the data disagree, i.e. the file is not what it claims to be.
  if (data.length > expected) {
    throw new DatasetError(`${path}: ${data.length - expected} unexpected trailing bytes: expected ${expected} bytes for ${dims.join('×')} ${what} data, got ${data.length}${sizeNote}`);
  }
  return dims;
}

/** Reads an IDX image file (magic 0x00000803), gzipped or raw. */
export function readIdxImages(path: string): IdxImages {
  return idxImages(path, readMaybeGzipped(path));
}

/** Reads an IDX label file (magic 0x00000801), gzipped or raw. */
export function readIdxLabels(path: string): Uint8Array {
  return idxLabels(path, readMaybeGzipped(path));
}

/** readIdxImages without blocking the event loop. */
export async function readIdxImagesAsync(path: string): Promise<IdxImages> {
  return idxImages(path, await readMaybeGzippedAsync(path));
}

/** readIdxLabels without blocking the event loop. */
export async function readIdxLabelsAsync(path: string): Promise<Uint8Array> {
  return idxLabels(path, await readMaybeGzippedAsync(path));
}

function idxImages(path: string, { data, gz }: { data: Buffer; gz: boolean }): IdxImages {
  const [count, rows, cols] = parseHeader(path, data, gz, IDX_IMAGES_MAGIC, 'image');
  // A view, not a copy: the decompressed buffer is ours alone and 60000 images are 47 MB.
  const pixels = new Uint8Array(data.buffer, data.byteOffset + 16, count * rows * cols);
  return { count, rows, cols, pixels };
}

function idxLabels(path: string, { data, gz }: { data: Buffer; gz: boolean }): Uint8Array {
  const [count] = parseHeader(path, data, gz, IDX_LABELS_MAGIC, 'label');
  return new Uint8Array(data.buffer, data.byteOffset + 8, count);
}

/** IDX bytes for a set of images (uncompressed). */
export function encodeIdxImages(images: IdxImages): Buffer {
  const { count, rows, cols, pixels } = images;
  if (pixels.length !== count * rows * cols) throw new Error(`encodeIdxImages: ${pixels.length} pixels for ${count}×${rows}×${cols} images`);
  const out = Buffer.alloc(16 + pixels.length);
  out.writeUInt32BE(IDX_IMAGES_MAGIC, 0);
  out.writeUInt32BE(count, 4);
  out.writeUInt32BE(rows, 8);
  out.writeUInt32BE(cols, 12);
  out.set(pixels, 16);
  return out;
}

/** IDX bytes for a set of labels (uncompressed). */
export function encodeIdxLabels(labels: ArrayLike<number>): Buffer {
  const out = Buffer.alloc(8 + labels.length);
  out.writeUInt32BE(IDX_LABELS_MAGIC, 0);
  out.writeUInt32BE(labels.length, 4);
  for (let i = 0; i < labels.length; i++) out[8 + i] = labels[i];
  return out;
}

/** gzip defaults to on when the path ends in `.gz`, matching how the files are named in the wild. */
function writeMaybeGzipped(path: string, bytes: Buffer, gzip = path.endsWith('.gz')): void {
  // Level 9: these files are written once and shipped; zlib's gzip header carries no timestamp,
  // so the output is reproducible for a given zlib.
  writeFileSync(path, gzip ? gzipSync(bytes, { level: 9 }) : bytes);
}

export function writeIdxImages(path: string, images: IdxImages, opts: { gzip?: boolean } = {}): void {
  writeMaybeGzipped(path, encodeIdxImages(images), opts.gzip);
}

export function writeIdxLabels(path: string, labels: ArrayLike<number>, opts: { gzip?: boolean } = {}): void {
  writeMaybeGzipped(path, encodeIdxLabels(labels), opts.gzip);
}
