/**
 * Sweep files (`*.clsweep.json`): one base run config plus axes, expanded into the runs of an experiment.
 *
 *   {
 *     "name": "lr × seed",
 *     "base": { "method": "simclr", "epochs": 3 },              // any key a *.clrun.json accepts
 *     "grid": {
 *       "optimizer.lr": [0.0003, 0.001, 0.003],                 // a config key path and its values
 *       "seed": [0, 1, 2],                                      // seeds are an axis like any other
 *       "augmentation": [                                       // a named axis: each value sets several keys
 *         { "label": "crop", "set": { "augment.view1.cropMinScale": 0.08 } }
 *       ]
 *     },
 *     "random": { "samples": 8, "seed": 0, "params": { "optimizer.weightDecay": { "distribution": "log-uniform", "min": 1e-6, "max": 1e-3 } } },
 *     "jobs": 2,                                                // runs of this sweep that train at once
 *     "view": { "rows": "augmentation", "columns": "seed", "metric": "linear" }
 *   }
 *
 * The grid is the cartesian product of its axes (the first axis varies slowest); each grid point is
 * combined with every random sample, and sample i is the same draw at every grid point so cells compare
 * like with like. Every expanded config is validated as a run config, and a problem is reported at the
 * key path of the sweep file it came from (`grid."optimizer.lr"[2]`, `base.epochs`), so a bad value is
 * named where the user wrote it. Pure: no file or database access.
 */
import { configSpecFor, resolveConfig, type RunConfig } from './config';
import { setPath, toJsonSchema, type FieldSpec, type ConfigProblem } from './spec';
import { METHOD_IDS } from './methods';

/** A sweep never expands past this, whatever the user confirms: it would be a typo, not an experiment. */
export const HARD_RUN_LIMIT = 100_000;
/** Above this many runs, starting a sweep asks first (setting `contrastiveLab.sweepRunLimit`, CLI `--yes`). */
export const DEFAULT_RUN_LIMIT = 200;

export type AxisValue = string | number | boolean;

export interface NamedValue {
  label: string;
  set: Record<string, unknown>;
  /**
   * Where this value sits on other axes of the view: one axis of 49 ordered pairs of transformations is
   * shown as a 7 × 7 heatmap by giving each pair `{ "first": "crop", "second": "color" }`.
   */
  axes?: Record<string, string | number>;
}

export type Distribution =
  | { distribution: 'uniform' | 'log-uniform'; min: number; max: number }
  | { distribution: 'int-uniform'; min: number; max: number }
  | { distribution: 'choice'; values: unknown[] };

export const METRICS = ['linear', 'knn', 'bestKnn', 'collapse'] as const;
export type SweepMetric = (typeof METRICS)[number];

export interface SweepView {
  rows?: string;
  columns?: string;
  metric?: SweepMetric;
  /** Show the mean of each row beside the heatmap (the SimCLR paper's Figure 5 does). */
  rowAverage?: boolean;
}

/** A sweep file as validated: the shape is right; the run configs it makes are checked by expandSweep. */
export interface SweepSpec {
  name: string;
  description?: string;
  base: Record<string, unknown>;
  grid: Record<string, unknown[]>;
  random?: { samples: number; seed: number; params: Record<string, Distribution> };
  jobs?: number;
  view?: SweepView;
}

export interface SweepAxis {
  /** The grid key or random parameter: a config key path, or the name of a named axis. */
  name: string;
  kind: 'grid' | 'named' | 'derived' | 'random';
  /** The values' labels in file order (grid, named and derived axes); random axes have none. */
  labels?: string[];
  /** A named axis whose values place themselves on derived axes: the view shows those instead. */
  placesOn?: string[];
}

export interface SweepRun {
  index: number;
  config: RunConfig;
  /** Per axis, this run's value (a named axis: its label). */
  axisValues: Record<string, AxisValue>;
}

export interface ExpandedSweep {
  spec: SweepSpec;
  axes: SweepAxis[];
  runs: SweepRun[];
}

