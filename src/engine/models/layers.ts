import * as tf from '@tensorflow/tfjs-core';
// tfjs-core alone registers no gradient functions; the union package would. We train, so we need them.
import '@tensorflow/tfjs-core/dist/register_all_gradients';

/**
 * Minimal layers over raw tfjs variables. We do not use tf.layers: methods need to copy, EMA-update and
 * checkpoint (online, target) pairs by name, take gradients through `tf.variableGrads`, and reach the
 * encoder's feature map (PixPro, DIM, CPC) — all simpler with plain variables we own.
 *
 * Initialisation follows PyTorch's defaults (kaiming-uniform with a=√5 → U(±1/√fan_in)) so a run here
 * and the PyTorch peer start from the same distribution.
 */

/** A set of named variables; trainable ones get gradients, the rest (BN running stats) are state. */
export class ParamSet {
  readonly vars = new Map<string, tf.Variable>();
  constructor(private readonly seedBase: number) {}
  private counter = 0;

  add(name: string, init: tf.Tensor, trainable = true): tf.Variable {
    if (this.vars.has(name)) throw new Error(`duplicate parameter name ${name}`);
    const v = tf.variable(init, trainable);
    init.dispose();
    this.vars.set(name, v);
    return v;
  }

  /** U(-b, b) with a per-parameter seed derived from the set's seed, so initialisation is reproducible. */
  uniform(shape: number[], bound: number): tf.Tensor {
    return tf.randomUniform(shape, -bound, bound, 'float32', this.seedBase * 1000 + this.counter++);
  }

  trainable(): tf.Variable[] {
    return [...this.vars.values()].filter((v) => v.trainable);
  }

  dispose(): void {
    for (const v of this.vars.values()) v.dispose();
    this.vars.clear();
  }
}

export class Conv2d {
  readonly w: tf.Variable; // [k, k, cin, cout]
  readonly b?: tf.Variable; // [cout]
  constructor(ps: ParamSet, name: string, readonly cin: number, readonly cout: number, readonly k: number, readonly stride: number, bias: boolean) {
    const bound = 1 / Math.sqrt(cin * k * k);
    this.w = ps.add(`${name}.weight`, ps.uniform([k, k, cin, cout], bound));
    if (bias) this.b = ps.add(`${name}.bias`, ps.uniform([cout], bound));
  }
  apply(x: tf.Tensor4D): tf.Tensor4D {
    const y = tf.conv2d(x, this.w as tf.Tensor4D, this.stride, 'same');
    return this.b ? (tf.add(y, this.b) as tf.Tensor4D) : y;
  }
}

export class Linear {
  readonly w: tf.Variable; // [in, out]
  readonly b?: tf.Variable; // [out]
  constructor(ps: ParamSet, name: string, readonly nin: number, readonly nout: number, bias = true) {
    const bound = 1 / Math.sqrt(nin);
    this.w = ps.add(`${name}.weight`, ps.uniform([nin, nout], bound));
    if (bias) this.b = ps.add(`${name}.bias`, ps.uniform([nout], bound));
  }
  apply(x: tf.Tensor2D): tf.Tensor2D {
    const y = tf.matMul(x, this.w as tf.Tensor2D) as tf.Tensor2D;
    return this.b ? (tf.add(y, this.b) as tf.Tensor2D) : y;
  }
}

/**
 * Batch normalisation over all axes but the last. In training mode it normalises with the batch's
 * statistics and updates running averages (PyTorch's momentum 0.1, unbiased running variance); in
 * evaluation mode it uses the running averages.
 */
export class BatchNorm {
  readonly gamma: tf.Variable;
  readonly beta: tf.Variable;
  readonly runningMean: tf.Variable;
  readonly runningVar: tf.Variable;
  constructor(ps: ParamSet, name: string, readonly channels: number, readonly momentum = 0.1, readonly eps = 1e-5) {
    this.gamma = ps.add(`${name}.weight`, tf.ones([channels]));
    this.beta = ps.add(`${name}.bias`, tf.zeros([channels]));
    this.runningMean = ps.add(`${name}.running_mean`, tf.zeros([channels]), false);
    this.runningVar = ps.add(`${name}.running_var`, tf.ones([channels]), false);
  }
  apply<T extends tf.Tensor>(x: T, training: boolean): T {
    if (!training) return tf.batchNorm(x, this.runningMean, this.runningVar, this.beta, this.gamma, this.eps) as T;
    const axes = x.shape.slice(0, -1).map((_, i) => i);
    const { mean, variance } = tf.moments(x, axes);
    // Running statistics are state, not part of the loss.
    const n = x.size / this.channels;
    // (The tape prunes these ops: they do not lead to the loss.)
    tf.tidy(() => {
      this.runningMean.assign(tf.add(tf.mul(this.runningMean, 1 - this.momentum), tf.mul(mean, this.momentum)));
      this.runningVar.assign(tf.add(tf.mul(this.runningVar, 1 - this.momentum), tf.mul(variance, (this.momentum * n) / Math.max(1, n - 1))));
    });
    return tf.batchNorm(x, mean, variance, this.beta, this.gamma, this.eps) as T;
  }
}
