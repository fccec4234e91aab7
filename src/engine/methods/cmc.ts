import * as tf from '@tensorflow/tfjs-core';
import { METHOD_INFO } from '../../core/methods';
import type { Rng } from '../../core/rng';
import { cmcLoss, crossViewInfoNce, type CmcObjective } from '../losses/cmc';
import { estimateLogZ, nceLoss, nonParametricSoftmaxLoss } from '../losses/nce';
import { l2normalize } from '../losses/ntxent';
import { createEncoder, type Encoder } from '../models/encoder';
import { Linear, ParamSet } from '../models/layers';
import { MemoryBank } from './shared/memory-bank';
import { stopGradient } from './shared/stop-gradient';
import { splitViews, viewChannels, type ViewSplit } from './shared/view-split';
import { stateNumber, stateNumbers } from './shared/state';
import type { Method, MethodContext, MethodDefinition, MethodState, PrepareData, TrainBatch } from './types';

/** One view's network: its own encoder f_θi and a linear head to the d-dim embedding (the official fc + L2 norm). */
interface ViewNetwork {
  params: ParamSet;
  encoder: Encoder;
  head: Linear;
}

/**
 * The image-level representation of CMC: each view through its own encoder, feature maps concatenated
 * along channels ([B, h, w, Σ D_i]) and pooled, as the paper concatenates the views' features for its
 * linear evaluation ("we concatenate the features from both views").
 */
class MultiViewEncoder implements Encoder {
  readonly featureDim: number;
  readonly params = new ParamSet(0); // an index of every view's encoder parameters; the views own them
  constructor(
    private readonly networks: ViewNetwork[],
    private readonly split: ViewSplit,
  ) {
    this.featureDim = networks.reduce((s, n) => s + n.encoder.featureDim, 0);
    networks.forEach((n, v) => {
      for (const [name, variable] of n.params.vars) if (name.startsWith('encoder.')) this.params.vars.set(`view${v}.${name}`, variable);
    });
  }
  featureMap(x: tf.Tensor4D, training: boolean): tf.Tensor4D {
    const views = splitViews(x, this.split);
    return tf.concat(
      views.map((v, i) => this.networks[i].encoder.featureMap(v, training)),
      3,
    );
  }
  features(x: tf.Tensor4D, training: boolean): tf.Tensor2D {
    return tf.mean(this.featureMap(x, training), [1, 2]) as tf.Tensor2D;
  }
}

type Contrast = 'softmax' | 'nce' | 'in-batch';

/**
 * CMC — "Contrastive Multiview Coding", Tian et al. 2019, https://arxiv.org/abs/1906.05849, §3:
 *   x → views V_1 … V_M (L | ab, or frequency bands of a grayscale image)
 *   z_i = normalise(fc_i(f_θi(v_i)))                       [N, d], one encoder per view
 *   L_contrast^{V_i,V_j} = −E log h_θ({v_i, v_j}), h = exp(z_i·z_j/τ) / Σ over the positive and k
 *     negatives v_j of other images: the other view's memory bank (exact softmax over all its rows, or
 *     NCE with k noise rows, as the official code) or the other images of the batch
 *   L(V_i, V_j) = L^{V_i,V_j} + L^{V_j,V_i};  core view: Σ_j L(V_1, V_j);  full graph: Σ_{i<j} L(V_i, V_j)
 *   after the step: memory_i[image] ← normalise(m·memory_i[image] + (1 − m)·z_i)
 * One augmented image per step (view 1); the views are channels of it. The banks start random (the
 * official code) or, with bankInit "features" (an experiment, not the paper), as every training image's
 * z_i under the untrained networks.
 */
class Cmc implements Method {
  readonly encoder: MultiViewEncoder;
  private readonly networks: ViewNetwork[];
  private readonly split: ViewSplit;
  private readonly objective: CmcObjective;
  private readonly contrast: Contrast;
  private readonly t: number;
  private readonly momentum: number;
  private readonly noiseSamples: number;
  private readonly bankInit: string;
  private readonly banks: MemoryBank[] = [];
  private readonly noiseRng: Rng;
  /** log Z of each NCE direction i→j, estimated on the first batch and then fixed (checkpointed as variables). */
  private readonly logZ = new Map<string, { known: boolean; variable: tf.Variable }>();
  /** This step's embeddings and bank rows, written to the banks by afterStep. */
  private pending?: { z: tf.Tensor2D[]; rows: Int32Array };

