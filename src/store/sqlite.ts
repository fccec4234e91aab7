import * as os from 'node:os';
import type { Database } from 'sqlite3';

/** Small promise wrappers over node-sqlite3's callback API, its errors, and the BLOB codecs. */

export type Conn = Database;
export type Params = (string | number | bigint | boolean | Buffer | null)[];

export function run(db: Conn, sql: string, params: Params = []): Promise<{ lastID: number; changes: number }> {
  return new Promise((resolve, reject) =>
    db.run(sql, params, function (err) {
      if (err) reject(err);
      else resolve({ lastID: this.lastID, changes: this.changes });
    }),
  );
}
export function get<T>(db: Conn, sql: string, params: Params = []): Promise<T | undefined> {
  return new Promise((resolve, reject) => db.get<T>(sql, params, (err, row) => (err ? reject(err) : resolve(row))));
}
export function all<T>(db: Conn, sql: string, params: Params = []): Promise<T[]> {
  return new Promise((resolve, reject) => db.all<T>(sql, params, (err, rows) => (err ? reject(err) : resolve(rows))));
}
export function exec(db: Conn, sql: string): Promise<void> {
  return new Promise((resolve, reject) => db.exec(sql, (err) => (err ? reject(err) : resolve())));
}
export function closeDb(db: Conn): Promise<void> {
  return new Promise((resolve, reject) => db.close((err) => (err ? reject(err) : resolve())));
}

export const codeOf = (e: unknown): string | undefined => (e as { code?: string } | null)?.code;
/** "SQLITE_NOTADB: file is not a database" → "file is not a database". */
export const problemOf = (e: unknown): string => String((e as Error)?.message ?? e).replace(/^SQLITE_\w+:\s*/, '');
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// SQLite stores NaN as NULL; a metric or eval value is never legitimately absent, so NULL reads back as NaN.
export const num = (v: number | null): number => (v === null ? NaN : v);

/** The exact bytes of a typed array's view (not its whole buffer), as little-endian, in a copy SQLite can keep. */
export function toBlob(a: Float32Array | Int32Array): Buffer {
  const copy = Buffer.from(Buffer.from(a.buffer, a.byteOffset, a.byteLength));
  return os.endianness() === 'LE' ? copy : copy.swap32();
}
/** Copied into a fresh ArrayBuffer: the Buffer SQLite returns need not be 4-byte aligned. */
export function fromBlob<T extends Float32Array | Int32Array>(b: Buffer, Ctor: new (buf: ArrayBuffer) => T, what: string): T {
  if (b.byteLength % 4 !== 0) throw new Error(`embedding ${what} blob has ${b.byteLength} bytes, not a multiple of 4`);
  const bytes = new Uint8Array(b.byteLength);
  bytes.set(b);
  if (os.endianness() !== 'LE') Buffer.from(bytes.buffer).swap32();
  return new Ctor(bytes.buffer);
}

/** Names the file and says what is wrong with it, keeping SQLite's code for callers that branch on it. */
export function wrapOpenError(file: string, e: unknown): Error {
  const code = codeOf(e);
  const what =
    code === 'SQLITE_NOTADB'
      ? `${file} is not a Contrastive Lab database`
      : code === 'SQLITE_CORRUPT'
        ? `${file} is damaged`
        : `cannot open the run database ${file}`;
  return Object.assign(new Error(`${what}: ${problemOf(e)}`, { cause: e }), { code });
}

