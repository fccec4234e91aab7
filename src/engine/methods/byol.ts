import * as tf from '@tensorflow/tfjs-core';
import { METHOD_INFO } from '../../core/methods';
import { byolLoss } from '../losses/cosine';
import { createEncoder, type Encoder } from '../models/encoder';
import { ParamSet } from '../models/layers';
import { Mlp, projectorBlocks } from '../models/mlp';
import { byolTau, emaUpdate, momentumCopy, type MomentumCopy } from './shared/ema';
import { noGrad } from './shared/stop-gradient';
import type { Method, MethodContext, MethodDefinition, TrainBatch } from './types';

interface Network {
  encoder: Encoder; // f
  projector: Mlp; // g
}

/**
 * BYOL — "Bootstrap Your Own Latent", Grill et al. 2020, https://arxiv.org/abs/2006.07733, §3.1 and
 * Algorithm 1:
 *   online θ: y = f_θ(v), z = g_θ(y), p = q_θ(z)      target ξ: y′ = f_ξ(v′), z′ = g_ξ(y′)
 *   L = ‖p̄ − z̄′‖² = 2 − 2·cos(q_θ(z_θ), z′_ξ);  L^BYOL = L(v→v′) + L(v′→v)   (eq. 2)
 *   θ ← optimizer(θ, ∇_θ L^BYOL);  ξ ← τξ + (1 − τ)θ                          (eq. 1)
 *   τ = 1 − (1 − τ_base)(cos(πk/K) + 1)/2
 * No gradient reaches ξ: the target runs off the tape. Each view is its own BN batch, as in the official
 * code (one forward per view). g and q are Linear → BN → ReLU → Linear.
 */
class Byol implements Method {
  readonly encoder: Encoder;
  private readonly params: ParamSet;
  private readonly online: Network;
  private readonly predictor: Mlp; // q_θ
  private readonly target: MomentumCopy<Network>;
  private readonly tauBase: number;
  /** τ used by the last afterStep (for tests and logs). */
  lastTau = Number.NaN;

  constructor(ctx: MethodContext) {
    const { config } = ctx;
    const { hidden, out } = config.projector;
    const build = (ps: ParamSet): Network => {
      const encoder = createEncoder(config.encoder.preset, ctx.inputShape[2], ps);
      return { encoder, projector: new Mlp(ps, 'projector', projectorBlocks(encoder.featureDim, hidden, out)) };
    };
    this.params = new ParamSet(config.seed);
    this.online = build(this.params);
    this.encoder = this.online.encoder;
    this.predictor = new Mlp(this.params, 'predictor', projectorBlocks(out, Number(config.params.predictorHidden), out));
    this.target = momentumCopy(this.params, build); // ξ ← θ (encoder and projector; the predictor has no target)
    this.tauBase = Number(config.params.tauBase);
  }

  trainableVariables(): tf.Variable[] {
    return this.params.trainable();
  }

  loss({ views: [v1, v2] }: TrainBatch): tf.Scalar {
    const p1 = this.predict(v1); // [B, out]
    const p2 = this.predict(v2); // [B, out]
    const z1t = this.targetProjection(v1); // [B, out], constant
    const z2t = this.targetProjection(v2); // [B, out], constant
    return tf.add(byolLoss(p1, z2t), byolLoss(p2, z1t)) as tf.Scalar;
  }

  /** p = q_θ(g_θ(f_θ(v))), training mode. */
  private predict(v: tf.Tensor4D): tf.Tensor2D {
    return this.predictor.apply(this.online.projector.apply(this.online.encoder.features(v, true), true), true);
  }

  /** z′ = g_ξ(f_ξ(v)), off the gradient tape (training-mode BN, as in the official code). */
  private targetProjection(v: tf.Tensor4D): tf.Tensor2D {
    const { encoder, projector } = this.target.net;
    return noGrad(() => projector.apply(encoder.features(v, true), true));
  }

  afterStep({ progress }: TrainBatch): void {
    this.lastTau = byolTau(this.tauBase, progress);
    emaUpdate(this.target.pairs, this.lastTau);
  }

  projection(x: tf.Tensor4D): tf.Tensor2D {
    return this.online.projector.apply(this.online.encoder.features(x, false), false);
  }

  namedVariables(): Map<string, tf.Variable> {
    const out = new Map(this.params.vars);
    for (const [name, v] of this.target.params.vars) out.set(`target.${name}`, v);
    return out;
  }

  /** For tests: the target network. */
  get internals() {
    return { target: this.target };
  }

  dispose(): void {
    this.params.dispose();
    this.target.params.dispose();
  }
}

export const byol: MethodDefinition = { info: METHOD_INFO.byol, create: (ctx) => new Byol(ctx) };
