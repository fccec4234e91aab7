import * as tf from '@tensorflow/tfjs-core';
import { METHOD_INFO } from '../../core/methods';
import { negativeCosine } from '../losses/cosine';
import { pixelConsistencyLoss, pixelPropagation, pixproPositiveMask } from '../losses/pixpro';
import { createEncoder, type Encoder } from '../models/encoder';
import { Linear, ParamSet } from '../models/layers';
import { Mlp, projectorBlocks } from '../models/mlp';
import { byolTau, emaUpdate, momentumCopy, type MomentumCopy } from './shared/ema';
import { noGrad } from './shared/stop-gradient';
import type { Method, MethodContext, MethodDefinition, TrainBatch } from './types';

interface Network {
  encoder: Encoder;
  projector: Mlp; // per pixel: the official 1×1-conv MLP (conv → BN → ReLU → conv)
  /** The instance branch's projector (only with `instanceWeight` > 0): the same per-pixel MLP, its own weights. */
  instanceProjector?: Mlp;
}

/**
 * PixPro — "Propagate Yourself: Exploring Pixel-Level Consistency for Unsupervised Visual Representation
 * Learning", Xie et al. 2020, https://arxiv.org/abs/2011.10043, §3 (official code zdaxie/PixPro):
 *   x1, x2 = two crops of an image, their boxes in the original image kept (batch.draws)
 *   online:   x = proj(f(x_v)) per feature-map cell  [B, h·w, C];  y = PPM(x)  (pixel propagation)
 *   momentum: x′ = proj′(f′(x_v)), no gradient;  f′, proj′ ← τ·(f′, proj′) + (1 − τ)·(f, proj), τ: 0.99 → 1
 *   positives: cells whose centres are within T = 0.7 bin diagonals in the original image
 *   L = −cos(y¹_i, x′²_j) − cos(y²_j, x′¹_i) over positive pairs (i, j)   (symmetric)
 * and, with `instanceWeight` w > 0, the paper's "PixPro + instance" combination with an
 * instance-level pretext task (official `pixpro_ins_loss_weight`, 1 in its instance runs): BYOL on whole
 * images from the same feature maps,
 *   p_v = pool(pred(proj_ins(f(x_v)))),  z′_v = pool(proj′_ins(f′(x_v)))   (per pixel, then averaged)
 *   L += w·(−2·cos(p¹, z′²) − 2·cos(p², z′¹))
 * Evaluation reads the encoder's pooled features (the global kNN the monitor records).
 */
class PixPro implements Method {
  readonly encoder: Encoder;
  private readonly params: ParamSet;
  private readonly online: Network;
  private readonly transform: Linear; // g(·) of the PPM: one linear layer (pixpro_transform_layer = 1)
  /** The instance branch's predictor (official `Pred_Head`, per pixel; no momentum copy), if any. */
  private readonly predictor?: Mlp;
  private readonly instanceWeight: number;
  private readonly target: MomentumCopy<Network>;
  private readonly gamma: number;
  private readonly threshold: number;
  private readonly tauBase: number;
  /** [h, w] of the encoder's feature map (7×7 for the small preset on 28-px images). */
  private readonly mapSize: [number, number];
  lastTau = Number.NaN;

  constructor(ctx: MethodContext) {
    const { config } = ctx;
    const p = config.params;
    const { hidden, out } = config.projector;
    this.instanceWeight = Number(p.instanceWeight ?? 0);
    const build = (ps: ParamSet): Network => {
      const encoder = createEncoder(config.encoder.preset, ctx.inputShape[2], ps);
      const blocks = projectorBlocks(encoder.featureDim, hidden, out);
      return {
        encoder,
        projector: new Mlp(ps, 'projector', blocks),
        instanceProjector: this.instanceWeight > 0 ? new Mlp(ps, 'instance.projector', blocks) : undefined,
      };
    };
    this.params = new ParamSet(config.seed);
    this.online = build(this.params);
    this.encoder = this.online.encoder;
    this.transform = new Linear(this.params, 'ppm.transform', out, out);
    if (this.instanceWeight > 0) this.predictor = new Mlp(this.params, 'instance.predictor', projectorBlocks(out, hidden, out));
    this.target = momentumCopy(this.params, build); // the PPM has no momentum copy
    this.gamma = Number(p.sharpness);
    this.threshold = Number(p.positiveRadius);
    this.tauBase = Number(p.momentum);
    const [ih, iw, ic] = ctx.inputShape;
    const shape = tf.tidy(() => this.encoder.featureMap(tf.zeros([1, ih, iw, ic]) as tf.Tensor4D, false).shape);
    this.mapSize = [shape[1], shape[2]];
  }

