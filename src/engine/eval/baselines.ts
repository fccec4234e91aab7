import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { RunConfig } from '../../core/config';
import { channelStats, mapSplit } from '../batches';
import type { Dataset, Split } from '../../data/datasets';
import { Rng } from '../../core/rng';
import { methodDefinition } from '../methods';
import { knnAccuracy } from './knn';

/**
 * The two numbers a run's kNN accuracy should be read against, with the run's own protocol (cosine,
 * k, T, the run's training images as the bank, the test split as queries):
 *   raw pixels         every image as its vector of pixel values in [0, 1] (no model at all)
 *   untrained encoder  the run's method and encoder at step 0 (its seed), pooled features
 * A self-supervised run that ends below either has learned less than the pixels or the random convnet
 * already give. Raw pixels are also given mean-centred (the training images' mean image subtracted),
 * which is what cosine similarity on pixels needs to stop a bright image resembling every bright image.
 */
export interface KnnBaselines {
  rawPixels: number;
  rawPixelsCentred: number;
  untrainedEncoder: number;
}

function labelsAt(split: Split, idx: ArrayLike<number>): Int32Array {
  return Int32Array.from({ length: idx.length }, (_, i) => split.labels[idx[i]]);
}

/** [idx.length, H·W·C] pixels / 255 of a split's images at idx. */
function pixels(split: Split, idx: ArrayLike<number>): tf.Tensor2D {
  const d = split.height * split.width * split.channels;
  const out = new Float32Array(idx.length * d);
  for (let i = 0; i < idx.length; i++) {
    const src = split.images.subarray(idx[i] * d, (idx[i] + 1) * d);
    for (let j = 0; j < d; j++) out[i * d + j] = src[j] / 255;
  }
  return tf.tensor2d(out, [idx.length, d]);
}

const all = (n: number) => Int32Array.from({ length: n }, (_, i) => i);

/** kNN on raw pixels, as is and mean-centred. */
export async function rawPixelKnn(data: Dataset, trainIdx: Int32Array, k: number, temperature: number): Promise<{ raw: number; centred: number }> {
  const bank = pixels(data.train, trainIdx);
  const queries = pixels(data.test, all(data.test.count));
  const classes = data.classNames.length;
  const bankLabels = labelsAt(data.train, trainIdx);
  try {
    const raw = await knnAccuracy(bank, bankLabels, queries, data.test.labels, classes, k, temperature);
    const mean = tf.mean(bank, 0, true);
    const [cb, cq] = [tf.sub(bank, mean) as tf.Tensor2D, tf.sub(queries, mean) as tf.Tensor2D];
    try {
      return { raw, centred: await knnAccuracy(cb, bankLabels, cq, data.test.labels, classes, k, temperature) };
    } finally {
      tf.dispose([mean, cb, cq]);
    }
  } finally {
    tf.dispose([bank, queries]);
  }
}

/** kNN of the run's encoder before its first step (the method's networks as its seed initialises them). */
export async function untrainedEncoderKnn(config: RunConfig, data: Dataset, trainIdx: Int32Array): Promise<number> {
  const { train, test } = data;
  const stats = channelStats(train);
  const method = methodDefinition(config.method).create({
    config,
    inputShape: [train.height, train.width, train.channels],
    trainSize: train.count,
    totalSteps: 1,
    rng: new Rng(config.seed).fork(1),
    inputStats: stats,
  });
  try {
    const bank = await mapSplit(train, trainIdx, stats, (x) => method.encoder.features(x, false));
    const queries = await mapSplit(test, all(test.count), stats, (x) => method.encoder.features(x, false));
    const b = tf.tensor2d(bank.values, [trainIdx.length, bank.dim]);
    const q = tf.tensor2d(queries.values, [test.count, queries.dim]);
    try {
      return await knnAccuracy(b, labelsAt(train, trainIdx), q, test.labels, data.classNames.length, config.eval.knnK, config.eval.knnTemperature);
    } finally {
      tf.dispose([b, q]);
    }
  } finally {
    method.dispose();
  }
}

export async function knnBaselines(config: RunConfig, data: Dataset, trainIdx: Int32Array): Promise<KnnBaselines> {
  const { raw, centred } = await rawPixelKnn(data, trainIdx, config.eval.knnK, config.eval.knnTemperature);
  return { rawPixels: raw, rawPixelsCentred: centred, untrainedEncoder: await untrainedEncoderKnn(config, data, trainIdx) };
}

/** The cache file of a database's baselines: beside its run folders (`<db>.artifacts/knn-baselines.json`). */
export function baselineCacheFile(dbPath: string): string {
  return join(dirname(dbPath), `${basename(dbPath, extname(dbPath))}.artifacts`, 'knn-baselines.json');
}

type Cache = Record<string, number>;

function readCache(file: string): Cache {
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Cache) : {};
  } catch {
    return {}; // absent or unreadable: recompute (the cache only saves time)
  }
}

/**
 * knnBaselines, each number computed once per database and kept in `cacheFile`: raw pixels keyed by what
 * decides them (dataset, the bank's images, k, T), the untrained encoder by the config hash too (method,
 * encoder and seed decide the initial network). Written by rename, so runs finishing together cannot
 * leave half a file.
 */
export async function cachedKnnBaselines(config: RunConfig, configHashValue: string, data: Dataset, trainIdx: Int32Array, cacheFile: string): Promise<KnnBaselines> {
  const bankKey = `${data.spec}|seed ${config.seed}|train ${trainIdx.length}/${data.train.count}|test ${data.test.count}|k ${config.eval.knnK}|T ${config.eval.knnTemperature}`;
  const keys = { raw: `raw-pixels|${bankKey}`, centred: `raw-pixels-centred|${bankKey}`, untrained: `untrained-encoder|${configHashValue}|${bankKey}` };
  const cache = readCache(cacheFile);
  let changed = false;
  if (cache[keys.raw] === undefined || cache[keys.centred] === undefined) {
    const { raw, centred } = await rawPixelKnn(data, trainIdx, config.eval.knnK, config.eval.knnTemperature);
    [cache[keys.raw], cache[keys.centred], changed] = [raw, centred, true];
  }
  if (cache[keys.untrained] === undefined) [cache[keys.untrained], changed] = [await untrainedEncoderKnn(config, data, trainIdx), true];
  if (changed) {
    mkdirSync(dirname(cacheFile), { recursive: true });
    const tmp = `${cacheFile}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify({ ...readCache(cacheFile), ...cache }, null, 1)}\n`);
    renameSync(tmp, cacheFile);
  }
  return { rawPixels: cache[keys.raw], rawPixelsCentred: cache[keys.centred], untrainedEncoder: cache[keys.untrained] };
}
