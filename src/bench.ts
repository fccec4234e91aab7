/**
 * `npm run bench`: SimCLR training throughput (views/s, augmentation included) of the default encoder on
 * every backend that loads here, and — where Debian's python3-torch is installed — the PyTorch peer
 * (../shared/bench/torch_peer.py) with the same architecture, method, batch and optimizer, run in the same
 * invocation so the ratio compares like with like on the same machine state.
 *
 *   npm run bench -- [--batch 256] [--steps 10] [--warmup 2] [--backends wasm,cpu] [--threads 1,2] [--peer PATH] [--json]
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
import { loadDataset } from './engine/data/datasets';
import { Rng } from './engine/data/rng';
import { CONVNET_PRESETS } from './engine/models/encoder';
import { methodDefinition } from './engine/methods';
import { createOptimizer } from './engine/optim';
import { startDataParallel } from './engine/parallel/data-parallel';
import { makeViews, trainStep } from './engine/step';

const { values } = parseArgs({
  options: {
    batch: { type: 'string', default: '256' },
    steps: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    backends: { type: 'string', default: 'tfjs-node-gpu,tfjs-node,wasm,cpu' },
    'cpu-steps': { type: 'string', default: '1' },
    'cpu-batch': { type: 'string', default: '32' },
    threads: { type: 'string' },
    'peer-threads': { type: 'string' },
    peer: { type: 'string' },
    python: { type: 'string', default: '/usr/bin/python3' },
    json: { type: 'boolean', default: false },
  },
});

interface Result {
  backend: string;
  device?: string;
  threads?: number;
  batch: number;
  steps: number;
  viewsPerSecond?: number;
  msPerStep?: number;
  /** Process CPU time per step (all threads): what the step costs, whatever share of the machine it got. */
  cpuMsPerStep?: number;
  error?: string;
}

async function benchBackend(choice: BackendChoice, batch: number, steps: number, warmup: number, threads = 1): Promise<Result> {
  let info;
  try {
    info = await initBackend(choice);
  } catch (e) {
    return { backend: choice, batch, steps, error: (e as Error).message.split('\n')[0] };
  }
  const config = resolveConfig({ method: 'simclr', batchSize: batch, backend: choice, threads }).config!;
  const data = loadDataset('builtin');
  const stats = channelStats(data.train);
  const method = methodDefinition('simclr').create({ config, inputShape: [28, 28, 1], trainSize: data.train.count, totalSteps: steps + warmup, rng: new Rng(0) });
  const vars = method.trainableVariables();
  const optimizer = createOptimizer(config.optimizer, vars);
  const parallel = await startDataParallel({ config, backend: info.backend, method, inputShape: [28, 28, 1], trainSize: data.train.count, totalSteps: steps + warmup, batchSize: batch });
  const rng = new Rng(1);
  const views = [config.augment.view1, config.augment.view2];
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
  const cpuMsPerStep = (cpuMs() - cpu0) / steps;
  await parallel?.close();
  optimizer.dispose();
  method.dispose();
  return { backend: info.backend, device: info.device, threads: parallel?.threads ?? 1, batch, steps, viewsPerSecond: (2 * batch * steps) / dt, msPerStep: (1000 * dt) / steps, cpuMsPerStep };
}

function runPeer(batch: number, steps: number, warmup: number, threads: number): Result & { torch?: string } {
  const script = values.peer ?? resolve(__dirname, '..', '..', 'shared', 'bench', 'torch_peer.py');
  const base = { backend: 'pytorch (peer)', threads, batch, steps };
  if (!existsSync(script)) return { ...base, error: `peer script not found at ${script} (pass --peer PATH)` };
  if (!existsSync(values.python!)) return { ...base, error: `${values.python} not found` };
  const arch = JSON.stringify({ convs: CONVNET_PRESETS.small, bn: true });
  const args = [script, '--method', 'simclr', '--arch', arch, '--proj', '256,128', '--batch', String(batch), '--steps', String(steps), '--warmup', String(warmup), '--threads', String(threads), '--data', 'fmnist'];
  const r = spawnSync(values.python!, args, { encoding: 'utf8', timeout: 30 * 60_000 });
  if (r.status !== 0) return { ...base, error: (r.stderr || r.error?.message || 'failed').trim().split('\n').pop() };
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { views_per_s: number; ms_per_step: number; torch: string; threads: number };
  return { ...base, device: `CPU, ${out.threads} threads, torch ${out.torch}`, viewsPerSecond: out.views_per_s, msPerStep: out.ms_per_step, torch: out.torch };
}