  trainableVariables(): tf.Variable[] {
    return this.params.trainable();
  }

  loss({ views: [v1, v2], draws }: TrainBatch): tf.Scalar {
    if (draws.length < 2) throw new Error('PixPro needs both views’ crop boxes (batch.draws)');
    const c1 = this.cells(this.online, v1); // [B·h·w, D], each view's feature map computed once for both branches
    const c2 = this.cells(this.online, v2);
    const k1 = noGrad(() => this.cells(this.target.net, v1)); // constant
    const k2 = noGrad(() => this.cells(this.target.net, v2));
    const b = v1.shape[0];
    const y1 = pixelPropagation(this.perImage(this.online.projector, c1, b), (x) => this.transform.apply(x), this.gamma); // [B, P, C]
    const y2 = pixelPropagation(this.perImage(this.online.projector, c2, b), (x) => this.transform.apply(x), this.gamma);
    const t1 = noGrad(() => this.perImage(this.target.net.projector, k1, b)); // [B, P, C]
    const t2 = noGrad(() => this.perImage(this.target.net.projector, k2, b));
    const [h, w] = this.mapSize;
    const p = h * w;
    const mask12 = tf.tensor3d(pixproPositiveMask(draws[0].boxes, draws[1].boxes, h, w, this.threshold), [b, p, p]);
    const mask21 = tf.transpose(mask12, [0, 2, 1]) as tf.Tensor3D;
    const pixel = tf.add(pixelConsistencyLoss(y1, t2, mask12), pixelConsistencyLoss(y2, t1, mask21)) as tf.Scalar;
    const { predictor } = this;
    const { instanceProjector } = this.online;
    const targetProjector = this.target.net.instanceProjector;
    if (!predictor || !instanceProjector || !targetProjector) return pixel;
    // The instance branch: per-pixel heads, then the average over the map (the official avgpool after them).
    const online = (c: tf.Tensor2D) => tf.mean(this.perImage(predictor, instanceProjector.apply(c, true), b), 1) as tf.Tensor2D;
    const target = (c: tf.Tensor2D) => noGrad(() => tf.mean(this.perImage(targetProjector, c, b), 1) as tf.Tensor2D);
    // −2·cos per direction, as the official `regression_loss` (negativeCosine is −cos).
    const instance = tf.mul(2, tf.add(negativeCosine(online(c1), target(k2)), negativeCosine(online(c2), target(k1))));
    return tf.add(pixel, tf.mul(this.instanceWeight, instance)) as tf.Scalar;
  }

  /** A view's feature map, one row per cell: [B·h·w, D]. */
  private cells(net: Network, x: tf.Tensor4D, training = true): tf.Tensor2D {
    const m = net.encoder.featureMap(x, training); // [B, h, w, D]
    const [b, h, w, d] = m.shape;
    return tf.reshape(m, [b * h * w, d]) as tf.Tensor2D;
  }

  /** A per-pixel head on every cell (its BN sees all B·h·w cells), one row per image: [B, h·w, C]. */
  private perImage(head: Mlp, cells: tf.Tensor2D, b: number): tf.Tensor3D {
    return tf.reshape(head.apply(cells, true), [b, cells.shape[0] / b, -1]) as tf.Tensor3D;
  }

  afterStep({ progress }: TrainBatch): void {
    this.lastTau = byolTau(this.tauBase, progress);
    emaUpdate(this.target.pairs, this.lastTau);
  }

  /** The projector's output averaged over the feature map. */
  projection(x: tf.Tensor4D): tf.Tensor2D {
    const b = x.shape[0];
    return tf.mean(tf.reshape(this.online.projector.apply(this.cells(this.online, x, false), false), [b, -1, this.online.projector.outDim]), 1) as tf.Tensor2D;
  }

  namedVariables(): Map<string, tf.Variable> {
    const out = new Map(this.params.vars);
    for (const [name, v] of this.target.params.vars) out.set(`target.${name}`, v);
    return out;
  }

  /** For tests: the momentum network, the online one and the instance branch's predictor. */
  get internals() {
    return { target: this.target, online: this.online, predictor: this.predictor };
  }

  dispose(): void {
    this.params.dispose();
    this.target.params.dispose();
  }
}

export const pixpro: MethodDefinition = { info: METHOD_INFO.pixpro, create: (ctx) => new PixPro(ctx) };
