import * as tf from '@tensorflow/tfjs-core';
import { METHOD_INFO } from '../../core/methods';
import { negativeCosine } from '../losses/cosine';
import { createEncoder, type Encoder } from '../models/encoder';
import { ParamSet } from '../models/layers';
import { Mlp, type MlpBlock } from '../models/mlp';
import { stopGradient } from './shared/stop-gradient';
import type { Method, MethodContext, MethodDefinition, TrainBatch } from './types';

/**
 * SimSiam's projection MLP (arXiv 2011.10566 §4, "Baseline settings"): "BN applied to each fully-connected
 * (fc) layer, including its output fc. Its output fc has no ReLU." The output BN has no affine
 * parameters in the official code (`nn.BatchNorm1d(dim, affine=False)`); see `frozenAffine`.
 */
function projectionBlocks(inDim: number, hidden: number, out: number, layers: number): MlpBlock[] {
  const blocks: MlpBlock[] = [{ in: inDim, out: hidden, batchNorm: true, relu: true }];
  if (layers === 3) blocks.push({ in: hidden, out: hidden, batchNorm: true, relu: true });
  blocks.push({ in: hidden, out, batchNorm: true, relu: false });
  return blocks;
}

/** The prediction MLP h: "a bottleneck structure … BN on its hidden fc; its output fc has no BN or ReLU". */
function predictionBlocks(dim: number, bottleneck: number): MlpBlock[] {
  return [
    { in: dim, out: bottleneck, batchNorm: true, relu: true },
    { in: bottleneck, out: dim, batchNorm: false, relu: false },
  ];
}

/**
 * SimSiam — "Exploring Simple Siamese Representation Learning", Chen & He 2020,
 * https://arxiv.org/abs/2011.10566, Algorithm 1:
 *   z1, z2 = f(x1), f(x2)                      # projections, n×d
 *   p1, p2 = h(z1), h(z2)                      # predictions, n×d
 *   L = D(p1, z2)/2 + D(p2, z1)/2              # D(p, z) = −cos(p, z.detach())
 * f is the encoder plus projection MLP, shared by both views; the stop-gradient on z is what prevents
 * collapse (§4.1). No negatives, no momentum encoder.
 */
class SimSiam implements Method {
  readonly encoder: Encoder;
  private readonly params: ParamSet;
  private readonly projector: Mlp;
  private readonly predictor: Mlp; // h
  /** The output BN's γ and β: held at 1 and 0 (affine=False), so not trained. */
  private readonly frozenAffine: Set<string>;
  /** --fix-pred-lr: h keeps the base learning rate. */
  private readonly fixPredictorLr: boolean;

  constructor(ctx: MethodContext) {
    const { config } = ctx;
    const { hidden, out } = config.projector;
    const layers = Number(config.params.projectorLayers);
    this.params = new ParamSet(config.seed);
    this.encoder = createEncoder(config.encoder.preset, ctx.inputShape[2], this.params);
    this.projector = new Mlp(this.params, 'projector', projectionBlocks(this.encoder.featureDim, hidden, out, layers));
    this.predictor = new Mlp(this.params, 'predictor', predictionBlocks(out, Number(config.params.predictorHidden)));
    const last = layers - 1;
    this.frozenAffine = new Set([`projector.${last}.bn.weight`, `projector.${last}.bn.bias`]);
    this.fixPredictorLr = config.params.fixPredictorLr === true;
  }

  trainableVariables(): tf.Variable[] {
    return [...this.params.vars].filter(([name, v]) => v.trainable && !this.frozenAffine.has(name)).map(([, v]) => v);
  }

  /** The official code's `if fix_pred_lr and 'fix_lr' in param_group: param_group['lr'] = init_lr`: the predictor's parameters. */
  constantLrVariables(): tf.Variable[] {
    if (!this.fixPredictorLr) return [];
    return [...this.params.vars].filter(([name, v]) => name.startsWith('predictor.') && v.trainable).map(([, v]) => v);
  }

  /** z = f(x): encoder and projection MLP, training mode. */
  project(x: tf.Tensor4D): tf.Tensor2D {
    return this.projector.apply(this.encoder.features(x, true), true);
  }

  /** p = h(z). */
  predict(z: tf.Tensor2D): tf.Tensor2D {
    return this.predictor.apply(z, true);
  }

  loss({ views: [x1, x2] }: TrainBatch): tf.Scalar {
    const z1 = this.project(x1); // n×d
    const z2 = this.project(x2); // n×d
    const p1 = this.predict(z1); // n×d
    const p2 = this.predict(z2); // n×d
    return simsiamLoss(p1, p2, z1, z2);
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

/** L = D(p1, stopgrad(z2))/2 + D(p2, stopgrad(z1))/2 (eq. 4). */
export function simsiamLoss(p1: tf.Tensor2D, p2: tf.Tensor2D, z1: tf.Tensor2D, z2: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.add(tf.mul(negativeCosine(p1, stopGradient(z2)), 0.5), tf.mul(negativeCosine(p2, stopGradient(z1)), 0.5)) as tf.Scalar);
}

export const simsiam: MethodDefinition = { info: METHOD_INFO.simsiam, create: (ctx) => new SimSiam(ctx) };
