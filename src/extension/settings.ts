import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { BACKENDS } from '../core/config';
import { DEFAULT_RUN_LIMIT } from '../core/sweep';
import { defaultDatabasePath } from '../store/store';

/** The `contrastiveLab.*` settings, resolved to what the host logic needs (paths absolute, defaults filled). */
export interface Settings {
  dbPath: string;
  backend: string;
  defaultDataset: string;
  datasetFolder: string;
  maxConcurrentRuns: number;
  /** Starting a sweep of more runs than this asks first. */
  sweepRunLimit: number;
  /** Empty = VS Code's own Node (process.execPath). */
  nodePath: string;
  npmPath: string;
}

export const SECTION = 'contrastiveLab';

/** Settings that name executables or files: ignored in untrusted workspaces (package.json lists them). */
export const RESTRICTED_SETTINGS = ['databasePath', 'nodePath', 'npmPath', 'datasetFolder'].map((k) => `${SECTION}.${k}`);

export interface SettingsSource {
  get<T>(key: string): T | undefined;
}

/** `~`, `${workspaceFolder}` and `${userHome}` expanded; a relative path is taken relative to the workspace folder. */
export function expandPath(p: string, workspaceFolder: string | undefined): string {
  let out = p.trim();
  if (!out) return out;
  out = out.replace(/\$\{userHome\}/g, homedir()).replace(/^~(?=$|[\\/])/, homedir());
  if (workspaceFolder) out = out.replace(/\$\{workspaceFolder\}/g, workspaceFolder);
  if (!isAbsolute(out) && workspaceFolder) out = resolve(workspaceFolder, out);
  return out;
}

export function readSettings(src: SettingsSource, workspaceFolder: string | undefined, env: NodeJS.ProcessEnv = process.env): Settings {
  const str = (k: string) => (src.get<string>(k) ?? '').trim();
  const dbSetting = expandPath(str('databasePath'), workspaceFolder);
  const dbPath = dbSetting || defaultDatabasePath(env);
  const backend = str('backend');
  const max = Number(src.get<number>('maxConcurrentRuns') ?? 1);
  const limit = Number(src.get<number>('sweepRunLimit') ?? DEFAULT_RUN_LIMIT);
  return {
    dbPath,
    backend: (BACKENDS as readonly string[]).includes(backend) ? backend : 'auto',
    defaultDataset: str('defaultDataset') || 'builtin',
    // Default: beside the shared database, so the CLI user finds it too.
    datasetFolder: expandPath(str('datasetFolder'), workspaceFolder) || join(dirname(defaultDatabasePath(env)), 'datasets'),
    maxConcurrentRuns: Number.isFinite(max) && max >= 1 ? Math.floor(max) : 1,
    sweepRunLimit: Number.isFinite(limit) && limit >= 1 ? Math.floor(limit) : DEFAULT_RUN_LIMIT,
    nodePath: expandPath(str('nodePath'), workspaceFolder),
    npmPath: expandPath(str('npmPath'), workspaceFolder),
  };
}
