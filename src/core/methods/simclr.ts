import { SIMCLR_AUGMENT } from '../augment-spec';
import type { MethodInfo } from './index';
import { SHORT_COMMON, SHORT_COMMON_WHY } from './short';

export const simclr: MethodInfo = {
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
  // SimCLR's paper recipe here is already Adam 1e-3 (the project's default); short changes batch and encoder.
  short: { changes: SHORT_COMMON, why: SHORT_COMMON_WHY.slice(1) },
};
