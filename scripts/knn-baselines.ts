/**
 * Prints the kNN baselines a run's number should be read against, with the kNN monitor's protocol
 * (cosine, k = eval.knnK, T = eval.knnTemperature; the run's training images as the bank, the test split
 * as queries): raw pixels (as stored and mean-centred) and the untrained encoder of the config given.
 *
 *   node --import tsx scripts/knn-baselines.ts [--dataset builtin] [--method simclr] [--set key=value …]
 *
 * The config is resolved like `clab train`'s (recipe, trainLimit, seed and encoder decide the bank and
 * the untrained encoder).
 */
import { parseArgs } from 'node:util';
import { formatProblems, resolveConfig } from '../src/core/config';
import { rawTrainConfig } from '../src/cli/train-args';
import { initBackend } from '../src/engine/backend';
import { loadDataset, shuffledIndices } from '../src/data/datasets';
import { knnBaselines } from '../src/engine/eval/baselines';

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { dataset: { type: 'string' }, method: { type: 'string' }, set: { type: 'string', multiple: true } }, strict: true });
  const raw = rawTrainConfig({ method: values.method ?? 'simclr', dataset: values.dataset ?? 'builtin', set: values.set });
  const { config, problems } = resolveConfig(raw);
  if (!config) {
    process.stderr.write(`${formatProblems(problems)}\n`);
    return 2;
  }
  const backend = await initBackend('wasm');
  const data = loadDataset(config.dataset, { imageSize: config.imageSize });
  const all = shuffledIndices(data.train.count, config.seed);
  const trainIdx = config.trainLimit > 0 ? all.subarray(0, Math.min(config.trainLimit, data.train.count)) : all;
  const b = await knnBaselines(config, data, trainIdx);
  const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
  process.stdout.write(
    `${data.name}: kNN (cosine, k=${config.eval.knnK}, T=${config.eval.knnTemperature}), bank ${trainIdx.length} training images, ${data.test.count} test queries, backend ${backend.backend}\n` +
      `  raw pixels             ${pct(b.rawPixels)}\n` +
      `  raw pixels, centred    ${pct(b.rawPixelsCentred)}\n` +
      `  untrained encoder      ${pct(b.untrainedEncoder)}  (${config.method}, recipe ${config.recipe}, encoder ${config.encoder.preset}, seed ${config.seed})\n`,
  );
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`knn-baselines: ${(e as Error).message}\n`);
    process.exit(1);
  },
);
