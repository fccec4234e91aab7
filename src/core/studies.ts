/**
 * Studies from the papers, built in: New Sweep… writes one of these as a `*.clsweep.json` the user can
 * edit before starting it. Each is a plain sweep file (see sweep.ts), so what it runs is what it says.
 */
import { IDENTITY_AUGMENT, STUDY_TRANSFORM_IDS, STUDY_TRANSFORMS, studyAugment, type StudyTransform } from './augment-spec';
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

/** The fields of one study cell that differ from the identity, as sweep `set` keys on view 1. */
function cellSet(first: StudyTransform, second: StudyTransform): Record<string, unknown> {
  const params = studyAugment(first, second);
  const identity = IDENTITY_AUGMENT as unknown as Record<string, unknown>;
  const changed = new Set([...Object.keys(STUDY_TRANSFORMS[first]), ...Object.keys(STUDY_TRANSFORMS[second]), 'order']);
  return Object.fromEntries(
    Object.entries(params)
      .filter(([k, v]) => changed.has(k) && v !== identity[k])
      .map(([k, v]) => [`augment.view1.${k}`, typeof v === 'number' ? Number(v.toPrecision(6)) : v]),
  );
}

/**
 * SimCLR's augmentation study (Chen et al. 2020, Figure 5): each of seven transformations alone (the
 * diagonal) and every ordered pair (row then column), applied to one branch while the other is the
 * identity, as the paper does; read as linear-probe and kNN heatmaps with the row average. The budget
 * (the tiny encoder, 3 epochs of the built-in data, 2 runs at a time) makes the 49 runs of the whole study
 * take about half an hour on 2 CPU cores (docs/sweeps.md has the measurement).
 */
export const SIMCLR_AUGMENTATION_STUDY: Study = {
  id: 'simclr-augmentation',
  label: 'SimCLR augmentation study',
  detail: '7 transformations alone and in ordered pairs on one branch (SimCLR Figure 5): 49 runs, linear-probe heatmap with row averages',
  fileName: 'simclr-augmentation.clsweep.json',
  sweep: {
    name: 'SimCLR augmentation study',
    description: 'SimCLR (arXiv 2002.05709) Figure 5: rows = first transformation, columns = second, diagonal = one transformation alone; view 2 is the identity.',
    base: {
      method: 'simclr',
      // The recipe the study was measured with (docs/sweeps.md); `short` would change the heads and the lr schedule.
      recipe: 'paper',
      ...SMALL,
      epochs: 3,
      batchSize: 128,
      encoder: { preset: 'tiny' },
      augment: { view1: { ...IDENTITY_AUGMENT }, view2: { ...IDENTITY_AUGMENT } },
    },
    grid: {
      transformations: STUDY_TRANSFORM_IDS.flatMap((first) =>
        STUDY_TRANSFORM_IDS.map((second) => ({ label: first === second ? first : `${first}→${second}`, set: cellSet(first, second), axes: { first, second } })),
      ),
    },
    jobs: 2,
    view: { rows: 'first', columns: 'second', metric: 'linear', rowAverage: true },
  },
};

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

export const STUDIES: Study[] = [SIMCLR_AUGMENTATION_STUDY, CPC_V2_STUDY, EVERY_METHOD_STUDY, BLANK_STUDY];

/** The file text New Sweep… writes: the schema reference first, so the editor completes it. */
export function studyFileText(s: Study): string {
  return `${JSON.stringify(s.sweep, null, 2)}\n`;
}
