/**
 * A tiny declarative schema language for run configs. One tree of field specs is the single source of
 * truth for: defaults, validation (CLI, worker, extension), and the JSON schema the editor uses for
 * `*.clrun.json` completion. Hand-written because the three uses need the same tree and the messages must
 * name the config path in a researcher's terms ("optimizer.lr must be > 0"), which generic validators
 * phrase poorly; it is ~150 lines.
 */

export type FieldSpec =
  | NumberSpec
  | ({ kind: 'string'; description: string; default?: string; pattern?: string; patternHint?: string } & Legacy<string>)
  | ({ kind: 'boolean'; description: string; default: boolean } & Legacy<boolean>)
  | ({ kind: 'enum'; description: string; values: readonly string[]; default?: string; valueDescriptions?: readonly string[] } & Legacy<string>)
  | ObjectSpec;

/**
 * For a field added after runs were recorded: the value that reproduces what training did before the
 * field existed. A config holding it hashes as if the field were absent (see hashedConfig), so every run
 * recorded before keeps its config hash: the curve queue still finds it, Rerun still matches it, and it
 * still resumes. Every field added from now on needs one, unless it is meant to make old hashes stale.
 */
interface Legacy<T> {
  legacyValue?: T;
}

export interface NumberSpec extends Legacy<number> {
  kind: 'number' | 'integer';
  description: string;
  default?: number;
  min?: number;
  max?: number;
  /** Exclusive lower bound: the value must be strictly greater. */
  gt?: number;
}

export interface ObjectSpec {
  kind: 'object';
  description: string;
  fields: Record<string, FieldSpec>;
  /** Fields that have no default and must be given. */
  required?: readonly string[];
}

export interface ConfigProblem {
  /** Dotted path into the config, e.g. `optimizer.lr`. */
  path: string;
  message: string;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'object') return 'an object';
  return String(v);
}

/** Checks `value` against `spec`; returns one problem per wrong or unknown key. */
export function validateAgainst(spec: FieldSpec, value: unknown, path: string, out: ConfigProblem[]): void {
  const at = path || '(config)';
  switch (spec.kind) {
    case 'number':
    case 'integer': {
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        out.push({ path: at, message: `must be a ${spec.kind === 'integer' ? 'whole number' : 'number'}, got ${describe(value)}` });
        return;
      }
      if (spec.kind === 'integer' && !Number.isInteger(value)) out.push({ path: at, message: `must be a whole number, got ${value}` });
      if (spec.min !== undefined && value < spec.min) out.push({ path: at, message: `must be ≥ ${spec.min}, got ${value}` });
      if (spec.max !== undefined && value > spec.max) out.push({ path: at, message: `must be ≤ ${spec.max}, got ${value}` });
      if (spec.gt !== undefined && !(value > spec.gt)) out.push({ path: at, message: `must be > ${spec.gt}, got ${value}` });
      return;
    }
    case 'string':
      if (typeof value !== 'string') out.push({ path: at, message: `must be a string, got ${describe(value)}` });
      else if (spec.pattern && !new RegExp(spec.pattern).test(value))
        out.push({ path: at, message: `${spec.patternHint ?? `must match ${spec.pattern}`}, got ${describe(value)}` });
      return;
    case 'boolean':
      if (typeof value !== 'boolean') out.push({ path: at, message: `must be true or false, got ${describe(value)}` });
      return;
    case 'enum':
      if (typeof value !== 'string' || !spec.values.includes(value))
        out.push({ path: at, message: `must be one of ${spec.values.join(', ')}; got ${describe(value)}` });
      return;
    case 'object': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        out.push({ path: at, message: `must be an object, got ${describe(value)}` });
        return;
      }
      const obj = value as Record<string, unknown>;
      for (const key of Object.keys(obj)) {
        const child = spec.fields[key];
        const childPath = path ? `${path}.${key}` : key;
        if (!child) {
          out.push({ path: childPath, message: `unknown key (known here: ${Object.keys(spec.fields).join(', ')})` });
          continue;
        }
        validateAgainst(child, obj[key], childPath, out);
      }
      for (const key of spec.required ?? []) {
        if (!(key in obj)) out.push({ path: path ? `${path}.${key}` : key, message: 'is required' });
      }
    }
  }
}

