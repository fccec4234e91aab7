import * as tf from '@tensorflow/tfjs-core';
import { METHOD_INFO } from '../../core/methods';
import type { Rng } from '../../core/rng';
import { dimInfoNceLoss, dimJsdLoss, nonSaturatingGeneratorLoss, priorMatchingLoss } from '../losses/dim';
import { createEncoder, type Encoder } from '../models/encoder';
import { addBias, BatchNorm, Linear, ParamSet } from '../models/layers';
import { Mlp } from '../models/mlp';
import { stateNumber } from './shared/state';
import { stopGradient } from './shared/stop-gradient';
import type { Method, MethodContext, MethodDefinition, MethodState, TrainBatch } from './types';

/** Identity forward, negated gradient: D learns to tell prior from encoder while the encoder learns to fool it. */
export function reverseGradient<T extends tf.Tensor>(x: T): T {
  const op = tf.customGrad((input) => ({ value: tf.clone(input as tf.Tensor), gradFunc: (dy: tf.Tensor) => tf.neg(dy) }));
  return op(x) as T;
}

/**
 * One half of the local "encode-and-dot" discriminator, the official code's MI1x1ConvNet applied per
 * feature vector: LayerNorm(Linear(in→U) → BN → ReLU → Linear(U→U)  +  shortcut Linear(in→U)), the
 * shortcut initialised close to the identity (U(±0.01) with ones on the diagonal) so the scores start
 * from the features themselves.
 */
class Embed {
  private readonly hidden: Linear;
  private readonly bn: BatchNorm;
  private readonly out: Linear;
  private readonly shortcut: Linear;
  private readonly lnGain: tf.Variable;
  private readonly lnBias: tf.Variable;
  constructor(ps: ParamSet, name: string, inDim: number, units: number) {
    this.hidden = new Linear(ps, `${name}.0`, inDim, units, false);
    this.bn = new BatchNorm(ps, `${name}.0.bn`, units);
    this.out = new Linear(ps, `${name}.1`, units, units);
    this.shortcut = new Linear(ps, `${name}.shortcut`, inDim, units, false);
    if (units >= inDim) this.shortcut.w.assign(tf.tidy(() => tf.add(tf.mul(this.shortcut.w, 0.01 * Math.sqrt(inDim)), tf.eye(inDim, units))));
    this.lnGain = ps.add(`${name}.ln.weight`, tf.ones([units]));
    this.lnBias = ps.add(`${name}.ln.bias`, tf.zeros([units]));
  }
  apply(x: tf.Tensor2D, training: boolean): tf.Tensor2D {
    const h = tf.add(this.out.apply(tf.relu(this.bn.apply(this.hidden.apply(x), training))), this.shortcut.apply(x)) as tf.Tensor2D;
    const { mean, variance } = tf.moments(h, 1, true); // layer norm over the U units
    return tf.add(tf.mul(tf.mul(tf.sub(h, mean), tf.rsqrt(tf.add(variance, 1e-5))), this.lnGain), this.lnBias) as tf.Tensor2D;
  }
}

/**
 * The prior discriminator D (the official PriorMatching's Convnet of fc layers with ReLU): y → units →
 * units/4 → 1 logit (the paper's 1000 → 200 → 1, scaled down with the other heads). `frozen` reads its
 * weights as constants, so a loss through it trains what feeds it and not D: the encoder's generator loss.
 */
class PriorDiscriminator {
  private readonly layers: Linear[];
  constructor(ps: ParamSet, yDim: number, units: number) {
    const widths = [yDim, units, Math.max(1, units >> 2), 1];
    this.layers = widths.slice(1).map((out, i) => new Linear(ps, `prior_d.${i}.linear`, widths[i], out));
  }
  apply(x: tf.Tensor2D, frozen = false): tf.Tensor2D {
    let h = x;
    this.layers.forEach((l, i) => {
      h = frozen ? addBias(tf.matMul(h, stopGradient(l.w as tf.Tensor2D)), stopGradient(l.b! as tf.Tensor1D)) : l.apply(h);
      if (i < this.layers.length - 1) h = tf.relu(h);
    });
    return h;
  }
}

/**
 * The global discriminator T(y, M): the flattened feature map concatenated with y, then two hidden
 * layers (the paper's "concat-and-fc"). The first layer is linear in the concatenation, W[y; M] =
 * W_y·y + W_M·M, so the scores of all N×N (y_a, M_b) pairs cost two small matmuls and a broadcast
 * instead of N² concatenations.
 */
