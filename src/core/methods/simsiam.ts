import type { MethodInfo } from './index';
import { MOCO_V2_AUGMENT } from './recipes';
import { SHORT_COMMON, SHORT_COMMON_WHY } from './short';

export const simsiam: MethodInfo = {
  id: 'simsiam',
  label: 'SimSiam',
  paper: 'https://arxiv.org/abs/2011.10566',
  summary: 'Shared encoder, bottleneck predictor, stop-gradient on the other view; no negatives, no momentum encoder.',
  params: {
    kind: 'object',
    description: 'SimSiam hyper-parameters.',
    fields: {
      predictorHidden: { kind: 'integer', description: 'Bottleneck width of the predictor h (paper 512 for a 2048-d output: a quarter).', default: 128, min: 1, max: 16384 },
      projectorLayers: { kind: 'integer', description: 'Layers of the projection MLP, each fc followed by BN (paper: 3).', default: 3, min: 2, max: 3 },
      fixPredictorLr: {
        kind: 'boolean',
        description: 'Keep the predictor h at the base learning rate (optimizer.lr) throughout, without warmup or decay, while the rest follows the schedule: the official code’s --fix-pred-lr, the paper’s ImageNet baseline (§4.2, Table 1: 68.1% vs 67.7% with decay).',
        default: false,
        legacyValue: false,
      },
    },
  },
  views: [MOCO_V2_AUGMENT, MOCO_V2_AUGMENT],
  overrides: { optimizer: { name: 'sgd', lr: 0.03, momentum: 0.9, weightDecay: 5e-4 }, projector: { hidden: 512, out: 512 } },
  short: {
    changes: { ...SHORT_COMMON, projector: { hidden: 256, out: 256 }, params: { predictorHidden: 64 } },
    why: [...SHORT_COMMON_WHY, 'Projector 256 → 256 and predictor bottleneck 64 instead of 512 and 128: the paper’s 4:1 bottleneck at the width of the 64-d encoder.'],
  },
  notes: [
    'SGD with momentum 0.9 and cosine decay as in the paper; lr 0.03 and weight decay 5e-4 are its CIFAR recipe (lr 0.03·B/256) at batch 256.',
    'Projection and prediction widths are a quarter of the paper’s (2048 → 512, predictor bottleneck 512 → 128), keeping its 4:1 bottleneck.',
    'The predictor follows the same cosine schedule by default, as in the official code without its --fix-pred-lr flag; fixPredictorLr: true keeps it at the base lr as in the paper’s ImageNet baseline (+0.4% in its Table 1). Off by default until it is measured here (docs/BENCHMARKS.md).',
    'The collapse monitor is the std of the L2-normalised projector output z (the paper’s §4.1 measure), recorded every kNN epoch: ≈ 1/√d when healthy, 0 when collapsed.',
  ],
};