/** `value` without the fields that hold their legacyValue: what the config hash is computed over. */
export function hashedConfig(spec: ObjectSpec, value: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    const f = spec.fields[key];
    if (f?.kind === 'object' && v && typeof v === 'object' && !Array.isArray(v)) out[key] = hashedConfig(f, v as Record<string, unknown>);
    else if (!(f && f.kind !== 'object' && f.legacyValue !== undefined && f.legacyValue === v)) out[key] = v;
  }
  return out;
}

/**
 * For a config recorded before some fields existed: the legacyValue of every field `value` lacks, as a
 * nested object (merged under the recorded values, it reproduces what the run trained with).
 */
export function legacyValuesOf(spec: ObjectSpec, value: Record<string, unknown> = {}): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, f] of Object.entries(spec.fields)) {
    const v = value[key];
    if (f.kind === 'object') {
      const inner = legacyValuesOf(f, v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
      if (Object.keys(inner).length) out[key] = inner;
    } else if (f.legacyValue !== undefined && !(key in value)) out[key] = f.legacyValue;
  }
  return out;
}

/** The defaults of every field that has one, as a nested object. */
export function defaultsOf(spec: ObjectSpec): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, f] of Object.entries(spec.fields)) {
    if (f.kind === 'object') out[key] = defaultsOf(f);
    else if (f.default !== undefined) out[key] = f.default;
  }
  return out;
}

/** Deep merge of plain objects: `over` wins; arrays and scalars are replaced, not merged. */
export function deepMerge<T>(base: T, over: unknown): T {
  if (typeof over !== 'object' || over === null || Array.isArray(over)) return (over === undefined ? base : over) as T;
  if (typeof base !== 'object' || base === null || Array.isArray(base)) return over as T;
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(over as Record<string, unknown>)) out[k] = deepMerge(out[k], v);
  return out as T;
}

/** JSON Schema (draft-07) for the editor's completion and diagnostics. */
export function toJsonSchema(spec: FieldSpec): Record<string, unknown> {
  switch (spec.kind) {
    case 'number':
    case 'integer': {
      const s: Record<string, unknown> = { type: spec.kind, description: spec.description };
      if (spec.default !== undefined) s.default = spec.default;
      if (spec.min !== undefined) s.minimum = spec.min;
      if (spec.max !== undefined) s.maximum = spec.max;
      if (spec.gt !== undefined) s.exclusiveMinimum = spec.gt;
      return s;
    }
    case 'string':
      return { type: 'string', description: spec.description, ...(spec.default !== undefined ? { default: spec.default } : {}), ...(spec.pattern ? { pattern: spec.pattern } : {}) };
    case 'boolean':
      return { type: 'boolean', description: spec.description, default: spec.default };
    case 'enum':
      return {
        type: 'string',
        description: spec.description,
        enum: [...spec.values],
        ...(spec.valueDescriptions ? { enumDescriptions: [...spec.valueDescriptions], markdownEnumDescriptions: [...spec.valueDescriptions] } : {}),
        ...(spec.default !== undefined ? { default: spec.default } : {}),
      };
    case 'object':
      return {
        type: 'object',
        description: spec.description,
        additionalProperties: false,
        properties: Object.fromEntries(Object.entries(spec.fields).map(([k, f]) => [k, toJsonSchema(f)])),
        ...(spec.required?.length ? { required: [...spec.required] } : {}),
      };
  }
}

/** Sets `obj.a.b.c = value` for the dotted path `a.b.c`, creating the objects on the way. */
export function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let o = obj;
  for (const k of keys.slice(0, -1)) {
    if (typeof o[k] !== 'object' || o[k] === null || Array.isArray(o[k])) o[k] = {};
    o = o[k] as Record<string, unknown>;
  }
  o[keys[keys.length - 1]] = value;
}
