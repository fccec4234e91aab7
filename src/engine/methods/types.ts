import type * as tf from '@tensorflow/tfjs-core';
import type { RunConfig } from '../../core/config';
import type { MethodInfo } from '../../core/methods';
import type { AugmentDraw } from '../augment/pipeline';
import type { Rng } from '../../core/rng';
import type { Encoder } from '../models/encoder';

export interface MethodContext {
  config: RunConfig;
  /** Input images: [H, W, C]. */
  inputShape: [number, number, number];
  trainSize: number;
  totalSteps: number;
  rng: Rng;
  /** The per-channel mean and std the views were normalised with (CMC undoes it to convert RGB to Lab). */
  inputStats?: { mean: number[]; std: number[] };
}

/** One training step's input: the augmented views of a batch and which training images they came from. */
export interface TrainBatch {
  /** One tensor per view, each [B, H, W, C], normalised. */
  views: tf.Tensor4D[];
  /** Each view's random augmentation choices (crop boxes in normalised coordinates, flips, …). */
  draws: AugmentDraw[];
  /** Index of each image in the training set (memory banks key on it). */
  indices: Int32Array;
  step: number;
  epoch: number;
  /** Fraction of training done, in [0, 1] (EMA schedules use it). */
  progress: number;
}

/**
 * A self-supervised method on the plug-in interface. The training loop calls, per step:
 *   loss(batch) inside tf.variableGrads over trainableVariables(), the optimizer, then afterStep(batch).
 */
export interface Method {
  /** The network whose pooled features every evaluation uses. */
  readonly encoder: Encoder;
  trainableVariables(): tf.Variable[];
  /**
   * Trainable variables whose learning rate stays at optimizer.lr, outside warmup and decay (SimSiam's
   * --fix-pred-lr). The rest follow the schedule.
   */
  constantLrVariables?(): tf.Variable[];
  /** The loss to minimise; runs under the gradient tape (training-mode BN). */
  loss(batch: TrainBatch): tf.Scalar;
  /** Non-gradient updates after the optimizer step: EMA targets, queues, memory banks. */
  afterStep?(batch: TrainBatch): void;
  /** The projector's output in evaluation mode, for the collapse metric. */
  projection(x: tf.Tensor4D): tf.Tensor2D;
  /** Every variable (trainable and state) by a stable name, for checkpoints. */
  namedVariables(): Map<string, tf.Variable>;
  /**
   * Called once before the first step of a new run (not on resume: the saved state holds what it set),
   * with a way to map the run's training images, unaugmented and normalised, through a function of the
   * method's networks: e.g. InstDisc filling its memory bank with real features.
   */
  prepare?(data: PrepareData): Promise<void>;
  /**
   * What the method keeps outside its variables that a resumed run needs to continue exactly: the
   * positions of the random streams it draws from step after step (noise samples, shuffles), which
   * memory-bank row each image got. Methods whose whole state is in namedVariables() leave both out.
   */
  saveState?(): MethodState;
  /**
   * Restores saveState's output, after namedVariables() were loaded: also re-reads what the method caches
   * in JS from its variables (MoCo's queue pointer, InstDisc's log Z).
   */
  restoreState?(state: MethodState): void;
  dispose(): void;
}

export interface PrepareData {
  /** The training-set indices of the images the run trains on, in the order `mapTrain` returns their rows. */
  trainIndices: Int32Array;
  /** `fn` over those images in batches: [trainIndices.length, dim] row-major. */
  mapTrain(fn: (x: tf.Tensor4D) => tf.Tensor2D): Promise<{ values: Float32Array; dim: number }>;
}

/** A method's state outside its variables, as JSON (see Method.saveState). */
export type MethodState = Record<string, number | number[]>;

export interface MethodDefinition {
  info: MethodInfo;
  create(ctx: MethodContext): Method;
}
