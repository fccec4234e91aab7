import * as tf from '@tensorflow/tfjs-core';
import { METHOD_INFO } from '../../core/methods';
import { createEncoder } from '../models/encoder';
import { ParamSet } from '../models/layers';
import { Mlp, projectorBlocks } from '../models/mlp';
import { ntXent } from '../losses/ntxent';
import type { Method, MethodContext, MethodDefinition, TrainBatch } from './types';

/**
 * SimCLR — "A Simple Framework for Contrastive Learning of Visual Representations", Chen et al. 2020,
 * https://arxiv.org/abs/2002.05709, Algorithm 1:
 *   for each image x_k: two augmentations x̃_2k−1, x̃_2k
 *   h = f(x̃) (encoder), z = g(h) (projection head)
 *   L = 1/2N Σ_k [ℓ(2k−1, 2k) + ℓ(2k, 2k−1)]  with ℓ the NT-Xent loss
 * Only f is kept after training; evaluation uses h.
 */
class SimCLR implements Method {
  readonly encoder;
  private readonly params: ParamSet;
  private readonly projector: Mlp;
  private readonly temperature: number;

  constructor(ctx: MethodContext) {
    const { config } = ctx;
    this.params = new ParamSet(config.seed);
    this.encoder = createEncoder(config.encoder.preset, ctx.inputShape[2], this.params); // f(·)
    this.projector = new Mlp(this.params, 'projector', projectorBlocks(this.encoder.featureDim, config.projector.hidden, config.projector.out)); // g(·)
    this.temperature = Number(config.params.temperature);
  }

  trainableVariables(): tf.Variable[] {
    return this.params.trainable();
  }

  loss({ views: [x1, x2] }: TrainBatch): tf.Scalar {
    // Both views go through f and g in one pass: BN then sees 2N samples, as in the paper's
    // implementation, and the network runs once instead of twice.
    const n = x1.shape[0];
    const h = this.encoder.features(tf.concat([x1, x2], 0), true); // [2N, D]
    const z = this.projector.apply(h, true); // [2N, out]
    const [z1, z2] = tf.split(z, [n, n], 0) as [tf.Tensor2D, tf.Tensor2D]; // [N, out] each
    return ntXent(z1, z2, this.temperature);
  }

  projection(x: tf.Tensor4D): tf.Tensor2D {
    return this.projector.apply(this.encoder.features(x, false), false);
  }

  namedVariables(): Map<string, tf.Variable> {
    return this.params.vars;
  }

  dispose(): void {
    this.params.dispose();
  }
}

export const simclr: MethodDefinition = { info: METHOD_INFO.simclr, create: (ctx) => new SimCLR(ctx) };
