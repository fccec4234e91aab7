import * as tf from '@tensorflow/tfjs-core';
import { METHOD_INFO } from '../../core/methods';
import type { Rng } from '../../core/rng';
import { estimateLogZ, nceLoss, nonParametricSoftmaxLoss } from '../losses/nce';
import { l2normalize } from '../losses/ntxent';
import { createEncoder, type Encoder } from '../models/encoder';
import { ParamSet } from '../models/layers';
import { Mlp } from '../models/mlp';
import { MemoryBank } from './shared/memory-bank';
import { stopGradient } from './shared/stop-gradient';
import { stateNumber, stateNumbers } from './shared/state';
import type { Method, MethodContext, MethodDefinition, MethodState, PrepareData, TrainBatch } from './types';

/**
 * InstDisc — "Unsupervised Feature Learning via Non-Parametric Instance Discrimination", Wu et al. 2018,
 * https://arxiv.org/abs/1805.01978, §3 (official code: zhirongw/lemniscate.pytorch):
 *   f_i = normalise(fc(encoder(x_i)))                      # B×d, d = 128
 *   P(i|f) = exp(v_iᵀf/τ) / Z,  V = {v_j} the memory bank  # n×d, one row per training image
 *   NCE: positive v_i (the image's own memory), m noise rows v_j, j ~ U(n \ {i});  Z ≈ n·E[exp(vᵀf/τ)]
 *     fixed from the first batch;  or the exact softmax over all n rows
 *   after the step: v_i ← normalise(0.5·v_i + 0.5·f_i)
 * One augmented view per image per step (view 1). The bank starts random (the official code) or, with
 * bankInit "features" (an experiment, not the paper), as every training image's f under the untrained network.
 */
class InstDisc implements Method {
  readonly encoder: Encoder;
  private readonly params: ParamSet;
  private readonly head: Mlp; // fc to d
  readonly memory: MemoryBank;
  private readonly t: number;
  private readonly momentum: number;
  private readonly m: number;
  private readonly exactSoftmax: boolean;
  private readonly bankInit: string;
  private readonly noiseRng: Rng;
  /** log Z, estimated on the first batch and then fixed, in a variable (so checkpoints keep it); `logZKnown` once estimated. */
  private logZKnown = false;
  readonly logZVar: tf.Variable;
  /** This step's features and bank rows, written to the bank by afterStep. */
  private pending?: { f: tf.Tensor2D; rows: Int32Array };

  constructor(ctx: MethodContext) {
    const { config } = ctx;
    const p = config.params;
    this.t = Number(p.temperature);
    this.momentum = Number(p.memoryMomentum);
    this.m = Number(p.noiseSamples);
    this.exactSoftmax = p.loss === 'softmax';
    this.bankInit = String(p.bankInit ?? 'random');
    this.params = new ParamSet(config.seed);
    this.encoder = createEncoder(config.encoder.preset, ctx.inputShape[2], this.params);
    this.head = new Mlp(this.params, 'projector', [{ in: this.encoder.featureDim, out: config.projector.out, batchNorm: false, relu: false }]);
    // n = the images this run trains on (trainLimit may use fewer than the training set holds).
    const n = config.trainLimit > 0 ? Math.min(config.trainLimit, ctx.trainSize) : ctx.trainSize;
    this.memory = new MemoryBank(n, config.projector.out, ctx.trainSize, ctx.rng.fork(1));
    this.noiseRng = ctx.rng.fork(2);
    this.logZVar = tf.tidy(() => tf.variable(tf.scalar(Number.NaN), false));
  }

  trainableVariables(): tf.Variable[] {
    return this.params.trainable();
  }

  /** bankInit "features": v_i = normalise(fc(encoder(x_i))) of the unaugmented image, BN at its initial statistics (evaluation mode changes no running statistic). */
  async prepare({ trainIndices, mapTrain }: PrepareData): Promise<void> {
    if (this.bankInit !== 'features') return;
    const { values } = await mapTrain((x) => l2normalize(this.head.apply(this.encoder.features(x, false), false)));
    this.memory.fill(trainIndices, values);
  }

  loss({ views: [x], indices }: TrainBatch): tf.Scalar {
    const b = x.shape[0];
    const n = this.memory.rows;
    const rows = this.memory.rowsFor(indices);
    const f = l2normalize(this.head.apply(this.encoder.features(x, true), true)); // B×d
    this.keep(f, rows);
    // Similarity to every memory entry: B×n. The official code gathers m+1 rows per image instead, but
    // with B·m ≥ n (here) every row is touched anyway and one matmul is far cheaper than B·(m+1) rows.
    const scores = tf.div(tf.matMul(f, this.memory.bank as tf.Tensor2D, false, true), this.t) as tf.Tensor2D; // B×n, vᵀf/τ
    if (this.exactSoftmax) return nonParametricSoftmaxLoss(scores, rows);
    // Column 0: the image's own memory entry; columns 1..m: noise entries, drawn per image.
    const noise = this.memory.sampleNoise(this.noiseRng, rows, this.m);
    const flat = new Int32Array(b * (this.m + 1));
    for (let i = 0; i < b; i++) {
      flat[i * (this.m + 1)] = i * n + rows[i];
      for (let j = 0; j < this.m; j++) flat[i * (this.m + 1) + 1 + j] = i * n + noise[i * this.m + j];
    }
    const picked = tf.reshape(tf.gather(tf.reshape(scores, [b * n]), tf.tensor1d(flat, 'int32')), [b, this.m + 1]) as tf.Tensor2D; // B×(1+m)
    if (!this.logZKnown) {
      this.logZVar.assign(estimateLogZ(picked, n));
      this.logZKnown = true;
    }
    return nceLoss(tf.sub(picked, this.logZVar) as tf.Tensor2D, n - 1); // log P(i|v) = vᵀf/τ − log Z; noise uniform over n − 1 rows
  }

  /** Holds this step's features (constant) for the bank update, outside the gradient tidy. */
  private keep(f: tf.Tensor2D, rows: Int32Array): void {
    this.pending?.f.dispose();
    this.pending = { f: tf.keep(stopGradient(f)), rows };
  }

  afterStep(): void {
    if (!this.pending) return;
    this.memory.update(this.pending.rows, this.pending.f, this.momentum);
    this.pending.f.dispose();
    this.pending = undefined;
  }

  projection(x: tf.Tensor4D): tf.Tensor2D {
    return this.head.apply(this.encoder.features(x, false), false);
  }

  namedVariables(): Map<string, tf.Variable> {
    const out = new Map(this.params.vars);
    out.set('memory_bank', this.memory.bank);
    out.set('nce_log_z', this.logZVar);
    return out;
  }

  saveState(): MethodState {
    // log Z itself is the variable nce_log_z, saved with the others; the state says whether it was estimated.
    return { noiseRng: this.noiseRng.getState(), bankRows: this.memory.assignments(), ...(this.logZKnown ? { logZEstimated: 1 } : {}) };
  }

  restoreState(state: MethodState): void {
    this.noiseRng.setState(stateNumber(state, 'noiseRng'));
    this.memory.restoreAssignments(stateNumbers(state, 'bankRows'));
    // `logZ` (its value as a number): the states of earlier versions, whose nce_log_z variable holds the same value.
    this.logZKnown = state.logZEstimated === 1 || state.logZ !== undefined;
  }

  dispose(): void {
    this.pending?.f.dispose();
    this.params.dispose();
    this.memory.dispose();
    this.logZVar.dispose();
  }
}

export const instdisc: MethodDefinition = { info: METHOD_INFO.instdisc, create: (ctx) => new InstDisc(ctx) };
