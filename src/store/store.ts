import { mkdirSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Database, OPEN_CREATE, OPEN_READWRITE } from 'sqlite3';
import { configHash, type RunConfig } from '../core/config';
import type { EvalRecord } from '../core/events';
import {
  RUN_SELECT,
  SWEEP_SELECT,
  toSweep,
  type SweepRecord,
  toArtifact,
  toEmbedding,
  toEmbeddingInfo,
  toEval,
  toMetric,
  toRun,
  type ArtifactRecord,
  type EmbeddingInfo,
  type EmbeddingRecord,
  type EvalRecordRow,
  type MetricRecord,
  type RunRecord,
} from './rows';
import { APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION } from './schema';
import { all, closeDb, codeOf, exec, fromBlob, get, run, sleep, toBlob, wrapOpenError, type Conn, type Params } from './sqlite';
import type { ArtifactRow, EmbeddingRow, EvalRow, MetricPoint, ProjectionRow, QueueState, RecordedRun, RunRow, SweepRow } from './types';

/**
 * The SQLite run store: the single source of truth shared by the extension, the training workers and the
 * CLI, each with its own connection to the same file (WAL mode, so readers never block the writer).
 *
 * Every write is one BEGIN IMMEDIATE transaction: it takes the write lock up front, so two processes
 * never both start a transaction as readers and then deadlock upgrading to writers. node-sqlite3 gives
 * one connection per Database, shared by every caller of this instance, so operations are queued and run
 * one at a time; otherwise one caller's statements could land inside another caller's transaction.
 */

const BUSY_TIMEOUT_MS = 10_000;
const BUSY_RETRIES = 4;

export type { EmbeddingInfo };

export interface OpenOptions {
  /** A running run whose heartbeat is older than this is shown as crashed. Default 60 s. */
  staleAfterMs?: number;
  /** How long one statement waits for another process's write lock (SQLite busy_timeout). Default 10 s. */
  busyTimeoutMs?: number;
}

/** The database stayed locked by another connection past the busy timeout and the retries (SQLITE_BUSY). */
export const isDatabaseLocked = (e: unknown): boolean => codeOf(e) === 'SQLITE_BUSY';

/** Runs `fn` again after 50, 100, 200, 400 ms while it fails with SQLITE_BUSY. */
async function retryBusy<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (codeOf(e) !== 'SQLITE_BUSY' || attempt >= BUSY_RETRIES) throw e;
      await sleep(50 * 2 ** attempt);
    }
  }
}

/** Multi-row INSERTs, chunked well under SQLite's bound-parameter limit. */
async function insertMetrics(db: Conn, id: number, points: MetricPoint[]): Promise<void> {
  for (let i = 0; i < points.length; i += 500) {
    const chunk = points.slice(i, i + 500);
    const params = chunk.flatMap((p) => [id, p.step, p.epoch, p.name, p.value, p.wallTime]);
    await run(db, `INSERT INTO metrics (run_id, step, epoch, name, value, wall_time) VALUES ${chunk.map(() => '(?, ?, ?, ?, ?, ?)').join(', ')}`, params);
  }
}

