import type { MethodInfo } from './index';
import { BYOL_VIEW1_AUGMENT, BYOL_VIEW2_AUGMENT } from './recipes';
import { SHORT_COMMON, SHORT_COMMON_WHY } from './short';

export const byol: MethodInfo = {
  id: 'byol',
  label: 'BYOL',
  paper: 'https://arxiv.org/abs/2006.07733',
  summary: 'Online network predicts a slow-moving target network’s projection of the other view; no negatives.',
  params: {
    kind: 'object',
    description: 'BYOL hyper-parameters.',
    fields: {
      tauBase: {
        kind: 'number',
        description: 'Base target decay rate τ_base; τ rises from it to 1 on a cosine schedule over training (paper 0.996 for 1000 epochs, 0.99 for 300).',
        default: 0.99,
        min: 0,
        max: 1,
      },
      predictorHidden: { kind: 'integer', description: 'Hidden width of the predictor q_θ (Linear → BN → ReLU → Linear; paper 4096).', default: 1024, min: 1, max: 16384 },
    },
  },
  views: [BYOL_VIEW1_AUGMENT, BYOL_VIEW2_AUGMENT],
  overrides: { optimizer: { name: 'sgd', lr: 0.03, momentum: 0.9, weightDecay: 5e-4 }, projector: { hidden: 1024, out: 256 } },
  short: {
    changes: {
      ...SHORT_COMMON,
      projector: { hidden: 256, out: 128 },
      params: { predictorHidden: 256 },
      augment: { view1: { cropMinScale: 0.2 }, view2: { cropMinScale: 0.2, solarizeProb: 0 } },
    },
    why: [
      ...SHORT_COMMON_WHY,
      'Projector and predictor 256 → 128 instead of 1024 → 256: heads the size of the 64-d encoder train faster; the equal-recipe check against PyTorch used 256/128.',
      'Crops of 20–100% of the image instead of 8–100%, and no solarisation: on 28-px images an 8% crop is a 8-px patch, and inverting the bright half of a garment leaves little for the two views to agree on within a few epochs.',
    ],
  },
  notes: [
    'τ_base 0.99 instead of 0.996: the paper uses 0.99 for its shorter (300-epoch) runs, and runs here are shorter still.',
    'Projector and predictor hidden width 1024 instead of 4096 (output 256 as in the paper): the heads would otherwise cost more than the small encoder.',
    'SGD lr 0.03, momentum 0.9, weight decay 5e-4, cosine schedule, no warm-up, instead of LARS (lr 0.2·B/256, weight decay 1.5e-6, 10 warm-up epochs), which is tuned for batch 4096; CIFAR benchmarks (lightly) train BYOL with SGD at this scale.',
    'Blur keeps the paper’s probabilities (1.0 / 0.1) with σ scaled to 28-px images, which makes it nearly a no-op; solarize (0 / 0.2) stays as in the paper. See core/methods/recipes.ts.',
  ],
};
