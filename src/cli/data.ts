/**
 * `clab data list | download | inspect`: the datasets on this machine, fetching the standard ones,
 * and checking what a dataset spec loads as (which also decodes and caches an image folder).
 */
import { defaultCacheDir } from '../data/cache';
import { DatasetError } from '../data/idx';
import { DOWNLOADS, DownloadError, downloadDataset, type DownloadProgress } from '../data/download';
import { listLocalDatasets, type LocalDataset } from '../data/registry';

export const DATA_USAGE = `  data list                                 datasets on this machine: built-in, downloaded, decoded image folders
  data download NAME…                       fetch ${Object.keys(DOWNLOADS).join(' | ')} into the cache folder
                                            (verified against the published checksums; resumes a cut-off download)
  data inspect SPEC                         load a dataset spec and show its splits, classes and channels
                                            (decodes an image folder once and caches it for training)`;

export const DATA_OPTIONS_USAGE = `Data options:
  --cache-dir DIR   dataset cache folder (default: ${defaultCacheDir()}; env CLAB_CACHE)
  --mirror URL      download from a server with the same file names instead of the canonical locations
  --force           download and verify again even if complete
  --image-size N    inspect: side length image folders are resized to (default 32; 0 = as stored)`;

export interface DataValues {
  json?: boolean;
  'cache-dir'?: string;
  mirror?: string;
  force?: boolean;
  'image-size'?: string;
}

interface Out {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
}

