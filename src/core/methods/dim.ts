import { SIMCLR_AUGMENT, type AugmentParams } from '../augment-spec';
import type { MethodInfo } from './index';

/** DIM trains on single images; the only augmentation kept is the horizontal flip (no crop, no jitter). */
const DIM_AUGMENT: AugmentParams = { ...SIMCLR_AUGMENT, cropMinScale: 1, cropMaxScale: 1, cropMinRatio: 1, cropMaxRatio: 1, jitterProb: 0, grayscaleProb: 0 };

const weight = (description: string, def: number) => ({ kind: 'number' as const, description, default: def, min: 0, max: 100 });

export const dim: MethodInfo = {
  id: 'dim',
  label: 'DIM',
  paper: 'https://arxiv.org/abs/1808.06670',
  summary: 'Deep InfoMax: maximise mutual information between the global vector and each local feature of the same image (JSD or InfoNCE), against other images.',
  params: {
    kind: 'object',
    description: 'DIM hyper-parameters (eq. 8: α·global MI + β·local MI + γ·prior matching).',
    fields: {
      alpha: weight('α, weight of the global MI objective I(Y; M) (DIM(L): 0, DIM(G): 1).', 0),
      beta: weight('β, weight of the local MI objective, averaged over feature-map positions (DIM(L): 1).', 1),
      gamma: weight('γ, weight of prior matching of Y to a uniform prior (DIM(L): 0.1; 0 turns it off).', 0.1),
      estimator: {
        kind: 'enum',
        description: 'Mutual-information estimator.',
        values: ['jsd', 'infonce'],
        valueDescriptions: ['Jensen-Shannon (Fenchel dual, softplus form), the paper’s default', 'InfoNCE: each local feature picked out of the other images’ local features'],
        default: 'jsd',
      },
      units: { kind: 'integer', description: 'Width of the discriminators (the local encode-and-dot embeddings, the global concat-and-fc layers, the prior discriminator).', default: 256, min: 1, max: 8192 },
    },
  },
  views: [DIM_AUGMENT, DIM_AUGMENT],
  overrides: { projector: { out: 64 } },
  notes: [
    'Defaults are the paper’s DIM(L): α = 0, β = 1, γ = 0.1, JSD estimator, a 64-d global vector Y (projector.out).',
    'Local features M: the encoder’s last feature map (7×7×128 for the small preset on 28-px images; the paper’s CIFAR encoder has a similar small map). Y = σ(f(M)) with f = Linear(flatten M → projector.hidden) → BN → ReLU → Linear(→ 64); the sigmoid bounds Y in (0, 1)^64, the support of the uniform prior.',
    'Discriminators: local “encode-and-dot” (φ(y)·ψ(m), each a Linear → ReLU → Linear block plus a linear shortcut), global “concat-and-fc” on [y; flatten M] with all N² pairs scored, prior 3-layer MLP — all of width `units` (256), narrower than the official code’s.',
    'Negatives: each y_a is paired with the feature maps of the other N − 1 images of the batch (N(N−1)·hw local pairs).',
    'Prior matching is trained in the same step as the encoder: the discriminator descends its loss and a gradient reversal on Y makes the encoder ascend it (the min-max of eq. 7).',
    'Image-level representation (kNN, linear probe): the encoder’s pooled feature map (the paper’s “conv” features); the collapse metric reads Y.',
    'One view per image: view 1 (flip only, no crop); view 2 is ignored. Adam with the project’s learning rate 1e-3 instead of the paper’s 1e-4: runs here are ~100× shorter than its 1000 epochs.',
  ],
};