class GlobalDiscriminator {
  private readonly fromY: Linear;
  private readonly fromMap: Linear;
  private readonly hidden: Linear;
  private readonly out: Linear;
  constructor(ps: ParamSet, yDim: number, mapSize: number, units: number) {
    this.fromY = new Linear(ps, 'global_d.0.y', yDim, units);
    this.fromMap = new Linear(ps, 'global_d.0.map', mapSize, units, false);
    this.hidden = new Linear(ps, 'global_d.1', units, units);
    this.out = new Linear(ps, 'global_d.2', units, 1);
  }
  /** y [N, d], M [N, h, w, D] → scores [N, N, 1], entry [a, b] = T(y_a, M_b). */
  scores(y: tf.Tensor2D, m: tf.Tensor4D): tf.Tensor3D {
    const n = y.shape[0];
    const a = tf.reshape(this.fromY.apply(y), [n, 1, -1]); // [N, 1, U]
    const b = tf.reshape(this.fromMap.apply(tf.reshape(m, [n, -1]) as tf.Tensor2D), [1, n, -1]); // [1, N, U]
    const h = tf.reshape(tf.relu(tf.add(a, b)), [n * n, -1]) as tf.Tensor2D; // [N², U]
    return tf.reshape(this.out.apply(tf.relu(this.hidden.apply(h))), [n, n, 1]) as tf.Tensor3D;
  }
}

/**
 * DIM — "Learning deep representations by mutual information estimation and maximization", Hjelm et al.
 * 2018, https://arxiv.org/abs/1808.06670, §3 (eq. 8):
 *   M = C_ψ(x)                 local features, the encoder's last feature map   [N, h, w, D]
 *   Y = E_ψ(x) = f_ψ(M)        the global vector                                 [N, d]
 *   global:  α · Î(Y; M)            T_G(y, M) on the whole map
 *   local:   β · (1/hw) Σ_p Î(Y; M_p)   T_L(y, m_p) = φ(y)·ψ(m_p) ("encode-and-dot")
 *   prior:   γ · D̂(V ‖ U_{ψ,P})     σ(Y) pushed towards the prior V by an adversarial discriminator
 *   Î = JSD (default) or InfoNCE; negatives pair y_a with features of the batch's other images.
 * As rdevon/DIM: Y is the linear output of f_ψ, the sigmoid sits on the prior-matching path only
 * (PriorMatching's `nonlinearity`), D descends its own loss on a detached σ(Y), and the encoder descends
 * the non-saturating generator loss −log D(σ(Y)) (`generator_loss(..., 'non-saturating')`).
 * params.yActivation "sigmoid" and params.generatorLoss "minimax" give what runs did before that fix.
 * One view per image (view 1).
 */
class Dim implements Method {
  readonly encoder: Encoder;
  private readonly params: ParamSet;
  private readonly globalHead: Mlp; // f_ψ
  private readonly localY?: Embed; // φ
  private readonly localM?: Embed; // ψ
  private readonly globalD?: GlobalDiscriminator;
  private readonly priorD?: PriorDiscriminator;
  /** Y itself is σ(f(M)) (runs recorded before the fix); otherwise linear, with σ on the prior path. */
  private readonly sigmoidY: boolean;
  private readonly minimax: boolean;
  private readonly alpha: number;
  private readonly beta: number;
  private readonly gamma: number;
  private readonly estimator: (scores: tf.Tensor3D) => tf.Scalar;
  private readonly priorRng: Rng;

  constructor(ctx: MethodContext) {
    const { config } = ctx;
    const p = config.params;
    [this.alpha, this.beta, this.gamma] = [Number(p.alpha), Number(p.beta), Number(p.gamma)];
    if (this.alpha + this.beta === 0) throw new Error('DIM needs an MI term: params.alpha (global) or params.beta (local) must be > 0');
    this.estimator = p.estimator === 'infonce' ? dimInfoNceLoss : dimJsdLoss;
    this.sigmoidY = p.yActivation === 'sigmoid';
    this.minimax = p.generatorLoss === 'minimax';
    const units = Number(p.units);
    this.params = new ParamSet(config.seed);
    this.encoder = createEncoder(config.encoder.preset, ctx.inputShape[2], this.params);
    const [h, w] = this.featureMapSize(ctx.inputShape);
    const d = this.encoder.featureDim;
    const yDim = config.projector.out;
    this.globalHead = new Mlp(this.params, 'projector', [
      { in: h * w * d, out: config.projector.hidden, batchNorm: true, relu: true },
      { in: config.projector.hidden, out: yDim, batchNorm: false, relu: false },
    ]);
    if (this.beta > 0) {
      this.localY = new Embed(this.params, 'local_d.y', yDim, units);
      this.localM = new Embed(this.params, 'local_d.m', d, units);
    }
    if (this.alpha > 0) this.globalD = new GlobalDiscriminator(this.params, yDim, h * w * d, units);
    if (this.gamma > 0) this.priorD = new PriorDiscriminator(this.params, yDim, units);
    this.priorRng = ctx.rng.fork(1);
  }