export class SweepError extends Error {
  constructor(
    readonly problems: ConfigProblem[],
    source = 'sweep',
  ) {
    super(problems.map((p) => `${source}: ${p.path}: ${p.message}`).join('\n'));
  }
}

const TOP_KEYS = ['$schema', 'name', 'description', 'base', 'grid', 'random', 'jobs', 'view'];

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const quote = (k: string) => (/^[A-Za-z_$][\w$]*$/.test(k) ? k : JSON.stringify(k));
const isNamed = (v: unknown): v is NamedValue => isObject(v) && typeof v.label === 'string' && isObject(v.set);
/** Axes that named values place themselves on (`axes`), in the order they first appear. */
function derivedAxes(grid: Record<string, unknown>): { name: string; labels: string[] }[] {
  const out = new Map<string, string[]>();
  for (const values of Object.values(grid))
    if (Array.isArray(values))
      for (const v of values)
        if (isNamed(v) && isObject(v.axes))
          for (const [k, x] of Object.entries(v.axes)) {
            const labels = out.get(k) ?? [];
            if (!labels.includes(String(x))) labels.push(String(x));
            out.set(k, labels);
          }
  return [...out].map(([name, labels]) => ({ name, labels }));
}

/** A short label of a value for run names and the view: 0.001, true, "adam" → adam. */
export function labelOf(v: unknown): string {
  if (isNamed(v)) return v.label;
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(6)));
  return JSON.stringify(v);
}

