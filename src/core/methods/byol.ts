import type { MethodInfo } from './index';
import { BYOL_VIEW1_AUGMENT, BYOL_VIEW2_AUGMENT } from './recipes';

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
  notes: [
    'τ_base 0.99 instead of 0.996: the paper uses 0.99 for its shorter (300-epoch) runs, and runs here are shorter still.',
    'Projector and predictor hidden width 1024 instead of 4096 (output 256 as in the paper): the heads would otherwise cost more than the small encoder.',
    'SGD lr 0.03, momentum 0.9, weight decay 5e-4, cosine schedule, no warm-up, instead of LARS (lr 0.2·B/256, weight decay 1.5e-6, 10 warm-up epochs), which is tuned for batch 4096; CIFAR benchmarks (lightly) train BYOL with SGD at this scale.',
    'Blur keeps the paper’s probabilities (1.0 / 0.1) with σ scaled to 28-px images, which makes it nearly a no-op; solarize (0 / 0.2) stays as in the paper. See core/methods/recipes.ts.',
  ],
};
