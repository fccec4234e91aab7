import { SIMCLR_AUGMENT, type AugmentParams } from './augment-spec';
import type { ObjectSpec } from './spec';

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

export const METHOD_INFO: Record<string, MethodInfo> = {
  simclr: {
    id: 'simclr',
    label: 'SimCLR',
    paper: 'https://arxiv.org/abs/2002.05709',
    summary: 'Two augmented views per image; NT-Xent loss with the other 2N−2 views in the batch as negatives.',
    params: {
      kind: 'object',
      description: 'SimCLR hyper-parameters.',
      fields: {
        temperature: { kind: 'number', description: 'NT-Xent temperature τ (0.5 on CIFAR in the paper).', default: 0.5, gt: 0.001, max: 10 },
      },
    },
    views: [SIMCLR_AUGMENT, SIMCLR_AUGMENT],
  },
};

export const METHOD_IDS = Object.keys(METHOD_INFO);
