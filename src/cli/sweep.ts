/**
 * `clab sweep …` and `clab queue …`: sweeps and the run queue from a terminal, on the same database as
 * the editor. `sweep start` queues a sweep and (unless --detach) drains the queue here until the sweep has
 * ended; `queue run` is a headless runner for whatever is queued. Exactly one runner drains a database at
 * a time (a lease in the database), so a window and a terminal never start the same run.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { STUDIES, studyFileText } from '../core/studies';
import { DEFAULT_RUN_LIMIT, expandSweep, labelOf, SweepError } from '../core/sweep';
import { RunManager, type WorkerLaunch } from '../queue/runManager';
import { describeCost, estimateCost } from '../queue/estimate';
import { METRIC_LABELS, progressLine, summarizeSweep, sweepCsv, SWEEP_METRICS, type SweepSummary } from '../store/sweeps';
import { RunStore } from '../store/store';
import type { RunRow } from '../store/types';

export const SWEEP_USAGE = `  sweep new [STUDY] [--out FILE]            write a built-in study as a sweep file to edit (no STUDY: list them)
  sweep start FILE [--jobs N] [--max-runs N] [--yes] [--detach]
                                            queue the runs of a *.clsweep.json and train them here, N at a
                                            time (--detach: only queue them, for the editor or queue run)
  sweep list                                sweeps, newest first, with k/n done
  sweep show ID [--csv]                     the sweep's runs and cells (mean ± std over seeds); --json, --csv
  sweep cancel ID                           cancel its queued runs and stop its running ones
  sweep retry ID                            queue its failed and cancelled runs again (resumed where they can be)
  queue run [--jobs N] [--watch]            drain the run queue here until it is empty (--watch: keep waiting)
  queue status                              what is queued and running, who drains the queue, paused or not
  queue pause | queue resume                stop starting queued runs (running ones go on) / start again
  queue cancel (ID… | --all)                cancel queued runs`;

type Values = Record<string, string | string[] | boolean | undefined>;
const out = (s: string) => process.stdout.write(s);
const err = (s: string) => process.stderr.write(s);

/** The worker beside this CLI: dist/worker.js in the bundle, the TypeScript source through tsx otherwise. */
export function localWorker(): WorkerLaunch {
  const bundled = join(__dirname, 'worker.js');
  if (existsSync(bundled)) return { nodePath: process.execPath, workerPath: bundled };
  return { nodePath: process.execPath, workerPath: resolve(__dirname, '..', 'engine', 'worker.ts'), execArgv: ['--import', 'tsx'] };
}

function positiveInt(v: unknown, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${flag} must be a whole number ≥ 1, got '${String(v)}'`);
  return n;
}

class UsageError extends Error {}

const pct = (v: number | undefined) => (v === undefined ? '' : `${(v * 100).toFixed(1)}%`);

export async function sweepCommand(args: string[], values: Values, dbPath: string, json: boolean): Promise<number> {
  const [sub, ...rest] = args;
  try {
    switch (sub) {
      case 'new': {
        if (!rest[0]) {
          for (const st of STUDIES) out(`${st.id.padEnd(22)} ${st.label}: ${st.detail}\n`);
          return 0;
        }
        const study = STUDIES.find((st) => st.id === rest[0]);
        if (!study) throw new UsageError(`unknown study '${rest[0]}' (known: ${STUDIES.map((st) => st.id).join(', ')})`);
        const file = typeof values.out === 'string' ? values.out : study.fileName;
        if (existsSync(file) && values.force !== true) throw new UsageError(`${file} exists; pass --force to overwrite it, or --out FILE`);
        writeFileSync(file, studyFileText(study));
        out(`${file}: ${study.label} — edit it, then: clab sweep start ${file}\n`);
        return 0;
      }
      case 'start':
        return await start(rest, values, dbPath, json);
      case 'list':
        return await withStore(dbPath, async (store) => {
          const sweeps = await store.listSweeps();
          if (json) out(`${JSON.stringify(sweeps)}\n`);
          else if (!sweeps.length) out('no sweeps yet: clab sweep start FILE.clsweep.json\n');
          else for (const s of sweeps) out(`${String(s.id).padStart(4)}  ${s.name.padEnd(32)} ${progressLine(s)}\n`);
          return 0;
        });
      case 'show':
        return await withStore(dbPath, async (store) => {
          const summary = await summary_(store, sweepId(rest[0]));
          if (values.csv) out(sweepCsv(summary));
          else if (json) out(`${JSON.stringify(summary)}\n`);
          else printSummary(summary);
          return 0;
        });
      case 'cancel':
        return await withStore(dbPath, async (store) => {
          const id = sweepId(rest[0]);
          if (!(await store.getSweep(id))) throw new UsageError(`there is no sweep ${id}`);
          const cancelled = await store.cancelQueued({ sweepId: id });
          const m = new RunManager({ launch: localWorker, maxConcurrentRuns: () => 1, extraModuleDirs: () => [], drain: () => false });
          try {
            for (const r of (await store.sweepRuns(id)).filter((x) => x.status === 'running')) out(`${(await m.stop(dbPath, r.id)).message}\n`);
          } finally {
            await m.dispose();
          }
          out(`sweep ${id}: ${cancelled.length} queued run${cancelled.length === 1 ? '' : 's'} cancelled\n`);
          return 0;
        });
      case 'retry':
        return await withStore(dbPath, async (store) => {
          const id = sweepId(rest[0]);
          if (!(await store.getSweep(id))) throw new UsageError(`there is no sweep ${id}`);
          const ended = (await store.sweepRuns(id)).filter((r) => ['failed', 'cancelled', 'crashed'].includes(r.displayStatus));
          const m = new RunManager({ launch: localWorker, maxConcurrentRuns: () => 1, extraModuleDirs: () => [], drain: () => false });
          try {
            const done = await m.requeue(
              ended.map((r) => r.id),
              { dbPath },
            );
            for (const d of done) out(d.refused ? `run ${d.runId}: ${d.refused}\n` : `run ${d.runId} queued again (${d.action === 'resume' ? 'resumes from its saved state' : 'trains from the start'})\n`);
          } finally {
            await m.dispose();
          }
          out(ended.length ? 'start them with: clab queue run (or from the editor)\n' : `sweep ${id} has no failed or cancelled runs\n`);
          return 0;
        });
      default:
        throw new UsageError(`unknown sweep command '${sub ?? ''}' (new, start, list, show, cancel, retry)`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      err(`clab sweep: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}

