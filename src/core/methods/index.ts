import type { AugmentParams } from '../augment-spec';
import type { ObjectSpec } from '../spec';
import { simclr } from './simclr';

/**
 * What the editor, the CLI and the config validator know about a method, without loading TensorFlow.js:
 * its paper, its hyper-parameters (with the paper's defaults) and the default augmentation of each view.
 * The implementation lives in src/engine/methods/<id>.ts and is registered in src/engine/methods/index.ts.
 */
export interface MethodInfo {
  id: string;
  label: string;
  paper: string;
  summary: string;
  /** Method-specific hyper-parameters, validated under `params` in the run config. */
  params: ObjectSpec;
  /** Default augmentation per view (two views for every method so far). */
  views: [AugmentParams, AugmentParams];
  /** Defaults for the shared sections that this method's paper sets differently. */
  overrides?: { optimizer?: Record<string, unknown>; projector?: Record<string, unknown> };
  /** Small-data overrides applied on top of the paper's defaults, each with its reason. */
  notes?: string[];
}

/** Every method the run config accepts: one import and one entry per method. */
export const METHOD_INFO: Record<string, MethodInfo> = {
  simclr,
};

export const METHOD_IDS = Object.keys(METHOD_INFO);
