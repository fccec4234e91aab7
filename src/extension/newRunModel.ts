import { existsSync, readdirSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { configSpecFor, resolveConfig, type RunConfig } from '../core/config';
import { METHOD_INFO } from '../core/methods';
import type { FieldSpec } from '../core/spec';

/**
 * The New Run wizard's logic without the UI: which values it asks for (the method's key
 * hyper-parameters, prefilled with its defaults), how typed text becomes a config value, and validation
 * through the same resolveConfig the CLI and the worker use, so the wizard can never accept a value the
 * worker would reject.
 */

export interface WizardField {
  /** Dotted config path, e.g. `optimizer.lr` or `params.temperature`. */
  path: string;
  title: string;
  description: string;
  spec: Exclude<FieldSpec, { kind: 'object' }>;
  /** The method's default (its paper's value where the method sets one). */
  default: unknown;
}

export type RawConfig = Record<string, unknown>;

/** A resolved value at a dotted path. */
export function getPath(obj: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), obj);
}

/** A copy of `obj` with `value` at the dotted `path` (intermediate objects created). */
export function setPath(obj: RawConfig, path: string, value: unknown): RawConfig {
  const [head, ...rest] = path.split('.');
  if (!rest.length) return { ...obj, [head]: value };
  const child = obj[head];
  return { ...obj, [head]: setPath(child && typeof child === 'object' ? (child as RawConfig) : {}, rest.join('.'), value) };
}

function specAt(method: string, path: string): FieldSpec | undefined {
  let spec: FieldSpec | undefined = configSpecFor(method);
  for (const k of path.split('.')) spec = spec?.kind === 'object' ? spec.fields[k] : undefined;
  return spec;
}

const TITLES: Record<string, string> = { epochs: 'Epochs', batchSize: 'Batch size', 'optimizer.lr': 'Learning rate', 'encoder.preset': 'Encoder' };

/** The values the wizard asks for after method and dataset: the shared essentials, then the method's own. */
export function keyFields(method: string): WizardField[] {
  const defaults = resolveConfig({ method }).config;
  const info = METHOD_INFO[method];
  if (!defaults || !info) return [];
  const paths = ['epochs', 'batchSize', 'optimizer.lr', ...Object.keys(info.params.fields).map((k) => `params.${k}`), 'encoder.preset'];
  const fields: WizardField[] = [];
  for (const path of paths) {
    const spec = specAt(method, path);
    if (!spec || spec.kind === 'object') continue;
    const name = path.split('.').pop()!;
    fields.push({ path, title: TITLES[path] ?? `${info.label}: ${name}`, description: spec.description, spec, default: getPath(defaults, path) });
  }
  return fields;
}

/** Typed text → a config value of the field's kind; an empty box means the default. */
export function parseInput(field: WizardField, text: string): { value?: unknown; error?: string } {
  const t = text.trim();
  if (t === '') return { value: field.default };
  switch (field.spec.kind) {
    case 'number':
    case 'integer': {
      // Number('') and Number(' ') are 0, and Number('1e-3') is fine: only reject what is not a number.
      const n = Number(t.replace(/_/g, ''));
      return Number.isFinite(n) ? { value: n } : { error: `${field.title} must be a number, e.g. ${String(field.default)}` };
    }
    case 'boolean':
      if (/^(true|yes|on|1)$/i.test(t)) return { value: true };
      if (/^(false|no|off|0)$/i.test(t)) return { value: false };
      return { error: `${field.title} must be true or false` };
    default:
      return { value: t };
  }
}

/**
 * The message to show under the input box while the user types, or undefined when the value is good.
 * Only problems at this field's path are shown: earlier answers were validated when they were given.
 */
export function validateAnswer(raw: RawConfig, field: WizardField, text: string): string | undefined {
  const parsed = parseInput(field, text);
  if (parsed.error) return parsed.error;
  const { problems } = resolveConfig(setPath(raw, field.path, parsed.value));
  const mine = problems.find((p) => p.path === field.path) ?? problems[0];
  return mine && `${field.title} ${mine.message}`;
}

/** Machine preferences (settings) that apply to a run whose config does not choose for itself. */
export function applyRunDefaults(raw: RawConfig, prefs: { backend?: string }): RawConfig {
  return prefs.backend && prefs.backend !== 'auto' && raw.backend === undefined ? { ...raw, backend: prefs.backend } : raw;
}

export function resolveOrThrow(raw: RawConfig): RunConfig {
  const { config, problems } = resolveConfig(raw);
  if (!config) throw new Error(problems.map((p) => `${p.path}: ${p.message}`).join('\n'));
  return config;
}

/** The text of a `*.clrun.json` file: the user's answers only, so the method's defaults stay readable. */
export function configFileText(raw: RawConfig): string {
  return `${JSON.stringify(raw, null, 2)}\n`;
}

export function suggestedFileName(raw: RawConfig): string {
  const slug = (s: string) =>
    s
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '');
  const dataset = String(raw.dataset ?? 'builtin');
  const dsName = dataset.includes(':') ? dataset.split(':')[0] : dataset;
  return `${slug(String(raw.name ?? `${String(raw.method)}-${dsName}-${String(raw.epochs ?? '')}ep`)) || 'run'}.clrun.json`;
}

/**
 * A config file's relative dataset folder is relative to the file (as a reader of the file expects), not
 * to whatever directory the worker happens to start in.
 */
export function resolveDatasetPath(raw: RawConfig, baseDir: string): RawConfig {
  const ds = raw.dataset;
  if (typeof ds !== 'string') return raw;
  const m = /^(fashion-mnist|mnist):(.+)$/.exec(ds);
  if (!m || isAbsolute(m[2]) || /^[a-zA-Z]:[\\/]/.test(m[2])) return raw;
  return { ...raw, dataset: `${m[1]}:${resolve(baseDir, m[2])}` };
}

export interface DatasetChoice {
  spec: string;
  label: string;
  detail: string;
}

const IDX_TRAIN_IMAGES = 'train-images-idx3-ubyte';

/** Folders under the dataset folder that hold IDX files, as dataset specs (`fashion-mnist:` if the name says so). */
export function discoverDatasets(folder: string | undefined): DatasetChoice[] {
  if (!folder || !existsSync(folder)) return [];
  const out: DatasetChoice[] = [];
  const candidates = [folder, ...readdirSafe(folder).map((n) => join(folder, n))];
  for (const dir of candidates) {
    if (!readdirSafe(dir).some((f) => f === IDX_TRAIN_IMAGES || f === `${IDX_TRAIN_IMAGES}.gz`)) continue;
    const kind = /fashion/i.test(dir) ? 'fashion-mnist' : 'mnist';
    out.push({ spec: `${kind}:${dir}`, label: `${kind} (${dir.split(/[\\/]/).pop()})`, detail: dir });
  }
  return out;
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
