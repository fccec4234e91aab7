/**
 * The reference points of docs/BENCHMARKS.md's kNN tables: the kNN monitor's protocol (cosine, k = 200,
 * T = 0.1 weighted vote; training split as the bank, test split as queries) on raw pixels (scaled to
 * [0, 1]) and on the untrained encoder of a method's default config (its pooled features, batch norm at
 * its initial statistics). `--train-limit N` uses the first N images of the shuffled training set, as a
 * run with `trainLimit` does. wasm backend.
 *
 *   node --import tsx scripts/knn-references.ts [--dataset fashion-mnist] [--method simclr] [--train-limit N] [--seed 0]
 */
import * as tf from '@tensorflow/tfjs-core';
import { parseArgs } from 'node:util';
import { resolveConfig } from '../src/core/config';
import { Rng } from '../src/core/rng';
import { loadDataset, shuffledIndices, type Split } from '../src/data/datasets';
import { initBackend } from '../src/engine/backend';
import { channelStats, mapSplit } from '../src/engine/batches';
import { knnAccuracy } from '../src/engine/eval/knn';
import { methodDefinition } from '../src/engine/methods';

const { values } = parseArgs({
  options: {
    dataset: { type: 'string', default: 'fashion-mnist' },
    method: { type: 'string', default: 'simclr' },
    'train-limit': { type: 'string', default: '0' },
    seed: { type: 'string', default: '0' },
  },
});

function pixels(split: Split, indices: ArrayLike<number>): Float32Array {
  const per = split.height * split.width * split.channels;
  const out = new Float32Array(indices.length * per);
  for (let i = 0; i < indices.length; i++) for (let p = 0; p < per; p++) out[i * per + p] = split.images[indices[i] * per + p] / 255;
  return out;
}

async function knn(bank: Float32Array, bankIdx: Int32Array, queries: Float32Array, dim: number, train: Split, test: Split, classes: number, k: number, t: number): Promise<number> {
  const b = tf.tensor2d(bank, [bankIdx.length, dim]);
  const q = tf.tensor2d(queries, [test.count, dim]);
  try {
    return await knnAccuracy(b, Int32Array.from(bankIdx, (i) => train.labels[i]), q, test.labels, classes, k, t);
  } finally {
    tf.dispose([b, q]);
  }
}

async function main(): Promise<void> {
  const { config, problems } = resolveConfig({ method: values.method, dataset: values.dataset, seed: Number(values.seed), trainLimit: Number(values['train-limit']), backend: 'wasm' });
  if (!config) throw new Error(problems.map((p) => p.message).join('; '));
  const backend = await initBackend('wasm');
  const data = loadDataset(config.dataset, { imageSize: config.imageSize });
  const { train, test } = data;
  const all = shuffledIndices(train.count, config.seed);
  const bankIdx = config.trainLimit > 0 ? all.subarray(0, Math.min(config.trainLimit, train.count)) : all;
  const testIdx = Int32Array.from({ length: test.count }, (_, i) => i);
  const { knnK: k, knnTemperature: t } = config.eval;
  const classes = data.classNames.length;
  process.stdout.write(`${data.name}: bank ${bankIdx.length} training images, ${test.count} test queries; kNN k=${k}, T=${t}, cosine; ${backend.device}\n`);

  const dim = train.height * train.width * train.channels;
  const raw = await knn(pixels(train, bankIdx), bankIdx, pixels(test, testIdx), dim, train, test, classes, k, t);
  process.stdout.write(`raw pixels: ${(raw * 100).toFixed(2)}%\n`);

  // As a run builds it at step 0 (same seed, same streams): the untrained network its curve starts from.
  const stats = channelStats(train);
  const method = methodDefinition(config.method).create({ config, inputShape: [train.height, train.width, train.channels], trainSize: train.count, totalSteps: 1, rng: new Rng(config.seed).fork(1), inputStats: stats });
  const bank = await mapSplit(train, bankIdx, stats, (x) => method.encoder.features(x, false));
  const queries = await mapSplit(test, testIdx, stats, (x) => method.encoder.features(x, false));
  const untrained = await knn(bank.values, bankIdx, queries.values, bank.dim, train, test, classes, k, t);
  process.stdout.write(`untrained ${config.encoder.preset} encoder (${config.method}'s default config, seed ${config.seed}): ${(untrained * 100).toFixed(2)}%\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`knn-references: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
