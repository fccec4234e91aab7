import { readFileSync } from 'node:fs';
import { deepMerge, setPath } from '../core/spec';

/** `clab train` flags that map onto config keys; anything else goes through `--set path=value`. */
export const TRAIN_FLAGS: Record<string, { path: string; type: 'string' | 'number'; help: string }> = {
  method: { path: 'method', type: 'string', help: 'method id (simclr, …)' },
  dataset: { path: 'dataset', type: 'string', help: 'builtin | mnist | fashion-mnist | cifar10 | cifar100[-coarse] | KIND:DIR | folder:DIR' },
  'image-size': { path: 'imageSize', type: 'number', help: 'input size for folder:DIR datasets (0 = as stored)' },
  name: { path: 'name', type: 'string', help: 'run name' },
  epochs: { path: 'epochs', type: 'number', help: 'passes over the training set' },
  'batch-size': { path: 'batchSize', type: 'number', help: 'images per step' },
  seed: { path: 'seed', type: 'number', help: 'random seed' },
  backend: { path: 'backend', type: 'string', help: 'auto | tfjs-node-gpu | webgpu | tfjs-node | wasm | cpu' },
  encoder: { path: 'encoder.preset', type: 'string', help: 'tiny | small | medium | resnet18-cifar' },
  optimizer: { path: 'optimizer.name', type: 'string', help: 'sgd | adam | lars' },
  lr: { path: 'optimizer.lr', type: 'number', help: 'peak learning rate' },
  'train-limit': { path: 'trainLimit', type: 'number', help: 'use only the first N training images' },
  temperature: { path: 'params.temperature', type: 'string', help: 'the method’s temperature' },
};

/** A flag value as the config wants it: numbers stay numbers only if they parse completely. */
function parseValue(raw: string, type: 'string' | 'number' | 'auto'): unknown {
  if (type === 'string') return raw;
  const trimmed = raw.trim();
  if (type === 'number') return trimmed !== '' && Number.isFinite(Number(trimmed)) ? Number(trimmed) : raw;
  try {
    return JSON.parse(trimmed);
  } catch {
    return raw;
  }
}

export class UsageError extends Error {}

/**
 * The raw config of `clab train`: the `--config` file (if any), overridden by flags, then `--set`s.
 * Values are not validated here: resolveConfig does that, with one message per problem.
 */
export function rawTrainConfig(values: Record<string, string | string[] | boolean | undefined>): Record<string, unknown> {
  let raw: Record<string, unknown> = {};
  if (typeof values.config === 'string') {
    let text: string;
    try {
      text = readFileSync(values.config, 'utf8');
    } catch (e) {
      throw new UsageError(`cannot read config file ${values.config}: ${(e as Error).message}`);
    }
    try {
      raw = JSON.parse(text) as Record<string, unknown>;
    } catch (e) {
      throw new UsageError(`${values.config} is not valid JSON: ${(e as Error).message}`);
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new UsageError(`${values.config} must contain a JSON object`);
  }
  const over: Record<string, unknown> = {};
  for (const [flag, f] of Object.entries(TRAIN_FLAGS)) {
    const v = values[flag];
    // Temperature is numeric, but kept as 'string' in parseArgs so `--temperature abc` reaches validation.
    if (typeof v === 'string') setPath(over, f.path, parseValue(v, flag === 'temperature' ? 'number' : f.type));
  }
  const sets = values.set;
  for (const s of Array.isArray(sets) ? sets : typeof sets === 'string' ? [sets] : []) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new UsageError(`--set expects key.path=value, got '${s}'`);
    setPath(over, s.slice(0, eq), parseValue(s.slice(eq + 1), 'auto'));
  }
  return deepMerge(raw, over);
}
