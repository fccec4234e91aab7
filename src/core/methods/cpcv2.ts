import type { MethodInfo } from './index';
import { CPC_AUGMENT, CPC_COMMON_NOTES, CPC_SHORT_WHY, cpcGridFields } from './cpc';

export const cpcv2: MethodInfo = {
  id: 'cpcv2',
  label: 'CPC v2',
  paper: 'https://arxiv.org/abs/1905.09272',
  summary: 'CPC with layer norm, larger patches, per-patch augmentation and predictions bottom-up as well as top-down.',
  params: {
    kind: 'object',
    description: 'CPC v2 hyper-parameters.',
    fields: {
      ...cpcGridFields({ patchSize: 10, patchStride: 4, minOffset: 3, maxOffset: 4 }),
      directions: {
        kind: 'enum',
        description: 'Prediction directions; each has its own context network, predictors and target projection.',
        values: ['top-down', 'vertical', 'all'],
        valueDescriptions: ['rows above predict rows below (CPC v1)', 'top-down and bottom-up (CPC v2)', 'also left-to-right and right-to-left'],
        default: 'vertical',
      },
      targetDim: { kind: 'integer', description: 'Width of the 1×1-conv target projection the predictions are scored against (paper pseudocode 64).', default: 64, min: 1, max: 4096 },
      patchAugment: { kind: 'boolean', description: 'Augment each patch on its own: random sub-square (75–100% of the side), flip, contrast ±0.4, brightness ±0.4 std.', default: true },
    },
  },
  views: [CPC_AUGMENT, CPC_AUGMENT],
  short: { changes: { encoder: { preset: 'compact' } }, why: [CPC_SHORT_WHY] },
  notes: [
    'CPC v2 changes implemented: layer norm instead of batch norm in the patch encoder (LN); bottom-up predictions besides top-down (BU), and left/right ones with directions "all"; larger patches (LP); per-patch augmentation (PA); the pseudocode’s 64-d target projection, prediction scale 0.1 and skipped near offsets. Not implemented: the bigger ResNet-161 (model capacity) and colour dropping (grayscale data; it drops 2 of 3 colour channels).',
    'Larger patches: 10 px instead of CPC’s 8, every 4 px: a 5×5 grid centred on the 28-px image (1-px margins). A 7×7 grid of 10-px patches every 3 px costs twice the encoder time and was too slow on wasm.',
    'Offsets k = 3 and 4: the pseudocode ignores the nearest offsets (steps_to_ignore), whose patches overlap the context’s own row; with 10-px patches every 4 px, k ≤ 2 overlaps. The pseudocode then predicts one offset; here both offsets the 5-row grid has left.',
    'Per-patch augmentation here is spatial (sub-square crop, flip) and photometric (contrast, brightness) on each patch independently; the paper’s colour dropping has no grayscale equivalent. Evaluation cuts unaugmented patches.',
    ...CPC_COMMON_NOTES,
  ],
};