/** Checks the file's shape (not yet the run configs): every problem with its key path. */
export function parseSweep(raw: unknown, fallbackName = 'sweep'): { spec?: SweepSpec; problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = [];
  const bad = (path: string, message: string) => problems.push({ path, message });
  if (!isObject(raw)) return { problems: [{ path: '(sweep)', message: 'must be a JSON object' }] };
  for (const k of Object.keys(raw)) if (!TOP_KEYS.includes(k)) bad(k, `unknown key (known here: ${TOP_KEYS.filter((t) => t !== '$schema').join(', ')})`);
  if (raw.name !== undefined && (typeof raw.name !== 'string' || !raw.name.trim())) bad('name', 'must be a non-empty string');
  if (raw.description !== undefined && typeof raw.description !== 'string') bad('description', 'must be a string');
  const base = raw.base ?? {};
  if (!isObject(base)) bad('base', 'must be an object: the run config every run starts from');
  const grid = raw.grid ?? {};
  if (!isObject(grid)) bad('grid', 'must be an object mapping config key paths to lists of values');
  else
    for (const [key, values] of Object.entries(grid)) {
      const at = `grid.${quote(key)}`;
      if (!Array.isArray(values) || values.length === 0) {
        bad(at, 'must be a non-empty list of values');
        continue;
      }
      const named = values.filter(isNamed).length;
      if (named && named !== values.length) bad(at, 'mixes named values ({ "label", "set" }) with plain ones; use one kind per axis');
      if (named) {
        const seen = new Set<string>();
        values.forEach((v, i) => {
          const n = v as NamedValue;
          if (seen.has(n.label)) bad(`${at}[${i}].label`, `repeats the label ${JSON.stringify(n.label)}`);
          seen.add(n.label);
          if (!Object.keys(n.set).length) bad(`${at}[${i}].set`, 'must set at least one config key');
          if (n.axes !== undefined) {
            if (!isObject(n.axes)) bad(`${at}[${i}].axes`, 'must map axis names to labels');
            else
              for (const [k, x] of Object.entries(n.axes)) {
                if (typeof x !== 'string' && typeof x !== 'number') bad(`${at}[${i}].axes.${quote(k)}`, `must be a string or a number, got ${JSON.stringify(x)}`);
                if (k in grid || k === 'seed') bad(`${at}[${i}].axes.${quote(k)}`, 'names an axis of the grid; a derived axis needs a name of its own');
              }
          }
        });
      } else {
        values.forEach((v, i) => {
          if (isObject(v) && ('label' in v || 'set' in v)) bad(`${at}[${i}]`, 'a named value needs a string "label" and an object "set"');
        });
        const labels = values.map(labelOf);
        const dup = labels.findIndex((l, i) => labels.indexOf(l) !== i);
        if (dup >= 0) bad(`${at}[${dup}]`, `repeats the value ${labels[dup]}`);
      }
    }
  let random: SweepSpec['random'];
  if (raw.random !== undefined) {
    const r = raw.random;
    if (!isObject(r)) bad('random', 'must be an object { "samples", "seed", "params" }');
    else {
      for (const k of Object.keys(r)) if (!['samples', 'seed', 'params'].includes(k)) bad(`random.${quote(k)}`, 'unknown key (known here: samples, seed, params)');
      const samples = r.samples;
      if (!Number.isInteger(samples) || (samples as number) < 1 || (samples as number) > HARD_RUN_LIMIT) bad('random.samples', `must be a whole number from 1 to ${HARD_RUN_LIMIT}, got ${JSON.stringify(samples)}`);
      const seed = r.seed ?? 0;
      if (!Number.isInteger(seed) || (seed as number) < 0) bad('random.seed', `must be a whole number ≥ 0, got ${JSON.stringify(seed)}`);
      const params: Record<string, Distribution> = {};
      if (!isObject(r.params) || !Object.keys(r.params).length) bad('random.params', 'must map at least one config key path to a distribution');
      else
        for (const [key, d] of Object.entries(r.params)) {
          const at = `random.params.${quote(key)}`;
          if (isObject(grid) && key in grid) bad(at, 'is also a grid axis; sweep a key in one place only');
          const dist = checkDistribution(d, at, bad);
          if (dist) params[key] = dist;
        }
      random = { samples: samples as number, seed: seed as number, params };
    }
  }
  if (raw.jobs !== undefined && (!Number.isInteger(raw.jobs) || (raw.jobs as number) < 1 || (raw.jobs as number) > 64)) bad('jobs', `must be a whole number from 1 to 64, got ${JSON.stringify(raw.jobs)}`);
  let view: SweepView | undefined;
  if (raw.view !== undefined) {
    if (!isObject(raw.view)) bad('view', 'must be an object { "rows", "columns", "metric", "rowAverage" }');
    else {
      const v = raw.view;
      const axes = [...Object.keys(isObject(grid) ? grid : {}), ...(isObject(grid) ? derivedAxes(grid).map((a) => a.name) : []), ...Object.keys(random?.params ?? {})];
      for (const k of Object.keys(v)) if (!['rows', 'columns', 'metric', 'rowAverage'].includes(k)) bad(`view.${quote(k)}`, 'unknown key (known here: rows, columns, metric, rowAverage)');
      for (const k of ['rows', 'columns'] as const)
        if (v[k] !== undefined && (typeof v[k] !== 'string' || !axes.includes(v[k]))) bad(`view.${k}`, `must name an axis of the sweep (${axes.join(', ') || 'there are none'}), got ${JSON.stringify(v[k])}`);
      if (v.metric !== undefined && !METRICS.includes(v.metric as SweepMetric)) bad('view.metric', `must be one of ${METRICS.join(', ')}; got ${JSON.stringify(v.metric)}`);
      if (v.rowAverage !== undefined && typeof v.rowAverage !== 'boolean') bad('view.rowAverage', 'must be true or false');
      view = v as SweepView;
    }
  }
  if (problems.length) return { problems };
  return {
    spec: {
      name: typeof raw.name === 'string' ? raw.name.trim() : fallbackName,
      ...(typeof raw.description === 'string' ? { description: raw.description } : {}),
      base: base as Record<string, unknown>,
      grid: grid as Record<string, unknown[]>,
      ...(random ? { random } : {}),
      ...(raw.jobs !== undefined ? { jobs: raw.jobs as number } : {}),
      ...(view ? { view } : {}),
    },
    problems,
  };
}

