/**
 * The run store's schema. `MIGRATIONS[i]` takes a database from `PRAGMA user_version` i to i + 1, so
 * version 2 is one more array entry; never edit an entry that has shipped, users' databases already ran it.
 *
 * Migrations run inside one BEGIN IMMEDIATE transaction with foreign keys ON. A future migration that
 * rebuilds a table (create new, copy, drop old, rename) must not drop a parent table while children
 * reference it: with foreign keys on, `DROP TABLE runs` would cascade-delete every metric.
 */
export const MIGRATIONS: readonly string[] = [
  /* 0 → 1: the first schema. */ `
  -- AUTOINCREMENT so the id of a deleted run is never reused: run folders on disk are named by id.
  CREATE TABLE runs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT    NOT NULL,
    method       TEXT    NOT NULL,
    dataset      TEXT    NOT NULL,
    config       TEXT    NOT NULL,            -- the resolved RunConfig as JSON
    config_hash  TEXT    NOT NULL,
    status       TEXT    NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
    created_at   INTEGER NOT NULL,            -- all times: ms since epoch
    started_at   INTEGER,
    finished_at  INTEGER,
    heartbeat_at INTEGER,
    backend      TEXT,
    device       TEXT,
    versions     TEXT    NOT NULL DEFAULT '{}',
    error        TEXT,
    pid          INTEGER,
    host         TEXT,
    starred      INTEGER NOT NULL DEFAULT 0,
    note         TEXT
  );

  -- value is nullable because SQLite stores NaN as NULL; a diverged loss must still be recorded.
  CREATE TABLE metrics (
    run_id    INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    step      INTEGER NOT NULL,
    epoch     INTEGER NOT NULL,
    name      TEXT    NOT NULL,
    value     REAL,
    wall_time INTEGER NOT NULL
  );
  CREATE INDEX metrics_run_step ON metrics(run_id, step);

  CREATE TABLE evals (
    id         INTEGER PRIMARY KEY,
    run_id     INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    protocol   TEXT    NOT NULL,
    value      REAL,
    epoch      INTEGER NOT NULL,
    details    TEXT    NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL
  );
  -- Also serves "latest kNN of a run": the index carries the rowid, so ORDER BY id DESC LIMIT 1 is a seek.
  CREATE INDEX evals_run_protocol ON evals(run_id, protocol);

  -- Float32 / Int32 arrays as little-endian BLOBs: count × dim vectors, count labels, count indices.
  CREATE TABLE embeddings (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id     INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    epoch      INTEGER NOT NULL,
    split      TEXT    NOT NULL,
    dim        INTEGER NOT NULL,
    count      INTEGER NOT NULL,
    vectors    BLOB    NOT NULL,
    labels     BLOB    NOT NULL,
    indices    BLOB    NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX embeddings_run ON embeddings(run_id);

  CREATE TABLE artifacts (
    id         INTEGER PRIMARY KEY,
    run_id     INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    kind       TEXT    NOT NULL,
    path       TEXT    NOT NULL,
    epoch      INTEGER,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX artifacts_run ON artifacts(run_id);
  `,
  /* 1 → 2: 2-D maps of saved embeddings (t-SNE, UMAP, PCA) cached for the embedding explorer. */ `
  -- One row per embedding, method and parameters (canonical JSON of what changes the result), so a map
  -- is computed once and opened at once afterwards, by every window.
  CREATE TABLE projections (
    id           INTEGER PRIMARY KEY,
    embedding_id INTEGER NOT NULL REFERENCES embeddings(id) ON DELETE CASCADE,
    method       TEXT    NOT NULL,
    params       TEXT    NOT NULL,
    coords       BLOB    NOT NULL,            -- Float32 count × 2, row-major, in the embedding's row order
    iterations   INTEGER NOT NULL,
    kl           REAL,                        -- t-SNE's final KL divergence
    seconds      REAL    NOT NULL,            -- compute time
    created_at   INTEGER NOT NULL,
    UNIQUE (embedding_id, method, params)
  );
  `,
  /* 2 → 3: sweeps, and the run queue kept in the database (it survives a restart, a crash and a reboot). */ `
  CREATE TABLE sweeps (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL,
    spec       TEXT    NOT NULL,            -- the sweep file as given (JSON), to show and to start again
    axes       TEXT    NOT NULL,            -- JSON [{ name, kind, labels? }], in the file's order
    source     TEXT,                        -- the file it was started from, if any
    jobs       INTEGER,                     -- runs of this sweep that train at once; NULL = the runner's limit
    created_at INTEGER NOT NULL
  );

  ALTER TABLE runs ADD COLUMN sweep_id     INTEGER REFERENCES sweeps(id) ON DELETE SET NULL;
  ALTER TABLE runs ADD COLUMN sweep_index  INTEGER;   -- position in the sweep's expansion
  ALTER TABLE runs ADD COLUMN axis_values  TEXT;      -- JSON { axis: value or label }
  ALTER TABLE runs ADD COLUMN queued_at    INTEGER;   -- when it (last) entered the queue: the queue's order
  ALTER TABLE runs ADD COLUMN queue_action TEXT;      -- 'start' or 'resume': what the runner does when it claims it
  ALTER TABLE runs ADD COLUMN claimed_by   TEXT;      -- the runner that started it (its lease holder id)
  ALTER TABLE runs ADD COLUMN attempts     INTEGER NOT NULL DEFAULT 0;
  CREATE INDEX runs_queue ON runs(status, queued_at, id);
  CREATE INDEX runs_sweep ON runs(sweep_id, sweep_index);

  -- One row: which runner drains the queue (a lease it renews; a dead runner's lapses) and whether it is paused.
  CREATE TABLE queue (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    holder      TEXT,
    holder_host TEXT,
    holder_pid  INTEGER,
    expires_at  INTEGER,
    paused      INTEGER NOT NULL DEFAULT 0
  );
  INSERT INTO queue (id) VALUES (1);

  -- Before this version a queued run lived in one window's memory; no runner knows such a run now.
  UPDATE runs SET status = 'cancelled', finished_at = created_at, error = 'queued in a window that closed before it started'
    WHERE status = 'queued';
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * `PRAGMA application_id` marks the file as ours ('CLAB'), so opening some other application's SQLite
 * file by mistake is refused instead of adding our tables to it.
 */
export const APPLICATION_ID = 0x434c4142;