  /** [h, w] of the encoder's feature map for this input (what f_ψ flattens). */
  private featureMapSize([h, w, c]: [number, number, number]): [number, number] {
    const shape = tf.tidy(() => this.encoder.featureMap(tf.zeros([1, h, w, c]) as tf.Tensor4D, false).shape);
    return [shape[1], shape[2]];
  }

  trainableVariables(): tf.Variable[] {
    return this.params.trainable();
  }

  /** M = C_ψ(x) and Y = f_ψ(M), linear as the official encoder's last fc (σ(f_ψ(M)) with yActivation "sigmoid"). */
  encode(x: tf.Tensor4D, training: boolean): { m: tf.Tensor4D; y: tf.Tensor2D } {
    const m = this.encoder.featureMap(x, training); // [N, h, w, D]
    const f = this.globalHead.apply(tf.reshape(m, [m.shape[0], -1]) as tf.Tensor2D, training); // [N, d]
    return { m, y: this.sigmoidY ? tf.sigmoid(f) : f };
  }

  loss({ views: [x] }: TrainBatch): tf.Scalar {
    const { m, y } = this.encode(x, true);
    const terms: tf.Scalar[] = [];
    if (this.globalD) terms.push(tf.mul(this.alpha, this.estimator(this.globalD.scores(y, m))));
    if (this.localY && this.localM) terms.push(tf.mul(this.beta, this.estimator(this.localScores(y, m))));
    if (this.priorD) terms.push(this.priorTerm(y));
    return tf.addN(terms) as tf.Scalar;
  }

  /** T_L(y_a, m_{b,p}) = φ(y_a)·ψ(m_{b,p}): [N, N, h·w]. */
  localScores(y: tf.Tensor2D, m: tf.Tensor4D): tf.Tensor3D {
    const [n, h, w, d] = m.shape;
    const u = this.localY!.apply(y, true); // [N, U]
    const l = this.localM!.apply(tf.reshape(m, [n * h * w, d]) as tf.Tensor2D, true); // [N·h·w, U]
    return tf.reshape(tf.matMul(u, l, false, true), [n, n, h * w]) as tf.Tensor3D;
  }

  /**
   * Prior matching (eq. 7) of s = σ(Y) ∈ (0, 1)^d against samples v ~ U(0, 1)^d. D descends
   * E[sp(−D(v))] + E[sp(D(s))] on a detached s; the encoder descends γ·E[sp(−D(s))] = −γ·E[log D(s)]
   * through a frozen D, so neither loss moves the other's parameters. With generatorLoss "minimax":
   * γ times D's loss, into the encoder through a gradient reversal.
   */
  private priorTerm(y: tf.Tensor2D): tf.Scalar {
    const [n, d] = y.shape;
    const v = tf.tensor2d(Float32Array.from({ length: n * d }, () => this.priorRng.next()), [n, d]);
    const s = this.sigmoidY ? y : tf.sigmoid(y); // [N, d] in (0, 1)
    const priorD = this.priorD!;
    if (this.minimax) return tf.mul(this.gamma, priorMatchingLoss(priorD.apply(v), priorD.apply(reverseGradient(s)))) as tf.Scalar;
    const discriminator = priorMatchingLoss(priorD.apply(v), priorD.apply(stopGradient(s)));
    return tf.add(discriminator, tf.mul(this.gamma, nonSaturatingGeneratorLoss(priorD.apply(s, true)))) as tf.Scalar;
  }

  /** Y, the global vector (what the MI estimators read). */
  projection(x: tf.Tensor4D): tf.Tensor2D {
    return this.encode(x, false).y;
  }

  namedVariables(): Map<string, tf.Variable> {
    return this.params.vars;
  }

  saveState(): MethodState {
    return { priorRng: this.priorRng.getState() };
  }

  restoreState(state: MethodState): void {
    this.priorRng.setState(stateNumber(state, 'priorRng'));
  }

  dispose(): void {
    this.params.dispose();
  }
}

export const dim: MethodDefinition = { info: METHOD_INFO.dim, create: (ctx) => new Dim(ctx) };
