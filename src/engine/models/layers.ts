import * as tf from '@tensorflow/tfjs-core';
// tfjs-core alone registers no gradient functions; the union package would. We train, so we need them.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { sharded, shardMoments, shardSum } from '../parallel/collective';

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

/**
 * x + b, b [C] broadcast over x's leading axes, with its own gradient: tfjs reduces dy for db with a Sum
 * over the leading axes, which wasm runs by transposing dy first (8 ms for a [256, 5, 5, 128] conv
 * output, 40 of them per CPC v2 step); channelSum takes ~1 ms.
 */
export function addBias<T extends tf.Tensor>(x: T, b: tf.Tensor1D): T {
  const c = b.shape[0];
  const add = tf.customGrad((...args) => {
    const [input, bias] = args as [tf.Tensor, tf.Tensor];
    return {
      value: tf.add(input, bias),
      gradFunc: (dy: tf.Tensor) => [tf.clone(dy), channelSum(tf.reshape(dy, [-1, c]))],
    };
  });
  return add(x, b) as T;
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
    return this.b ? addBias(y, this.b as tf.Tensor1D) : y;
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
    return this.b ? addBias(y, this.b as tf.Tensor1D) : y;
  }
}

/**
 * Batch normalisation over all axes but the last. In training mode it normalises with the batch's
 * statistics and updates running averages (PyTorch's momentum 0.1, unbiased running variance); in
 * evaluation mode it uses the running averages.
 *
 * Training mode has its own gradient: tfjs differentiates tf.batchNorm and tf.moments op by op, which
 * broadcasts per-channel tensors to the full shape with Tile and reduces over leading axes with
 * transposing Sum/Mean — up to a second per BN layer of a 512-image batch on wasm. The analytic backward
 * needs two per-channel sums and a few elementwise ops.
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
    const c = this.channels;
    const n = x.size / c; // elements per channel
    const normalize = tf.customGrad((...args) => {
      const [input, gamma, beta, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
      const x2 = tf.reshape(input, [n, c]); // [N, C]
      let mean: tf.Tensor, xc: tf.Tensor, variance: tf.Tensor, total: number;
      if (sharded()) {
        // Data-parallel training (synchronized BN): the whole batch's statistics from every thread's
        // sums and squared deviations from its own mean, merged exactly in one exchange.
        const localMean = tf.div(channelSum(x2), n);
        ({ mean, variance, count: total } = shardMoments(tf.mul(localMean, n), channelSum(tf.square(tf.sub(x2, localMean))), n));
        xc = tf.sub(x2, mean); // [N, C]
      } else {
        total = n;
        mean = tf.div(channelSum(x2), n); // [C]
        xc = tf.sub(x2, mean); // [N, C]
        variance = tf.div(channelSum(tf.square(xc)), n); // [C], biased: what the batch is normalised with
      }
      this.updateRunningStats(mean, variance, total);
      const invstd = tf.rsqrt(tf.add(variance, this.eps)); // [C]
      const scale = tf.mul(gamma, invstd); // [C]
      save([xc, scale, invstd]);
      const y = tf.add(tf.mul(xc, scale), beta); // [N, C]
      return {
        value: tf.reshape(y, input.shape),
        // With xhat = xc·invstd: dγ = Σ dy·xhat, dβ = Σ dy, dx = γ·invstd·(dy − Σdy/N − xhat·dγ/N).
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.tidy(() => {
          const [xcS, scaleS, invstdS] = saved;
          const dy2 = tf.reshape(dy, [n, c]); // [N, C]
          const dBeta = channelSum(dy2); // [C]
          const dyXc = channelSum(tf.mul(dy2, xcS)); // [C]
          const dGamma = tf.mul(dyXc, invstdS); // [C]
          // dx needs the sums over the whole batch (every thread's rows when data-parallel); dγ and dβ
          // stay this thread's share, as the parameter gradients are summed over threads afterwards.
          const { sums: [dBetaAll, dyXcAll], count: total } = shardSum([dBeta, dyXc], n);
          // dx = dy·scale + xc·k1 + k0, folding the per-channel factors first so only 4 full-size ops run.
          const k1 = tf.mul(tf.mul(scaleS, invstdS), tf.div(tf.mul(dyXcAll, invstdS), -total)); // [C]
          const k0 = tf.mul(scaleS, tf.div(dBetaAll, -total)); // [C]
          const dx = tf.add(tf.add(tf.mul(dy2, scaleS), tf.mul(xcS, k1)), k0); // [N, C]
          return [tf.reshape(dx, input.shape), dGamma, dBeta];
        }),
      };
    });
    return normalize(x, this.gamma, this.beta) as T;
  }
  /** Running statistics are state, not part of the loss (this runs inside the custom gradient's forward, off the tape). */
  private updateRunningStats(mean: tf.Tensor, variance: tf.Tensor, n: number): void {
    tf.tidy(() => {
      this.runningMean.assign(tf.add(tf.mul(this.runningMean, 1 - this.momentum), tf.mul(mean, this.momentum)));
      this.runningVar.assign(tf.add(tf.mul(this.runningVar, 1 - this.momentum), tf.mul(variance, (this.momentum * n) / Math.max(1, n - 1))));
    });
  }
}

