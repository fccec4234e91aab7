/**
 * `npm run bench`: training throughput (views/s, augmentation included) of the default encoder on every
 * backend that loads here, and — where Debian's python3-torch is installed — the PyTorch peer
 * (scripts/torch_peer.py) with the same architecture, method, batch and optimizer, run in the same
 * invocation so the ratio compares like with like on the same machine state.
 *
 *   npm run bench -- [--method simclr|…|all] [--batch 256] [--steps 10] [--warmup 2] [--backends webgpu,wasm]
 *                    [--threads 1,2] [--peer-threads 1,2] [--peer PATH | --no-peer] [--peer-device cpu|cuda]
 *                    [--python /usr/bin/python3] [--train-size 60000] [--json]
 *
 * --warmup steps are not timed: on webgpu they compile the shaders (each kernel and shape once), which
 * the "warm-up" column reports separately. --peer-device cuda runs the peer on the GPU (torch with CUDA).
 *
 * --method: SimCLR by default; a comma-separated list or `all` benches each method with its own default
 * config (the peer exists for simclr, mocov1/mocov2 (its `moco`), byol and simsiam). Each row also gives
 * the projected time of one epoch of a --train-size training set (default 60,000: full Fashion-MNIST) at
 * that speed — which is what a 10-epoch measurement costs here. Memory banks are sized for --train-size.
 *
 * --threads: training threads for wasm (data-parallel, src/engine/parallel); each count is one row.
 * Default: 1 and the number of CPU cores.
 * --peer-threads: torch.set_num_threads for the peer, each count one row (default: the number of cores).
 * On a loaded machine PyTorch's 2-thread run loses most (its OpenMP threads wait for each other), so
 * compare a 1-thread row too before reading much into the ratio.
 */
import * as tf from '@tensorflow/tfjs-core';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { resolveConfig, type BackendChoice } from './core/config';
import { initBackend } from './engine/backend';
import { channelStats } from './engine/batches';
import { loadDataset } from './data/datasets';
import { Rng } from './core/rng';
import { CONVNET_PRESETS } from './engine/models/encoder';
import { METHOD_IDS } from './core/methods';
import { methodDefinition } from './engine/methods';
import { methodOptimizer } from './engine/optim';
import { DATA_PARALLEL_METHODS, startDataParallel } from './engine/parallel/data-parallel';
import { makeViews, trainStep } from './engine/step';

const { values } = parseArgs({
  options: {
    method: { type: 'string', default: 'simclr' },
    'train-size': { type: 'string', default: '60000' },
    batch: { type: 'string', default: '256' },
    steps: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    backends: { type: 'string', default: 'tfjs-node-gpu,webgpu,tfjs-node,wasm,cpu' },
    'cpu-steps': { type: 'string', default: '1' },
    'cpu-batch': { type: 'string', default: '32' },
    threads: { type: 'string' },
    'peer-threads': { type: 'string' },
    peer: { type: 'string' },
    'peer-device': { type: 'string', default: 'cpu' },
    'no-peer': { type: 'boolean', default: false },
    python: { type: 'string', default: '/usr/bin/python3' },
    json: { type: 'boolean', default: false },
  },
});

interface Result {
  method: string;
  backend: string;
  device?: string;
  threads?: number;
  batch: number;
  steps: number;
  viewsPerSecond?: number;
  msPerStep?: number;
  /** The untimed warm-up steps' wall time (ms): shader compilation on webgpu. */
  warmupMs?: number;
  /** Process CPU time per step (all threads): what the step costs, whatever share of the machine it got. */
  cpuMsPerStep?: number;
  /** One epoch of --train-size images at this speed (wall, and on one idle core from the CPU time). */
  epochSeconds?: number;
  epochCpuSeconds?: number;
  error?: string;
}

/** The peer's name for a method, where torch_peer.py has it. */
const PEER_METHOD: Record<string, string> = { simclr: 'simclr', mocov1: 'moco', mocov2: 'moco', byol: 'byol', simsiam: 'simsiam' };