  constructor(ctx: MethodContext) {
    const { config } = ctx;
    const p = config.params;
    const channels = ctx.inputShape[2];
    const count = Number(p.numViews);
    const kind = p.views === 'auto' ? (channels === 3 ? 'lab' : 'frequency') : String(p.views);
    if (kind === 'lab') {
      if (channels !== 3) throw new Error(`params.views "lab" needs colour (RGB) images; these have ${channels} channel(s): use "frequency" (or "auto")`);
      if (count !== 2 && count !== 3) throw new Error(`params.views "lab" gives 2 views (L, ab) or 3 (L, a, b); params.numViews is ${count}`);
      this.split = { kind: 'lab', count, stats: ctx.inputStats };
    } else {
      this.split = { kind: 'frequency', count, sigma: Number(p.lowPassSigma) };
    }
    this.objective = p.objective as CmcObjective;
    this.contrast = p.contrast as Contrast;
    this.t = Number(p.temperature);
    this.momentum = Number(p.memoryMomentum);
    this.noiseSamples = Number(p.noiseSamples);
    this.bankInit = String(p.bankInit ?? 'random');
    if (this.bankInit === 'features' && this.contrast === 'in-batch') throw new Error(`params.bankInit "features" fills the memory banks, and params.contrast "in-batch" has none: use bankInit "random" or a softmax/nce contrast${config.recipe === 'short' ? ' (the short recipe sets bankInit "features")' : ''}`);
    const d = config.projector.out;
    this.networks = viewChannels(this.split, channels).map((c, v) => {
      const params = new ParamSet(config.seed * 16 + v);
      const encoder = createEncoder(config.encoder.preset, c, params);
      return { params, encoder, head: new Linear(params, 'head', encoder.featureDim, d) };
    });
    this.encoder = new MultiViewEncoder(this.networks, this.split);
    if (this.contrast !== 'in-batch') {
      // One bank per view, rows for the images this run trains on (see MemoryBank on trainLimit).
      const n = config.trainLimit > 0 ? Math.min(config.trainLimit, ctx.trainSize) : ctx.trainSize;
      this.networks.forEach((_, v) => this.banks.push(new MemoryBank(n, d, ctx.trainSize, ctx.rng.fork(10 + v))));
    }
    if (this.contrast === 'nce')
      for (let i = 0; i < count; i++) for (let j = 0; j < count; j++) if (i !== j) this.logZ.set(`${i}_${j}`, { known: false, variable: tf.tidy(() => tf.variable(tf.scalar(Number.NaN), false)) });
    this.noiseRng = ctx.rng.fork(2);
  }

  trainableVariables(): tf.Variable[] {
    return this.networks.flatMap((n) => n.params.trainable());
  }

  /** bankInit "features": bank i's row of each image = z_i of the unaugmented image, BN at its initial statistics (evaluation mode changes no running statistic). */
  async prepare({ trainIndices, mapTrain }: PrepareData): Promise<void> {
    if (this.bankInit !== 'features') return;
    const { values, dim } = await mapTrain((x) => tf.concat(this.embed(x, false), 1)); // [n, M·d]
    const d = dim / this.banks.length;
    this.banks.forEach((bank, v) => {
      const rows = new Float32Array(trainIndices.length * d);
      for (let r = 0; r < trainIndices.length; r++) rows.set(values.subarray(r * dim + v * d, r * dim + (v + 1) * d), r * d);
      bank.fill(trainIndices, rows);
    });
  }

  /** z_i = normalise(fc_i(f_θi(v_i))) for every view: [N, d] each. */
  embed(x: tf.Tensor4D, training: boolean): tf.Tensor2D[] {
    return splitViews(x, this.split).map((v, i) => l2normalize(this.networks[i].head.apply(this.networks[i].encoder.features(v, training))));
  }

  loss({ views: [x], indices }: TrainBatch): tf.Scalar {
    const z = this.embed(x, true);
    if (this.contrast === 'in-batch') return cmcLoss(z.length, this.objective, (i, j) => crossViewInfoNce(z[i], z[j], this.t));
    const rows = this.banks[0].rowsFor(indices);
    for (const bank of this.banks.slice(1)) bank.rowsFor(indices); // every bank keeps the same row for an image
    this.keep(z, rows);
    const noise = this.contrast === 'nce' ? this.banks[0].sampleNoise(this.noiseRng, rows, this.noiseSamples) : undefined;
    return cmcLoss(z.length, this.objective, (i, j) => this.memoryContrast(i, j, z[i], rows, noise));
  }

