/**
 * `clab data download`: fetches the standard datasets from their canonical public locations into the
 * dataset cache folder, verifies each file against its published checksum, resumes a partial
 * download with an HTTP Range request, and extracts archives.
 *
 *   <cacheDir>/downloads/<file>.part   bytes received so far (kept when a download is cut off)
 *   <cacheDir>/downloads/<file>        an archive, once complete and verified (removed after extraction)
 *   <cacheDir>/<name>/                 the dataset, ready for `clab train --dataset <name>`
 *   <cacheDir>/<name>/.complete        written last: which files were verified, and when
 *
 * Offline use: a file copied by hand to <cacheDir>/downloads/<file> (for an archive) or
 * <cacheDir>/<name>/<file> (for the IDX files) is verified and used without any network access.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';

export interface RemoteFile {
  /** File name, also the name under a mirror's base URL. */
  name: string;
  url: string;
  md5?: string;
  sha256?: string;
}

export interface DownloadableDataset {
  id: string;
  title: string;
  /** Downloaded files go straight into the dataset folder (IDX .gz) or are .tar.gz archives to extract. */
  archive: boolean;
  files: RemoteFile[];
  homepage: string;
}

const MNIST_BASE = 'https://ossci-datasets.s3.amazonaws.com/mnist/';
const FASHION_BASE = 'http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/';
const idx = (base: string, md5s: [string, string, string, string]): RemoteFile[] =>
  ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'].map((name, i) => ({ name, url: base + name, md5: md5s[i] }));

/**
 * The canonical locations and their published MD5s: MNIST from the mirror torchvision uses (LeCun's
 * site no longer serves the files reliably), Fashion-MNIST as listed in zalandoresearch/fashion-mnist's
 * README (the MD5s torchvision checks too), CIFAR from Alex Krizhevsky's page.
 */
export const DOWNLOADS: Record<string, DownloadableDataset> = {
  mnist: {
    id: 'mnist',
    title: 'MNIST',
    archive: false,
    homepage: 'http://yann.lecun.com/exdb/mnist/',
    files: idx(MNIST_BASE, ['f68b3c2dcbeaaa9fbdd348bbdeb94873', 'd53e105ee54ea40749a09fcbcd1e9432', '9fb629c4189551a2d022fa330f9573f3', 'ec29112dd5afa0611ce80d1b7f02629c']),
  },
  'fashion-mnist': {
    id: 'fashion-mnist',
    title: 'Fashion-MNIST',
    archive: false,
    homepage: 'https://github.com/zalandoresearch/fashion-mnist',
    files: idx(FASHION_BASE, ['8d4fb7e6c68d591d4c3dfef9ec88bf0d', '25c81989df183df01b3e8a0aad5dffbe', 'bef4ecab320f06d8554ea6380940ec79', 'bb300cfdad3c16e7a12a480ee83cd310']),
  },
  cifar10: {
    id: 'cifar10',
    title: 'CIFAR-10',
    archive: true,
    homepage: 'https://www.cs.toronto.edu/~kriz/cifar.html',
    files: [{ name: 'cifar-10-binary.tar.gz', url: 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz', md5: 'c58f30108f718f92721af3b95e74349a' }],
  },
  cifar100: {
    id: 'cifar100',
    title: 'CIFAR-100',
    archive: true,
    homepage: 'https://www.cs.toronto.edu/~kriz/cifar.html',
    files: [{ name: 'cifar-100-binary.tar.gz', url: 'https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz', md5: '03b5dce01913d631647c71ecec9e9cb8' }],
  },
};

/** A download failed; the message says what to do next. */
export class DownloadError extends Error {
  constructor(
    message: string,
    readonly offline = false,
  ) {
    super(message);
    this.name = 'DownloadError';
  }
}

export interface DownloadProgress {
  file: string;
  received: number;
  /** Undefined when the server does not say. */
  total?: number;
  /** Bytes that were already on disk when this request started. */
  resumedFrom: number;
  bytesPerSecond: number;
}

export interface DownloadOptions {
  cacheDir: string;
  /** Base URL that serves the same file names (a local mirror); replaces the canonical locations. */
  mirror?: string;
  onProgress?: (p: DownloadProgress) => void;
  log?: (message: string) => void;
  /** Automatic resumes after a connection breaks mid-file (default 3). */
  retries?: number;
  /** Give up on a connection that sends nothing for this long (default 30 s). */
  idleTimeoutMs?: number;
  /** Download and verify again even if the dataset is complete. */
  force?: boolean;
  /** Delay before an automatic resume (default 1 s; tests use 0). */
  retryDelayMs?: number;
}

const OFFLINE_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'ECONNREFUSED', 'ENETUNREACH', 'EHOSTUNREACH', 'ETIMEDOUT', 'ENETDOWN']);

export function fileUrl(file: RemoteFile, mirror?: string): string {
  return mirror ? new URL(file.name, mirror.endsWith('/') ? mirror : `${mirror}/`).toString() : file.url;
}