/**
 * Layer normalisation (Ba et al. 2016) of each sample over all its positions and channels, with a
 * per-channel gain and bias (CPC v2's patch encoder). Its own gradient, like BatchNorm's: differentiated
 * op by op, dγ and dβ are Sums over the leading axes that wasm runs by transposing (~1 s of a CPC v2 step
 * on its 6,400 patches). With xhat = (x − μ)·invstd per sample: dγ = Σ dy·xhat, dβ = Σ dy over samples
 * and positions, and with g = dy·γ, dx = invstd·(g − mean(g) − xhat·mean(g·xhat)), means over the sample.
 */
export class LayerNorm {
  readonly gamma: tf.Variable;
  readonly beta: tf.Variable;
  constructor(ps: ParamSet, name: string, readonly channels: number, readonly eps = 1e-5) {
    this.gamma = ps.add(`${name}.weight`, tf.ones([channels]));
    this.beta = ps.add(`${name}.bias`, tf.zeros([channels]));
  }
  apply<T extends tf.Tensor>(x: T): T {
    const c = this.channels;
    const n = x.shape[0];
    const m = x.size / n; // values per sample
    const normalize = tf.customGrad((...args) => {
      const [input, gamma, beta, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
      const x2 = tf.reshape(input, [n, m]); // [N, M]
      const { mean, variance } = tf.moments(x2, 1, true); // [N, 1] each: reductions along the contiguous axis
      const invstd = tf.rsqrt(tf.add(variance, this.eps)); // [N, 1]
      const xhat = tf.mul(tf.sub(x2, mean), invstd); // [N, M]
      save([xhat, invstd]);
      const y = tf.add(tf.mul(tf.reshape(xhat, [-1, c]), gamma), beta); // [N·positions, C]
      return {
        value: tf.reshape(y, input.shape),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
          tf.tidy(() => {
            const [xhatS, invstdS] = saved;
            const dyc = tf.reshape(dy, [-1, c]); // [N·positions, C]
            const dBeta = channelSum(dyc);
            const dGamma = channelSum(tf.mul(dyc, tf.reshape(xhatS, [-1, c])));
            const g = tf.reshape(tf.mul(dyc, gamma), [n, m]); // dL/dxhat
            const dx = tf.mul(tf.sub(tf.sub(g, tf.mean(g, 1, true)), tf.mul(xhatS, tf.mean(tf.mul(g, xhatS), 1, true))), invstdS);
            return [tf.reshape(dx, input.shape), dGamma, dBeta];
          }),
      };
    });
    return normalize(x, this.gamma, this.beta) as T;
  }
}

/**
 * Σ over rows of [N, C] → [C]. On wasm as average pools times N: XNNPACK's pooling reduces across the
 * contiguous channels with SIMD, ~3× faster than the GEMV xᵀ·1 below (24 → 7 ms on [401408, 32]). Two
 * stages (blocks of ≤ 1024 rows, then the block means) keep the rounding error ~10× below the GEMV's
 * (6e-7 vs 5e-6 relative to a float64 sum; one pool over all N rows: 1e-5). Elsewhere as the GEMV: on
 * wasm, Sum/Mean over a leading axis transpose x first and ones[1, N]·x repacks x as GEMM weights, both
 * ~3x slower than the GEMV.
 */
function channelSum(x: tf.Tensor): tf.Tensor1D {
  const [n, c] = x.shape;
  if (tf.getBackend() !== 'wasm') return tf.reshape(tf.matMul(x as tf.Tensor2D, tf.ones([n, 1]), true, false), [c]); // [C]
  const rowMean = (t: tf.Tensor, rows: number, window: number) =>
    tf.reshape(tf.avgPool(tf.reshape(t, [1, rows, 1, c]) as tf.Tensor4D, [window, 1], [window, 1], 'valid'), [rows / window, c]);
  const block = blockSize(n);
  const means = block < n ? rowMean(rowMean(x, n, block), n / block, n / block) : rowMean(x, n, n); // [1, C]
  return tf.reshape(tf.mul(means, n), [c]);
}

/** The largest divisor of n in [64, 1024], or n (one stage) when there is none. */
function blockSize(n: number): number {
  for (let b = Math.min(n, 1024); b >= 64; b--) if (n % b === 0) return b;
  return n;
}