async function benchBackend(methodId: string, choice: BackendChoice, batch: number, steps: number, warmup: number, threads = 1): Promise<Result> {
  let info;
  try {
    info = await initBackend(choice);
  } catch (e) {
    return { method: methodId, backend: choice, batch, steps, error: (e as Error).message.split('\n')[0] };
  }
  const config = resolveConfig({ method: methodId, recipe: 'paper', batchSize: batch, backend: choice, threads }).config!;
  const data = loadDataset('builtin');
  const stats = channelStats(data.train);
  // Sized like the training set the projection is for (InstDisc's and CMC's memory banks scale with it).
  const trainSize = Math.max(data.train.count, Number(values['train-size']));
  const method = methodDefinition(methodId).create({ config, inputShape: [28, 28, 1], trainSize, totalSteps: steps + warmup, rng: new Rng(0), inputStats: stats });
  const vars = method.trainableVariables();
  const optimizer = methodOptimizer(config.optimizer, method);
  const parallel = await startDataParallel({ config, backend: info.backend, method, inputShape: [28, 28, 1], trainSize, totalSteps: steps + warmup, batchSize: batch });
  const rng = new Rng(1);
  const views = [config.augment.view1, config.augment.view2];
  const tWarm = performance.now();
  let t0 = 0;
  let cpu0 = 0;
  const cpuMs = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  for (let s = 0; s < warmup + steps; s++) {
    if (s === warmup) {
      t0 = performance.now();
      cpu0 = cpuMs();
    }
    // Random batches from the built-in set, as the peer draws random batches from Fashion-MNIST.
    const indices = Int32Array.from({ length: batch }, () => rng.int(data.train.count));
    const { views: v, draws } = makeViews(data.train, indices, views, stats, (k) => rng.fork(s * 8 + k));
    const b = { views: v, draws, indices, step: s, epoch: 1, progress: 0 };
    await (parallel ? parallel.step(method, vars, optimizer, b, config.optimizer.lr) : trainStep(method, vars, optimizer, b, config.optimizer.lr));
    tf.dispose(v);
  }
  const dt = (performance.now() - t0) / 1000;
  const warmupMs = warmup > 0 ? t0 - tWarm : undefined;
  const cpuMsPerStep = (cpuMs() - cpu0) / steps;
  await parallel?.close();
  optimizer.dispose();
  method.dispose();
  const stepsPerEpoch = Math.floor(Number(values['train-size']) / batch);
  return {
    method: methodId,
    backend: info.backend,
    device: info.device,
    threads: parallel?.threads ?? 1,
    batch,
    steps,
    viewsPerSecond: (2 * batch * steps) / dt,
    msPerStep: (1000 * dt) / steps,
    warmupMs,
    cpuMsPerStep,
    epochSeconds: (stepsPerEpoch * dt) / steps,
    epochCpuSeconds: (stepsPerEpoch * cpuMsPerStep) / 1000,
  };
}

function runPeer(methodId: string, batch: number, steps: number, warmup: number, threads: number): Result & { torch?: string } {
  const script = values.peer ?? resolve(__dirname, '..', 'scripts', 'torch_peer.py');
  const base = { method: methodId, backend: 'pytorch (peer)', threads, batch, steps };
  if (!existsSync(script)) return { ...base, error: `peer script not found at ${script} (pass --peer PATH)` };
  if (!existsSync(values.python!)) return { ...base, error: `${values.python} not found` };
  const arch = JSON.stringify({ convs: CONVNET_PRESETS.small, bn: true });
  const args = [script, '--method', PEER_METHOD[methodId], '--arch', arch, '--proj', '256,128', '--batch', String(batch), '--steps', String(steps), '--warmup', String(warmup), '--threads', String(threads), '--data', 'fmnist', '--data-dir', resolve(__dirname, '..', 'data', 'builtin'), '--device', values['peer-device']!];
  const r = spawnSync(values.python!, args, { encoding: 'utf8', timeout: 30 * 60_000 });
  if (r.status !== 0) return { ...base, error: (r.stderr || r.error?.message || 'failed').trim().split('\n').pop() };
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { views_per_s: number; ms_per_step: number; torch: string; threads: number; device?: string };
  const epochSeconds = (Math.floor(Number(values['train-size']) / batch) * out.ms_per_step) / 1000;
  return { ...base, device: out.device && out.device !== 'cpu' ? `GPU (${out.device}), torch ${out.torch}` : `CPU, ${out.threads} threads, torch ${out.torch}`, viewsPerSecond: out.views_per_s, msPerStep: out.ms_per_step, torch: out.torch, epochSeconds };
}

