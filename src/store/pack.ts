import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import * as tar from 'tar';
import { formatProblems, resolveConfig } from '../core/config';
import { fromBlob, toBlob } from './sqlite';
import { latestResumeState, RESUME_FORMAT, type ResumePoint } from './resume';
import { liveStatus, THIS_MACHINE, type Liveness } from './liveness';
import { runFolder, type RunStore } from './store';
import type { ArtifactRow, EmbeddingRow, EvalRow, MetricPoint, RecordedRun, RunRow } from './types';

/**
 * A run packed into one file (`clab pack` → `run-17.clabrun`, `clab unpack` on another machine or database):
 * its config and status, every metric and evaluation, the saved embeddings and checkpoints (all, the last or
 * none), and the state it resumes from. A run trained on a GPU machine can so be compared, or a stopped one
 * resumed, on a laptop; and a long training can go on across machines that do not share a disk.
 *
 * The file is a gzipped tar (any `tar tzf` lists it): `run.json` (the manifest below), `embeddings/<n>.{vectors,
 * labels,indices}` (little-endian float32/int32, as the database stores them) and the run folder's `resume/<state>`
 * and `checkpoints/<epoch>` folders as they are on disk. tar is the `tar` package (already the dataset
 * downloader's); what is written and checked is ours, since no library knows a run's layout.
 */

export const PACK_FORMAT = 'contrastive-lab-run';
export const PACK_VERSION = 1;
const MANIFEST = 'run.json';

export type PackSelection = 'all' | 'last' | 'none';

interface PackedEmbedding {
  epoch: number;
  split: string;
  dim: number;
  count: number;
  createdAt: number;
  /** Prefix of its three files, e.g. `embeddings/0`. */
  file: string;
}

interface PackManifest {
  format: typeof PACK_FORMAT;
  version: number;
  packedAt: string;
  packedFrom: { host: string; database: string; runId: number };
  run: Omit<RecordedRun, 'metrics' | 'evals' | 'embeddings' | 'artifacts'>;
  /** [step, epoch, name, value (null for NaN), wall time] */
  metrics: [number, number, string, number | null, number][];
  evals: { protocol: string; value: number | null; epoch: number; details: Record<string, unknown>; createdAt: number }[];
  embeddings: PackedEmbedding[];
  /** Paths relative to the run folder (`checkpoints/epoch-0010`). */
  artifacts: ArtifactRow[];
  resume: { folder: string; point: ResumePoint } | null;
}

export interface PackSummary {
  file: string;
  bytes: number;
  metrics: number;
  evals: number;
  embeddings: number;
  checkpoints: number;
  resume: ResumePoint | null;
  /** Artifacts not in the run's folder (so not movable with it), left out. */
  skipped: string[];
}

/** A pack that cannot be made or read; names what is wrong. Nothing was changed. */
export class PackError extends Error {}

const pick = <T>(items: T[], which: PackSelection): T[] => (which === 'all' ? items : which === 'last' ? items.slice(-1) : []);

