import { SIMCLR_AUGMENT, type AugmentParams } from '../augment-spec';
import type { MethodInfo } from './index';
import { SHORT_COMMON, SHORT_COMMON_WHY } from './short';

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
      yActivation: {
        kind: 'enum',
        description: 'The global vector Y the MI estimators read: the linear output of f (the official code, whose sigmoid sits on the prior-matching path only) or σ(f(M)) everywhere (what runs did before this field existed).',
        values: ['linear', 'sigmoid'],
        valueDescriptions: ['Y = f(M); prior matching compares σ(Y) with the uniform prior (rdevon/DIM)', 'Y = σ(f(M)) for the MI estimators and prior matching alike (runs recorded before the fix)'],
        default: 'linear',
        legacyValue: 'sigmoid',
      },
      generatorLoss: {
        kind: 'enum',
        description: 'How prior matching trains the encoder: the official code’s non-saturating generator loss −log D(σ(Y)), or the minimax loss, the discriminator’s own loss ascended through a gradient reversal (what runs did before this field existed).',
        values: ['non-saturating', 'minimax'],
        valueDescriptions: ['encoder descends γ·E[−log D(σ(Y))]; D descends its own loss on a detached σ(Y) (rdevon/DIM)', 'encoder ascends γ·(D’s loss) through a gradient reversal, D descends it (runs recorded before the fix)'],
        default: 'non-saturating',
        legacyValue: 'minimax',
      },
    },
  },
  views: [DIM_AUGMENT, DIM_AUGMENT],
  overrides: { optimizer: { name: 'adam', lr: 1e-4 }, batchSize: 64, projector: { out: 64 } },
  short: {
    changes: SHORT_COMMON,
    why: [...SHORT_COMMON_WHY, 'For DIM the batch is the official 64 already; the lr is 10× the official 1e-4, which is tuned for 1000 epochs.'],
  },
  notes: [
    'Defaults are the paper’s DIM(L): α = 0, β = 1, γ = 0.1, JSD estimator, a 64-d global vector Y (projector.out); the official optimiser, Adam at lr 1e-4, batch 64 (rdevon/DIM’s `deep_infomax.py` defaults).',
    'Local features M: the encoder’s last feature map (7×7×128 for the small preset on 28-px images; the paper’s CIFAR encoder has a similar small map). Y = f(M) with f = Linear(flatten M → projector.hidden) → BN → ReLU → Linear(→ 64), the last layer linear as the official encoder’s (`fc_args` (64, no BN, no nonlinearity)). The paper writes Y = σ(f(M)) for its uniform prior; the official code applies that sigmoid only where Y meets the prior (PriorMatching’s `nonlinearity`), so the MI estimators read the linear Y. Code followed; params.yActivation "sigmoid" is the paper-as-written variant (and what runs recorded before did).',
    'Discriminators: local “encode-and-dot” (φ(y)·ψ(m), each a Linear → ReLU → Linear block plus a linear shortcut), global “concat-and-fc” on [y; flatten M] with all N² pairs scored, prior 3-layer MLP — all of width `units` (256), narrower than the official code’s.',
    'Negatives: each y_a is paired with the feature maps of the other N − 1 images of the batch (N(N−1)·hw local pairs).',
    'Prior matching is trained in the same step as the encoder: the discriminator descends its own loss on a detached σ(Y), and the encoder descends γ·E[−log D(σ(Y))] through a frozen D, the official code’s non-saturating generator loss. The paper writes the min-max of eq. 7 (the encoder ascending the discriminator’s loss), which saturates when D wins; params.generatorLoss "minimax" does that through a gradient reversal (what runs recorded before did). Code followed.',
    'Image-level representation (kNN, linear probe): the encoder’s pooled feature map (the paper’s “conv” features); the collapse metric reads Y.',
    'One view per image: view 1 (flip only, no crop); view 2 is ignored.',
  ],
};
