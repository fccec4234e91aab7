/**
 * Measures the 10-epoch kNN curves of docs/BENCHMARKS.md: one default-config run per method on a dataset,
 * recorded in one database, `--jobs` trainings at a time (one per core here). A curve of a slow method takes
 * longer than a working session, so the queue picks up where the last one stopped: a method with a
 * completed run of exactly this config (the config hash: method defaults + dataset + epochs) is done, one
 * with a cancelled, failed or crashed run that has a resume state is resumed (`clab resume`), any other is
 * trained anew. Ctrl-C or SIGTERM is passed to the trainings, which record `cancelled` after their current
 * step and save their state there for the next session. One queue per database: its pid is in
 * `<db>.logs/queue.pid` while it runs (`kill -TERM $(cat …/queue.pid)` stops it), and a second one refuses
 * to start (it would start the next methods beside the first queue's trainings).
 *
 *   node --import tsx scripts/curves.ts --db runs.db [--methods mocov1,byol] [--dataset SPEC (fashion-mnist)] [--epochs 10]
 *        [--jobs 2] [--nice 5] [--dry-run]
 *
 * An entry of --methods may change the default config, for the experiments beside a default curve:
 * `simsiam:optimizer.lr=0.06+optimizer.warmupEpochs=1` is SimSiam with those two `clab train --set`s (its
 * own config hash, so its own curve). Each training's output goes to `<db>.logs/<entry>.log`; the table
 * comes from scripts/knn-curves.ts.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { setPriority } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { rawTrainConfig } from '../src/cli/train-args';
import { configHash, formatProblems, resolveConfig } from '../src/core/config';
import { deepMerge } from '../src/core/spec';
import { METHOD_IDS } from '../src/core/methods';
import { checkResumable, describeResumePoint, ResumeRefused, type ResumePoint } from '../src/store/resume';
import { isProcessAlive, liveStatus } from '../src/store/liveness';
import { RunStore } from '../src/store/store';
import type { RunRow } from '../src/store/types';

/** One curve to measure: a method's default config, or with `clab train --set`s (`method:key=value+key=value`). */
export interface CurveEntry {
  label: string;
  method: string;
  sets: string[];
}

export type CurveStep = { entry: CurveEntry; action: 'done' | 'running' | 'resume' | 'train'; runId?: number; why: string };

/** Parses `--methods`: comma-separated entries, each a method id with optional `:k=v+k=v` overrides. */
export function parseCurveEntries(spec: string): CurveEntry[] {
  return spec
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)
    .map((label) => {
      const colon = label.indexOf(':');
      const method = colon < 0 ? label : label.slice(0, colon);
      const sets = colon < 0 ? [] : label.slice(colon + 1).split('+');
      for (const s of sets) if (s.indexOf('=') <= 0) throw new Error(`--methods ${label}: each override is key.path=value, got '${s}'`);
      return { label, method, sets };
    });
}

/** A file name for an entry's log: the label with anything but letters, digits and `.=_-` as `_`. */
export function logName(entry: CurveEntry): string {
  return `${entry.label.replace(/[^A-Za-z0-9.=_-]+/g, '_')}.log`;
}

/**
 * What to do for each method, given the recorded runs, the config hash each method's curve must have and
 * where each run can be resumed from now, if it can (pure: the tests give it made-up runs). A run's status is
 * as seen from this machine (a worker busy in a minute-long evaluation is alive, whatever its heartbeat says).
 */
export function planCurves(runs: RunRow[], entries: CurveEntry[], hashOf: (entry: CurveEntry) => string, resumeFrom: (run: RunRow) => ResumePoint | undefined, status: (run: RunRow) => RunRow['displayStatus'] = liveStatus): CurveStep[] {
  return entries.map((entry) => {
    // Newest first, as the store lists them.
    const mine = runs.filter((r) => r.method === entry.method && r.configHash === hashOf(entry));
    const done = mine.find((r) => r.status === 'completed');
    if (done) return { entry, action: 'done', runId: done.id, why: `run ${done.id} completed` };
    const live = mine.find((r) => status(r) === 'running');
    if (live) return { entry, action: 'running', runId: live.id, why: `run ${live.id} is training now` };
    const partial = mine.find((r) => resumeFrom(r));
    if (partial) return { entry, action: 'resume', runId: partial.id, why: `run ${partial.id} (${status(partial)}) resumes ${describeResumePoint(resumeFrom(partial)!)}` };
    return { entry, action: 'train', why: mine.length ? `runs ${mine.map((r) => r.id).join(', ')} cannot be resumed` : 'no run yet' };
  });
}

/**
 * Claims the database for this queue (`<logs>/queue.pid`); refuses while another live queue holds it.
 * Returns the release, to call on exit.
 */
export function claimQueue(logs: string): () => void {
  const file = join(logs, 'queue.pid');
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(file, `${process.pid}\n`, { flag: 'wx' }); // fails if the file exists: two queues cannot both claim
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw e;
      const other = Number(readFileSync(file, 'utf8').trim());
      if (Number.isInteger(other) && other > 0 && isProcessAlive(other))
        throw new Error(`another curve queue (pid ${other}) is running on this database; stop it first: kill -TERM ${other}`);
      rmSync(file, { force: true }); // left by a queue that was killed
    }
  }
  return () => {
    if (existsSync(file) && Number(readFileSync(file, 'utf8').trim()) === process.pid) rmSync(file, { force: true });
  };
}

