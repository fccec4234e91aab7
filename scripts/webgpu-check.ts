/**
 * Trains each method for a few steps on wasm and on webgpu, from the same initial weights and the same
 * batches, and compares the losses step by step; on webgpu it also records the tensor count and GPU bytes
 * after every step, the refused synchronous GPU reads, the first (shader-compiling) steps' time and the
 * steady step time. Prints one JSON line per method (`--json`) or a table.
 *
 *   node --import tsx scripts/webgpu-check.ts [--methods simclr,byol|all] [--steps 3] [--warmup 1] [--batch 256]
 *        [--encoder small] [--train 0] [--test 0] [--params '{"cpc":{"patchStride":10}}'] [--json]
 *
 * Defaults are each method's default config (batch 256, encoder 'small'), as scripts/gpu-check.sh runs it
 * on a GPU. --train N uses the first N training images of the built-in set (0 = all 6000); memory banks
 * are sized for them. --params: per-method `params` overrides (JSON). The test suite (test/webgpu.test.ts) runs it on SwiftShader with a tiny config.
 * webgpu is named, so a software adapter is accepted: the device line says which adapter it was.
 */
import * as tf from '@tensorflow/tfjs-core';
import { parseArgs } from 'node:util';
import { resolveConfig, type BackendChoice } from '../src/core/config';
import { METHOD_IDS } from '../src/core/methods';
import { initBackend } from '../src/engine/backend';
import { channelStats, mapSplit } from '../src/engine/batches';
import { loadDataset, type Dataset, type Split } from '../src/data/datasets';
import { Rng } from '../src/core/rng';
import { methodDefinition } from '../src/engine/methods';
import { learningRate, methodOptimizer } from '../src/engine/optim';
import { makeViews, trainStep } from '../src/engine/step';
import { stopWebgpu, syncReadStats } from '../src/engine/webgpu';

const { values } = parseArgs({
  options: {
    methods: { type: 'string', default: 'all' },
    steps: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
    batch: { type: 'string', default: '256' },
    encoder: { type: 'string', default: 'small' },
    train: { type: 'string', default: '0' },
    test: { type: 'string', default: '0' },
    params: { type: 'string', default: '{}' },
    json: { type: 'boolean', default: false },
  },
});

export interface BackendRun {
  backend: string;
  device: string;
  losses: number[];
  /** Wall time of each step (ms), the first ones compiling shaders on webgpu. */
  stepMs: number[];
  /** After each step: live tensors, and bytes held on the GPU (webgpu only). */
  tensors: number[];
  gpuBytes: (number | null)[];
  refusedSyncReads: number;
  error?: string;
}

export interface MethodCheck {
  method: string;
  batch: number;
  encoder: string;
  wasm: BackendRun;
  webgpu: BackendRun;
  /** max over steps of |webgpu − wasm| / max(1, |wasm|). */
  maxRelDiff: number | null;
}

function cut(s: Split, count: number): Split {
  if (count <= 0 || count >= s.count) return s;
  return { ...s, count, images: s.images.subarray(0, count * s.height * s.width * s.channels), labels: s.labels.subarray(0, count) };
}

interface CheckOptions {
  steps: number;
  warmup: number;
  batch: number;
  encoder: string;
  train: number;
  test: number;
  /** Per method, `params` overrides. */
  params?: Record<string, Record<string, unknown>>;
}