  /** L_contrast^{V_i,V_j} against view j's memory bank: anchors z_i, positive = the image's own row of bank j. */
  memoryContrast(i: number, j: number, zi: tf.Tensor2D, rows: Int32Array, noise?: Int32Array): tf.Scalar {
    const bank = this.banks[j];
    const scores = tf.div(tf.matMul(zi, bank.bank as tf.Tensor2D, false, true), this.t) as tf.Tensor2D; // [N, n]
    if (!noise) return nonParametricSoftmaxLoss(scores, rows);
    // NCE: column 0 the positive row, columns 1..k the noise rows (shared by all directions of this step).
    const [b, n] = scores.shape;
    const k = this.noiseSamples;
    const flat = new Int32Array(b * (k + 1));
    for (let a = 0; a < b; a++) {
      flat[a * (k + 1)] = a * n + rows[a];
      for (let q = 0; q < k; q++) flat[a * (k + 1) + 1 + q] = a * n + noise[a * k + q];
    }
    const picked = tf.reshape(tf.gather(tf.reshape(scores, [b * n]), tf.tensor1d(flat, 'int32')), [b, k + 1]) as tf.Tensor2D;
    const z = this.logZ.get(`${i}_${j}`)!;
    if (!z.known) {
      z.variable.assign(estimateLogZ(picked, n));
      z.known = true;
    }
    return nceLoss(tf.sub(picked, z.variable) as tf.Tensor2D, n - 1);
  }

  /** Holds this step's embeddings (constant) for the banks, outside the gradient tidy. */
  private keep(z: tf.Tensor2D[], rows: Int32Array): void {
    this.pending?.z.forEach((t) => t.dispose());
    this.pending = { z: z.map((t) => tf.keep(stopGradient(t))), rows };
  }

  afterStep(): void {
    if (!this.pending) return;
    this.banks.forEach((bank, v) => bank.update(this.pending!.rows, this.pending!.z[v], this.momentum));
    this.pending.z.forEach((t) => t.dispose());
    this.pending = undefined;
  }

  /** Every view's embedding, concatenated: [N, M·d]. */
  projection(x: tf.Tensor4D): tf.Tensor2D {
    return tf.concat(this.embed(x, false), 1);
  }

  namedVariables(): Map<string, tf.Variable> {
    const out = new Map<string, tf.Variable>();
    this.networks.forEach((n, v) => {
      for (const [name, variable] of n.params.vars) out.set(`view${v}.${name}`, variable);
    });
    this.banks.forEach((bank, v) => out.set(`memory_bank.view${v}`, bank.bank));
    for (const [pair, { variable }] of this.logZ) out.set(`nce_log_z.${pair}`, variable);
    return out;
  }

  saveState(): MethodState {
    const state: MethodState = { noiseRng: this.noiseRng.getState(), bankRows: this.banks[0]?.assignments() ?? [] };
    // Each log Z is its variable nce_log_z.<pair>, saved with the others; the state says which were estimated.
    for (const [pair, { known }] of this.logZ) if (known) state[`logZEstimated.${pair}`] = 1;
    return state;
  }

  restoreState(state: MethodState): void {
    this.noiseRng.setState(stateNumber(state, 'noiseRng'));
    const rows = stateNumbers(state, 'bankRows');
    for (const bank of this.banks) bank.restoreAssignments(rows); // every bank gives an image the same row
    // `logZ.<pair>` (the value as a number): the states of earlier versions.
    for (const [pair, z] of this.logZ) z.known = state[`logZEstimated.${pair}`] === 1 || state[`logZ.${pair}`] !== undefined;
  }

  /** For tests: the view split, the per-view networks and memory banks. */
  get internals() {
    return { split: this.split, networks: this.networks, banks: this.banks };
  }

  dispose(): void {
    this.pending?.z.forEach((t) => t.dispose());
    this.networks.forEach((n) => n.params.dispose());
    this.banks.forEach((b) => b.dispose());
    for (const { variable } of this.logZ.values()) variable.dispose();
  }
}

export const cmc: MethodDefinition = { info: METHOD_INFO.cmc, create: (ctx) => new Cmc(ctx) };
