/**
 * `clab data download` against a local HTTP server on 127.0.0.1 that serves generated fixture files,
 * honours Range requests, and can be told to cut a response off mid-way or to ignore Range.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { clearDatasetCache, loadDataset } from '../src/data/datasets';
import { DownloadError, downloadDataset, DOWNLOADS, type DownloadableDataset, type DownloadProgress } from '../src/data/download';
import { encodeIdxImages, encodeIdxLabels } from '../src/data/idx';
import { gzipSync } from 'node:zlib';
import { writeCifar10, writeTarGz } from './fixtures/datasets/make';

const root = resolve(__dirname, '..');
const tmp = mkdtempSync(join(tmpdir(), 'clab-download-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

// ---------------------------------------------------------------- the fixture server

interface Served {
  body: Buffer;
  /** Cut the next N responses for this file off after `cutAfter` bytes of body. */
  cutAfter?: number;
  cuts?: number;
  ignoreRange?: boolean;
  status?: number;
}

const files = new Map<string, Served>();
const requests: { path: string; range?: string }[] = [];
let server: http.Server;
let base = '';

before(async () => {
  server = http.createServer((req, res) => {
    const name = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname.slice(1));
    requests.push({ path: name, range: req.headers.range });
    const f = files.get(name);
    if (!f || f.status) {
      res.writeHead(f?.status ?? 404, { 'content-type': 'text/plain' });
      res.end('not here');
      return;
    }
    let start = 0;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (m && !f.ignoreRange) {
      start = Number(m[1]);
      if (start >= f.body.length) {
        res.writeHead(416, { 'content-range': `bytes */${f.body.length}` });
        res.end();
        return;
      }
      res.writeHead(206, { 'content-length': f.body.length - start, 'content-range': `bytes ${start}-${f.body.length - 1}/${f.body.length}`, 'accept-ranges': 'bytes' });
    } else res.writeHead(200, { 'content-length': f.body.length, 'accept-ranges': 'bytes' });
    const body = f.body.subarray(start);
    if (f.cuts && f.cutAfter !== undefined) {
      f.cuts--;
      // Send part of the body, then drop the connection as a flaky network would.
      res.write(body.subarray(0, f.cutAfter), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});
after(() => new Promise<void>((r) => server.close(() => r())));

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A tiny MNIST-format dataset: gzipped IDX files, as published. */
function idxFiles(): Record<string, Buffer> {
  const img = (count: number) => gzipSync(encodeIdxImages({ count, rows: 28, cols: 28, pixels: new Uint8Array(count * 784).map((_, i) => (i * 13) & 0xff) }));
  const lab = (count: number) => gzipSync(encodeIdxLabels(Array.from({ length: count }, (_, i) => i % 10)));
  return { 'train-images-idx3-ubyte.gz': img(40), 'train-labels-idx1-ubyte.gz': lab(40), 't10k-images-idx3-ubyte.gz': img(10), 't10k-labels-idx1-ubyte.gz': lab(10) };
}

/** Serves `bodies` and returns a catalogue entry for them with their real checksums. */
function serve(id: string, bodies: Record<string, Buffer>, archive = false): Record<string, DownloadableDataset> {
  for (const [name, body] of Object.entries(bodies)) files.set(name, { body });
  return {
    [id]: {
      id,
      title: `test ${id}`,
      archive,
      homepage: base,
      files: Object.entries(bodies).map(([name, body], i) => ({ name, url: base + name, ...(i % 2 ? { sha256: sha256(body) } : { md5: md5(body) }) })),
    },
  };
}

let n = 0;
const freshCache = () => {
  const d = join(tmp, `cache-${++n}`);
  mkdirSync(d, { recursive: true });
  return d;
};

// ---------------------------------------------------------------- tests

void test('downloads every file, verifies MD5/SHA-256, reports progress; the result trains by its bare name', async () => {
  const cacheDir = freshCache();
  const bodies = idxFiles();
  const catalogue = serve('mnist', bodies);
  const progress: DownloadProgress[] = [];
  const r = await downloadDataset('mnist', { cacheDir, onProgress: (p) => progress.push(p), retryDelayMs: 0 }, catalogue);
  assert.equal(r.fetched, true);
  for (const [name, body] of Object.entries(bodies)) assert.deepEqual(readFileSync(join(cacheDir, 'mnist', name)), body);
  assert.ok(existsSync(join(cacheDir, 'mnist', '.complete')));
  const last = progress.filter((p) => p.file === 'train-images-idx3-ubyte.gz').pop()!;
  assert.equal(last.received, bodies['train-images-idx3-ubyte.gz'].length);
  assert.equal(last.total, bodies['train-images-idx3-ubyte.gz'].length);

  clearDatasetCache();
  const ds = loadDataset('mnist', { cacheDir });
  assert.deepEqual([ds.train.count, ds.test.count, ds.train.channels], [40, 10, 1]);

  // Complete already: nothing goes over the network.
  const before = requests.length;
  assert.equal((await downloadDataset('mnist', { cacheDir }, catalogue)).fetched, false);
  assert.equal(requests.length, before);
});

void test('a download cut off mid-way resumes from where it stopped with a Range request', async () => {
  const cacheDir = freshCache();
  const body = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 31) & 0xff));
  const catalogue = serve('cut', { 'big.bin': body });
  files.get('big.bin')!.cutAfter = 70_000;
  files.get('big.bin')!.cuts = 1;
  const part = join(cacheDir, 'cut', 'big.bin.part');

  await assert.rejects(
    downloadDataset('cut', { cacheDir, retries: 0 }, catalogue),
    (e: unknown) => e instanceof DownloadError && /connection lost after 70000 of 200000 bytes/.test(e.message) && e.message.includes(part) && /run the command again to resume/.test(e.message),
  );
  assert.equal(statSync(part).size, 70_000, 'the bytes received were not kept');

  const progress: DownloadProgress[] = [];
  requests.length = 0;
  await downloadDataset('cut', { cacheDir, onProgress: (p) => progress.push(p) }, catalogue);
  assert.deepEqual(requests.map((q) => q.range), ['bytes=70000-']);
  assert.equal(progress[0].resumedFrom, 70_000);
  assert.deepEqual(readFileSync(join(cacheDir, 'cut', 'big.bin')), body);
  assert.ok(!existsSync(part));
});