/** Packs run `id` of the database at `dbPath` into `file` (written whole, then renamed into place). */
export async function packRun(
  store: RunStore,
  dbPath: string,
  id: number,
  file: string,
  opts: { embeddings?: PackSelection; checkpoints?: PackSelection; liveness?: Liveness } = {},
): Promise<PackSummary> {
  const run = await store.getRun(id);
  if (!run) throw new PackError(`there is no run ${id} in ${dbPath}`);
  if (run.status === 'queued') throw new PackError(`run ${id} is queued: it has recorded nothing yet`);
  if (liveStatus(run, opts.liveness ?? THIS_MACHINE) === 'running')
    throw new PackError(`run ${id} is running (${run.pid ? `process ${run.pid}` : 'its worker sent a heartbeat recently'}): stop it first, so its resume state is complete`);

  const folder = runFolder(dbPath, id);
  mkdirSync(dirname(resolve(file)), { recursive: true });
  const stage = mkdtempSync(join(dirname(resolve(file)), '.clab-pack-'));
  try {
    const metrics = await store.getMetrics(id);
    const evals = await store.getEvals(id);
    const embeddings: PackedEmbedding[] = [];
    mkdirSync(join(stage, 'embeddings'));
    for (const info of pick(await store.listEmbeddings(id), opts.embeddings ?? 'all')) {
      const e = (await store.getEmbedding(info.id))!;
      const prefix = `embeddings/${embeddings.length}`;
      writeFileSync(join(stage, `${prefix}.vectors`), toBlob(e.vectors));
      writeFileSync(join(stage, `${prefix}.labels`), toBlob(e.labels));
      writeFileSync(join(stage, `${prefix}.indices`), toBlob(e.indices));
      embeddings.push({ epoch: e.epoch, split: e.split, dim: e.dim, count: e.count, createdAt: e.createdAt, file: prefix });
    }
    const skipped: string[] = [];
    const inFolder: ArtifactRow[] = [];
    for (const a of await store.getArtifacts(id)) {
      const rel = relative(folder, a.path);
      if (rel.startsWith('..') || isAbsolute(rel) || !existsSync(a.path)) skipped.push(a.path);
      else inFolder.push({ ...a, path: rel.split(sep).join('/') });
    }
    const artifacts = pick(inFolder, opts.checkpoints ?? 'all');
    for (const a of artifacts) cpSync(join(folder, a.path), join(stage, a.path), { recursive: true });
    const state = latestResumeState(dbPath, id);
    const resume = state && { folder: `resume/${basename(state.dir)}`, point: state.point };
    if (resume) cpSync(state.dir, join(stage, resume.folder), { recursive: true });

    const manifest: PackManifest = {
      format: PACK_FORMAT,
      version: PACK_VERSION,
      packedAt: new Date().toISOString(),
      packedFrom: { host: hostname(), database: resolve(dbPath), runId: id },
      run: recordedFields(run),
      metrics: metrics.map((m) => [m.step, m.epoch, m.name, Number.isNaN(m.value) ? null : m.value, m.wallTime]),
      evals: evals.map((e) => ({ ...e, value: Number.isNaN(e.value) ? null : e.value })),
      embeddings,
      artifacts,
      resume: resume ?? null,
    };
    writeFileSync(join(stage, MANIFEST), JSON.stringify(manifest));
    const tmp = `${file}.tmp-${process.pid}`;
    await tar.c({ gzip: true, file: tmp, cwd: stage, portable: true }, readdirSync(stage));
    renameSync(tmp, file);
    return {
      file,
      bytes: statSync(file).size,
      metrics: metrics.length,
      evals: evals.length,
      embeddings: embeddings.length,
      checkpoints: artifacts.length,
      resume: resume?.point ?? null,
      skipped,
    };
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

/** What a run row carries to another database: not its id, nor its worker's pid (meaningless elsewhere). */
function recordedFields(run: RunRow): PackManifest['run'] {
  // A run recorded as running that is not (its worker died) arrives as what it is: failed, resumable.
  const crashed = run.status === 'running';
  return {
    name: run.name,
    method: run.method,
    dataset: run.dataset,
    config: run.config,
    configHash: run.configHash,
    status: crashed ? 'failed' : (run.status as RecordedRun['status']),
    createdAt: run.createdAt,
    startedAt: run.startedAt,
    finishedAt: crashed ? (run.heartbeatAt ?? run.startedAt) : run.finishedAt,
    heartbeatAt: run.heartbeatAt,
    backend: run.backend,
    device: run.device,
    versions: run.versions,
    error: crashed ? `its worker${run.host ? ` on ${run.host}` : ''} stopped without a word (crashed) before it was packed` : run.error,
    host: run.host,
    starred: run.starred,
    note: run.note,
  };
}

/**
 * Adds the run packed in `file` to the database at `dbPath` under a new id, which it returns. The pack is
 * checked whole before anything is written; the rows land in one transaction, and the run is removed again
 * if its files cannot be put in place, so a bad or truncated pack leaves the database as it was.
 */
export async function unpackRun(store: RunStore, dbPath: string, file: string): Promise<{ runId: number; from: PackManifest['packedFrom']; resume: ResumePoint | null; embeddings: number; checkpoints: number }> {
  if (!existsSync(file)) throw new PackError(`${file}: no such file`);
  const stage = mkdtempSync(join(dirname(resolve(dbPath)), '.clab-unpack-'));
  try {
    try {
      // strict: a corrupt or truncated archive is an error, not a warning; tar refuses absolute and `..` paths.
      await tar.x({ file, cwd: stage, strict: true });
    } catch (e) {
      throw new PackError(`${file} is not a readable run pack (a .tar.gz written by clab pack): ${(e as Error).message}`);
    }
    const manifest = readManifest(stage, file);
    const embeddings = manifest.embeddings.map((e, i) => readEmbedding(stage, file, e, i));
    const folders = [...manifest.artifacts.map((a) => a.path), ...(manifest.resume ? [manifest.resume.folder] : [])];
    for (const f of folders) if (!existsSync(join(stage, f))) throw new PackError(`${file}: ${MANIFEST} lists ${f}, which the pack does not hold`);
    const recorded: RecordedRun = {
      ...manifest.run,
      metrics: manifest.metrics.map(([step, epoch, name, value, wallTime]): MetricPoint => ({ step, epoch, name, value: value ?? NaN, wallTime })),
      evals: manifest.evals.map((e): EvalRow => ({ ...e, value: e.value ?? NaN })),
      embeddings,
      artifacts: manifest.artifacts,
    };
    const runId = await store.insertRecordedRun(recorded);
    const target = runFolder(dbPath, runId);
    const existed = existsSync(target); // ids are never reused, so only junk can be there; not ours to remove
    try {
      for (const f of folders) {
        mkdirSync(dirname(join(target, f)), { recursive: true });
        renameSync(join(stage, f), join(target, f));
      }
      if (manifest.resume) {
        // The state names the run it belongs to; it now belongs to this one.
        const model = join(target, manifest.resume.folder, 'model.json');
        writeFileSync(model, JSON.stringify({ ...(JSON.parse(readFileSync(model, 'utf8')) as object), runId }, null, 1));
      }
    } catch (e) {
      await store.deleteRun(runId);
      if (!existed) rmSync(target, { recursive: true, force: true });
      throw new PackError(`could not put run ${runId}'s files in ${target} (${(e as Error).message}); the run was not added`);
    }
    return { runId, from: manifest.packedFrom, resume: manifest.resume?.point ?? null, embeddings: embeddings.length, checkpoints: manifest.artifacts.length };
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

// ---- reading a pack: every field checked, every problem named with where it is ---------------------------

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isInt = (v: unknown): v is number => Number.isInteger(v);
const isStr = (v: unknown): v is string => typeof v === 'string';
const orNull = (check: (v: unknown) => boolean) => (v: unknown) => v === null || check(v);
/** A folder inside the pack: plain relative segments only. */
const isInnerPath = (v: unknown): v is string => isStr(v) && /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(v) && !v.split('/').includes('..');

function readManifest(stage: string, file: string): PackManifest {
  const where = `${file}: ${MANIFEST}`;
  let m: unknown;
  try {
    m = JSON.parse(readFileSync(join(stage, MANIFEST), 'utf8'));
  } catch (e) {
    throw new PackError(`${where} is missing or not JSON (${(e as Error).message}): is this a run pack written by clab pack?`);
  }
  const fail = (path: string, what: string): never => {
    throw new PackError(`${where}: ${path} ${what}`);
  };
  if (!isObj(m) || m.format !== PACK_FORMAT) return fail('format', `is not '${PACK_FORMAT}': not a run pack`);
  if (m.version !== PACK_VERSION) return fail('version', `is ${JSON.stringify(m.version)}; this Contrastive Lab reads version ${PACK_VERSION}`);
  const check = (obj: Record<string, unknown>, prefix: string, fields: Record<string, (v: unknown) => boolean>, what: Record<string, string>) => {
    for (const [k, ok] of Object.entries(fields)) if (!ok(obj[k])) fail(`${prefix}${k}`, `should be ${what[k]}, got ${JSON.stringify(obj[k])?.slice(0, 80)}`);
  };
  if (!isObj(m.packedFrom)) fail('packedFrom', 'is missing');
  check(m.packedFrom as Record<string, unknown>, 'packedFrom.', { host: isStr, database: isStr, runId: isInt }, { host: 'a string', database: 'a string', runId: 'an integer' });
  if (!isObj(m.run)) fail('run', 'is missing');
  const r = m.run as Record<string, unknown>;
  const time = orNull(isInt);
  check(
    r,
    'run.',
    {
      name: isStr, method: isStr, dataset: isStr, config: isObj, configHash: isStr,
      status: (v) => v === 'completed' || v === 'failed' || v === 'cancelled',
      createdAt: isInt, startedAt: time, finishedAt: time, heartbeatAt: time,
      backend: orNull(isStr), device: orNull(isStr), versions: (v) => isObj(v) && Object.values(v).every(isStr),
      error: orNull(isStr), host: orNull(isStr), starred: (v) => typeof v === 'boolean', note: orNull(isStr),
    },
    {
      name: 'a string', method: 'a string', dataset: 'a string', config: 'an object', configHash: 'a string',
      status: "'completed', 'failed' or 'cancelled'", createdAt: 'a time in ms', startedAt: 'a time in ms or null',
      finishedAt: 'a time in ms or null', heartbeatAt: 'a time in ms or null', backend: 'a string or null', device: 'a string or null',
      versions: 'an object of strings', error: 'a string or null', host: 'a string or null', starred: 'true or false', note: 'a string or null',
    },
  );
  // The views read the config as this version resolves it; one it cannot resolve would break them.
  const { problems } = resolveConfig(r.config);
  if (problems.length) throw new PackError(`${where}: run.config is not a config this Contrastive Lab accepts:\n${formatProblems(problems, 'run.config')}`);
  if (!Array.isArray(m.metrics)) fail('metrics', 'should be an array');
  (m.metrics as unknown[]).forEach((p, i) => {
    if (!(Array.isArray(p) && p.length === 5 && isInt(p[0]) && isInt(p[1]) && isStr(p[2]) && (p[3] === null || typeof p[3] === 'number') && isInt(p[4])))
      fail(`metrics[${i}]`, `should be [step, epoch, name, value, wall time], got ${JSON.stringify(p)?.slice(0, 80)}`);
  });
  if (!Array.isArray(m.evals)) fail('evals', 'should be an array');
  (m.evals as unknown[]).forEach((e, i) => {
    if (!isObj(e)) return fail(`evals[${i}]`, 'should be an object');
    check(e, `evals[${i}].`, { protocol: isStr, value: (v) => v === null || typeof v === 'number', epoch: isInt, details: isObj, createdAt: isInt }, {
      protocol: 'a string', value: 'a number or null', epoch: 'an integer', details: 'an object', createdAt: 'a time in ms',
    });
  });
  if (!Array.isArray(m.embeddings)) fail('embeddings', 'should be an array');
  (m.embeddings as unknown[]).forEach((e, i) => {
    if (!isObj(e)) return fail(`embeddings[${i}]`, 'should be an object');
    const positive = (v: unknown) => isInt(v) && v > 0;
    check(e, `embeddings[${i}].`, { epoch: isInt, split: isStr, dim: positive, count: isInt, createdAt: isInt, file: isInnerPath }, {
      epoch: 'an integer', split: 'a string', dim: 'a positive integer', count: 'an integer', createdAt: 'a time in ms', file: 'a path inside the pack',
    });
  });
  if (!Array.isArray(m.artifacts)) fail('artifacts', 'should be an array');
  (m.artifacts as unknown[]).forEach((a, i) => {
    if (!isObj(a)) return fail(`artifacts[${i}]`, 'should be an object');
    check(a, `artifacts[${i}].`, { kind: isStr, path: isInnerPath, epoch: orNull(isInt), createdAt: isInt }, {
      kind: 'a string', path: 'a path inside the run folder', epoch: 'an integer or null', createdAt: 'a time in ms',
    });
  });
  if (m.resume !== null) {
    if (!isObj(m.resume)) return fail('resume', 'should be an object or null');
    const s = m.resume;
    if (!(isInnerPath(s.folder) && /^resume\/(epoch-\d+(-trained)?|step-\d+)$/.test(s.folder))) fail('resume.folder', `should be resume/<state>, got ${JSON.stringify(s.folder)}`);
    if (!isObj(s.point) || !isInt(s.point.epoch) || !isInt(s.point.step) || !isStr(s.point.configHash)) fail('resume.point', 'should hold the epoch, step and config hash it resumes from');
    const model = join(stage, s.folder as string, 'model.json');
    let meta: Record<string, unknown> | undefined;
    try {
      meta = JSON.parse(readFileSync(model, 'utf8')) as Record<string, unknown>;
    } catch {
      meta = undefined; // missing or not JSON: reported just below
    }
    if (meta?.format !== RESUME_FORMAT) fail('resume.folder', `${JSON.stringify(s.folder)} does not hold a resume state (model.json of format ${RESUME_FORMAT})`);
  }
  return m as unknown as PackManifest;
}

function readEmbedding(stage: string, file: string, e: PackedEmbedding, i: number): Omit<EmbeddingRow, 'id'> {
  const part = (suffix: string) => {
    const p = join(stage, `${e.file}.${suffix}`);
    if (!existsSync(p)) throw new PackError(`${file}: embeddings[${i}] (epoch ${e.epoch}) has no ${e.file}.${suffix} in the pack`);
    return readFileSync(p);
  };
  const vectors = fromBlob(part('vectors'), Float32Array, 'vectors');
  const labels = fromBlob(part('labels'), Int32Array, 'labels');
  const indices = fromBlob(part('indices'), Int32Array, 'indices');
  if (vectors.length !== e.count * e.dim || labels.length !== e.count || indices.length !== e.count)
    throw new PackError(`${file}: embeddings[${i}] (epoch ${e.epoch}) should hold ${e.count} × ${e.dim} values and ${e.count} labels and indices; it holds ${vectors.length}, ${labels.length}, ${indices.length}`);
  return { epoch: e.epoch, split: e.split, dim: e.dim, count: e.count, createdAt: e.createdAt, vectors, labels, indices };
}
