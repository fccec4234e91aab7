import { createHash } from 'node:crypto';
import { augmentProblems, augmentSpec, type AugmentParams } from './augment-spec';
import { DATASET_SPEC_HINT, DATASET_SPEC_PATTERN } from './datasets';
import { METHOD_IDS, METHOD_INFO } from './methods';
import { defaultsOf, deepMerge, hashedConfig, legacyValuesOf, toJsonSchema, validateAgainst, type ConfigProblem, type ObjectSpec } from './spec';

/** The side image folders are resized to when a config does not say (`imageSize`). */
export const DEFAULT_IMAGE_SIZE = 32;

export const BACKENDS = ['auto', 'tfjs-node-gpu', 'webgpu', 'tfjs-node', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKENDS)[number];
export const ENCODER_PRESETS = ['tiny', 'small', 'medium', 'resnet18-cifar', 'compact'] as const;
export type EncoderPreset = (typeof ENCODER_PRESETS)[number];

/**
 * Named sets of defaults: `paper` (each paper's settings scaled to small images) and `short` (tuned here
 * for budgets of at most SHORT_RECIPE_MAX_EPOCHS epochs on small images; each method's `short` lists what
 * it changes). Values the config gives win over either.
 */
export const RECIPES = ['paper', 'short'] as const;
export type Recipe = (typeof RECIPES)[number];
export const SHORT_RECIPE_MAX_EPOCHS = 20;

/** The recipe a config that names none gets: `short` for budgets of at most 20 epochs, else `paper`. */
export function defaultRecipe(epochs: number): Recipe {
  return epochs <= SHORT_RECIPE_MAX_EPOCHS ? 'short' : 'paper';
}

/** A fully resolved run configuration: every default filled in. This is what a run records. */
export interface RunConfig {
  name: string;
  method: string;
  /** The named defaults the run started from (RECIPES); the config's own values override them. */
  recipe: Recipe;
  dataset: string;
  /** Image folders: images are resized (shorter side) and centre-cropped to imageSize×imageSize; 0 = as stored. */
  imageSize: number;
  epochs: number;
  batchSize: number;
  seed: number;
  backend: BackendChoice;
  /** Training threads (data-parallel over worker_threads on wasm/cpu); 0 = one per CPU core. */
  threads: number;
  /** Use only the first N training images (after the seeded shuffle); 0 = all. */
  trainLimit: number;
  encoder: { preset: EncoderPreset };
  projector: { hidden: number; out: number };
  optimizer: { name: 'sgd' | 'adam' | 'lars'; lr: number; momentum: number; weightDecay: number; warmupEpochs: number; schedule: 'cosine' | 'constant' };
  augment: { view1: AugmentParams; view2: AugmentParams };
  params: Record<string, number | string | boolean>;
  eval: { knnEvery: number; knnK: number; knnTemperature: number; linearProbe: boolean; embeddingsEvery: number; embeddingSamples: number };
  checkpointEvery: number;
}

