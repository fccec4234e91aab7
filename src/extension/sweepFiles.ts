import { dirname } from 'node:path';
import { expandSweep, SweepError, type ExpandedSweep } from '../core/sweep';
import type { RunManager } from '../queue/runManager';
import { applyRunDefaults, resolveDatasetPath, type RawConfig } from './newRunModel';

/**
 * Starting a sweep from a `*.clsweep.json` file, without the UI (sweepCommands.ts asks the questions).
 * In Restricted Mode this refuses before reading the file, as for run config files: a sweep starts many
 * processes. Nothing is written for a rejected file.
 */

export const SWEEP_FILE_GLOB = '**/*.clsweep.json';

export const RESTRICTED_SWEEP_MESSAGE =
  'Contrastive Lab does not start sweeps in Restricted Mode: this workspace is not trusted, and a sweep decides what its training workers read and run. Trust the workspace to start it.';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Parses and expands the file's text. Relative dataset folders (in `base` and in a `dataset` axis) are
 * taken relative to the file, and the backend setting applies where the file does not choose one.
 */
export function sweepFromText(file: string, text: string, prefs: { backend?: string }): { sweep?: ExpandedSweep; raw?: unknown; message?: string; problems?: number } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return { message: `${file} is not valid JSON: ${(e as Error).message}` };
  }
  let resolved = raw;
  if (isObject(raw)) {
    const dir = dirname(file);
    const base = isObject(raw.base) ? applyRunDefaults(resolveDatasetPath(raw.base as RawConfig, dir), prefs) : raw.base;
    const grid = isObject(raw.grid) && Array.isArray(raw.grid.dataset) ? { ...raw.grid, dataset: raw.grid.dataset.map((d) => (typeof d === 'string' ? resolveDatasetPath({ dataset: d }, dir).dataset : d)) } : raw.grid;
    resolved = { ...raw, base, ...(grid !== undefined ? { grid } : {}) };
  }
  const name = (file.split(/[\\/]/).pop() ?? 'sweep').replace(/\.clsweep\.json$/, '');
  try {
    return { sweep: expandSweep(resolved, name), raw };
  } catch (e) {
    if (!(e instanceof SweepError)) throw e;
    const n = e.problems.length;
    return { message: `invalid sweep (${n} problem${n > 1 ? 's' : ''}):\n${e.problems.map((p) => `${file}: ${p.path}: ${p.message}`).join('\n')}`, problems: n };
  }
}

export type SweepFileOutcome =
  | { kind: 'started'; sweepId: number; runIds: number[]; sweep: ExpandedSweep }
  | { kind: 'untrusted'; message: string }
  | { kind: 'invalid'; message: string }
  | { kind: 'declined' };

export interface SweepFileDeps {
  isTrusted(): boolean;
  readText(file: string): Promise<string>;
  manager: Pick<RunManager, 'enqueueSweep'>;
  dbPath(): string;
  prefs(): { backend?: string };
  /** Shown the expanded sweep before anything is written; false = do not start it. */
  confirm(sweep: ExpandedSweep): Promise<boolean>;
}

export async function startSweepFromFile(file: string, deps: SweepFileDeps): Promise<SweepFileOutcome> {
  if (!deps.isTrusted()) return { kind: 'untrusted', message: RESTRICTED_SWEEP_MESSAGE };
  let text: string;
  try {
    text = await deps.readText(file);
  } catch (e) {
    return { kind: 'invalid', message: `could not read ${file}: ${(e as Error).message}` };
  }
  const { sweep, raw, message } = sweepFromText(file, text, deps.prefs());
  if (!sweep) return { kind: 'invalid', message: message! };
  if (!(await deps.confirm(sweep))) return { kind: 'declined' };
  const { sweepId, runIds } = await deps.manager.enqueueSweep(
    { name: sweep.spec.name, spec: raw, axes: sweep.axes, source: file, jobs: sweep.spec.jobs, runs: sweep.runs },
    { dbPath: deps.dbPath(), cwd: dirname(file) },
  );
  return { kind: 'started', sweepId, runIds, sweep };
}