export async function runDataCommand(args: string[], values: DataValues, io: Out = process): Promise<number> {
  const [sub, ...rest] = args;
  const cacheDir = values['cache-dir'] ?? defaultCacheDir();
  switch (sub) {
    case 'list':
      return list(cacheDir, values.json === true, io);
    case 'download':
      if (!rest.length) {
        io.stderr.write(`clab data download: name a dataset: ${Object.keys(DOWNLOADS).join(', ')}\n`);
        return 2;
      }
      return download(rest, cacheDir, values, io);
    case 'inspect':
      if (rest.length !== 1) {
        io.stderr.write('clab data inspect: expected one dataset spec, e.g. folder:~/pictures or cifar10\n');
        return 2;
      }
      return inspect(rest[0], cacheDir, values, io);
    default:
      io.stderr.write(`clab data: expected list, download or inspect${sub ? `, got '${sub}'` : ''}\n\nCommands:\n${DATA_USAGE}\n\n${DATA_OPTIONS_USAGE}\n`);
      return 2;
  }
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = -1;
  do {
    v /= 1024;
    u++;
  } while (v >= 1024 && u < units.length - 1);
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

function list(cacheDir: string, json: boolean, io: Out): number {
  const rows = listLocalDatasets(cacheDir);
  if (json) {
    io.stdout.write(`${JSON.stringify({ cacheDir, datasets: rows }, null, 2)}\n`);
    return 0;
  }
  const shape = (r: LocalDataset) => (r.height ? `${r.height}×${r.width}×${r.channels}` : r.channels ? `×${r.channels}` : '');
  const counts = (r: LocalDataset) => (r.train !== undefined ? `${r.train}/${r.test ?? '?'}` : '');
  const table = [
    ['SPEC', 'STATE', 'SIZE', 'TRAIN/TEST', 'CLASSES', 'H×W×C'],
    ...rows.map((r) => [r.spec, r.state, r.bytes ? formatBytes(r.bytes) : '-', counts(r), r.classes === undefined ? '' : r.classes === 0 ? 'none' : String(r.classes), shape(r)]),
  ];
  const widths = table[0].map((_, c) => Math.max(...table.map((row) => row[c].length)));
  io.stdout.write(`Dataset cache folder: ${cacheDir}\n\n`);
  table.forEach((row, i) => {
    io.stdout.write(`${row.map((cell, c) => cell.padEnd(widths[c])).join('  ').trimEnd()}\n`);
    const note = i > 0 ? rows[i - 1].note : undefined;
    if (note) io.stdout.write(`  ${note}\n`);
  });
  io.stdout.write(`\nAlso: mnist:DIR, fashion-mnist:DIR, cifar10:DIR, cifar100:DIR, cifar100-coarse:DIR for files elsewhere, folder:DIR for image folders.\n`);
  return 0;
}

/** A one-line progress bar, redrawn in place on a terminal; a line per 10% otherwise (logs, CI). */
export function progressPrinter(stream: Out['stderr']): (p: DownloadProgress) => void {
  let lastDecile = -1;
  return (p) => {
    const pct = p.total ? Math.min(1, p.received / p.total) : undefined;
    const amount = `${formatBytes(p.received)}${p.total ? ` / ${formatBytes(p.total)}` : ''}`;
    const speed = `${formatBytes(Math.round(p.bytesPerSecond))}/s`;
    if (stream.isTTY) {
      const width = 24;
      const bar = pct === undefined ? '' : `[${'#'.repeat(Math.round(pct * width)).padEnd(width, '-')}] ${String(Math.floor(pct * 100)).padStart(3)}%  `;
      stream.write(`\r  ${p.file}  ${bar}${amount}  ${speed}\x1b[K`);
      if (pct === 1) stream.write('\n');
      return;
    }
    const decile = pct === undefined ? -1 : Math.floor(pct * 10);
    if (decile > lastDecile) {
      lastDecile = decile;
      stream.write(`  ${p.file}: ${pct === undefined ? '' : `${decile * 10}%, `}${amount}${p.resumedFrom ? ` (resumed at ${formatBytes(p.resumedFrom)})` : ''}\n`);
    }
  };
}

async function download(ids: string[], cacheDir: string, values: DataValues, io: Out): Promise<number> {
  const unknown = ids.filter((id) => !DOWNLOADS[id]);
  if (unknown.length) {
    io.stderr.write(`clab data download: unknown dataset ${unknown.map((u) => `'${u}'`).join(', ')}: downloadable are ${Object.keys(DOWNLOADS).join(', ')}\n`);
    return 2;
  }
  const mirror = values.mirror ?? process.env.CLAB_DATA_MIRROR;
  for (const id of ids) {
    const ds = DOWNLOADS[id];
    io.stderr.write(`${ds.title}: ${mirror ? `from mirror ${mirror}` : `from ${new URL(ds.files[0].url).host}`} into ${cacheDir}\n`);
    try {
      const r = await downloadDataset(id, { cacheDir, mirror, force: values.force === true, onProgress: progressPrinter(io.stderr), log: (m) => io.stderr.write(`  ${m}\n`) });
      io.stdout.write(`${id}: ${r.fetched ? 'downloaded and verified' : 'already complete'} in ${r.dir}; train with --dataset ${id === 'cifar100' ? 'cifar100 (or cifar100-coarse)' : id}\n`);
    } catch (e) {
      if (!(e instanceof DownloadError)) throw e;
      io.stderr.write(`\nclab data download ${id}: ${e.message}\n`);
      return 1;
    }
  }
  return 0;
}

async function inspect(spec: string, cacheDir: string, values: DataValues, io: Out): Promise<number> {
  const imageSize = values['image-size'] === undefined ? 32 : Number(values['image-size']);
  if (!Number.isInteger(imageSize) || imageSize < 0) {
    io.stderr.write(`clab data inspect: --image-size must be a whole number ≥ 0, got '${values['image-size']}'\n`);
    return 2;
  }
  // Loaded lazily like the engine elsewhere; the data layer has no tfjs, so this stays quick.
  const { loadDataset } = await import('../data/datasets');
  const progress = io.stderr.isTTY ? (done: number, total: number) => io.stderr.write(`\r  decoding images: ${done}/${total}\x1b[K${done === total ? '\n' : ''}`) : undefined;
  try {
    const ds = loadDataset(spec, { cacheDir, imageSize, onProgress: progress });
    const { train, test } = ds;
    const info = {
      spec,
      name: ds.name,
      train: train.count,
      test: test.count,
      height: train.height,
      width: train.width,
      channels: train.channels,
      classes: ds.classNames,
      labeled: ds.classNames.length > 0,
      source: ds.source,
    };
    if (values.json) {
      io.stdout.write(`${JSON.stringify(info)}\n`);
      return 0;
    }
    io.stdout.write(
      `${ds.name}\n  train ${train.count}, test ${test.count} images of ${train.height}×${train.width}, ${train.channels === 3 ? '3 channels (RGB)' : `${train.channels} channel (gray)`}\n` +
        (ds.classNames.length ? `  ${ds.classNames.length} classes: ${ds.classNames.slice(0, 12).join(', ')}${ds.classNames.length > 12 ? ', …' : ''}\n` : '  unlabeled: runs train, but there is no kNN monitor or linear probe\n') +
        `  ${ds.source}\n`,
    );
    return 0;
  } catch (e) {
    if (!(e instanceof DatasetError)) throw e;
    io.stderr.write(`clab data inspect: ${e.message}\n`);
    return 1;
  }
}