function checkDistribution(d: unknown, at: string, bad: (path: string, message: string) => void): Distribution | undefined {
  const kinds = ['uniform', 'log-uniform', 'int-uniform', 'choice'];
  if (!isObject(d) || !kinds.includes(d.distribution as string)) {
    bad(`${at}.distribution`, `must be one of ${kinds.join(', ')}; got ${JSON.stringify(isObject(d) ? d.distribution : d)}`);
    return undefined;
  }
  if (d.distribution === 'choice') {
    if (!Array.isArray(d.values) || !d.values.length) bad(`${at}.values`, 'must be a non-empty list');
    else return { distribution: 'choice', values: d.values };
    return undefined;
  }
  const { min, max } = d as { min: unknown; max: unknown };
  let ok = true;
  for (const [k, v] of [['min', min], ['max', max]] as const)
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      bad(`${at}.${k}`, `must be a number, got ${JSON.stringify(v)}`);
      ok = false;
    }
  if (!ok) return undefined;
  if ((min as number) >= (max as number)) {
    bad(`${at}.min`, `must be < max (${max as number}), got ${min as number}`);
    return undefined;
  }
  if (d.distribution === 'log-uniform' && (min as number) <= 0) {
    bad(`${at}.min`, `must be > 0 for a log-uniform distribution, got ${min as number}`);
    return undefined;
  }
  if (d.distribution === 'int-uniform' && !(Number.isInteger(min) && Number.isInteger(max))) {
    bad(`${at}.min`, 'min and max must be whole numbers for int-uniform');
    return undefined;
  }
  return { distribution: d.distribution as 'uniform', min: min as number, max: max as number };
}

/** Runs the sweep makes, counted without expanding it. */
export function countRuns(spec: SweepSpec): number {
  return Object.values(spec.grid).reduce((n, values) => n * values.length, 1) * (spec.random?.samples ?? 1);
}

/** mulberry32: a tiny seeded PRNG, so a random sweep expands to the same runs every time. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function draw(d: Distribution, u: number): unknown {
  switch (d.distribution) {
    case 'uniform':
      return Number((d.min + u * (d.max - d.min)).toPrecision(6));
    case 'log-uniform':
      return Number(Math.exp(Math.log(d.min) + u * (Math.log(d.max) - Math.log(d.min))).toPrecision(4));
    case 'int-uniform':
      return d.min + Math.min(d.max - d.min, Math.floor(u * (d.max - d.min + 1)));
    case 'choice':
      return d.values[Math.min(d.values.length - 1, Math.floor(u * d.values.length))];
  }
}

/** JSON copy: sweep values are JSON by construction, and a copy keeps one run's config from aliasing another's. */
const copy = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

/**
 * Expands a sweep file into its runs, each a validated, fully resolved run config; throws SweepError with
 * every problem (at its key path in the sweep file) when any run config is invalid, or the sweep is empty
 * or larger than HARD_RUN_LIMIT. Nothing is written anywhere: the caller records the runs only on success.
 */
