/**
 * The dataset cache folder: downloads (`clab data download`) and decoded image folders live here.
 *
 *   <cacheDir>/mnist/, fashion-mnist/        the four IDX .gz files as published
 *   <cacheDir>/cifar10/, cifar100/           the extracted binary archives (cifar-10-batches-bin/ …)
 *   <cacheDir>/downloads/                    archives and partial downloads (`*.part`) being fetched
 *   <cacheDir>/decoded/folder-<key>.bin      decoded, resized pixels of one image folder (see folder.ts)
 *
 * Location: $CLAB_CACHE, else the platform's cache folder: $XDG_CACHE_HOME/contrastive-lab (default
 * ~/.cache/contrastive-lab) on Linux, ~/Library/Caches/contrastive-lab on macOS,
 * %LOCALAPPDATA%\contrastive-lab\Cache on Windows. Everything in it can be deleted at any time: it is
 * downloaded or decoded again when needed.
 */
import { closeSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import * as path from 'node:path';
import type { Split } from './datasets';

export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform, home = homedir()): string {
  if (env.CLAB_CACHE) return path.resolve(env.CLAB_CACHE);
  if (platform === 'win32') return path.win32.join(env.LOCALAPPDATA || path.win32.join(home, 'AppData', 'Local'), 'contrastive-lab', 'Cache');
  if (platform === 'darwin') return path.posix.join(home, 'Library', 'Caches', 'contrastive-lab');
  // The XDG spec says a relative XDG_CACHE_HOME is invalid and must be ignored.
  const xdg = env.XDG_CACHE_HOME && path.posix.isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : path.posix.join(home, '.cache');
  return path.posix.join(xdg, 'contrastive-lab');
}

/** Writes a file so that readers see either the old or the complete new content, never a partial one. */
export function writeFileAtomic(file: string, chunks: Uint8Array[]): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    const fd = openSync(tmp, 'w');
    try {
      for (const c of chunks) writeFileSync(fd, c);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * Decoded-pixel cache file: "CLABPIX1", a uint32 LE header length, a JSON header, then per split its
 * images (count·H·W·C bytes) and its labels (count int32 LE). Pixels are stored exactly as the
 * engine uses them, so loading is one read and no decoding.
 */
const MAGIC = 'CLABPIX1';

export interface PixelCacheHeader {
  /** What the pixels were made from, e.g. the image folder; shown by `clab data list`. */
  source: string;
  /** Anything else the producer wants back (class names, image size, …). */
  meta: Record<string, unknown>;
  splits: { name: string; count: number; height: number; width: number; channels: number }[];
}

export function writePixelCache(file: string, header: Omit<PixelCacheHeader, 'splits'>, splits: Record<string, Split>): void {
  const full: PixelCacheHeader = { ...header, splits: Object.entries(splits).map(([name, s]) => ({ name, count: s.count, height: s.height, width: s.width, channels: s.channels })) };
  const json = Buffer.from(JSON.stringify(full), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32LE(json.length);
  const chunks: Uint8Array[] = [Buffer.from(MAGIC, 'latin1'), len, json];
  for (const s of Object.values(splits)) {
    chunks.push(s.images);
    const labels = Buffer.alloc(s.count * 4);
    for (let i = 0; i < s.count; i++) labels.writeInt32LE(s.labels[i], i * 4);
    chunks.push(labels);
  }
  writeFileAtomic(file, chunks);
}

/** Only the header (cheap: for listings). Undefined if the file is missing or not a pixel cache. */
export function readPixelCacheHeader(file: string): PixelCacheHeader | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const head = Buffer.alloc(12);
    if (readSync(fd, head, 0, 12, 0) < 12 || head.toString('latin1', 0, 8) !== MAGIC) return undefined;
    const n = head.readUInt32LE(8);
    const json = Buffer.alloc(n);
    if (readSync(fd, json, 0, n, 12) < n) return undefined;
    return JSON.parse(json.toString('utf8')) as PixelCacheHeader;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * The whole cache file. Undefined when it is missing, from another format version or damaged (e.g. a
 * disk filled up mid-write by another tool): the caller then decodes again and rewrites it.
 */
export function readPixelCache(file: string): { header: PixelCacheHeader; splits: Record<string, Split> } | undefined {
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch {
    return undefined;
  }
  if (buf.length < 12 || buf.toString('latin1', 0, 8) !== MAGIC) return undefined;
  const n = buf.readUInt32LE(8);
  let header: PixelCacheHeader;
  try {
    header = JSON.parse(buf.toString('utf8', 12, 12 + n)) as PixelCacheHeader;
  } catch {
    return undefined;
  }
  let off = 12 + n;
  const splits: Record<string, Split> = {};
  for (const s of header.splits ?? []) {
    const bytes = s.count * s.height * s.width * s.channels;
    if (off + bytes + s.count * 4 > buf.length) return undefined;
    const images = new Uint8Array(buf.buffer, buf.byteOffset + off, bytes);
    off += bytes;
    const labels = new Int32Array(s.count);
    for (let i = 0; i < s.count; i++) labels[i] = buf.readInt32LE(off + i * 4);
    off += s.count * 4;
    splits[s.name] = { images, labels, count: s.count, height: s.height, width: s.width, channels: s.channels };
  }
  if (off !== buf.length) return undefined;
  return { header, splits };
}