export async function fileDigest(path: string, algorithm: 'md5' | 'sha256'): Promise<string> {
  const h = createHash(algorithm);
  await pipeline(createReadStream(path), h);
  return h.digest('hex');
}

/** Throws (and deletes the file, so the next try starts afresh) unless it matches the published checksum. */
export async function verifyFile(path: string, file: RemoteFile): Promise<void> {
  const checks: ['md5' | 'sha256', string][] = [];
  if (file.sha256) checks.push(['sha256', file.sha256.toLowerCase()]);
  if (file.md5) checks.push(['md5', file.md5.toLowerCase()]);
  for (const [algo, expected] of checks) {
    const got = await fileDigest(path, algo);
    if (got !== expected) {
      rmSync(path, { force: true });
      throw new DownloadError(
        `${path}: checksum mismatch: ${algo.toUpperCase()} is ${got}, expected ${expected} (published for ${file.name}). The file was deleted; run the command again to download it afresh. If this repeats, the server or a proxy is serving a different file.`,
      );
    }
  }
}

interface Response {
  res: http.IncomingMessage;
  url: string;
}

function request(url: string, headers: Record<string, string>, idleTimeoutMs: number, redirects = 5): Promise<Response> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const mod = u.protocol === 'https:' ? https : u.protocol === 'http:' ? http : undefined;
    if (!mod) return reject(new DownloadError(`${url}: only http and https URLs can be downloaded`));
    const req = mod.get(u, { headers: { 'user-agent': 'contrastive-lab', ...headers } }, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location) {
        res.resume();
        if (redirects <= 0) return reject(new DownloadError(`${url}: too many redirects`));
        resolve(request(new URL(res.headers.location, url).toString(), headers, idleTimeoutMs, redirects - 1));
        return;
      }
      resolve({ res, url });
    });
    req.setTimeout(idleTimeoutMs, () => req.destroy(Object.assign(new Error(`no data for ${idleTimeoutMs / 1000} s`), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
  });
}

function describeNetworkError(e: unknown, url: string, dest: string): DownloadError {
  const code = (e as NodeJS.ErrnoException).code ?? '';
  const host = new URL(url).host;
  if (OFFLINE_CODES.has(code)) {
    return new DownloadError(
      `cannot reach ${host} (${code}): this machine seems to be offline, or the host is blocked. Download ${url} on a machine with internet access and copy it to ${dest}, then run the command again (it is verified and used without the network); or pass --mirror URL for a server that has the same files.`,
      true,
    );
  }
  return new DownloadError(`${url}: ${(e as Error).message}`);
}

/**
 * Fetches one file to `dest`, resuming from `dest.part` if an earlier attempt was cut off, and
 * verifies it. A file already at `dest` is only verified. Returns how many bytes came over the network.
 */
export async function downloadFile(file: RemoteFile, dest: string, opts: DownloadOptions): Promise<{ received: number; resumedFrom: number }> {
  if (existsSync(dest)) {
    await verifyFile(dest, file);
    opts.log?.(`${file.name}: already here and verified (${dest})`);
    return { received: 0, resumedFrom: 0 };
  }
  const url = fileUrl(file, opts.mirror);
  const part = `${dest}.part`;
  const retries = opts.retries ?? 3;
  let received = 0;
  let firstResume = -1;
  for (let attempt = 0; ; attempt++) {
    const have = existsSync(part) ? statSync(part).size : 0;
    if (firstResume < 0) firstResume = have;
    try {
      received += await fetchInto(url, part, have, file.name, opts);
      break;
    } catch (e) {
      if (e instanceof DownloadError && e.offline) throw e;
      const now = existsSync(part) ? statSync(part).size : 0;
      const broken = e instanceof PartialError;
      if (!broken || attempt >= retries) {
        if (broken) throw new DownloadError(`${url}: ${e.message}; ${now} bytes are kept in ${part}: run the command again to resume from there`);
        throw e instanceof DownloadError ? e : describeNetworkError(e, url, dest);
      }
      opts.log?.(`${file.name}: ${e.message}; resuming from byte ${now} (retry ${attempt + 1} of ${retries})`);
      await new Promise((r) => setTimeout(r, opts.retryDelayMs ?? 1000));
    }
  }
  await verifyFile(part, file);
  renameSync(part, dest);
  return { received, resumedFrom: firstResume };
}

/** The connection broke after some bytes arrived: worth resuming. */
class PartialError extends Error {}