export function expandSweep(raw: unknown, fallbackName = 'sweep'): ExpandedSweep {
  const { spec, problems } = parseSweep(raw, fallbackName);
  if (!spec) throw new SweepError(problems);
  const total = countRuns(spec);
  if (total > HARD_RUN_LIMIT) throw new SweepError([{ path: 'grid', message: `makes ${total} runs; a sweep makes at most ${HARD_RUN_LIMIT}` }]);
  const gridKeys = Object.keys(spec.grid);
  const axes: SweepAxis[] = gridKeys.map((k) => {
    const placesOn = [...new Set(spec.grid[k].flatMap((v) => (isNamed(v) && v.axes ? Object.keys(v.axes) : [])))];
    return { name: k, kind: spec.grid[k].every(isNamed) ? 'named' : 'grid', labels: spec.grid[k].map(labelOf), ...(placesOn.length ? { placesOn } : {}) };
  });
  for (const d of derivedAxes(spec.grid)) axes.push({ name: d.name, kind: 'derived', labels: d.labels });
  const randomKeys = Object.keys(spec.random?.params ?? {});
  for (const k of randomKeys) axes.push({ name: k, kind: 'random' });
  const samples: Record<string, unknown>[] = [];
  if (spec.random) {
    const rand = prng(spec.random.seed * 2654435761 + 1);
    for (let s = 0; s < spec.random.samples; s++) samples.push(Object.fromEntries(randomKeys.map((k) => [k, draw(spec.random!.params[k], rand())])));
  } else samples.push({});

  // Problems by message, with where they came from and how many runs had them.
  const found = new Map<string, { problem: ConfigProblem; runs: number }>();
  const note = (path: string, message: string) => {
    const key = `${path}\0${message}`;
    const f = found.get(key);
    if (f) f.runs++;
    else found.set(key, { problem: { path, message }, runs: 1 });
  };
  const runs: SweepRun[] = [];
  const point = new Array<number>(gridKeys.length).fill(0);
  for (let g = 0; g < Math.max(1, total / samples.length); g++) {
    for (const sample of samples) {
      const config = copy(spec.base);
      // Where each config key path of this run was set: its sweep-file path, for the messages.
      const origin = new Map<string, string>();
      const axisValues: Record<string, AxisValue> = {};
      gridKeys.forEach((k, a) => {
        const v = spec.grid[k][point[a]];
        const at = `grid.${quote(k)}[${point[a]}]`;
        if (isNamed(v)) {
          for (const [p, pv] of Object.entries(v.set)) {
            setPath(config, p, copy(pv));
            origin.set(p, `${at}.set.${quote(p)}`);
          }
          axisValues[k] = v.label;
          for (const [d, x] of Object.entries(v.axes ?? {})) axisValues[d] = x;
        } else {
          setPath(config, k, copy(v));
          origin.set(k, at);
          axisValues[k] = typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? v : labelOf(v);
        }
      });
      for (const [k, v] of Object.entries(sample)) {
        setPath(config, k, copy(v));
        origin.set(k, `random.params.${quote(k)}`);
        axisValues[k] = typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? v : labelOf(v);
      }
      if (config.name === undefined) {
        const derived = new Set(derivedAxes(spec.grid).map((d) => d.name));
        const label = Object.entries(axisValues)
          .filter(([k]) => !derived.has(k))
          .map(([k, v]) => `${k.split('.').pop()}=${labelOf(v)}`)
          .join(' ');
        config.name = label ? `${spec.name} · ${label}` : spec.name;
      }
      const resolved = resolveConfig(config);
      if (resolved.config) runs.push({ index: runs.length, config: resolved.config, axisValues });
      else
        for (const p of resolved.problems) {
          // The longest config path set by an axis that the problem's path is at or below.
          let from: string | undefined;
          let best = -1;
          for (const [cp, at] of origin)
            if ((p.path === cp || p.path.startsWith(`${cp}.`)) && cp.length > best) {
              from = at;
              best = cp.length;
            }
          if (from) note(from, `${p.message} (${p.path})`);
          else note(p.path === '(config)' ? 'base' : `base.${p.path}`, p.message);
        }
    }
    // Next grid point: the last axis varies fastest.
    for (let a = gridKeys.length - 1; a >= 0; a--) {
      if (++point[a] < spec.grid[gridKeys[a]].length) break;
      point[a] = 0;
    }
  }
  if (found.size) throw new SweepError([...found.values()].map(({ problem, runs: n }) => (n > 1 ? { ...problem, message: `${problem.message} (in ${n} runs)` } : problem)));
  if (!runs.length) throw new SweepError([{ path: 'grid', message: 'makes no runs' }]);
  return { spec, axes, runs };
}