function sweepId(v: string | undefined): number {
  const id = Number(v);
  if (!(Number.isInteger(id) && id > 0)) throw new UsageError(`expected a sweep id, got '${v ?? ''}'`);
  return id;
}

async function withStore<T>(dbPath: string, fn: (s: RunStore) => Promise<T>): Promise<T> {
  const store = await RunStore.open(dbPath);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

async function summary_(store: RunStore, id: number): Promise<SweepSummary> {
  const sweep = await store.getSweep(id);
  if (!sweep) throw new UsageError(`there is no sweep ${id}`);
  const runs = await store.sweepRuns(id);
  return summarizeSweep(sweep, runs, await store.evalsOf(runs.map((r) => r.id)));
}

function printSummary(s: SweepSummary): void {
  out(`sweep ${s.sweep.id}: ${s.sweep.name} — ${progressLine(s.sweep)}\n`);
  out(`axes: ${s.sweep.axes.map((a) => `${a.name}${a.labels ? ` (${a.labels.length})` : ''}`).join(' × ') || 'none'}\n\n`);
  const axes = s.cellAxes;
  const head = [...axes, 'runs', ...SWEEP_METRICS.map((m) => METRIC_LABELS[m])];
  const rows = s.cells.map((c, i) => [
    ...axes.map((a) => labelOf(c.key[a])),
    `${c.done}/${c.runIds.length}`,
    ...SWEEP_METRICS.map((m) => {
      const st = c.metrics[m];
      if (!st) return '';
      const f = (v: number) => (m === 'collapse' ? v.toFixed(3) : (v * 100).toFixed(1));
      return `${f(st.mean)}${st.n > 1 ? ` ± ${f(st.std)}` : ''}${i === s.best && m === s.view.metric ? ' *' : ''}`;
    }),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => `${r.map((v, i) => v.padEnd(widths[i])).join('  ')}\n`;
  out(line(head));
  for (const r of rows) out(line(r));
  if (s.best !== undefined) out(`\n* best cell by ${METRIC_LABELS[s.view.metric]}; accuracies in %, mean ± std over seeds\n`);
  if (s.rawPixelsKnn !== undefined) out(`raw pixels, the same kNN protocol: ${(s.rawPixelsKnn * 100).toFixed(1)}%\n`);
  const failed = s.runs.filter((r) => r.status === 'failed' || r.status === 'crashed');
  for (const r of failed) out(`run ${r.runId} ${r.status}: ${(r.error ?? '').split('\n')[0]}\n`);
}

function readSweepFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read ${file}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new UsageError(`${file} is not valid JSON: ${(e as Error).message}`);
  }
}

async function start(rest: string[], values: Values, dbPath: string, json: boolean): Promise<number> {
  if (rest.length !== 1) throw new UsageError(`sweep start expects one sweep file, got ${rest.length}`);
  const file = resolve(rest[0]);
  const raw = readSweepFile(file);
  let expanded;
  try {
    expanded = expandSweep(raw, basename(file).replace(/\.clsweep\.json$|\.json$/, ''));
  } catch (e) {
    if (!(e instanceof SweepError)) throw e;
    // Nothing is written for a rejected file: the database is not even opened.
    err(`clab sweep start: invalid sweep (${e.problems.length} problem${e.problems.length > 1 ? 's' : ''}):\n${e.problems.map((p) => `${rest[0]}: ${p.path}: ${p.message}`).join('\n')}\n`);
    return 2;
  }
  const jobs = positiveInt(values.jobs, 'jobs') ?? expanded.spec.jobs ?? 1;
  const limit = positiveInt(values['max-runs'], 'max-runs') ?? DEFAULT_RUN_LIMIT;
  const n = expanded.runs.length;
  return withStore(dbPath, async (store) => {
    const cost = await estimateCost(store, expanded.runs.map((r) => r.config));
    err(`sweep "${expanded.spec.name}": ${describeCost(n, cost, jobs)}\n`);
    if (n > limit && values.yes !== true) {
      err(`clab sweep start: ${n} runs is more than --max-runs ${limit}; pass --yes to queue them all (nothing was queued)\n`);
      return 2;
    }
    const m = new RunManager({ launch: localWorker, maxConcurrentRuns: () => jobs, extraModuleDirs: () => (values['extra-module-dir'] as string[] | undefined) ?? [], drain: () => values.detach !== true });
    try {
      const { sweepId, runIds } = await m.enqueueSweep(
        { name: expanded.spec.name, spec: raw, axes: expanded.axes, source: file, jobs: expanded.spec.jobs, runs: expanded.runs },
        { dbPath },
      );
      err(`sweep ${sweepId} queued: runs ${runIds[0]}–${runIds[runIds.length - 1]}\n`);
      if (values.detach === true) {
        if (json) out(`${JSON.stringify({ sweepId, runIds, db: dbPath })}\n`);
        else out(`sweep ${sweepId}: ${n} runs queued; the editor or \`clab queue run\` trains them\n`);
        return 0;
      }
      const code = await follow(m, store, dbPath, jobs, (rows) => rows.filter((r) => r.sweepId === sweepId), { stopWhenDone: true });
      const s = await summary_(store, sweepId);
      if (json) out(`${JSON.stringify(s)}\n`);
      else printSummary(s);
      return code;
    } finally {
      await m.dispose();
    }
  });
}

/**
 * Drains the queue with `m` (holding the lease when it is free) and reports each run of interest as it
 * ends, until those runs have all ended (or, with `watch`, forever). Ctrl-C stops starting runs and asks
 * the running ones to stop (they save their state: `clab sweep retry` or `clab resume` continues them);
 * queued runs stay queued.
 */
async function follow(m: RunManager, store: RunStore, dbPath: string, jobs: number, mine: (rows: RunRow[]) => RunRow[], o: { stopWhenDone: boolean }): Promise<number> {
  let interrupted = false;
  let holder = false;
  const onSignal = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    err('\nstopping: no more runs start; running ones stop after their current step (again to quit at once)…\n');
    void m.unwatch(dbPath).then(() => Promise.all(m.active().map((r) => m.stop(dbPath, r.runId))));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const leaseSub = m.onDidChangeLease((e) => {
    holder = e.holding;
    if (!interrupted) err(e.holding ? `draining the queue of ${dbPath} (${jobs} at a time)\n` : 'another runner drains this queue now; following it\n');
  });
  const seen = new Map<number, string>();
  let failed = 0;
  let reported = 0;
  try {
    await m.watch(dbPath);
    const queueState = await store.queueState();
    if (queueState.paused) err('the queue is paused: `clab queue resume` to start runs\n');
    if (!holder && queueState.holder) err(`another runner drains this queue (${queueState.holder.host ?? '?'}, process ${queueState.holder.pid ?? '?'}); following it\n`);
    for (;;) {
      const rows = mine(await store.listRuns());
      // Axes derived from a named axis repeat its label: shown through it.
      const derived = new Set((await store.listSweeps()).flatMap((sw) => sw.axes.filter((a) => a.kind === 'derived').map((a) => a.name)));
      const total = rows.length;
      for (const r of [...rows].reverse()) {
        const st = r.displayStatus;
        if (seen.get(r.id) === st) continue;
        seen.set(r.id, st);
        if (st === 'running' || st === 'queued') continue;
        const done = ++reported;
        const axes = r.axisValues
          ? Object.entries(r.axisValues)
              .filter(([k]) => !derived.has(k))
              .map(([k, v]) => `${k}=${labelOf(v)}`)
              .join(' ')
          : r.name;
        if (st === 'failed' || st === 'crashed') failed++;
        const evals = await store.getEvals(r.id);
        const knn = evals.filter((e) => e.protocol === 'knn').at(-1)?.value;
        const lin = evals.find((e) => e.protocol === 'linear')?.value;
        const res = st === 'completed' ? `: kNN ${pct(knn)}${lin !== undefined ? `, linear ${pct(lin)}` : ''}` : r.error ? `: ${r.error.split('\n')[0]}` : '';
        err(`[${done}/${total}] run ${r.id} ${axes} ${st}${res}\n`);
      }
      const open = rows.filter((x) => x.displayStatus === 'queued' || x.displayStatus === 'running').length;
      if (interrupted && !m.active().length) return 130;
      if (o.stopWhenDone && open === 0 && !m.active().length) return failed ? 1 : 0;
      await new Promise((r) => setTimeout(r, 1000));
    }
  } finally {
    leaseSub.dispose();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

export async function queueCommand(args: string[], values: Values, dbPath: string, json: boolean): Promise<number> {
  const [sub, ...rest] = args;
  try {
    switch (sub) {
      case 'run': {
        const jobs = positiveInt(values.jobs, 'jobs') ?? 1;
        return await withStore(dbPath, async (store) => {
          const m = new RunManager({ launch: localWorker, maxConcurrentRuns: () => jobs, extraModuleDirs: () => (values['extra-module-dir'] as string[] | undefined) ?? [] });
          try {
            const start = await store.queueState();
            err(`${start.queued} queued, ${start.running} running\n`);
            // Runs of interest: those queued or running now, and any queued while this runs.
            const code = await follow(m, store, dbPath, jobs, (rows) => rows.filter((r) => r.queuedAt !== null && (r.status === 'queued' || r.status === 'running' || (r.startedAt ?? 0) >= startedAt)), { stopWhenDone: values.watch !== true });
            return code;
          } finally {
            await m.dispose();
          }
        });
      }
      case 'status':
        return await withStore(dbPath, async (store) => {
          const q = await store.queueState();
          const queued = await store.queuedRuns();
          const running = await store.queueRunning();
          if (json) {
            out(`${JSON.stringify({ ...q, queuedRuns: queued.map((r) => r.id), runningRuns: running.map((r) => r.id) })}\n`);
            return 0;
          }
          out(`queue: ${q.paused ? 'paused' : 'active'}; ${q.queued} queued, ${q.running} running; ${q.holder ? `drained by ${q.holder.host ?? '?'} (process ${q.holder.pid ?? '?'})` : 'no runner (open the editor or run `clab queue run`)'}\n`);
          for (const r of running) out(`  running  ${String(r.id).padStart(5)}  ${r.name}${r.displayStatus === 'crashed' ? ' (no heartbeat: crashed?)' : ''}\n`);
          for (const r of queued) out(`  queued   ${String(r.id).padStart(5)}  ${r.name}\n`);
          return 0;
        });
      case 'pause':
      case 'resume':
        return await withStore(dbPath, async (store) => {
          await store.setQueuePaused(sub === 'pause');
          out(sub === 'pause' ? 'queue paused: queued runs wait; running runs go on\n' : 'queue resumed\n');
          return 0;
        });
      case 'cancel':
        return await withStore(dbPath, async (store) => {
          let ids: number[] | undefined;
          if (values.all !== true) {
            if (!rest.length) throw new UsageError('queue cancel expects run ids, or --all');
            ids = rest.map((v) => {
              const id = Number(v);
              if (!(Number.isInteger(id) && id > 0)) throw new UsageError(`expected a run id, got '${v}'`);
              return id;
            });
          }
          const cancelled = await store.cancelQueued(ids ? { runIds: ids } : {});
          out(`${cancelled.length} queued run${cancelled.length === 1 ? '' : 's'} cancelled${cancelled.length ? `: ${cancelled.join(', ')}` : ''}\n`);
          const missed = ids?.filter((i) => !cancelled.includes(i)) ?? [];
          if (missed.length) err(`not queued (not cancelled): ${missed.join(', ')}\n`);
          return missed.length ? 1 : 0;
        });
      default:
        throw new UsageError(`unknown queue command '${sub ?? ''}' (run, status, pause, resume, cancel)`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      err(`clab queue: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}

const startedAt = Date.now();