/** The shared sections of the config. `params` and `augment` depend on the method and are added per method. */
const BASE_FIELDS: ObjectSpec['fields'] = {
  name: { kind: 'string', description: 'A name for the run, shown in the Runs view. Defaults to "<method> on <dataset>".' },
  method: { kind: 'enum', description: 'Self-supervised method.', values: METHOD_IDS, valueDescriptions: METHOD_IDS.map((m) => `${METHOD_INFO[m].label}: ${METHOD_INFO[m].summary}`) },
  recipe: {
    kind: 'enum',
    description: `Named defaults the rest of the config starts from; values given in the config win. Default: \`short\` when epochs ≤ ${SHORT_RECIPE_MAX_EPOCHS}, else \`paper\`. \`clab methods\` and docs/methods.md list what each method's \`short\` changes.`,
    values: RECIPES,
    valueDescriptions: ['the paper’s settings scaled to small images (the official code’s where they differ)', `tuned for ≤ ${SHORT_RECIPE_MAX_EPOCHS} epochs on small images: optimiser, learning rate, warm-up, crops, heads, encoder preset`],
    // Runs recorded before recipes existed trained with today's paper defaults.
    legacyValue: 'paper',
  },
  dataset: {
    kind: 'string',
    description:
      'Dataset: `builtin` (the Fashion-MNIST subset shipped with Contrastive Lab); `mnist`, `fashion-mnist`, `cifar10`, `cifar100` or `cifar100-coarse` (the copy `clab data download` put in the cache folder); `mnist:DIR` or `fashion-mnist:DIR` (a folder of IDX files); `cifar10:DIR`, `cifar100:DIR` (fine labels) or `cifar100-coarse:DIR` (the CIFAR binary version); `folder:DIR` (PNG/JPEG images, one sub-folder per class; no sub-folders = unlabeled, then no kNN monitor or linear probe).',
    default: 'builtin',
    pattern: DATASET_SPEC_PATTERN,
    patternHint: DATASET_SPEC_HINT,
  },
  imageSize: {
    kind: 'integer',
    description: 'Image folders (`folder:DIR`): each image is resized so its shorter side is this many pixels and centre-cropped to a square; 0 keeps the stored size (all images must then have the same size). Ignored for MNIST, Fashion-MNIST and CIFAR, whose size is fixed.',
    default: DEFAULT_IMAGE_SIZE,
    min: 0,
    max: 1024,
  },
  epochs: { kind: 'integer', description: 'Passes over the training set.', default: 10, min: 1, max: 100000 },
  batchSize: { kind: 'integer', description: 'Images per step (each gives two views).', default: 256, min: 2, max: 65536 },
  seed: { kind: 'integer', description: 'Seed for shuffling, augmentation and initialisation.', default: 0, min: 0, max: 2 ** 31 - 1 },
  backend: {
    kind: 'enum',
    description:
      'TensorFlow.js backend. `auto` picks tfjs-node-gpu, then `webgpu` on a hardware GPU adapter, then tfjs-node, then wasm, then cpu. `webgpu` (any GPU through Dawn: Vulkan, Metal or D3D12; no CUDA) also accepts a software adapter such as SwiftShader when named, for correctness checks.',
    values: BACKENDS,
    default: 'auto',
  },
  threads: {
    kind: 'integer',
    description:
      'Training threads for the wasm and cpu backends: the batch is split over this many threads (data-parallel, synchronized BatchNorm; the same losses as one thread up to float rounding). 0 = one per CPU core. Worth it when cores are free (2 threads: ~1.7–2× faster on an idle 2-core machine); on a busy machine the threads wait for each other. SimCLR, BYOL and SimSiam only; other methods, and the native backends (which thread by themselves), use one.',
    default: 1,
    min: 0,
    max: 64,
  },
  trainLimit: { kind: 'integer', description: 'Train on the first N images of the shuffled training set only (0 = all).', default: 0, min: 0 },
  encoder: {
    kind: 'object',
    description: 'Encoder network.',
    fields: {
      preset: {
        kind: 'enum',
        description: 'Encoder size preset.',
        values: ENCODER_PRESETS,
        valueDescriptions: [
          'conv 16/1, 32/2, 64/2 + BN + ReLU, global average pool (64-d)',
          'conv 32/1, 64/2, 128/2 + BN + ReLU, global average pool (128-d); the benchmark architecture',
          'conv 32/1, 64/1, 128/2, 256/2 + BN + ReLU, global average pool (256-d)',
          'ResNet-18 with the CIFAR stem (3×3 conv, no max-pool), 512-d; for GPU users',
          'conv 16/1, 32/2, 64/2, 64/2 + BN + ReLU, global average pool (64-d): ~3× cheaper per image than small; the short recipes’ encoder',
        ],
        default: 'small',
      },
    },
  },
  projector: {
    kind: 'object',
    description: 'MLP projection head: Linear → BN → ReLU → Linear.',
    fields: {
      hidden: { kind: 'integer', description: 'Hidden width.', default: 256, min: 1, max: 16384 },
      out: { kind: 'integer', description: 'Output (projection) dimension.', default: 128, min: 1, max: 16384 },
    },
  },
  optimizer: {
    kind: 'object',
    description: 'Optimizer and learning-rate schedule (linear warmup, then cosine decay or constant).',
    fields: {
      name: { kind: 'enum', description: 'Optimizer.', values: ['sgd', 'adam', 'lars'], default: 'adam' },
      lr: { kind: 'number', description: 'Peak learning rate.', default: 0.001, gt: 0, max: 100 },
      momentum: { kind: 'number', description: 'Momentum (SGD, LARS).', default: 0.9, min: 0, max: 0.9999 },
      weightDecay: { kind: 'number', description: 'Weight decay (decoupled for Adam).', default: 1e-6, min: 0, max: 1 },
      warmupEpochs: { kind: 'number', description: 'Linear warmup length in epochs.', default: 0, min: 0 },
      schedule: { kind: 'enum', description: 'Learning-rate schedule after warmup.', values: ['cosine', 'constant'], default: 'cosine' },
    },
  },
  eval: {
    kind: 'object',
    description: 'Evaluation protocols recorded with the run.',
    fields: {
      knnEvery: { kind: 'integer', description: 'Run the kNN monitor every N epochs (0 = only at the end).', default: 1, min: 0 },
      knnK: { kind: 'integer', description: 'kNN monitor: neighbours (cosine similarity).', default: 200, min: 1, max: 10000 },
      knnTemperature: { kind: 'number', description: 'kNN monitor: temperature of the weighted vote.', default: 0.1, gt: 0, max: 10 },
      linearProbe: { kind: 'boolean', description: 'Train a linear classifier on frozen encoder features at the end.', default: true },
      embeddingsEvery: { kind: 'integer', description: 'Save test-set embeddings every N epochs (0 = only at the end).', default: 0, min: 0 },
      embeddingSamples: { kind: 'integer', description: 'How many test images to save embeddings for.', default: 10000, min: 1, max: 100000 },
    },
  },
  checkpointEvery: { kind: 'integer', description: 'Save a checkpoint every N epochs (0 = only at the end).', default: 0, min: 0 },
};