void test('within one command, a broken connection is resumed automatically', async () => {
  const cacheDir = freshCache();
  const body = Buffer.alloc(120_000, 7);
  const catalogue = serve('auto', { 'auto.bin': body });
  Object.assign(files.get('auto.bin')!, { cutAfter: 30_000, cuts: 2 });
  const logs: string[] = [];
  requests.length = 0;
  await downloadDataset('auto', { cacheDir, retries: 3, retryDelayMs: 0, log: (m) => logs.push(m) }, catalogue);
  assert.deepEqual(requests.map((q) => q.range), [undefined, 'bytes=30000-', 'bytes=60000-']);
  assert.equal(logs.filter((l) => /resuming from byte/.test(l)).length, 2);
  assert.deepEqual(readFileSync(join(cacheDir, 'auto', 'auto.bin')), body);
});

void test('a server that ignores Range sends the whole file again, and it still verifies', async () => {
  const cacheDir = freshCache();
  const body = Buffer.from('0123456789'.repeat(5000));
  const catalogue = serve('norange', { 'nr.bin': body });
  Object.assign(files.get('nr.bin')!, { ignoreRange: true });
  mkdirSync(join(cacheDir, 'norange'), { recursive: true });
  writeFileSync(join(cacheDir, 'norange', 'nr.bin.part'), body.subarray(0, 1234));
  const logs: string[] = [];
  await downloadDataset('norange', { cacheDir, log: (m) => logs.push(m) }, catalogue);
  assert.deepEqual(readFileSync(join(cacheDir, 'norange', 'nr.bin')), body);
  assert.ok(logs.some((l) => /does not support resuming; starting over/.test(l)));
});

