/**
 * Studies from the papers, built in: New Sweep… writes one of these as a `*.clsweep.json` the user can
 * edit before starting it. Each is a plain sweep file (see sweep.ts), so what it runs is what it says.
 */
import { METHOD_IDS } from './methods';

export interface Study {
  id: string;
  label: string;
  detail: string;
  /** The file name New Sweep… proposes. */
  fileName: string;
  sweep: Record<string, unknown>;
}

/** The budget every built-in study starts from: the built-in data, evaluated by kNN and a linear probe. */
const SMALL = { dataset: 'builtin', eval: { knnEvery: 0, linearProbe: true, embeddingsEvery: 0 } };

/**
 * CPC v2's ablation (Hénaff et al. 2019, Figure 3 / Table 6), one step at a time from CPC v1: layer norm
 * instead of batch norm in the patch encoder, predictions bottom-up as well as top-down, larger patches,
 * then per-patch augmentation. The intermediate steps are CPC v2 with the later changes turned off
 * (CPC v2 always uses layer norm): step "+LN" is CPC v1's grid, offsets and direction under CPC v2.
 */
export const CPC_V2_STUDY: Study = {
  id: 'cpcv2-ablation',
  label: 'CPC v2 improvements, one at a time',
  detail: 'From CPC v1: + layer norm, + bottom-up predictions, + larger patches, + patch augmentation (CPC v2’s ablation), 2 seeds each',
  fileName: 'cpcv2-ablation.clsweep.json',
  sweep: {
    name: 'CPC v2 ablation',
    description: 'CPC v1, then each CPC v2 change added cumulatively (Hénaff et al. 2019, Figure 3). Budget: 3 epochs on the built-in data.',
    base: { ...SMALL, epochs: 3, batchSize: 64, encoder: { preset: 'small' } },
    grid: {
      step: [
        { label: 'CPC v1', set: { method: 'cpc' } },
        { label: '+LN', set: { method: 'cpcv2', 'params.directions': 'top-down', 'params.patchSize': 8, 'params.minOffset': 1, 'params.maxOffset': 5, 'params.patchAugment': false } },
        { label: '+BU', set: { method: 'cpcv2', 'params.directions': 'vertical', 'params.patchSize': 8, 'params.minOffset': 1, 'params.maxOffset': 5, 'params.patchAugment': false } },
        { label: '+LP', set: { method: 'cpcv2', 'params.directions': 'vertical', 'params.patchAugment': false } },
        { label: '+PA (CPC v2)', set: { method: 'cpcv2' } },
      ],
      seed: [0, 1],
    },
    jobs: 1,
    view: { rows: 'step', metric: 'linear' },
  },
};

/** Every method with its own defaults at one budget, 3 seeds: a leaderboard with mean ± std. */
export const EVERY_METHOD_STUDY: Study = {
  id: 'every-method',
  label: 'Every method at one budget',
  detail: `All ${METHOD_IDS.length} methods × 3 seeds, each with its own defaults, 3 epochs on the built-in data: one leaderboard`,
  fileName: 'every-method.clsweep.json',
  sweep: {
    name: 'Every method, 3 epochs',
    description: 'Each method with its defaults at the same budget and data; cells are mean ± std over 3 seeds.',
    base: { ...SMALL, epochs: 3 },
    grid: { method: [...METHOD_IDS], seed: [0, 1, 2] },
    jobs: 1,
    view: { rows: 'method', metric: 'linear' },
  },
};

export const BLANK_STUDY: Study = {
  id: 'blank',
  label: 'Blank sweep',
  detail: 'SimCLR with a learning-rate × seed grid, to edit',
  fileName: 'sweep.clsweep.json',
  sweep: {
    name: 'SimCLR lr × seed',
    base: { method: 'simclr', dataset: 'builtin', epochs: 3 },
    grid: { 'optimizer.lr': [0.0003, 0.001, 0.003], seed: [0, 1] },
    jobs: 1,
  },
};

export const STUDIES: Study[] = [CPC_V2_STUDY, EVERY_METHOD_STUDY, BLANK_STUDY];

/** The file text New Sweep… writes: the schema reference first, so the editor completes it. */
export function studyFileText(s: Study): string {
  return `${JSON.stringify(s.sweep, null, 2)}\n`;
}