/** Dotted key paths a run config accepts (for any method), for the sweep schema's grid completion. */
export function configKeyPaths(): string[] {
  const out = new Set<string>();
  const walk = (f: FieldSpec, prefix: string) => {
    if (f.kind === 'object') for (const [k, c] of Object.entries(f.fields)) walk(c, prefix ? `${prefix}.${k}` : k);
    else out.add(prefix);
  };
  for (const m of METHOD_IDS) walk(configSpecFor(m), '');
  return [...out].sort();
}

/** JSON schema of `*.clsweep.json` for the editor: base is a run config; grid keys complete to config paths. */
export function sweepJsonSchema(runSchemaUrl = './clrun.schema.json'): Record<string, unknown> {
  const paths = configKeyPaths();
  const dist = {
    type: 'object',
    required: ['distribution'],
    properties: {
      distribution: { enum: ['uniform', 'log-uniform', 'int-uniform', 'choice'] },
      min: { type: 'number' },
      max: { type: 'number' },
      values: { type: 'array', minItems: 1 },
    },
  };
  const named = {
    type: 'object',
    required: ['label', 'set'],
    additionalProperties: false,
    properties: {
      label: { type: 'string' },
      set: { type: 'object', propertyNames: { enum: paths }, description: 'Config key paths and the values this named value gives them.' },
      axes: { type: 'object', additionalProperties: { type: ['string', 'number'] }, description: 'Where this value sits on other axes of the view (e.g. { "first": "crop", "second": "color" }).' },
    },
  };
  const axisValues = { type: 'array', minItems: 1, description: 'The values this axis takes (one run per value and per point of the other axes).' };
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: 'Contrastive Lab sweep',
    type: 'object',
    additionalProperties: false,
    properties: {
      $schema: { type: 'string' },
      name: { type: 'string', description: 'The sweep’s name, shown in the Runs view; runs are named after it and their axis values.' },
      description: { type: 'string' },
      base: { $ref: runSchemaUrl, description: 'The run config every run of the sweep starts from (any key a *.clrun.json accepts).' },
      grid: {
        type: 'object',
        description: 'Config key paths (e.g. "optimizer.lr", "seed") → lists of values; the sweep runs every combination. A key that is not a config path names an axis whose values are { "label", "set": { path: value } }.',
        properties: Object.fromEntries(paths.map((p) => [p, { ...axisValues, items: toItemSchema(p) }])),
        additionalProperties: { type: 'array', minItems: 1, items: named },
      },
      random: {
        type: 'object',
        additionalProperties: false,
        required: ['samples', 'params'],
        properties: {
          samples: { type: 'integer', minimum: 1, description: 'Random draws, each combined with every grid point.' },
          seed: { type: 'integer', minimum: 0, default: 0 },
          params: { type: 'object', propertyNames: { enum: paths }, additionalProperties: dist },
        },
      },
      jobs: { type: 'integer', minimum: 1, maximum: 64, description: 'How many runs of this sweep train at the same time.' },
      view: {
        type: 'object',
        additionalProperties: false,
        properties: {
          rows: { type: 'string', description: 'The axis on the heatmap’s rows.' },
          columns: { type: 'string', description: 'The axis on the heatmap’s columns.' },
          metric: { enum: [...METRICS], description: 'What the heatmap shows: linear probe, last or best kNN accuracy, or collapse.' },
          rowAverage: { type: 'boolean', description: 'A column with each row’s mean.' },
        },
      },
    },
  };
}

function toItemSchema(path: string): Record<string, unknown> {
  // The shared fields have one spec whatever the method; method-dependent ones (params, augment) are checked on expansion.
  let f: FieldSpec | undefined = configSpecFor('simclr');
  for (const k of path.split('.')) f = f?.kind === 'object' ? f.fields[k] : undefined;
  if (!f || path.startsWith('params.') || path.startsWith('augment.')) return {};
  const { description: _d, default: _def, ...rest } = toJsonSchema(f) as Record<string, unknown>;
  return rest;
}
