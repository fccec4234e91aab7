import { existsSync, readdirSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { configSpecFor, recipeDifferences, resolveConfig, SHORT_RECIPE_MAX_EPOCHS, type Recipe, type RunConfig } from '../core/config';
import { DATASET_KINDS } from '../core/datasets';
import { listLocalDatasets } from '../data/registry';
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

/** One choice of the wizard's recipe step: the recipe, and what it sets differently from the other. */
export interface RecipeChoice {
  recipe: Recipe;
  label: string;
  description: string;
  /** The values that differ, `path: this value (other: that value)`, joined for one line. */
  detail: string;
}

const show = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));

/** The wizard's recipe step for a method: short first (the default of the wizard's ≤ 20-epoch budgets), then paper. */
export function recipeChoices(method: string): RecipeChoice[] {
  const diffs = recipeDifferences(method);
  const list = (mine: 'short' | 'paper', other: 'short' | 'paper') => diffs.map((d) => `${d.path} ${show(d[mine])} (${other}: ${show(d[other])})`).join(' · ');
  return [
    { recipe: 'short', label: 'short', description: `tuned for ≤ ${SHORT_RECIPE_MAX_EPOCHS} epochs on small images; default up to ${SHORT_RECIPE_MAX_EPOCHS} epochs`, detail: list('short', 'paper') },
    { recipe: 'paper', label: 'paper', description: 'the paper’s settings scaled to small images (the official code’s where they differ)', detail: list('paper', 'short') },
  ];
}

/**
 * The values the wizard asks for after method, dataset and recipe: the shared essentials, then the
 * method's own, prefilled with that recipe's defaults.
 */
export function keyFields(method: string, recipe: Recipe = 'short'): WizardField[] {
  const defaults = resolveConfig({ method, recipe }).config;
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

/** `recorded`: the config of a recorded run (Rerun), whose missing later fields take their legacyValue. */
export function resolveOrThrow(raw: RawConfig, options: { recorded?: boolean } = {}): RunConfig {
  const { config, problems } = resolveConfig(raw, options);
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
  const m = new RegExp(`^(${DATASET_KINDS.join('|')}):(.+)$`).exec(ds);
  if (!m || isAbsolute(m[2]) || /^[a-zA-Z]:[\\/]/.test(m[2])) return raw;
  return { ...raw, dataset: `${m[1]}:${resolve(baseDir, m[2])}` };
}

export interface DatasetChoice {
  spec: string;
  label: string;
  detail: string;
}

const IDX_TRAIN_IMAGES = 'train-images-idx3-ubyte';
const CIFAR_MARKERS: [kind: 'cifar10' | 'cifar100', file: string, subdir: string][] = [
  ['cifar10', 'data_batch_1.bin', 'cifar-10-batches-bin'],
  ['cifar100', 'train.bin', 'cifar-100-binary'],
];

/**
 * The dataset spec for a folder, from what it holds: the IDX files (`fashion-mnist:` if the folder's name
 * says so, else `mnist:`), CIFAR's binary batches (in the folder or the sub-folder the archive extracts
 * to), or images, directly or one or two class/split folders down (`folder:`, torchvision's ImageFolder).
 * Undefined for anything else. Reads directory listings only, never images.
 */
export function datasetSpecForFolder(dir: string): string | undefined {
  const names = readdirSafe(dir);
  if (names.some((f) => f === IDX_TRAIN_IMAGES || f === `${IDX_TRAIN_IMAGES}.gz`)) return `${/fashion/i.test(dir) ? 'fashion-mnist' : 'mnist'}:${dir}`;
  for (const [kind, file, subdir] of CIFAR_MARKERS) if (names.includes(file) || readdirSafe(join(dir, subdir)).includes(file)) return `${kind}:${dir}`;
  return holdsImages(dir, names, 2) ? `folder:${dir}` : undefined;
}

// The extensions the image-folder reader decodes (data/image.ts IMAGE_EXTENSIONS).
const IMAGE_FILE = /\.(png|jpe?g)$/i;
const isImage = (name: string) => IMAGE_FILE.test(name);

/** Whether `dir` or a sub-folder up to `depth` levels down holds an image (a few sub-folders looked at). */
function holdsImages(dir: string, names: string[], depth: number): boolean {
  if (names.some(isImage)) return true;
  if (depth === 0) return false;
  return names
    .filter((n) => !n.startsWith('.'))
    .slice(0, 8)
    .some((n) => holdsImages(join(dir, n), readdirSafe(join(dir, n)), depth - 1));
}

/** The dataset folder itself and its sub-folders that hold a dataset (see datasetSpecForFolder). */
export function discoverDatasets(folder: string | undefined): DatasetChoice[] {
  if (!folder || !existsSync(folder)) return [];
  const out: DatasetChoice[] = [];
  const own = datasetSpecForFolder(folder);
  // A folder of class folders is one dataset, not one per class.
  const candidates = own?.startsWith('folder:') ? [folder] : [folder, ...readdirSafe(folder).filter((n) => !n.startsWith('.')).map((n) => join(folder, n))];
  for (const dir of candidates) {
    const spec = dir === folder ? own : datasetSpecForFolder(dir);
    if (!spec) continue;
    const kind = spec.slice(0, spec.indexOf(':'));
    out.push({ spec, label: `${kind} (${dir.split(/[\\/]/).pop()})`, detail: dir });
  }
  return out;
}

/**
 * The datasets ready in the cache folder the CLI shares: downloads (`clab data download`) and decoded
 * image folders, with what a researcher picks by (`60,000 train / 10,000 test · 10 classes · 28×28×1`).
 */
export function cachedDatasets(cacheDir: string): (DatasetChoice & { description: string })[] {
  return listLocalDatasets(cacheDir)
    .filter((d) => d.state === 'ready' && d.spec !== 'builtin')
    .map((d) => {
      const parts = [];
      if (d.train !== undefined && d.test !== undefined) parts.push(`${d.train.toLocaleString('en-US')} train / ${d.test.toLocaleString('en-US')} test`);
      if (d.classes) parts.push(`${d.classes} classes`);
      if (d.height && d.width) parts.push(`${d.height}×${d.width}×${d.channels ?? 1}`);
      if (d.note) parts.push(d.note);
      return { spec: d.spec, label: d.spec, description: d.title, detail: parts.join(' · ') };
    });
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