/** The full spec for one method: shared fields + that method's `params` and `augment` defaults. */
export function configSpecFor(method: string): ObjectSpec {
  const info = METHOD_INFO[method];
  const fields: ObjectSpec['fields'] = { ...BASE_FIELDS };
  if (info) {
    fields.params = info.params;
    fields.augment = {
      kind: 'object',
      description: 'Augmentation pipeline per view.',
      fields: { view1: augmentSpec('First view.', info.views[0]), view2: augmentSpec('Second view.', info.views[1]) },
    };
  }
  return { kind: 'object', description: 'Contrastive Lab run configuration.', fields, required: ['method'] };
}

export interface Resolved {
  config?: RunConfig;
  problems: ConfigProblem[];
}

export interface ResolveOptions {
  /**
   * The config was recorded with a run (resume, rerun): a field it lacks was added later, so it takes its
   * legacyValue (what the run trained with), not its default; no `recipe` means `paper`.
   */
  recorded?: boolean;
}

/** resolveConfig for a config recorded with a run: see ResolveOptions.recorded. */
export function resolveRecordedConfig(raw: unknown): Resolved {
  return resolveConfig(raw, { recorded: true });
}

/**
 * Validates a user's (partial) config and fills in every default: the method's paper defaults, then its
 * `short` recipe if that is the recipe (named, or by default for ≤ 20 epochs), then the user's values.
 * Returns one problem per wrong or unknown key, and no config if there are any.
 */