export class RunStore {
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly db: Conn,
    readonly path: string,
    private readonly staleAfterMs: number,
  ) {}

  static async open(file: string, opts: OpenOptions = {}): Promise<RunStore> {
    mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    const db = await new Promise<Conn>((resolve, reject) => {
      const d: Conn = new Database(file, OPEN_READWRITE | OPEN_CREATE, (err) => (err ? reject(err) : resolve(d)));
    }).catch((e: unknown) => {
      throw wrapOpenError(file, e);
    });
    const store = new RunStore(db, file, opts.staleAfterMs ?? 60_000);
    try {
      await exec(db, `PRAGMA busy_timeout = ${Math.max(0, Math.round(opts.busyTimeoutMs ?? BUSY_TIMEOUT_MS))}`);
      await store.checkIdentity();
      // Must precede any transaction. Switching a fresh file to WAL needs every other connection off it; while
      // another is opening the same file at that moment SQLite can answer SQLITE_BUSY at once, without
      // waiting through the busy timeout.
      await retryBusy(() => exec(db, 'PRAGMA journal_mode = WAL'));
      await exec(db, 'PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON');
      await store.migrate();
      return store;
    } catch (e) {
      await closeDb(db).catch(() => undefined);
      throw e;
    }
  }

  /** Reads only, so a file we refuse (another app's, or a newer schema) is left exactly as it was. */
  private async checkIdentity(): Promise<void> {
    let info: { app: number; version: number; tables: number };
    try {
      // One statement, so one snapshot: read apart, another process migrating the fresh file in between
      // would show its tables without (yet) its application id, and the file would look like another app's.
      const r = await get<{ app: number; version: number; tables: number }>(
        this.db,
        'SELECT (SELECT application_id FROM pragma_application_id) AS app, (SELECT user_version FROM pragma_user_version) AS version, ' +
          "(SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%') AS tables",
      );
      info = { app: r?.app ?? 0, version: r?.version ?? 0, tables: r?.tables ?? 0 };
    } catch (e) {
      throw wrapOpenError(this.path, e);
    }
    const fresh = info.app === 0 && info.version === 0 && info.tables === 0;
    if (!fresh && info.app !== APPLICATION_ID)
      throw new Error(`${this.path} is not a Contrastive Lab database: it is an SQLite database of another application`);
    if (info.version > SCHEMA_VERSION)
      throw new Error(
        `${this.path} was written by a newer Contrastive Lab (schema version ${info.version}; this version knows up to ${SCHEMA_VERSION}). ` +
          'Update Contrastive Lab to open it; the file was not changed.',
      );
  }

  /** Re-reads the version inside the write transaction, so two processes opening a fresh file migrate it once. */
  private migrate(): Promise<void> {
    return this.write(async (db) => {
      const from = (await get<{ user_version: number }>(db, 'PRAGMA user_version'))?.user_version ?? 0;
      if (from > SCHEMA_VERSION) throw new Error(`${this.path}: schema version ${from} is newer than this Contrastive Lab (${SCHEMA_VERSION})`);
      if (from === SCHEMA_VERSION) return;
      for (let v = from; v < SCHEMA_VERSION; v++) await exec(db, MIGRATIONS[v]);
      // PRAGMA values cannot be bound as parameters; both are integers we control.
      await exec(db, `PRAGMA application_id = ${APPLICATION_ID}; PRAGMA user_version = ${SCHEMA_VERSION}`);
    });
  }

  /** Runs `fn` after every earlier operation of this instance has finished. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error(`the run store ${this.path} is closed`));
    const result = this.tail.then(fn);
    this.tail = result.catch(() => undefined);
    return result;
  }

  private read<T>(fn: (db: Conn) => Promise<T>): Promise<T> {
    return this.serial(() => fn(this.db));
  }

  private write<T>(fn: (db: Conn) => Promise<T>): Promise<T> {
    return this.serial(async () => {
      await this.begin();
      try {
        const result = await fn(this.db);
        await exec(this.db, 'COMMIT');
        return result;
      } catch (e) {
        // Some errors (e.g. SQLITE_FULL) already rolled back; then ROLLBACK itself fails, harmlessly.
        await exec(this.db, 'ROLLBACK').catch(() => undefined);
        throw e;
      }
    });
  }

  /** busy_timeout already waits up to 10 s for the write lock; a few retries cover a writer that holds it longer. */
  private begin(): Promise<void> {
    return retryBusy(() => exec(this.db, 'BEGIN IMMEDIATE'));
  }

  /** For the writes that only make sense on an existing run: a clear message instead of a foreign-key error. */
  private async requireRun(db: Conn, id: number): Promise<void> {
    if (!(await get(db, 'SELECT 1 FROM runs WHERE id = ?', [id]))) throw new Error(`run ${id} does not exist`);
  }
  private async updateRun(db: Conn, id: number, sql: string, params: Params): Promise<void> {
    const { changes } = await run(db, `UPDATE runs SET ${sql} WHERE id = ?`, [...params, id]);
    if (changes === 0) throw new Error(`run ${id} does not exist`);
  }

  // ---- writes -------------------------------------------------------------------------------------

  /**
   * A new run. `queued` (the default) puts it at the end of the queue, for whichever runner drains this
   * database; `running` is a run its caller trains at once (CLI `train`).
   */
  createRun(config: RunConfig, opts: { status?: 'queued' | 'running' } = {}): Promise<number> {
    const status = opts.status ?? 'queued';
    const now = Date.now();
    // A run created as running is starting now; without a start time it would look crashed at once.
    const started = status === 'running' ? now : null;
    const queued = status === 'queued' ? now : null;
    return this.write(async (db) => {
      const sql = `INSERT INTO runs (name, method, dataset, config, config_hash, status, created_at, started_at, heartbeat_at, queued_at, queue_action)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;
      const params = [config.name, config.method, config.dataset, JSON.stringify(config), configHash(config), status, now, started, started, queued, queued ? 'start' : null];
      return (await run(db, sql, params)).lastID;
    });
  }

  /**
   * Records a sweep and queues all its runs, in one transaction: either the whole sweep is queued or none
   * of it is. Runs are queued in the sweep's order (same queued_at, increasing ids).
   */
  createSweep(s: {
    name: string;
    spec: unknown;
    axes: SweepRow['axes'];
    source?: string;
    jobs?: number;
    runs: { config: RunConfig; axisValues: Record<string, string | number | boolean> }[];
  }): Promise<{ sweepId: number; runIds: number[] }> {
    const now = Date.now();
    return this.write(async (db) => {
      const sweepId = (
        await run(db, 'INSERT INTO sweeps (name, spec, axes, source, jobs, created_at) VALUES (?, ?, ?, ?, ?, ?)', [
          s.name,
          JSON.stringify(s.spec),
          JSON.stringify(s.axes),
          s.source ?? null,
          s.jobs ?? null,
          now,
        ])
      ).lastID;
      const runIds: number[] = [];
      const sql = `INSERT INTO runs (name, method, dataset, config, config_hash, status, created_at, queued_at, queue_action, sweep_id, sweep_index, axis_values)
                   VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, 'start', ?, ?, ?)`;
      for (const [i, r] of s.runs.entries())
        runIds.push((await run(db, sql, [r.config.name, r.config.method, r.config.dataset, JSON.stringify(r.config), configHash(r.config), now, now, sweepId, i, JSON.stringify(r.axisValues)])).lastID);
      return { sweepId, runIds };
    });
  }

  /** Deletes a sweep and all its runs; returns the runs' ids and artifacts (the caller removes the files). Refuses while one runs. */
  deleteSweep(id: number): Promise<{ runIds: number[]; artifacts: ArtifactRow[] }> {
    return this.write(async (db) => {
      if (!(await get(db, 'SELECT 1 FROM sweeps WHERE id = ?', [id]))) throw new Error(`sweep ${id} does not exist`);
      const running = await get<{ n: number }>(db, "SELECT count(*) AS n FROM runs WHERE sweep_id = ? AND status = 'running'", [id]);
      if (running?.n) throw new Error(`sweep ${id} has ${running.n} run${running.n > 1 ? 's' : ''} training: cancel the sweep first`);
      const ids = (await all<{ id: number }>(db, 'SELECT id FROM runs WHERE sweep_id = ? ORDER BY id', [id])).map((r) => r.id);
      const artifacts = await all<ArtifactRecord>(db, 'SELECT kind, path, epoch, created_at FROM artifacts WHERE run_id IN (SELECT id FROM runs WHERE sweep_id = ?) ORDER BY id', [id]);
      await run(db, 'DELETE FROM runs WHERE sweep_id = ?', [id]);
      await run(db, 'DELETE FROM sweeps WHERE id = ?', [id]);
      return { runIds: ids, artifacts: artifacts.map(toArtifact) };
    });
  }

  // ---- the queue ------------------------------------------------------------------------------------

  /**
   * Takes or renews the lease on draining this database's queue: granted when nobody holds it, when it is
   * `holder`'s already, or when its holder let it lapse (a dead runner stops renewing). Exactly one runner
   * holds it at any time, whatever number of windows and CLIs are open.
   */
  acquireQueueLease(holder: string, ttlMs: number, who: { host: string; pid: number }): Promise<boolean> {
    return this.write(async (db) => {
      const now = Date.now();
      const { changes } = await run(
        db,
        'UPDATE queue SET holder = ?, holder_host = ?, holder_pid = ?, expires_at = ? WHERE id = 1 AND (holder IS NULL OR holder = ? OR expires_at < ?)',
        [holder, who.host, who.pid, now + ttlMs, holder, now],
      );
      return changes === 1;
    });
  }

  releaseQueueLease(holder: string): Promise<void> {
    return this.write(async (db) => {
      await run(db, 'UPDATE queue SET holder = NULL, holder_host = NULL, holder_pid = NULL, expires_at = NULL WHERE id = 1 AND holder = ?', [holder]);
    });
  }

  setQueuePaused(paused: boolean): Promise<void> {
    return this.write(async (db) => {
      await run(db, 'UPDATE queue SET paused = ? WHERE id = 1', [paused ? 1 : 0]);
    });
  }

  queueState(): Promise<QueueState> {
    return this.read(async (db) => {
      const q = await get<{ holder: string | null; holder_host: string | null; holder_pid: number | null; expires_at: number | null; paused: number }>(db, 'SELECT * FROM queue WHERE id = 1');
      const counts = await get<{ queued: number; running: number }>(
        db,
        "SELECT count(*) FILTER (WHERE status = 'queued') AS queued, count(*) FILTER (WHERE status = 'running' AND claimed_by IS NOT NULL) AS running FROM runs WHERE status IN ('queued', 'running')",
      );
      const live = q?.holder && (q.expires_at ?? 0) >= Date.now();
      return {
        paused: !!q?.paused,
        holder: live ? { id: q!.holder!, host: q!.holder_host, pid: q!.holder_pid, expiresAt: q!.expires_at! } : null,
        queued: counts?.queued ?? 0,
        running: counts?.running ?? 0,
      };
    });
  }

  /**
   * The oldest queued run that may start now, marked running and claimed by `holder` in one transaction,
   * so two runners never start the same run. Only the lease holder claims, and nothing while the queue is
   * paused; a sweep's runs wait while as many of its runs as its `jobs` are running. The claimed run has
   * no worker yet (pid NULL): its heartbeat starts now, so a runner that dies before starting the worker
   * leaves a run that goes stale and is marked failed by the next runner.
   */
  claimQueuedRun(holder: string): Promise<{ run: RunRow; action: 'start' | 'resume' } | undefined> {
    return this.write(async (db) => {
      const q = await get<{ holder: string | null; expires_at: number | null; paused: number }>(db, 'SELECT holder, expires_at, paused FROM queue WHERE id = 1');
      if (!q || q.holder !== holder || q.paused || (q.expires_at ?? 0) < Date.now()) return undefined;
      const next = await get<{ id: number; queue_action: string | null }>(
        db,
        `SELECT r.id, r.queue_action FROM runs r LEFT JOIN sweeps s ON s.id = r.sweep_id
         WHERE r.status = 'queued'
           AND (s.jobs IS NULL OR (SELECT count(*) FROM runs x WHERE x.sweep_id = r.sweep_id AND x.status = 'running') < s.jobs)
         ORDER BY r.queued_at, r.id LIMIT 1`,
      );
      if (!next) return undefined;
      const now = Date.now();
      await run(
        db,
        "UPDATE runs SET status = 'running', claimed_by = ?, attempts = attempts + 1, started_at = ?, heartbeat_at = ?, finished_at = NULL, pid = NULL, host = NULL WHERE id = ? AND status = 'queued'",
        [holder, now, now, next.id],
      );
      const r = await get<RunRecord>(db, `${RUN_SELECT} WHERE r.id = ?`, [next.id]);
      return { run: toRun(r!, now, this.staleAfterMs), action: next.queue_action === 'resume' ? 'resume' : 'start' };
    });
  }

  /** Queued runs in the order the queue starts them. */
  queuedRuns(): Promise<RunRow[]> {
    const now = Date.now();
    return this.read(async (db) => (await all<RunRecord>(db, `${RUN_SELECT} WHERE r.status = 'queued' ORDER BY r.queued_at, r.id`)).map((r) => toRun(r, now, this.staleAfterMs)));
  }

  /** Runs a queue runner started that are recorded as running (their workers may have died: see displayStatus). */
  queueRunning(): Promise<RunRow[]> {
    const now = Date.now();
    return this.read(async (db) => (await all<RunRecord>(db, `${RUN_SELECT} WHERE r.status = 'running' AND r.claimed_by IS NOT NULL ORDER BY r.id`)).map((r) => toRun(r, now, this.staleAfterMs)));
  }

  /**
   * Puts an ended run (failed, cancelled, crashed) back at the end of the queue: `resume` continues it
   * from its saved state, `start` trains it again from scratch (what it recorded is removed first).
   * Returns the artifacts removed for a `start`, whose files are the caller's to delete.
   */
  requeueRun(id: number, action: 'start' | 'resume'): Promise<ArtifactRow[]> {
    return this.write(async (db) => {
      const r = await get<{ status: string }>(db, 'SELECT status FROM runs WHERE id = ?', [id]);
      if (!r) throw new Error(`run ${id} does not exist`);
      if (r.status === 'queued' || r.status === 'completed') throw new Error(`run ${id} is ${r.status}: only a failed, cancelled or crashed run is queued again`);
      let artifacts: ArtifactRecord[] = [];
      if (action === 'start') {
        artifacts = await all<ArtifactRecord>(db, 'SELECT kind, path, epoch, created_at FROM artifacts WHERE run_id = ? ORDER BY id', [id]);
        for (const t of ['metrics', 'evals', 'embeddings', 'artifacts']) await run(db, `DELETE FROM ${t} WHERE run_id = ?`, [id]);
      }
      await run(db, "UPDATE runs SET status = 'queued', queued_at = ?, queue_action = ?, finished_at = NULL, error = NULL, pid = NULL, claimed_by = NULL WHERE id = ?", [Date.now(), action, id]);
      return artifacts.map(toArtifact);
    });
  }

  /** Cancels queued runs: the given ones, a sweep's, or (no argument) all. Returns the ids cancelled. */
  cancelQueued(which: { runIds?: number[]; sweepId?: number } = {}): Promise<number[]> {
    return this.write(async (db) => {
      const where = which.runIds ? `id IN (${which.runIds.map(() => '?').join(', ') || 'NULL'})` : which.sweepId !== undefined ? 'sweep_id = ?' : '1';
      const params = which.runIds ?? (which.sweepId !== undefined ? [which.sweepId] : []);
      const ids = (await all<{ id: number }>(db, `SELECT id FROM runs WHERE status = 'queued' AND ${where} ORDER BY id`, params)).map((r) => r.id);
      if (ids.length) await run(db, `UPDATE runs SET status = 'cancelled', finished_at = ? WHERE status = 'queued' AND ${where}`, [Date.now(), ...params]);
      return ids;
    });
  }

  markRunning(id: number, info: { backend: string; device: string; versions: Record<string, string>; pid: number; host: string }): Promise<void> {
    const now = Date.now();
    return this.write((db) =>
      this.updateRun(
        db,
        id,
        `status = 'running', started_at = ?, heartbeat_at = ?, finished_at = NULL, error = NULL, backend = ?, device = ?, versions = ?, pid = ?, host = ?`,
        [now, now, info.backend, info.device, JSON.stringify(info.versions), info.pid, info.host],
      ),
    );
  }

  /**
   * One autocommit UPDATE rather than a BEGIN … COMMIT transaction: the training loop beats from a timer
   * without waiting, and a transaction's later statements wait for this (JavaScript) thread, which the next
   * training step keeps busy for seconds — so the write lock stayed held through whole steps, against every
   * other process (a CPC worker held it nearly all the time, and other runs' writes waited 10–30 s).
   */
  heartbeat(id: number): Promise<void> {
    return this.serial(() => retryBusy(() => this.updateRun(this.db, id, 'heartbeat_at = ?', [Date.now()])));
  }

  /** One step's metrics land together or not at all (a killed worker never leaves half a step). */
  recordStep(id: number, points: MetricPoint[]): Promise<void> {
    return this.write(async (db) => {
      await this.updateRun(db, id, 'heartbeat_at = ?', [Date.now()]);
      await insertMetrics(db, id, points);
    });
  }

  recordEval(id: number, e: EvalRecord): Promise<void> {
    return this.write(async (db) => {
      await this.requireRun(db, id);
      await run(db, 'INSERT INTO evals (run_id, protocol, value, epoch, details, created_at) VALUES (?, ?, ?, ?, ?, ?)', [
        id,
        e.protocol,
        e.value,
        e.epoch,
        JSON.stringify(e.details ?? {}),
        Date.now(),
      ]);
    });
  }

  recordEmbedding(id: number, e: { epoch: number; split: string; dim: number; vectors: Float32Array; labels: Int32Array; indices: Int32Array }): Promise<number> {
    const count = e.labels.length;
    if (!Number.isInteger(e.dim) || e.dim < 1) return Promise.reject(new Error(`embedding dim must be a positive integer; got ${e.dim}`));
    if (e.vectors.length !== count * e.dim || e.indices.length !== count)
      return Promise.reject(
        new Error(`embedding sizes disagree: ${e.vectors.length} values for ${count} labels × dim ${e.dim}, ${e.indices.length} indices`),
      );
    const blobs = [toBlob(e.vectors), toBlob(e.labels), toBlob(e.indices)];
    return this.write(async (db) => {
      await this.requireRun(db, id);
      const sql = 'INSERT INTO embeddings (run_id, epoch, split, dim, count, vectors, labels, indices, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)';
      return (await run(db, sql, [id, e.epoch, e.split, e.dim, count, ...blobs, Date.now()])).lastID;
    });
  }

  recordArtifact(id: number, a: { kind: string; path: string; epoch: number | null }): Promise<void> {
    return this.write(async (db) => {
      await this.requireRun(db, id);
      await run(db, 'INSERT INTO artifacts (run_id, kind, path, epoch, created_at) VALUES (?, ?, ?, ?, ?)', [id, a.kind, a.path, a.epoch, Date.now()]);
    });
  }

  finishRun(id: number, status: 'completed' | 'failed' | 'cancelled', error?: string): Promise<void> {
    return this.write((db) => this.updateRun(db, id, 'status = ?, finished_at = ?, error = ?', [status, Date.now(), error ?? null]));
  }

  /**
   * Before a resumed run continues after `epoch` (`step` steps done): removes what the interrupted attempt
   * recorded after that point — metrics from `step` on, evaluations, embeddings and artifacts of later
   * epochs, and the final linear probe (redone at the end) — so the curves have no duplicate or orphaned
   * points. Returns the removed artifacts, whose files are the caller's to delete.
   */
  discardAfter(id: number, at: { epoch: number; step: number; evaluationPending?: boolean }): Promise<ArtifactRow[]> {
    // Epoch `at.epoch`'s own evaluations, embeddings and checkpoint go too when it is to be evaluated again.
    const last = at.evaluationPending ? at.epoch - 1 : at.epoch;
    return this.write(async (db) => {
      await this.requireRun(db, id);
      const artifacts = await all<ArtifactRecord>(db, 'SELECT kind, path, epoch, created_at FROM artifacts WHERE run_id = ? AND epoch > ? ORDER BY id', [id, last]);
      await run(db, 'DELETE FROM metrics WHERE run_id = ? AND step >= ?', [id, at.step]);
      // The end-of-run records (linear probe, the kNN baselines at epoch 0) are made again when it finishes.
      await run(db, "DELETE FROM evals WHERE run_id = ? AND (epoch > ? OR protocol IN ('linear', 'knn-raw-pixels', 'knn-raw-pixels-centred', 'knn-untrained'))", [id, last]);
      await run(db, 'DELETE FROM embeddings WHERE run_id = ? AND epoch > ?', [id, last]);
      await run(db, 'DELETE FROM artifacts WHERE run_id = ? AND epoch > ?', [id, last]);
      return artifacts.map(toArtifact);
    });
  }

  /**
   * Adds a run recorded elsewhere (`clab unpack`) with everything it recorded, in one transaction: either
   * all of it lands under a new id or nothing does. Artifact paths are given relative to the new run's
   * folder, which the caller fills after this returns (and removes the run again if it cannot).
   */
  insertRecordedRun(r: RecordedRun): Promise<number> {
    return this.write(async (db) => {
      const sql = `INSERT INTO runs (name, method, dataset, config, config_hash, status, created_at, started_at, finished_at, heartbeat_at,
                   backend, device, versions, error, pid, host, starred, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?)`;
      const id = (
        await run(db, sql, [
          r.name, r.method, r.dataset, JSON.stringify(r.config), r.configHash, r.status, r.createdAt, r.startedAt, r.finishedAt, r.heartbeatAt,
          r.backend, r.device, JSON.stringify(r.versions), r.error, r.host, r.starred ? 1 : 0, r.note,
        ])
      ).lastID;
      await insertMetrics(db, id, r.metrics);
      for (const e of r.evals)
        await run(db, 'INSERT INTO evals (run_id, protocol, value, epoch, details, created_at) VALUES (?, ?, ?, ?, ?, ?)', [id, e.protocol, e.value, e.epoch, JSON.stringify(e.details), e.createdAt]);
      for (const e of r.embeddings) {
        const sql = 'INSERT INTO embeddings (run_id, epoch, split, dim, count, vectors, labels, indices, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)';
        await run(db, sql, [id, e.epoch, e.split, e.dim, e.count, toBlob(e.vectors), toBlob(e.labels), toBlob(e.indices), e.createdAt]);
      }
      for (const a of r.artifacts)
        await run(db, 'INSERT INTO artifacts (run_id, kind, path, epoch, created_at) VALUES (?, ?, ?, ?, ?)', [id, a.kind, path.join(runFolder(this.path, id), a.path), a.epoch, a.createdAt]);
      return id;
    });
  }

  updateRunMeta(id: number, patch: { name?: string; starred?: boolean; note?: string | null }): Promise<void> {
    const sets: string[] = [];
    const params: Params = [];
    const set = (column: string, value: Params[number]) => {
      sets.push(`${column} = ?`);
      params.push(value);
    };
    if (patch.name !== undefined) set('name', patch.name);
    if (patch.starred !== undefined) set('starred', patch.starred ? 1 : 0);
    if (patch.note !== undefined) set('note', patch.note);
    // An empty patch still reports a missing run, like every other write.
    if (!sets.length) return this.write((db) => this.requireRun(db, id));
    return this.write((db) => this.updateRun(db, id, sets.join(', '), params));
  }

  /** Deletes the run and (by ON DELETE CASCADE) all its rows; returns its artifacts so the caller can remove the files. */
  deleteRun(id: number): Promise<ArtifactRow[]> {
    return this.write(async (db) => {
      const artifacts = await all<ArtifactRecord>(db, 'SELECT kind, path, epoch, created_at FROM artifacts WHERE run_id = ? ORDER BY id', [id]);
      await run(db, 'DELETE FROM runs WHERE id = ?', [id]);
      return artifacts.map(toArtifact);
    });
  }

  // ---- reads --------------------------------------------------------------------------------------

  /** Newest first (by id: insertion order is the truth even if clocks of different hosts disagree). */
  listRuns(): Promise<RunRow[]> {
    const now = Date.now();
    return this.read(async (db) => (await all<RunRecord>(db, `${RUN_SELECT} ORDER BY r.id DESC`)).map((r) => toRun(r, now, this.staleAfterMs)));
  }

  getRun(id: number): Promise<RunRow | undefined> {
    const now = Date.now();
    return this.read(async (db) => {
      const r = await get<RunRecord>(db, `${RUN_SELECT} WHERE r.id = ?`, [id]);
      return r && toRun(r, now, this.staleAfterMs);
    });
  }

  /** In step order, then insertion order. `afterStep` is exclusive, for incremental polling. */
  getMetrics(id: number, opts: { name?: string; afterStep?: number } = {}): Promise<MetricPoint[]> {
    const where = ['run_id = ?'];
    const params: Params = [id];
    if (opts.afterStep !== undefined) {
      where.push('step > ?');
      params.push(opts.afterStep);
    }
    if (opts.name !== undefined) {
      where.push('name = ?');
      params.push(opts.name);
    }
    const sql = `SELECT step, epoch, name, value, wall_time FROM metrics WHERE ${where.join(' AND ')} ORDER BY step, rowid`;
    return this.read(async (db) => (await all<MetricRecord>(db, sql, params)).map(toMetric));
  }

  getEvals(id: number): Promise<EvalRow[]> {
    const sql = 'SELECT protocol, value, epoch, details, created_at FROM evals WHERE run_id = ? ORDER BY id';
    return this.read(async (db) => (await all<EvalRecordRow>(db, sql, [id])).map(toEval));
  }

  listEmbeddings(id: number): Promise<EmbeddingInfo[]> {
    const sql = 'SELECT id, epoch, split, dim, count, created_at FROM embeddings WHERE run_id = ? ORDER BY id';
    return this.read(async (db) => (await all<EmbeddingRecord>(db, sql, [id])).map(toEmbeddingInfo));
  }

  getEmbedding(embeddingId: number): Promise<EmbeddingRow | undefined> {
    return this.read(async (db) => {
      const e = await get<EmbeddingRecord>(db, 'SELECT * FROM embeddings WHERE id = ?', [embeddingId]);
      return e && toEmbedding(e);
    });
  }

  getArtifacts(id: number): Promise<ArtifactRow[]> {
    const sql = 'SELECT kind, path, epoch, created_at FROM artifacts WHERE run_id = ? ORDER BY id';
    return this.read(async (db) => (await all<ArtifactRecord>(db, sql, [id])).map(toArtifact));
  }

  // ---- sweeps -----------------------------------------------------------------------------------------

  /** Newest first, with their runs counted by status. */
  listSweeps(): Promise<SweepRow[]> {
    return this.read(async (db) => (await all<SweepRecord>(db, `${SWEEP_SELECT} GROUP BY s.id ORDER BY s.id DESC`)).map(toSweep));
  }

  getSweep(id: number): Promise<SweepRow | undefined> {
    return this.read(async (db) => {
      const r = await get<SweepRecord>(db, `${SWEEP_SELECT} WHERE s.id = ? GROUP BY s.id`, [id]);
      return r && toSweep(r);
    });
  }

  /** A sweep's runs in its expansion order. */
  sweepRuns(id: number): Promise<RunRow[]> {
    const now = Date.now();
    return this.read(async (db) => (await all<RunRecord>(db, `${RUN_SELECT} WHERE r.sweep_id = ? ORDER BY r.sweep_index, r.id`, [id])).map((r) => toRun(r, now, this.staleAfterMs)));
  }

  /** Each run's evaluations by protocol, for many runs in one query (the sweep view). */
  evalsOf(runIds: number[]): Promise<Map<number, EvalRow[]>> {
    return this.read(async (db) => {
      const out = new Map<number, EvalRow[]>(runIds.map((id) => [id, []]));
      for (let i = 0; i < runIds.length; i += 500) {
        const chunk = runIds.slice(i, i + 500);
        const rows = await all<EvalRecordRow & { run_id: number }>(db, `SELECT run_id, protocol, value, epoch, details, created_at FROM evals WHERE run_id IN (${chunk.map(() => '?').join(', ')}) ORDER BY id`, chunk);
        for (const r of rows) out.get(r.run_id)?.push(toEval(r));
      }
      return out;
    });
  }

  /**
   * What summarizeSweep needs of a sweep's evaluations, condensed in SQL: per run and protocol the row of
   * its last finite value and, for kNN, first the row of its best — so runMetrics reads the same last
   * and best values as from evalsOf's full lists, from a few rows per run instead of one per epoch (the
   * sweep view reads this on every refresh).
   */
  sweepEvals(sweepId: number): Promise<Map<number, EvalRow[]>> {
    return this.read(async (db) => {
      const from = 'FROM evals e JOIN runs r ON r.id = e.run_id WHERE r.sweep_id = ? AND e.value IS NOT NULL AND abs(e.value) <= 1.7976931348623157e308';
      const cols = 'e.run_id, e.protocol, e.value, e.epoch, e.details, e.created_at';
      // With exactly one MAX() in a query, SQLite takes the bare columns from the row that holds it.
      const best = await all<EvalRecordRow & { run_id: number }>(db, `SELECT ${cols}, MAX(e.value) AS best ${from} AND e.protocol = 'knn' GROUP BY e.run_id`, [sweepId]);
      const last = await all<EvalRecordRow & { run_id: number }>(db, `SELECT ${cols}, MAX(e.id) AS last ${from} GROUP BY e.run_id, e.protocol`, [sweepId]);
      const out = new Map<number, EvalRow[]>();
      for (const r of [...best, ...last]) {
        let list = out.get(r.run_id);
        if (!list) out.set(r.run_id, (list = []));
        list.push(toEval(r));
      }
      return out;
    });
  }

  // ---- projections (the embedding explorer's cache) ------------------------------------------------

  /** Stores a 2-D map of an embedding; an existing one with the same method and params is replaced. */
  saveProjection(embeddingId: number, p: { method: string; params: string; coords: Float32Array; iterations: number; kl: number | null; seconds: number }): Promise<void> {
    return this.write(async (db) => {
      if (!(await get(db, 'SELECT 1 FROM embeddings WHERE id = ?', [embeddingId]))) throw new Error(`embedding ${embeddingId} does not exist`);
      await run(
        db,
        `INSERT OR REPLACE INTO projections (embedding_id, method, params, coords, iterations, kl, seconds, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        [embeddingId, p.method, p.params, toBlob(p.coords), p.iterations, p.kl, p.seconds, Date.now()],
      );
    });
  }

  getProjection(embeddingId: number, method: string, params: string): Promise<ProjectionRow | undefined> {
    return this.read(async (db) => {
      const r = await get<{ coords: Buffer; iterations: number; kl: number | null; seconds: number; created_at: number }>(
        db,
        'SELECT coords, iterations, kl, seconds, created_at FROM projections WHERE embedding_id = ? AND method = ? AND params = ?',
        [embeddingId, method, params],
      );
      return r && { embeddingId, method, params, coords: fromBlob(r.coords, Float32Array, 'coords'), iterations: r.iterations, kl: r.kl, seconds: r.seconds, createdAt: r.created_at };
    });
  }

  /** Waits for queued operations, then closes; later calls are rejected. */
  close(): Promise<void> {
    const done = this.serial(() => closeDb(this.db));
    this.closed = true;
    return done;
  }
}