async function run(backend: BackendChoice, methodId: string, data: Dataset, o: CheckOptions): Promise<BackendRun> {
  const out: BackendRun = { backend, device: '', losses: [], stepMs: [], tensors: [], gpuBytes: [], refusedSyncReads: 0 };
  let info;
  try {
    info = await initBackend(backend);
  } catch (e) {
    return { ...out, error: (e as Error).message.split('\n')[0] };
  }
  out.device = info.device;
  const params = o.params?.[methodId];
  const { config, problems } = resolveConfig({ method: methodId, batchSize: o.batch, encoder: { preset: o.encoder }, backend, seed: 0, ...(params ? { params } : {}) });
  if (!config) throw new Error(problems.map((p) => `${p.path}: ${p.message}`).join('; '));
  const train = data.train;
  const stats = channelStats(train);
  const totalSteps = o.warmup + o.steps;
  const inputShape: [number, number, number] = [train.height, train.width, train.channels];
  const method = methodDefinition(methodId).create({ config, inputShape, trainSize: train.count, totalSteps, rng: new Rng(config.seed).fork(1), inputStats: stats });
  const optimizer = methodOptimizer(config.optimizer, method);
  const refused0 = syncReadStats.refused;
  try {
    const all = Int32Array.from({ length: train.count }, (_, i) => i);
    await method.prepare?.({ trainIndices: all, mapTrain: (fn) => mapSplit(train, all, stats, fn) });
    const vars = method.trainableVariables();
    const viewParams = [config.augment.view1, config.augment.view2];
    const pick = new Rng(12345);
    const stepsPerEpoch = Math.max(1, Math.floor(train.count / o.batch));
    for (let step = 0; step < totalSteps; step++) {
      const t0 = performance.now();
      const indices = Int32Array.from({ length: o.batch }, () => pick.int(train.count));
      const { views, draws } = makeViews(train, indices, viewParams, stats, (v) => new Rng(config.seed).fork(1_000_000 + step * 8 + v));
      try {
        const lr = learningRate(config.optimizer, step, totalSteps, stepsPerEpoch);
        const loss = await trainStep(method, vars, optimizer, { views, draws, indices, step, epoch: 1, progress: step / totalSteps }, lr);
        out.losses.push(loss);
      } finally {
        tf.dispose(views);
      }
      out.stepMs.push(performance.now() - t0);
      const mem = tf.memory() as tf.MemoryInfo & { numBytesInGPU?: number };
      out.tensors.push(mem.numTensors);
      out.gpuBytes.push(mem.numBytesInGPU ?? null);
    }
  } catch (e) {
    out.error = (e as Error).message.split('\n')[0];
  } finally {
    optimizer.dispose();
    method.dispose();
  }
  out.refusedSyncReads = syncReadStats.refused - refused0;
  return out;
}

export async function checkMethods(methods: string[], o: CheckOptions, onResult?: (r: MethodCheck) => void): Promise<MethodCheck[]> {
  const full = loadDataset('builtin');
  const data: Dataset = { ...full, train: cut(full.train, o.train), test: cut(full.test, o.test) };
  const results: MethodCheck[] = [];
  for (const method of methods) {
    const wasm = await run('wasm', method, data, o);
    const webgpu = await run('webgpu', method, data, o);
    let maxRelDiff: number | null = null;
    if (!wasm.error && !webgpu.error)
      maxRelDiff = Math.max(...wasm.losses.map((l, i) => Math.abs(webgpu.losses[i] - l) / Math.max(1, Math.abs(l))));
    const r = { method, batch: o.batch, encoder: o.encoder, wasm, webgpu, maxRelDiff };
    results.push(r);
    onResult?.(r);
  }
  return results;
}

async function main(): Promise<void> {
  const methods = values.methods === 'all' ? METHOD_IDS : values.methods!.split(',');
  const unknown = methods.filter((m) => !METHOD_IDS.includes(m));
  if (unknown.length) throw new Error(`unknown method ${unknown.join(', ')} (known: ${METHOD_IDS.join(', ')}, or all)`);
  const o: CheckOptions = {
    steps: Number(values.steps),
    warmup: Number(values.warmup),
    batch: Number(values.batch),
    encoder: values.encoder!,
    train: Number(values.train),
    test: Number(values.test),
    params: JSON.parse(values.params!) as CheckOptions['params'],
  };
  if (!values.json) {
    process.stdout.write(`webgpu vs wasm: ${o.warmup} warm-up + ${o.steps} measured steps per method, batch ${o.batch}, encoder '${o.encoder}', the same initial weights and batches\n\n`);
    process.stdout.write('| method | webgpu device | warm-up (ms, shader compilation) | webgpu ms/step | webgpu views/s | wasm ms/step | max loss diff (rel.) | tensors flat | sync GPU reads |\n|---|---|---|---|---|---|---|---|---|\n');
  }
  await checkMethods(methods, o, (r) => {
    if (values.json) {
      process.stdout.write(`${JSON.stringify(r)}\n`);
      return;
    }
    const g = r.webgpu;
    const measured = (b: BackendRun) => b.stepMs.slice(o.warmup);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
    const flat = g.tensors.length > 1 && g.tensors.slice(1).every((t) => t === g.tensors[1]);
    const err = g.error ?? r.wasm.error;
    process.stdout.write(
      err
        ? `| ${r.method} | ${g.device || '-'} | failed: ${err} | | | | | | |\n`
        : `| ${r.method} | ${g.device} | ${g.stepMs.slice(0, o.warmup).map((ms) => ms.toFixed(0)).join(', ')} | ${mean(measured(g)).toFixed(1)} | ${((2 * o.batch * 1000) / mean(measured(g))).toFixed(1)} | ${mean(measured(r.wasm)).toFixed(1)} | ${r.maxRelDiff!.toExponential(2)} | ${flat ? 'yes' : `no (${g.tensors.join(' → ')})`} | ${g.refusedSyncReads} |\n`,
    );
  });
  stopWebgpu();
}

if (require.main === module)
  void main().catch((e: unknown) => {
    process.stderr.write(`webgpu-check: ${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = 1;
  });
