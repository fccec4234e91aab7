import type { AugmentParams } from '../augment-spec';
import type { ObjectSpec } from '../spec';
import { byol } from './byol';
import { cmc } from './cmc';
import { cpc } from './cpc';
import { cpcv2 } from './cpcv2';
import { dim } from './dim';
import { instdisc } from './instdisc';
import { mocov1 } from './mocov1';
import { mocov2 } from './mocov2';
import { pixpro } from './pixpro';
import { simclr } from './simclr';
import { simsiam } from './simsiam';

/** Config values a recipe sets, on top of the shared defaults (a partial run config). */
export interface RecipeChanges {
  batchSize?: number;
  encoder?: { preset?: string };
  projector?: { hidden?: number; out?: number };
  optimizer?: { name?: string; lr?: number; momentum?: number; weightDecay?: number; warmupEpochs?: number; schedule?: string };
  params?: Record<string, number | string | boolean>;
  augment?: { view1?: Partial<AugmentParams>; view2?: Partial<AugmentParams> };
}

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
  /** Defaults for the shared sections that this method's paper sets differently (the `paper` recipe). */
  overrides?: RecipeChanges;
  /** The `short` recipe: what it changes on top of the paper's defaults, and why. */
  short: { changes: RecipeChanges; why: string[] };
  /** Set when the method reads the crop boxes as the only geometric change between views: why rotation must stay off. */
  noRotation?: string;
  /** Small-data overrides applied on top of the paper's defaults, each with its reason. */
  notes?: string[];
}

/** Every method the run config accepts: one import and one entry per method. */
export const METHOD_INFO: Record<string, MethodInfo> = {
  simclr,
  mocov1,
  mocov2,
  byol,
  simsiam,
  instdisc,
  cpc,
  cpcv2,
  dim,
  cmc,
  pixpro,
};

export const METHOD_IDS = Object.keys(METHOD_INFO);
