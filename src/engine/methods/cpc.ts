import * as tf from '@tensorflow/tfjs-core';
import { METHOD_INFO } from '../../core/methods';
import type { Rng } from '../../core/rng';
import { cpcOffsetLoss } from '../losses/cpc';
import type { Encoder } from '../models/encoder';
import { Linear, ParamSet } from '../models/layers';
import { PatchEncoder, PixelCnnContext, type PatchNorm } from './shared/cpc-networks';
import { extractPatches, patchGrid, type PatchAugment, type PatchGrid } from './shared/patches';
import { stateNumber } from './shared/state';
import type { Method, MethodContext, MethodDefinition, MethodState, TrainBatch } from './types';

/**
 * Which way the autoregressive context reads the grid: CPC predicts rows below from rows above
 * (top-down); CPC v2 also predicts upwards, and optionally along rows.
 */
export type Direction = 'top-down' | 'bottom-up' | 'left-right' | 'right-left';

/** What differs between CPC and CPC v2 (see cpcv2.ts for the list of v2's changes). */
export interface CpcVariant {
  norm: PatchNorm;
  directions: Direction[];
  /** v2 scores predictions against a 1×1-conv projection of z to this width; v1 against z itself. */
  targetDim?: number;
  /** v2's `emb_scale`: predictions are multiplied by it before the dot product. */
  predictionScale: number;
  patchAugment?: PatchAugment;
}

/** The grid in the direction's reading order: rows of the result are read top to bottom. */
function orient(z: tf.Tensor4D, d: Direction): tf.Tensor4D {
  switch (d) {
    case 'top-down':
      return z;
    case 'bottom-up':
      return tf.reverse(z, 1);
    case 'left-right':
      return tf.transpose(z, [0, 2, 1, 3]);
    case 'right-left':
      return tf.reverse(tf.transpose(z, [0, 2, 1, 3]), 1);
  }
}

/**
 * The image-level representation of CPC: each patch encoded by g_enc, z [B, rows, cols, D] as the
 * "feature map", and its spatial mean as the features every evaluation uses (the papers' linear
 * classifiers read the mean-pooled patch encodings too).
 */
class PatchGridEncoder implements Encoder {
  readonly featureDim: number;
  constructor(
    readonly params: ParamSet,
    readonly patchEncoder: PatchEncoder,
    readonly grid: PatchGrid,
  ) {
    this.featureDim = patchEncoder.dim;
  }
  /** z [B, rows, cols, D]; with `augment`, CPC v2's per-patch augmentation is applied first. */
  encode(x: tf.Tensor4D, training: boolean, augment?: { params: PatchAugment; rng: Rng }): tf.Tensor4D {
    const z = this.patchEncoder.apply(extractPatches(x, this.grid, augment), training); // [B·rows·cols, D]
    return tf.reshape(z, [x.shape[0], this.grid.rows, this.grid.cols, this.featureDim]);
  }
  featureMap(x: tf.Tensor4D, training: boolean): tf.Tensor4D {
    return this.encode(x, training);
  }
  features(x: tf.Tensor4D, training: boolean): tf.Tensor2D {
    return tf.mean(this.encode(x, training), [1, 2]) as tf.Tensor2D;
  }
}

/** g_ar, and the W_k and (v2) target projection of one direction. */
interface DirectionHeads {
  context: PixelCnnContext;
  predictors: Map<number, Linear>; // k → W_k
  target?: Linear;
}

/**
 * CPC — "Representation Learning with Contrastive Predictive Coding", van den Oord et al. 2018,
 * https://arxiv.org/abs/1807.03748, §3.3 (images):
 *   x → overlapping grid of patches x_{i,j}          one augmented view (view 1)
 *   z_{i,j} = g_enc(x_{i,j})                          [B, R, C, D], each patch on its own
 *   c_{i,j} = g_ar(z_{u,v} : u ≤ i)                   PixelCNN-style masked convolutions over rows above
 *   ẑ_{i+k,j} = W_k c_{i,j},  k = minOffset … maxOffset
 *   L = Σ_k InfoNCE(ẑ_{i+k,j}; positive z_{i+k,j}, negatives: every other patch in the batch)
 * The same class runs CPC v2 (arXiv 1905.09272) with its variant: layer norm, several directions, a
 * target projection and per-patch augmentation (see cpcv2.ts).
 */
export class Cpc implements Method {
  readonly encoder: PatchGridEncoder;
  private readonly params: ParamSet;
  private readonly heads = new Map<Direction, DirectionHeads>();
  private readonly offsets: number[];
  private readonly augmentRng: Rng;
  private readonly negativeRng: Rng;
  /** Negatives scored per prediction (0: every patch of the batch). */
  private readonly negatives: number;

