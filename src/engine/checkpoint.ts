import * as tf from '@tensorflow/tfjs-core';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Checkpoints in the tfjs weights format: `model.json` with a `weightsManifest` (the same manifest
 * `tf.io` writes, so `tf.io.loadWeights`-style tooling reads it) and one `weights.bin`. Every variable of
 * the method is saved by its stable name (encoder.conv0.weight, projector.0.bn.running_mean, …), plus the
 * run's config so a checkpoint is self-describing. Written to a temporary folder and renamed, so a crash
 * never leaves a half-written checkpoint.
 */
export async function saveCheckpoint(dir: string, vars: Map<string, tf.Tensor>, meta: Record<string, unknown>): Promise<string> {
  const { data, specs } = await tf.io.encodeWeights(Object.fromEntries(vars));
  const tmp = `${dir}.tmp-${process.pid}`;
  mkdirSync(tmp, { recursive: true });
  writeFileSync(join(tmp, 'weights.bin'), Buffer.from(data));
  const manifest = { format: 'contrastive-lab-checkpoint', generatedBy: 'Contrastive Lab', ...meta, weightsManifest: [{ paths: ['weights.bin'], weights: specs }] };
  writeFileSync(join(tmp, 'model.json'), JSON.stringify(manifest, null, 1));
  rmSync(dir, { recursive: true, force: true }); // a checkpoint of the same epoch from an earlier attempt
  renameSync(tmp, dir);
  return dir;
}

/** Reads a checkpoint back into tensors by name (the caller owns and disposes them). */
export function loadCheckpoint(dir: string): { tensors: tf.NamedTensorMap; meta: Record<string, unknown> } {
  const meta = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as { weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[] };
  const buf = readFileSync(join(dir, meta.weightsManifest[0].paths[0]));
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  return { tensors: tf.io.decodeWeights(ab, meta.weightsManifest[0].weights), meta };
}