/** One request: appends to `part` from byte `have` (or rewrites it if the server ignores Range). */
async function fetchInto(url: string, part: string, have: number, name: string, opts: DownloadOptions): Promise<number> {
  let response: Response;
  try {
    response = await request(url, have > 0 ? { range: `bytes=${have}-` } : {}, opts.idleTimeoutMs ?? 30_000);
  } catch (e) {
    if (e instanceof DownloadError) throw e;
    throw describeNetworkError(e, url, part.replace(/\.part$/, ''));
  }
  const { res } = response;
  const status = res.statusCode ?? 0;
  let start = 0;
  let total: number | undefined;
  if (status === 206) {
    const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(String(res.headers['content-range'] ?? ''));
    if (!m || Number(m[1]) !== have) {
      res.resume();
      rmSync(part, { force: true });
      throw new PartialError(`the server answered a resume from byte ${have} with ${res.headers['content-range'] ?? 'no Content-Range'}; starting over`);
    }
    start = have;
    total = m[3] === '*' ? undefined : Number(m[3]);
  } else if (status === 200) {
    if (have > 0) opts.log?.(`${name}: the server does not support resuming; starting over`);
    const len = Number(res.headers['content-length']);
    total = Number.isFinite(len) && res.headers['content-length'] !== undefined ? len : undefined;
  } else if (status === 416 && have > 0) {
    // Range not satisfiable: what we have is already the whole file (or longer). Let the checksum decide.
    res.resume();
    return 0;
  } else {
    res.resume();
    throw new DownloadError(`${url}: HTTP ${status} ${res.statusMessage ?? ''}`.trim());
  }

  let received = 0;
  const t0 = Date.now();
  let lastReport = 0;
  const report = (force = false) => {
    const now = Date.now();
    if (!force && now - lastReport < 100) return;
    lastReport = now;
    opts.onProgress?.({ file: name, received: start + received, total, resumedFrom: start, bytesPerSecond: (received * 1000) / Math.max(1, now - t0) });
  };
  report(true);
  // Not stream.pipeline: on a broken connection it destroys the file stream and drops what was still
  // buffered, so the .part would be shorter than what arrived. Here the file is always ended cleanly.
  const { broken, diskError } = await new Promise<{ broken?: Error; diskError?: Error }>((done) => {
    const out = createWriteStream(part, { flags: start > 0 ? 'a' : 'w' });
    let broken: Error | undefined;
    let diskError: Error | undefined;
    res.on('data', (chunk: Buffer) => {
      received += chunk.length;
      report();
      if (!out.write(chunk)) {
        res.pause();
        out.once('drain', () => res.resume());
      }
    });
    res.on('error', (e) => (broken ??= e));
    res.on('close', () => {
      if (!res.complete) broken ??= new Error('connection closed early');
      if (!out.destroyed) out.end();
    });
    out.on('error', (e) => {
      diskError = e;
      res.destroy();
    });
    out.on('close', () => done({ broken, diskError }));
  });
  if (diskError) throw new DownloadError(`${part}: cannot write the download (${diskError.message})`);
  if (broken) throw new PartialError(`connection lost after ${start + received}${total ? ` of ${total}` : ''} bytes (${broken.message})`);
  report(true);
  if (total !== undefined && start + received < total) throw new PartialError(`connection closed after ${start + received} of ${total} bytes`);
  return received;
}

export interface DownloadResult {
  id: string;
  dir: string;
  /** False when it was already complete and nothing was fetched. */
  fetched: boolean;
}

/** Downloads, verifies and (for archives) extracts one dataset into <cacheDir>/<id>. */
export async function downloadDataset(id: string, opts: DownloadOptions, catalogue: Record<string, DownloadableDataset> = DOWNLOADS): Promise<DownloadResult> {
  const ds = catalogue[id];
  if (!ds) throw new DownloadError(`unknown dataset '${id}': downloadable are ${Object.keys(catalogue).join(', ')}`);
  const dir = join(opts.cacheDir, id);
  const marker = join(dir, '.complete');
  if (!opts.force && existsSync(marker)) {
    opts.log?.(`${ds.title}: already downloaded and verified in ${dir}`);
    return { id, dir, fetched: false };
  }
  const downloads = join(opts.cacheDir, 'downloads');
  mkdirSync(dir, { recursive: true });
  mkdirSync(downloads, { recursive: true });
  if (opts.force) rmSync(marker, { force: true });
  for (const file of ds.files) {
    const dest = join(ds.archive ? downloads : dir, file.name);
    // --force re-fetches: drop a complete copy, but keep a .part (it is verified at the end anyway).
    if (opts.force) rmSync(dest, { force: true });
    await downloadFile(file, dest, opts);
    if (ds.archive) {
      opts.log?.(`${file.name}: extracting into ${dir}`);
      try {
        await tar.x({ file: dest, cwd: dir, strict: true });
      } catch (e) {
        throw new DownloadError(`${dest}: cannot extract (${(e as Error).message}); delete it and download again`);
      }
      rmSync(dest, { force: true });
    }
  }
  writeFileSync(marker, `${JSON.stringify({ id, files: ds.files.map((f) => ({ name: f.name, md5: f.md5, sha256: f.sha256 })), mirror: opts.mirror ?? null, completedAt: new Date().toISOString() }, null, 2)}\n`);
  return { id, dir, fetched: true };
}

/** What `.complete` says, if the dataset was downloaded completely. */
export function readCompleteMarker(dir: string): { completedAt?: string } | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, '.complete'), 'utf8')) as { completedAt?: string };
  } catch {
    return undefined;
  }
}