async function main(): Promise<void> {
  const batch = Number(values.batch);
  const steps = Number(values.steps);
  const warmup = Number(values.warmup);
  const methods = values.method === 'all' ? METHOD_IDS : values.method!.split(',');
  const unknown = methods.filter((m) => !METHOD_IDS.includes(m));
  if (unknown.length) throw new Error(`unknown method ${unknown.join(', ')} (known: ${METHOD_IDS.join(', ')}, or all)`);
  const results: Result[] = [];
  const ratios: { method: string; ratio: number; best: Result }[] = [];
  const threadCounts = [...new Set((values.threads ?? `1,${cpus().length}`).split(',').map(Number))];
  for (const m of methods) {
    const ours: Result[] = [];
    for (const b of values.backends!.split(',') as BackendChoice[]) {
      const small = b === 'cpu';
      // Data-parallel threads only for wasm and the methods that have it: the native backends thread by
      // themselves, cpu is too slow to matter.
      for (const threads of b === 'wasm' && DATA_PARALLEL_METHODS.has(m) ? threadCounts : [1]) {
        const r = await benchBackend(m, b, small ? Number(values['cpu-batch']) : batch, small ? Number(values['cpu-steps']) : steps, small ? 0 : warmup, threads);
        ours.push(r);
        process.stderr.write(`${m} ${r.backend}${threads > 1 ? ` ×${threads} threads` : ''}: ${r.error ?? `${r.viewsPerSecond!.toFixed(1)} views/s (${r.msPerStep!.toFixed(0)} ms/step, batch ${r.batch})`}\n`);
      }
    }
    results.push(...ours);
    if (!PEER_METHOD[m] || values['no-peer']) continue;
    const peers = [...new Set((values['peer-threads'] ?? String(cpus().length)).split(',').map(Number))].map((threads) => {
      const peer = runPeer(m, batch, steps, warmup, threads);
      process.stderr.write(`${m} ${peer.backend} ×${threads} threads: ${peer.error ?? `${peer.viewsPerSecond!.toFixed(1)} views/s`}\n`);
      return peer;
    });
    results.push(...peers);
    const peer = peers.filter((p) => p.viewsPerSecond).sort((a, b) => b.viewsPerSecond! - a.viewsPerSecond!)[0];
    const best = ours.filter((r) => r.viewsPerSecond).sort((a, b) => b.viewsPerSecond! - a.viewsPerSecond!)[0];
    if (peer && best) ratios.push({ method: m, ratio: best.viewsPerSecond! / peer.viewsPerSecond!, best });
  }
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.versions.node}`;
  if (values.json) {
    const ratioToPeer = ratios.length === 1 ? ratios[0].ratio : null;
    process.stdout.write(`${JSON.stringify({ machine, methods, encoder: 'small', trainSize: Number(values['train-size']), results, ratios: ratios.map(({ method, ratio }) => ({ method, ratio })), ratioToPeer })}\n`);
    return;
  }
  process.stdout.write(`\nTraining throughput, encoder 'small' (conv 32/1, 64/2, 128/2 + BN), each method's default config, augmentation included\nmachine: ${machine}\n`);
  process.stdout.write(`epoch = ${Math.floor(Number(values['train-size']) / batch)} steps of ${batch} (--train-size ${values['train-size']}); "on one idle core" = from the CPU time\n\n`);
  process.stdout.write(`| method | backend | device | threads | batch | views/s | ms/step | warm-up | CPU ms/step | epoch (wall) | epoch on one idle core |\n|---|---|---|---|---|---|---|---|---|---|---|\n`);
  const secs = (s?: number) => (s === undefined ? '-' : `${s.toFixed(0)} s`);
  for (const r of results)
    process.stdout.write(
      `| ${r.method} | ${r.backend} | ${r.device ?? '-'} | ${r.threads ?? '-'} | ${r.batch} | ${r.viewsPerSecond?.toFixed(1) ?? `n/a (${r.error})`} | ${r.msPerStep?.toFixed(0) ?? '-'} | ${r.warmupMs === undefined ? '-' : `${(r.warmupMs / 1000).toFixed(1)} s`} | ${r.cpuMsPerStep?.toFixed(0) ?? '-'} | ${secs(r.epochSeconds)} | ${secs(r.epochCpuSeconds)} |\n`,
    );
  for (const { method, ratio, best } of ratios) process.stdout.write(`\n${method}: ratio ${best.backend}${(best.threads ?? 1) > 1 ? ` ×${best.threads} threads` : ''} / best PyTorch peer row: ${ratio.toFixed(3)}×`);
  process.stdout.write(ratios.length ? '\n' : '\nno ratio: the peer did not run or has none of these methods\n');
}

void main().catch((e: unknown) => {
  process.stderr.write(`bench: ${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 1;
});