async function main(): Promise<void> {
  const batch = Number(values.batch);
  const steps = Number(values.steps);
  const warmup = Number(values.warmup);
  const results: Result[] = [];
  const threadCounts = [...new Set((values.threads ?? `1,${cpus().length}`).split(',').map(Number))];
  for (const b of values.backends!.split(',') as BackendChoice[]) {
    const small = b === 'cpu';
    // Data-parallel threads only for wasm: the native backends thread by themselves, cpu is too slow to matter.
    for (const threads of b === 'wasm' ? threadCounts : [1]) {
      const r = await benchBackend(b, small ? Number(values['cpu-batch']) : batch, small ? Number(values['cpu-steps']) : steps, small ? 0 : warmup, threads);
      results.push(r);
      process.stderr.write(`${r.backend}${threads > 1 ? ` ×${threads} threads` : ''}: ${r.error ?? `${r.viewsPerSecond!.toFixed(1)} views/s (${r.msPerStep!.toFixed(0)} ms/step, batch ${r.batch})`}\n`);
    }
  }
  const peers = [...new Set((values['peer-threads'] ?? String(cpus().length)).split(',').map(Number))].map((threads) => {
    const peer = runPeer(batch, steps, warmup, threads);
    results.push(peer);
    process.stderr.write(`${peer.backend} ×${threads} threads: ${peer.error ?? `${peer.viewsPerSecond!.toFixed(1)} views/s`}\n`);
    return peer;
  });
  const peer = peers.filter((p) => p.viewsPerSecond).sort((a, b) => b.viewsPerSecond! - a.viewsPerSecond!)[0] ?? peers[0];
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.versions.node}`;
  const best = results.filter((r) => r.viewsPerSecond && r.backend !== 'pytorch (peer)').sort((a, b) => b.viewsPerSecond! - a.viewsPerSecond!)[0];
  const ratio = best && peer.viewsPerSecond ? best.viewsPerSecond! / peer.viewsPerSecond : undefined;
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ machine, method: 'simclr', encoder: 'small', results, ratioToPeer: ratio ?? null })}\n`);
    return;
  }
  process.stdout.write(`\nSimCLR training throughput, encoder 'small' (conv 32/1, 64/2, 128/2 + BN), projector 256-128, Adam, augmentation included\nmachine: ${machine}\n\n`);
  process.stdout.write(`| backend | device | threads | batch | views/s | ms/step | CPU ms/step |\n|---|---|---|---|---|---|---|\n`);
  for (const r of results) process.stdout.write(`| ${r.backend} | ${r.device ?? '-'} | ${r.threads ?? '-'} | ${r.batch} | ${r.viewsPerSecond?.toFixed(1) ?? `n/a (${r.error})`} | ${r.msPerStep?.toFixed(0) ?? '-'} | ${r.cpuMsPerStep?.toFixed(0) ?? '-'} |\n`);
  if (ratio !== undefined) process.stdout.write(`\nratio ${best.backend}${(best.threads ?? 1) > 1 ? ` ×${best.threads} threads` : ''} / PyTorch peer: ${ratio.toFixed(3)}×\n`);
  else process.stdout.write(`\nno ratio: ${peer.error ?? 'no backend ran'}\n`);
}

void main().catch((e: unknown) => {
  process.stderr.write(`bench: ${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 1;
});
