/**
 * What each augmentation step costs: one view of a batch of built-in images (Fashion-MNIST, 28×28×1)
 * through augmentBatch — the draws and the tensor ops, read back — for the SimCLR default pipeline and
 * for each transformation of the SimCLR augmentation study alone (studyAugment), median of `--reps`
 * timed batches after two warm-up ones, with its ratio to the SimCLR default measured in the same run (batches interleaved, so a
 * busy machine slows every pipeline alike). The last two rows time the rotation alone, both ways it is
 * computed (JS on wasm/cpu, a device gather on GPU backends), on the same quarter-turn angles.
 *
 *   node --import tsx scripts/bench-augment.ts [--batch 256] [--reps 15] [--backend wasm]
 */
import * as tf from '@tensorflow/tfjs-core';
import { parseArgs } from 'node:util';
import { IDENTITY_AUGMENT, SIMCLR_AUGMENT, STUDY_TRANSFORM_IDS, studyAugment, type AugmentParams } from '../src/core/augment-spec';
import type { BackendChoice } from '../src/core/config';
import { augmentBatch } from '../src/engine/augment/pipeline';
import { rotateImages } from '../src/engine/augment/steps';
import { initBackend } from '../src/engine/backend';
import { imageBatch } from '../src/engine/batches';
import { loadDataset } from '../src/data/datasets';
import { Rng } from '../src/core/rng';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { batch: { type: 'string', default: '256' }, reps: { type: 'string', default: '15' }, backend: { type: 'string', default: 'wasm' } } });
  const batch = Number(values.batch);
  const reps = Number(values.reps);
  const info = await initBackend(values.backend as BackendChoice);
  const train = loadDataset('builtin').train;
  const x = imageBatch(train, Int32Array.from({ length: batch }, (_, i) => i % train.count));
  const pipelines: [string, AugmentParams][] = [['identity', IDENTITY_AUGMENT], ['SimCLR default', SIMCLR_AUGMENT], ...STUDY_TRANSFORM_IDS.map((t) => [t, studyAugment(t)] as [string, AugmentParams])];
  const angles = Float32Array.from({ length: batch }, (_, i) => 90 * (1 + (i % 3)));
  const runs: [string, (r: number) => tf.Tensor][] = [
    ...pipelines.map(([name, p]) => [name, (r: number) => augmentBatch(x, p, new Rng(r))] as [string, (r: number) => tf.Tensor]),
    ['rotation alone, JS', () => rotateImages(x, angles, 'js')],
    ['rotation alone, device gather', () => rotateImages(x, angles, 'gather')],
  ];
  const ms = runs.map(() => [] as number[]);
  for (let r = 0; r < reps + 2; r++)
    runs.forEach(([, run], k) => {
      const t0 = performance.now();
      const y = run(r);
      y.dataSync();
      y.dispose();
      if (r >= 2) ms[k].push(performance.now() - t0);
    });
  const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
  const base = median(ms[1]);
  console.log(`backend ${info.backend} (${info.device}), batch ${batch} × 28×28×1, median of ${reps}`);
  console.log('| pipeline (one view) | ms per batch | × SimCLR default |');
  console.log('|---|---:|---:|');
  runs.forEach(([name], k) => console.log(`| ${name} | ${median(ms[k]).toFixed(1)} | ${(median(ms[k]) / base).toFixed(2)} |`));
  x.dispose();
  tf.disposeVariables();
}

void main();