/**
 * Where runs live unless told otherwise: `CLAB_DB`, else the platform's per-user data folder. The extension
 * and the CLI must agree on this, so both call it.
 */
export function defaultDatabasePath(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform, home = os.homedir()): string {
  if (env.CLAB_DB) return path.resolve(env.CLAB_DB);
  if (platform === 'win32') return path.win32.join(env.APPDATA || path.win32.join(home, 'AppData', 'Roaming'), 'contrastive-lab', 'runs.db');
  if (platform === 'darwin') return path.posix.join(home, 'Library', 'Application Support', 'contrastive-lab', 'runs.db');
  // The XDG spec says a relative XDG_DATA_HOME is invalid and must be ignored.
  const xdg = env.XDG_DATA_HOME && path.posix.isAbsolute(env.XDG_DATA_HOME) ? env.XDG_DATA_HOME : path.posix.join(home, '.local', 'share');
  return path.posix.join(xdg, 'contrastive-lab', 'runs.db');
}

/**
 * Where a run's files (checkpoints) go: beside the database, in a folder named after it
 * (`runs.db` → `runs.artifacts/<id>`), so two databases in one folder never share run folders and
 * moving the folder moves everything.
 */
export function runFolder(dbPath: string, runId: number): string {
  return path.join(path.dirname(dbPath), `${path.basename(dbPath, path.extname(dbPath))}.artifacts`, String(runId));
}
