import * as tf from '@tensorflow/tfjs-core';
import type { Method, PrepareData, TrainBatch } from '../../src/engine/methods/types';
import type { Optimizer } from '../../src/engine/optim';

/** Shared by the method tests: one training step as the loop runs it, and comparisons of values. */

/** One training step as the loop runs it (loss under the tape, optimizer, afterStep); returns the loss. */
export function step(method: Method, opt: Optimizer, batch: TrainBatch, lr: number): number {
  const { value, grads } = tf.variableGrads(() => method.loss(batch), method.trainableVariables());
  const loss = value.dataSync()[0];
  opt.apply(grads, lr);
  tf.dispose([value, grads]);
  method.afterStep?.(batch);
  return loss;
}

/** Values of variables, copied out. */
export function snapshot(vars: Iterable<tf.Variable>): Float32Array[] {
  return [...vars].map((v) => v.dataSync().slice() as Float32Array);
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

/** PrepareData.mapTrain over `images` at `indices`, in one batch: what the training loop gives a method's prepare(). */
export function mapImages(images: tf.Tensor4D, indices: Int32Array): PrepareData['mapTrain'] {
  return async (fn) => {
    const y = tf.tidy(() => fn(tf.gather(images, tf.tensor1d(indices, 'int32')) as tf.Tensor4D));
    const values = (await y.data()) as Float32Array;
    const dim = y.shape[1];
    y.dispose();
    return { values, dim };
  };
}