export function resolveConfig(raw: unknown, options: ResolveOptions = {}): Resolved {
  const problems: ConfigProblem[] = [];
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { problems: [{ path: '(config)', message: 'must be a JSON object' }] };
  // `$schema` points the editor at our JSON schema; it is not part of the run.
  const { $schema: _schema, ...userConfig } = raw as Record<string, unknown>;
  raw = userConfig;
  const method = (raw as { method?: unknown }).method;
  if (typeof method !== 'string' || !METHOD_INFO[method]) {
    problems.push({ path: 'method', message: method === undefined ? `is required (one of ${METHOD_IDS.join(', ')})` : `must be one of ${METHOD_IDS.join(', ')}; got ${JSON.stringify(method)}` });
    // Still check the shared keys so the user sees every problem at once.
    const shared: ConfigProblem[] = [];
    const rest = { ...(raw as Record<string, unknown>) };
    delete rest.method;
    delete rest.params;
    delete rest.augment;
    validateAgainst({ ...configSpecFor(''), required: [] }, rest, '', shared);
    return { problems: [...problems, ...shared] };
  }
  const info = METHOD_INFO[method];
  const spec = configSpecFor(method);
  validateAgainst(spec, raw, '', problems);
  if (problems.length) return { problems };
  const user = raw as Record<string, unknown>;
  const defaults = defaultsOf(spec) as unknown as RunConfig;
  const recipe = (user.recipe as Recipe | undefined) ?? (options.recorded ? 'paper' : defaultRecipe(typeof user.epochs === 'number' ? user.epochs : defaults.epochs));
  const paper = deepMerge(defaults, info.overrides ?? {});
  const start = recipe === 'short' ? deepMerge(paper, info.short.changes) : paper;
  const given = options.recorded ? deepMerge(legacyValuesOf(spec, user), user) : user;
  const config = deepMerge(start, given) as RunConfig;
  config.recipe = recipe;
  if (!config.name) config.name = `${info.label} on ${config.dataset}`;
  for (const v of ['view1', 'view2'] as const) {
    problems.push(...augmentProblems(config.augment[v], `augment.${v}`));
    if (info.noRotation && config.augment[v].rotateProb > 0) problems.push({ path: `augment.${v}.rotateProb`, message: `must be 0 for ${info.label}: ${info.noRotation}; got ${config.augment[v].rotateProb}` });
  }
  return problems.length ? { problems } : { config, problems };
}

/** Canonical JSON (sorted keys) so equal configs hash equally whatever their key order. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

/**
 * Short hash of everything that affects training (the name does not, nor the thread count: it changes
 * the speed, not the result), a field at its legacyValue left out (spec.ts). Recorded with every number.
 */
export function configHash(c: RunConfig): string {
  const { name: _name, threads: _threads, ...rest } = c;
  const hashed = METHOD_INFO[c.method] ? hashedConfig(configSpecFor(c.method), rest) : rest;
  return createHash('sha256').update(canonicalJson(hashed)).digest('hex').slice(0, 12);
}

export function formatProblems(problems: ConfigProblem[], source = 'config'): string {
  return problems.map((p) => `${source}: ${p.path}: ${p.message}`).join('\n');
}

/** JSON schema for `*.clrun.json`: the shared fields plus, per method, that method's params and augment. */
export function runConfigJsonSchema(): Record<string, unknown> {
  const base = toJsonSchema(configSpecFor(''));
  const props = base.properties as Record<string, unknown>;
  props.params = { type: 'object', description: 'Method-specific hyper-parameters (see the chosen method).' };
  props.augment = { type: 'object', description: 'Augmentation pipeline per view.' };
  props.$schema = { type: 'string' };
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'Contrastive Lab run configuration',
    ...base,
    allOf: METHOD_IDS.map((m) => {
      const s = toJsonSchema(configSpecFor(m)) as { properties: Record<string, unknown> };
      return { if: { properties: { method: { const: m } }, required: ['method'] }, then: { properties: { params: s.properties.params, augment: s.properties.augment } } };
    }),
  };
}

/** One config value a method's two recipes set differently. */
export interface RecipeDifference {
  path: string;
  paper: unknown;
  short: unknown;
}

/** The values `short` changes against `paper` for a method, by dotted path (what the wizard and `clab methods` show). */
export function recipeDifferences(method: string): RecipeDifference[] {
  const paper = resolveConfig({ method, recipe: 'paper' }).config;
  const short = resolveConfig({ method, recipe: 'short' }).config;
  if (!paper || !short) return [];
  const out: RecipeDifference[] = [];
  const walk = (a: unknown, b: unknown, path: string) => {
    if (a && b && typeof a === 'object' && typeof b === 'object') {
      for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) walk((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], path ? `${path}.${k}` : k);
    } else if (a !== b) out.push({ path, paper: a, short: b });
  };
  const { recipe: _a, name: _n, ...p } = paper;
  const { recipe: _b, name: _m, ...s } = short;
  walk(p, s, '');
  return out;
}
