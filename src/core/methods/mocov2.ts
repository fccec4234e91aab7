import type { MethodInfo } from './index';
import { MOCO_NOTES, mocoParams } from './mocov1';
import { MOCO_V2_AUGMENT } from './recipes';
import { SHORT_COMMON, SHORT_COMMON_WHY } from './short';

export const mocov2: MethodInfo = {
  id: 'mocov2',
  label: 'MoCo v2',
  paper: 'https://arxiv.org/abs/2003.04297',
  summary: 'MoCo v1 with an MLP head, τ = 0.2, blur in the augmentation and a cosine schedule.',
  params: mocoParams('v2', 0.2),
  views: [MOCO_V2_AUGMENT, MOCO_V2_AUGMENT],
  overrides: { optimizer: { name: 'sgd', lr: 0.03, momentum: 0.9, weightDecay: 5e-4, schedule: 'cosine' } },
  short: { changes: SHORT_COMMON, why: SHORT_COMMON_WHY },
  notes: [
    ...MOCO_NOTES,
    'The head is the v2 MLP, Linear → ReLU → Linear with no BN; its hidden width is projector.hidden (the official code uses the encoder width, 2048 for ResNet-50).',
  ],
};