function configFor(entry: CurveEntry, dataset: string, epochs: number) {
  const name = `${entry.method} ${epochs}ep curve${entry.sets.length ? ` (${entry.sets.join(', ')})` : ''}`;
  // The overrides exactly as `clab train --set` reads them (the queue passes them to it too).
  const over = rawTrainConfig({ set: entry.sets });
  const { config, problems } = resolveConfig(deepMerge({ method: entry.method, dataset, epochs, name } as Record<string, unknown>, over));
  if (!config) throw new Error(formatProblems(problems, `--methods ${entry.label}`));
  return config;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      db: { type: 'string' },
      methods: { type: 'string', default: METHOD_IDS.join(',') },
      dataset: { type: 'string', default: 'fashion-mnist' },
      epochs: { type: 'string', default: '10' },
      jobs: { type: 'string', default: '2' },
      nice: { type: 'string', default: '5' },
      'dry-run': { type: 'boolean', default: false },
    },
  });
  if (!values.db) throw new Error('--db PATH is required');
  const db = resolve(values.db);
  const entries = parseCurveEntries(values.methods);
  const epochs = Number(values.epochs);
  const jobs = Number(values.jobs);
  if (!(Number.isInteger(jobs) && jobs > 0)) throw new Error(`--jobs must be a positive integer; got ${values.jobs}`);
  if (!(Number.isInteger(epochs) && epochs > 0)) throw new Error(`--epochs must be a positive integer; got ${values.epochs}`);
  const niceness = Number(values.nice);
  if (!(Number.isInteger(niceness) && niceness >= -20 && niceness <= 19)) throw new Error(`--nice must be an integer from -20 to 19; got ${values.nice}`);
  // The dataset as the recorded configs hold it (an absolute folder), so hashes compare.
  const dataset = values.dataset.replace(/^([a-z0-9-]+):(?!\/)(.+)$/, (_m, kind: string, dir: string) => `${kind}:${resolve(dir)}`);
  const configs = new Map(entries.map((e) => [e.label, configFor(e, dataset, epochs)]));

  const store = await RunStore.open(db);
  let plan: CurveStep[];
  try {
    const runs = await store.listRuns();
    const points = new Map<number, ResumePoint>();
    for (const r of runs) {
      try {
        points.set(r.id, (await checkResumable(store, db, r.id)).from);
      } catch (e) {
        if (!(e instanceof ResumeRefused)) throw e;
      }
    }
    plan = planCurves(runs, entries, (e) => configHash(configs.get(e.label)!), (r) => points.get(r.id));
  } finally {
    await store.close();
  }
  for (const s of plan) process.stdout.write(`${s.entry.label.padEnd(9)} ${s.action.padEnd(7)} ${s.why}\n`);
  if (values['dry-run']) return;

  const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli.js');
  // The dataset once, before any training: a missing download fails here with clab's own message, not
  // in every training's log.
  const check = spawnSync(process.execPath, [cli, 'data', 'inspect', dataset], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`dataset ${dataset}: ${check.stderr.trim() || `clab data inspect exited with ${check.status}`}`);
  const logs = `${db.replace(/\.[^./]+$/, '')}.logs`;
  mkdirSync(logs, { recursive: true });
  const release = claimQueue(logs);
  process.on('exit', release);
  process.stdout.write(`${new Date().toISOString()} queue pid ${process.pid} (kill -TERM ${process.pid} stops it, resumable)\n`);
  const queue = plan.filter((s) => s.action === 'resume' || s.action === 'train');
  const children = new Set<ChildProcess>();
  let stopping = false;
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.on(sig, () => {
      stopping = true;
      process.stderr.write(`${sig}: stopping the trainings after their current step…\n`);
      for (const c of children) c.kill('SIGTERM');
    });

  const runOne = (s: CurveStep) =>
    new Promise<void>((done) => {
      const args =
        s.action === 'resume'
          ? [cli, 'resume', String(s.runId), '--db', db, '--json']
          : [cli, 'train', '--method', s.entry.method, '--dataset', dataset, '--epochs', String(epochs), '--name', configs.get(s.entry.label)!.name, ...s.entry.sets.flatMap((x) => ['--set', x]), '--db', db, '--json'];
      const logFile = join(logs, logName(s.entry));
      const log = createWriteStream(logFile, { flags: 'a' });
      // An argument array, no shell.
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      if (child.pid) setPriority(child.pid, niceness);
      children.add(child);
      child.stdout.pipe(log, { end: false });
      child.stderr.pipe(log, { end: false });
      process.stdout.write(`${new Date().toISOString()} ${s.entry.label}: ${s.action} (log ${logFile})\n`);
      child.on('close', (code) => {
        children.delete(child);
        log.end();
        process.stdout.write(`${new Date().toISOString()} ${s.entry.label}: exited with ${code}\n`);
        done();
      });
    });

  const worker = async () => {
    for (let s = queue.shift(); s && !stopping; s = queue.shift()) await runOne(s);
  };
  await Promise.all(Array.from({ length: Math.min(jobs, queue.length) }, worker));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url))
  void main().catch((e: unknown) => {
    process.stderr.write(`curves: ${(e as Error).message}\n`);
    process.exitCode = 1;
  });