  constructor(
    ctx: MethodContext,
    readonly variant: CpcVariant,
  ) {
    const { config } = ctx;
    const p = config.params;
    const [h, w, channels] = ctx.inputShape;
    const grid = patchGrid(h, w, Number(p.patchSize), Number(p.patchStride));
    const [minOffset, maxOffset] = [Number(p.minOffset), Number(p.maxOffset)];
    if (minOffset > maxOffset) throw new Error(`params.minOffset (${minOffset}) must be ≤ params.maxOffset (${maxOffset})`);
    const shortest = variant.directions.some((d) => d === 'left-right' || d === 'right-left') ? Math.min(grid.rows, grid.cols) : grid.rows;
    if (minOffset >= shortest)
      throw new Error(`${grid.size}-px patches every ${grid.stride} px give a ${grid.rows}×${grid.cols} grid on ${h}×${w} images: no patch is ${minOffset} rows away (lower params.minOffset or params.patchStride)`);
    this.offsets = Array.from({ length: Math.min(maxOffset, shortest - 1) - minOffset + 1 }, (_, i) => minOffset + i);
    this.params = new ParamSet(config.seed);
    this.encoder = new PatchGridEncoder(this.params, new PatchEncoder(this.params, config.encoder.preset, channels, variant.norm), grid);
    const d = this.encoder.featureDim;
    for (const dir of variant.directions) {
      const targetDim = variant.targetDim ?? d;
      this.heads.set(dir, {
        context: new PixelCnnContext(this.params, `context.${dir}`, d, d, Number(p.contextBlocks)),
        // v1's W_k c_t is linear; v2's 1×1 convolutions have biases.
        predictors: new Map(this.offsets.map((k) => [k, new Linear(this.params, `predict.${dir}.${k}`, d, targetDim, variant.targetDim !== undefined)])),
        target: variant.targetDim !== undefined ? new Linear(this.params, `target.${dir}`, d, variant.targetDim) : undefined,
      });
    }
    this.augmentRng = ctx.rng.fork(1);
    this.negativeRng = ctx.rng.fork(2);
    this.negatives = Number(p.negatives);
  }

  trainableVariables(): tf.Variable[] {
    return this.params.trainable();
  }

  loss({ views: [x] }: TrainBatch): tf.Scalar {
    const augment = this.variant.patchAugment ? { params: this.variant.patchAugment, rng: this.augmentRng } : undefined;
    const z = this.encoder.encode(x, true, augment); // [B, R, C, D]
    const terms = this.variant.directions.flatMap((dir) => this.directionLosses(z, dir));
    return tf.addN(terms) as tf.Scalar;
  }

  /** One InfoNCE term per offset k for one direction (Σ_k as in the v2 pseudocode's `loss +=`). */
  directionLosses(z: tf.Tensor4D, dir: Direction): tf.Scalar[] {
    const { predictors, target } = this.heads.get(dir)!;
    const zd = orient(z, dir); // [B, R, C, D] in reading order
    const c = this.contextOf(zd, dir); // [B, R, C, D]
    const [b, rows, cols, d] = zd.shape;
    const targets = target ? (tf.reshape(target.apply(tf.reshape(zd, [-1, d]) as tf.Tensor2D), [b, rows, cols, -1]) as tf.Tensor4D) : zd;
    const negatives = this.sampleNegatives(b * rows * cols);
    return this.offsets
      .filter((k) => k < rows)
      .map((k) => {
        const rowsWithFuture = tf.slice(c, [0, 0, 0, 0], [b, rows - k, cols, d]); // c_{i,j} with a row i+k
        const pred = predictors.get(k)!.apply(tf.reshape(rowsWithFuture, [-1, d]) as tf.Tensor2D); // W_k c
        const scaled = this.variant.predictionScale === 1 ? pred : tf.mul(pred, this.variant.predictionScale);
        return cpcOffsetLoss(tf.reshape(scaled, [b, rows - k, cols, -1]) as tf.Tensor4D, targets, k, negatives);
      });
  }

  /** `negatives` distinct patch indices out of `pool`, uniformly (a partial Fisher–Yates); all of them when 0 or ≥ pool. */
  private sampleNegatives(pool: number): Int32Array | undefined {
    if (this.negatives === 0 || this.negatives >= pool) return undefined;
    const idx = Int32Array.from({ length: pool }, (_, i) => i);
    for (let i = 0; i < this.negatives; i++) {
      const j = i + this.negativeRng.int(pool - i);
      [idx[i], idx[j]] = [idx[j], idx[i]];
    }
    return idx.slice(0, this.negatives);
  }

  /** c = g_ar(z) for a grid already in the direction's reading order. */
  contextOf(zOriented: tf.Tensor4D, dir: Direction): tf.Tensor4D {
    return this.heads.get(dir)!.context.apply(zOriented);
  }

  /** The mean of the top-down (first direction's) context vectors: what the predictors read. */
  projection(x: tf.Tensor4D): tf.Tensor2D {
    const dir = this.variant.directions[0];
    return tf.mean(this.contextOf(orient(this.encoder.encode(x, false), dir), dir), [1, 2]) as tf.Tensor2D;
  }

  namedVariables(): Map<string, tf.Variable> {
    return this.params.vars;
  }

  saveState(): MethodState {
    return { augmentRng: this.augmentRng.getState(), negativeRng: this.negativeRng.getState() };
  }

  restoreState(state: MethodState): void {
    this.augmentRng.setState(stateNumber(state, 'augmentRng'));
    this.negativeRng.setState(stateNumber(state, 'negativeRng'));
  }

  /** For tests: the grid, the offsets used and each direction's networks. */
  get internals() {
    return { grid: this.encoder.grid, offsets: this.offsets, heads: this.heads, orient };
  }

  dispose(): void {
    this.params.dispose();
  }
}

export const cpc: MethodDefinition = {
  info: METHOD_INFO.cpc,
  // The paper's encoder has no batch norm (§3.3); params.patchNorm "batch" is what runs did before that fix.
  create: (ctx) => new Cpc(ctx, { norm: ctx.config.params.patchNorm === 'batch' ? 'batch' : 'none', directions: ['top-down'], predictionScale: 1 }),
};