void test('a checksum mismatch names the file and both checksums, and deletes the bad copy', async () => {
  const cacheDir = freshCache();
  const catalogue = serve('bad', { 'good.bin': Buffer.from('the published bytes') });
  files.set('good.bin', { body: Buffer.from('something else entirely') });
  const dest = join(cacheDir, 'bad', 'good.bin');
  await assert.rejects(downloadDataset('bad', { cacheDir }, catalogue), (e: unknown) => {
    assert.ok(e instanceof DownloadError);
    assert.ok(e.message.startsWith(`${dest}.part: checksum mismatch: MD5 is ${md5(Buffer.from('something else entirely'))}, expected ${md5(Buffer.from('the published bytes'))}`), e.message);
    assert.match(e.message, /published for good\.bin/);
    return true;
  });
  assert.ok(!existsSync(dest) && !existsSync(`${dest}.part`));
  assert.ok(!existsSync(join(cacheDir, 'bad', '.complete')));
});

void test('offline (connection refused) gives a clear message and how to go on without the network', async () => {
  const cacheDir = freshCache();
  const closed = http.createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  await assert.rejects(downloadDataset('cifar10', { cacheDir, mirror: `http://127.0.0.1:${port}/mirror` }), (e: unknown) => {
    assert.ok(e instanceof DownloadError && e.offline);
    assert.match(e.message, new RegExp(`cannot reach 127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\): this machine seems to be offline`));
    assert.match(e.message, /cifar-10-binary\.tar\.gz/);
    assert.ok(e.message.includes(join(cacheDir, 'downloads', 'cifar-10-binary.tar.gz')), 'says where to put a copy');
    return true;
  });
});

void test('HTTP errors name the URL and status', async () => {
  const cacheDir = freshCache();
  const catalogue = serve('gone', { 'gone.bin': Buffer.from('x') });
  files.get('gone.bin')!.status = 404;
  await assert.rejects(downloadDataset('gone', { cacheDir }, catalogue), new RegExp(`${base}gone\\.bin: HTTP 404`));
});

void test('a CIFAR-style .tar.gz archive is verified, extracted and removed; the dataset then loads by name', async () => {
  const cacheDir = freshCache();
  const src = join(tmp, 'c10src');
  writeCifar10(join(src, 'cifar-10-batches-bin'), 3, 4);
  const archive = join(tmp, 'cifar-10-binary.tar.gz');
  await writeTarGz(archive, src, 'cifar-10-batches-bin');
  const catalogue = serve('cifar10', { 'cifar-10-binary.tar.gz': readFileSync(archive) }, true);
  await downloadDataset('cifar10', { cacheDir }, catalogue);
  assert.ok(existsSync(join(cacheDir, 'cifar10', 'cifar-10-batches-bin', 'data_batch_5.bin')));
  assert.ok(!existsSync(join(cacheDir, 'downloads', 'cifar-10-binary.tar.gz')), 'the archive was kept after extraction');
  clearDatasetCache();
  const ds = loadDataset('cifar10', { cacheDir });
  assert.deepEqual([ds.train.count, ds.test.count, ds.train.channels], [15, 4, 3]);
});

void test('an archive copied by hand into downloads/ is verified and used without the network', async () => {
  const cacheDir = freshCache();
  const src = join(tmp, 'c10hand');
  writeCifar10(join(src, 'cifar-10-batches-bin'), 2, 2);
  const archive = join(cacheDir, 'downloads', 'cifar-10-binary.tar.gz');
  mkdirSync(join(cacheDir, 'downloads'), { recursive: true });
  await writeTarGz(archive, src, 'cifar-10-batches-bin');
  const catalogue: Record<string, DownloadableDataset> = {
    cifar10: { ...DOWNLOADS.cifar10, files: [{ ...DOWNLOADS.cifar10.files[0], md5: md5(readFileSync(archive)) }] },
  };
  requests.length = 0;
  await downloadDataset('cifar10', { cacheDir, mirror: 'http://127.0.0.1:9/' }, catalogue);
  assert.equal(requests.length, 0);
  assert.ok(existsSync(join(cacheDir, 'cifar10', 'cifar-10-batches-bin', 'test_batch.bin')));
});

