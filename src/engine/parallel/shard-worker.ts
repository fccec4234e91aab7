/**
 * A data-parallel shard thread (see data-parallel.ts): its own tfjs backend and a replica of the method
 * and optimizer, started equal to rank 0's. It waits on the shared command word, and for each step reads
 * its rows of the views from shared memory and runs the same shardStep as rank 0.
 * Bundled as dist/shard.js; started with worker_threads by DataParallel.
 */
import * as tf from '@tensorflow/tfjs-core';
import { parentPort, workerData } from 'node:worker_threads';
import type { BackendChoice } from '../../core/config';
import { initBackend } from '../backend';
import { Rng } from '../../core/rng';
import { methodDefinition } from '../methods';
import type { TrainBatch } from '../methods/types';
import { methodOptimizer, stableNames } from '../optim';
import { CollectiveAborted, SabCollective } from './collective';
import { CMD, CMD_F64, CODE, commandLayout, shardStep, type ShardInit } from './data-parallel';

async function main(init: ShardInit): Promise<void> {
  const { config, rank } = init;
  await initBackend(init.backend as BackendChoice);
  const method = methodDefinition(config.method).create({ config, inputShape: init.inputShape, trainSize: init.trainSize, totalSteps: init.totalSteps, rng: new Rng(config.seed).fork(1) });
  for (const [name, v] of method.namedVariables()) {
    const values = init.params[name];
    if (values == null) throw new Error(`replica has a variable ${name} that rank 0 does not`);
    tf.tidy(() => v.assign(tf.tensor(values, v.shape, 'float32')));
  }
  if (init.methodState) method.restoreState?.(init.methodState);
  const vars = method.trainableVariables();
  const optimizer = methodOptimizer(config.optimizer, method);
  if (init.optimizer) {
    // Slots are named `<slot>/<variable>` and shaped like their variable.
    const named = method.namedVariables();
    const slots = tf.tidy(() => Object.fromEntries(Object.entries(init.optimizer!.slots).map(([key, values]) => [key, tf.tensor(values, named.get(key.slice(key.indexOf('/') + 1))?.shape, 'float32')])));
    try {
      optimizer.importState({ step: init.optimizer.step, slots }, stableNames(method));
    } finally {
      tf.dispose(Object.values(slots));
    }
  }
  const collective = new SabCollective(rank, init.layout);
  const cl = commandLayout(init.layout.size);
  const command = new Int32Array(init.command, 0, cl.int32s);
  const commandF64 = new Float64Array(init.command, cl.f64Offset, 2);
  const [h, w, c] = init.inputShape;
  const pixels = h * w * c;
  const floats = new Float32Array(init.input, 0, init.views * init.maxRows * pixels);
  const indices = new Int32Array(init.input, floats.byteLength, init.maxRows);
  // Read before saying ready: rank 0 posts the first command as soon as it hears it, and a command
  // posted between the two would be taken for the starting state and missed (a deadlock).
  let seen = Atomics.load(command, CMD.SEQ);
  parentPort!.postMessage({ type: 'ready' });
  for (;;) {
    // Blocking is fine: this thread has nothing else to do, and the step itself is synchronous.
    while (Atomics.load(command, CMD.SEQ) === seen) Atomics.wait(command, CMD.SEQ, seen, 1000);
    seen = Atomics.load(command, CMD.SEQ);
    const code = command[CMD.CODE];
    if (code === CODE.STOP) break;
    if (code === CODE.CHECK) {
      const flat = new Float32Array(vars.reduce((n, v) => n + v.size, 0));
      let at = 0;
      for (const v of vars) {
        flat.set(v.dataSync() as Float32Array, at);
        at += v.size;
      }
      collective.allGather(flat);
      continue;
    }
    if (code !== CODE.STEP) throw new Error(`unknown command ${code}`);
    const rows = command[CMD.ROWS + rank];
    const views = Array.from({ length: init.views }, (_, v) =>
      tf.tensor4d(floats.slice(v * init.maxRows * pixels, (v * init.maxRows + rows) * pixels), [rows, h, w, c]),
    );
    // No augmentation draws: the methods that run data-parallel do not read them.
    const batch: TrainBatch = { views, draws: [], indices: indices.slice(0, rows), step: command[CMD.STEP], epoch: command[CMD.EPOCH], progress: commandF64[CMD_F64.PROGRESS] };
    try {
      shardStep(method, vars, optimizer, batch, commandF64[CMD_F64.LR], collective);
    } finally {
      tf.dispose(views);
    }
  }
  optimizer.dispose();
  method.dispose();
}

const init = workerData as ShardInit;
main(init).catch((e: unknown) => {
  // Wake rank 0 if it waits in a collective; a stop (CollectiveAborted) is not an error.
  if (e instanceof CollectiveAborted) return;
  new SabCollective(init.rank, init.layout).abort();
  parentPort!.postMessage({ type: 'error', error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
  process.exitCode = 1;
});
