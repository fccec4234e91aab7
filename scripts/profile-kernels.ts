/**
 * Where a training step's CPU goes, kernel by kernel: wraps every registered kernel of the backend, runs
 * real training steps of a method (default config unless `--set`s say otherwise) on the built-in images,
 * and prints each kernel's CPU time, wall time and calls per step, the largest first. The first step
 * (operator set-up, warm-up) is not counted. CPU time is the number to compare on a loaded machine.
 *
 *   node --import tsx scripts/profile-kernels.ts --method dim [--steps 2] [--batch 256] [--train-size 60000]
 *        [--set key.path=value …] [--shapes Conv2D,BatchMatMul] [--subnormals BatchMatMul] [--backend wasm]
 *   node --import tsx scripts/profile-kernels.ts --db runs.db --run 17 [--subnormals …]
 *
 * `--db/--run` profiles a recorded run's config from its latest resume state (its weights, optimizer slots
 * and memory banks as trained), since a trained network's values, unlike the initial ones, can drift into
 * subnormal floats.
 *
 * `--train-size` sizes memory banks as for full Fashion-MNIST (60,000) although the images are the
 * built-in ones. `--shapes` prints every call of those kernels with its input shapes, attributes and CPU
 * ms; `--subnormals` counts the subnormal floats (0 < |x| < 2⁻¹²⁶) in their inputs, which wasm computes
 * with tens of times slower on x86 (see losses/subnormal.ts). Not a benchmark of the step (`npm run bench` is).
 */
import * as tf from '@tensorflow/tfjs-core';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { rawTrainConfig } from '../src/cli/train-args';
import { formatProblems, resolveConfig, type RunConfig } from '../src/core/config';
import { initBackend } from '../src/engine/backend';
import { channelStats } from '../src/engine/batches';
import { loadDataset } from '../src/data/datasets';
import { Rng } from '../src/core/rng';
import { MIN_NORMAL_F32 } from '../src/engine/losses/subnormal';
import { methodDefinition } from '../src/engine/methods';
import { methodOptimizer } from '../src/engine/optim';
import { loadResumeState } from '../src/engine/resume';
import { makeViews, trainStep } from '../src/engine/step';
import { latestResumeState, resumeFolder } from '../src/store/resume';
import { RunStore } from '../src/store/store';

export interface KernelTime {
  kernel: string;
  cpuMs: number;
  wallMs: number;
  calls: number;
}

export interface ProfileOptions {
  method: string;
  sets?: string[];
  steps?: number;
  batch?: number;
  trainSize?: number;
  /** Kernels whose every call is reported (shapes, attributes, CPU ms) through `report`. */
  shapes?: string[];
  /** Kernels whose inputs are scanned for subnormal floats, reported through `report`. */
  subnormals?: string[];
  /** A recorded config to profile instead of `method` and `sets`, and the resume state to start from. */
  run?: { config: RunConfig; stateDir?: string };
  report?: (line: string) => void;
}

/** Subnormal entries of a float array: not zero, smaller in magnitude than the smallest normal float32. */
export function countSubnormals(values: ArrayLike<number>): number {
  let count = 0;
  for (let i = 0; i < values.length; i++) {
    const a = Math.abs(values[i]);
    if (a !== 0 && a < MIN_NORMAL_F32) count++;
  }
  return count;
}

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

type KernelArgs = { inputs: Record<string, tf.TensorInfo>; attrs?: Record<string, unknown> };

/**
 * Per-step time of each kernel over `steps` training steps after one uncounted step, and the whole step's
 * CPU and wall time. Wraps the current backend's kernels for the duration and restores them after.
 */