void test('the catalogue has the canonical locations and published checksums', () => {
  assert.deepEqual(Object.keys(DOWNLOADS), ['mnist', 'fashion-mnist', 'cifar10', 'cifar100']);
  assert.equal(DOWNLOADS.cifar10.files[0].md5, 'c58f30108f718f92721af3b95e74349a');
  assert.equal(DOWNLOADS.cifar100.files[0].md5, '03b5dce01913d631647c71ecec9e9cb8');
  assert.equal(DOWNLOADS.mnist.files[0].url, 'https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz');
  assert.equal(DOWNLOADS['fashion-mnist'].files[3].md5, 'bb300cfdad3c16e7a12a480ee83cd310');
  for (const d of Object.values(DOWNLOADS)) for (const f of d.files) assert.match(f.md5 ?? '', /^[0-9a-f]{32}$/);
});

// ---------------------------------------------------------------- the CLI

const cli = join(root, 'dist', 'cli.js');
/** Runs the CLI without blocking this process: the fixture server lives in it. */
function clab(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolveRun) => {
    const child = spawn(process.execPath, [cli, ...args], { env: { ...process.env, ...env }, timeout: 60_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolveRun({ code, stdout, stderr }));
  });
}

void test('clab data download / list / inspect as users run them (the CLI bundle)', async () => {
  const b = spawnSync(process.execPath, [join(root, 'scripts', 'ensure-built.mjs')], { stdio: 'inherit' });
  assert.equal(b.status, 0, 'build failed');
  const cacheDir = freshCache();
  // The mirror serves files under the real names but with other bytes: the published MD5s catch it.
  for (const [name, body] of Object.entries(idxFiles())) files.set(name, { body });
  const bad = await clab(['data', 'download', 'mnist', '--mirror', base, '--cache-dir', cacheDir]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /train-images-idx3-ubyte\.gz\.part: checksum mismatch: MD5 is [0-9a-f]{32}, expected f68b3c2dcbeaaa9fbdd348bbdeb94873/);
  assert.match(bad.stderr, /100%/, 'no progress shown');

  const off = await clab(['data', 'download', 'cifar100', '--cache-dir', cacheDir], { CLAB_DATA_MIRROR: 'http://127.0.0.1:9/' });
  assert.equal(off.code, 1);
  assert.match(off.stderr, /cannot reach 127\.0\.0\.1:9 \(ECONNREFUSED\): this machine seems to be offline/);

  assert.equal((await clab(['data', 'download', 'imagenet', '--cache-dir', cacheDir])).code, 2);

  writeCifar10(join(cacheDir, 'cifar10'), 2, 3);
  const list = await clab(['data', 'list', '--cache-dir', cacheDir]);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /cifar10\s+ready\s+\S+ \S+\s+10\/3\s+10\s+32×32×3/);
  assert.match(list.stdout, /mnist\s+missing/, 'the copy that failed its checksum is gone');
  assert.match(list.stdout, /clab data download fashion-mnist/);
  const json = JSON.parse((await clab(['data', 'list', '--json', '--cache-dir', cacheDir])).stdout);
  assert.equal(json.cacheDir, cacheDir);
  assert.equal(json.datasets.find((d: { spec: string }) => d.spec === 'cifar10').channels, 3);

  const info = await clab(['data', 'inspect', 'cifar10', '--json', '--cache-dir', cacheDir]);
  assert.equal(info.code, 0, info.stderr);
  assert.deepEqual(JSON.parse(info.stdout).classes.length, 10);
  const missing = await clab(['data', 'inspect', 'folder:/nonexistent/pics', '--cache-dir', cacheDir]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /folder:\/nonexistent\/pics: folder not found/);
});
