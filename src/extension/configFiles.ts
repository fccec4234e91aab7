import { dirname } from 'node:path';
import { formatProblems, resolveConfig, type RunConfig } from '../core/config';
import { DatasetError } from '../data/idx';
import type { RunManager } from '../queue/runManager';
import { applyRunDefaults, resolveDatasetPath, type RawConfig } from './newRunModel';

/**
 * Starting a run from a `*.clrun.json` file, without the UI. In Restricted Mode (an untrusted workspace)
 * this refuses before reading the file or creating anything: a workspace's config file chooses which
 * folders the worker reads and how long it burns the CPU or GPU, and the user has not vouched for it.
 */

export const RESTRICTED_MESSAGE =
  'Contrastive Lab does not start runs from config files in Restricted Mode: this workspace is not trusted, and a run config decides what the training worker reads and runs. ' +
  'Trust the workspace to run it; browsing recorded runs works without trust.';

export type ConfigFileOutcome =
  | { kind: 'started'; runId: number; config: RunConfig }
  | { kind: 'untrusted'; message: string }
  | { kind: 'invalid'; message: string };

export interface ConfigFileDeps {
  isTrusted(): boolean;
  readText(file: string): Promise<string>;
  manager: Pick<RunManager, 'enqueue'>;
  dbPath(): string;
  prefs(): { backend?: string };
}

/** Parses and validates the file's text: its relative dataset folder is taken relative to the file. */
export function configFromText(file: string, text: string, prefs: { backend?: string }): { config?: RunConfig; message?: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return { message: `${file} is not valid JSON: ${(e as Error).message}` };
  }
  if (raw && typeof raw === 'object' && !Array.isArray(raw)) raw = applyRunDefaults(resolveDatasetPath(raw as RawConfig, dirname(file)), prefs);
  const { config, problems } = resolveConfig(raw);
  if (!config) return { message: `invalid run config (${problems.length} problem${problems.length > 1 ? 's' : ''}):\n${formatProblems(problems, file)}` };
  return { config };
}

export async function startFromConfigFile(file: string, deps: ConfigFileDeps): Promise<ConfigFileOutcome> {
  if (!deps.isTrusted()) return { kind: 'untrusted', message: RESTRICTED_MESSAGE };
  let text: string;
  try {
    text = await deps.readText(file);
  } catch (e) {
    return { kind: 'invalid', message: `could not read ${file}: ${(e as Error).message}` };
  }
  const { config, message } = configFromText(file, text, deps.prefs());
  if (!config) return { kind: 'invalid', message: message! };
  let runId: number;
  try {
    runId = await deps.manager.enqueue(config, { dbPath: deps.dbPath(), cwd: dirname(file) });
  } catch (e) {
    if (!(e instanceof DatasetError)) throw e;
    return { kind: 'invalid', message: `${file}: the dataset cannot be read: ${e.message}` };
  }
  return { kind: 'started', runId, config };
}