export async function profileKernels(o: ProfileOptions): Promise<{ stepCpuMs: number; stepWallMs: number; kernels: KernelTime[] }> {
  const steps = o.steps ?? 2;
  const batch = o.run?.config.batchSize ?? o.batch ?? 256;
  const report = o.report ?? (() => {});
  const config = o.run?.config ?? resolvedConfig(o.method, o.sets ?? [], batch);
  const backendName = tf.getBackend();
  const acc = new Map<string, { cpu: number; wall: number; n: number }>();
  const restore: (() => void)[] = [];
  let depth = 0; // a kernel that calls another through the registry is counted once, as the outer one
  for (const k of tf.getKernelsForBackend(backendName)) {
    const inner = k.kernelFunc;
    const registered = k as { kernelFunc: typeof inner };
    registered.kernelFunc = (args) => {
      if (depth > 0) return inner(args);
      depth++;
      const c0 = cpuMs();
      const t0 = performance.now();
      try {
        return inner(args);
      } finally {
        depth--;
        const dc = cpuMs() - c0;
        const a = acc.get(k.kernelName) ?? { cpu: 0, wall: 0, n: 0 };
        a.cpu += dc;
        a.wall += performance.now() - t0;
        a.n++;
        acc.set(k.kernelName, a);
        const { inputs, attrs } = args as unknown as KernelArgs;
        const shapes = JSON.stringify(Object.values(inputs).map((t) => t.shape));
        if (o.shapes?.includes(k.kernelName)) report(`${k.kernelName} ${shapes} ${JSON.stringify(attrs ?? {})} ${dc.toFixed(1)} CPU-ms`);
        if (o.subnormals?.includes(k.kernelName)) {
          const backend = tf.engine().backend;
          const counts = Object.values(inputs).map((t) => (t.dtype === 'float32' ? `${countSubnormals(backend.readSync(t.dataId) as Float32Array)}/${tf.util.sizeFromShape(t.shape)}` : '-'));
          report(`${k.kernelName} ${shapes} subnormal inputs ${counts.join(' ')}, ${dc.toFixed(1)} CPU-ms`);
        }
      }
    };
    restore.push(() => (registered.kernelFunc = inner));
  }
  try {
    const data = loadDataset('builtin');
    const stats = channelStats(data.train);
    const [h, w, c] = [data.train.height, data.train.width, data.train.channels];
    const method = methodDefinition(config.method).create({ config, inputShape: [h, w, c], trainSize: o.trainSize ?? 60000, inputStats: stats, totalSteps: 100, rng: new Rng(0) });
    const vars = method.trainableVariables();
    const optimizer = methodOptimizer(config.optimizer, method);
    if (o.run?.stateDir) loadResumeState(o.run.stateDir, method, optimizer);
    const rng = new Rng(1);
    let wall = 0;
    let cpu = 0;
    for (let s = 0; s <= steps; s++) {
      if (s === 1) acc.clear();
      const c0 = cpuMs();
      const t0 = performance.now();
      // Indices up to trainSize: memory banks are addressed by them; the images repeat the built-in ones.
      const indices = Int32Array.from({ length: batch }, () => rng.int(data.train.count));
      const { views, draws } = makeViews(data.train, indices, [config.augment.view1, config.augment.view2], stats, (k) => rng.fork(s * 8 + k));
      await trainStep(method, vars, optimizer, { views, draws, indices, step: s, epoch: 1, progress: 0 }, config.optimizer.lr);
      tf.dispose(views);
      if (s > 0) {
        wall += performance.now() - t0;
        cpu += cpuMs() - c0;
      }
    }
    optimizer.dispose();
    method.dispose();
    const kernels = [...acc].map(([kernel, a]) => ({ kernel, cpuMs: a.cpu / steps, wallMs: a.wall / steps, calls: a.n / steps })).sort((a, b) => b.cpuMs - a.cpuMs);
    return { stepCpuMs: cpu / steps, stepWallMs: wall / steps, kernels };
  } finally {
    for (const r of restore) r();
  }
}

function resolvedConfig(method: string, sets: string[], batch: number): RunConfig {
  const resolved = resolveConfig({ batchSize: batch, ...rawTrainConfig({ method, set: sets }) });
  if (!resolved.config) throw new Error(formatProblems(resolved.problems));
  return resolved.config;
}

/** The run's recorded config and its newest resume state; an error naming what is missing. */
async function recordedRun(dbPath: string, runId: number): Promise<{ config: RunConfig; stateDir: string }> {
  const store = await RunStore.open(dbPath);
  try {
    const row = await store.getRun(runId);
    if (!row) throw new Error(`${dbPath} has no run ${runId}`);
    const state = latestResumeState(dbPath, runId);
    if (!state) throw new Error(`run ${runId} has no resume state in ${resumeFolder(dbPath, runId)} (it is saved at each epoch's end and when a run is stopped)`);
    return { config: row.config, stateDir: state.dir };
  } finally {
    await store.close();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      method: { type: 'string', default: 'simclr' },
      steps: { type: 'string', default: '2' },
      batch: { type: 'string', default: '256' },
      'train-size': { type: 'string', default: '60000' },
      set: { type: 'string', multiple: true, default: [] },
      shapes: { type: 'string', default: '' },
      subnormals: { type: 'string', default: '' },
      backend: { type: 'string', default: 'wasm' },
      top: { type: 'string', default: '25' },
      db: { type: 'string' },
      run: { type: 'string' },
    },
  });
  if ((values.db === undefined) !== (values.run === undefined)) throw new Error('--db and --run go together: the database and the id of the run to profile');
  if (values.run !== undefined && !/^[1-9]\d*$/.test(values.run)) throw new Error(`--run ${values.run}: a run id is a positive integer`);
  const run = values.db !== undefined ? await recordedRun(values.db, Number(values.run)) : undefined;
  const list = (s: string) => s.split(',').filter(Boolean);
  await initBackend(values.backend as 'wasm');
  const r = await profileKernels({
    method: values.method,
    sets: values.set,
    steps: Number(values.steps),
    batch: Number(values.batch),
    trainSize: Number(values['train-size']),
    shapes: list(values.shapes),
    subnormals: list(values.subnormals),
    run,
    report: (line) => console.log(line),
  });
  const method = run?.config.method ?? values.method;
  const batch = run?.config.batchSize ?? values.batch;
  if (run) console.log(`run ${values.run}'s config, from ${run.stateDir}`);
  const kernelCpu = r.kernels.reduce((s, k) => s + k.cpuMs, 0);
  console.log(`${method} on ${tf.getBackend()}, batch ${batch}: per step CPU ${r.stepCpuMs.toFixed(0)} ms (kernels ${kernelCpu.toFixed(0)}), wall ${r.stepWallMs.toFixed(0)} ms`);
  console.log(`${'kernel'.padEnd(26)} ${'CPU ms'.padStart(8)} ${'wall ms'.padStart(8)} ${'calls'.padStart(6)}`);
  for (const k of r.kernels.slice(0, Number(values.top)))
    console.log(`${k.kernel.padEnd(26)} ${k.cpuMs.toFixed(1).padStart(8)} ${k.wallMs.toFixed(1).padStart(8)} ${String(k.calls).padStart(6)}`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    console.error((e as Error).message);
    process.exit(1);
  });
}
