import { SIMCLR_AUGMENT, type AugmentParams } from '../augment-spec';
import type { MethodInfo } from './index';
import { bankInitField } from './memory-bank';
import { SHORT_COMMON, SHORT_COMMON_WHY } from './short';

/**
 * The official code's augmentation: RandomResizedCrop(scale 0.2–1) and a horizontal flip, then the Lab
 * conversion; no colour jitter or grayscale, which would change the relation between the views.
 */
const CMC_AUGMENT: AugmentParams = { ...SIMCLR_AUGMENT, cropMinScale: 0.2, jitterProb: 0, grayscaleProb: 0 };

export const cmc: MethodInfo = {
  id: 'cmc',
  label: 'CMC',
  paper: 'https://arxiv.org/abs/1906.05849',
  summary: 'Contrastive Multiview Coding: each view of an image (L vs ab, or frequency bands of a grayscale image) has its own encoder; views of the same image are contrasted against other images.',
  params: {
    kind: 'object',
    description: 'CMC hyper-parameters.',
    fields: {
      views: {
        kind: 'enum',
        description: 'How an image is split into views. `auto`: `lab` for colour (RGB) data, `frequency` for grayscale data.',
        values: ['auto', 'lab', 'frequency'],
        valueDescriptions: [
          'lab on RGB data, frequency on grayscale data (decided by the dataset, which the run records)',
          'CIE Lab colour space: L | ab (2 views, the paper’s) or L | a | b (3 views); RGB data only',
          'spatial-frequency bands that sum to the image: low-pass (silhouette, shading) | … | high-pass (edges, texture)',
        ],
        default: 'auto',
      },
      numViews: { kind: 'integer', description: 'Number of views M (lab: 2 or 3; frequency: 2–4 bands).', default: 2, min: 2, max: 4 },
      lowPassSigma: { kind: 'number', description: 'Frequency views: σ in pixels of the gaussian separating the lowest band; each further band boundary halves it.', default: 1.5, min: 0.25, max: 16 },
      objective: {
        kind: 'enum',
        description: 'How views are paired (identical for 2 views).',
        values: ['core-view', 'full-graph'],
        valueDescriptions: ['view 1 against each other view (eq. 6)', 'every pair of views (eq. 7)'],
        default: 'full-graph',
      },
      contrast: {
        kind: 'enum',
        description: 'Where the negatives come from.',
        values: ['softmax', 'nce', 'in-batch'],
        valueDescriptions: [
          'the other view’s memory bank, exact softmax over all its rows (the official code’s softmax loss with every row as a negative)',
          'the other view’s memory bank, NCE with noiseSamples noise rows and Z fixed from the first batch (the paper’s §3.2)',
          'the other view’s embeddings of the other images in the batch (N − 1 negatives, no memory bank)',
        ],
        default: 'softmax',
      },
      temperature: { kind: 'number', description: 'Temperature τ (paper 0.07).', default: 0.07, gt: 0.001, max: 10 },
      memoryMomentum: { kind: 'number', description: 'Memory-bank momentum m (paper 0.5).', default: 0.5, min: 0, max: 1 },
      noiseSamples: { kind: 'integer', description: 'NCE: noise rows per anchor k (paper 16384).', default: 16384, min: 1, max: 1048576 },
      bankInit: bankInitField('the official NCEAverage’s memory_l and memory_ab', 'each view’s normalised embedding of each unaugmented training image, BN at its initial statistics (softmax and nce contrasts; in-batch has no bank)'),
    },
  },
  views: [CMC_AUGMENT, CMC_AUGMENT],
  overrides: { optimizer: { name: 'sgd', lr: 0.03, momentum: 0.9, weightDecay: 1e-4 } },
  short: {
    changes: { ...SHORT_COMMON, params: { bankInit: 'features' } },
    why: [...SHORT_COMMON_WHY, 'Both memory banks filled before step 1 with the untrained network’s embeddings (bankInit "features"), instead of random rows: +2.3 points at epoch 5 on full Fashion-MNIST, and no first-epoch dip.'],
  },
  notes: [
    'Paper defaults: 128-d embeddings (projector.out) from a linear head on each encoder, τ = 0.07, memory momentum 0.5, NCE with 16384 noise samples, SGD lr 0.03, momentum 0.9, weight decay 1e-4 (cosine schedule here instead of its step decay).',
    'Grayscale views (`frequency`): CMC wants views that are different sensory channels of one scene, sharing the semantic content (the object) but not the nuisances of each channel; L and ab are an invertible change of colour basis whose parts are decorrelated (luminance vs chrominance). The grayscale analogue used here is a split into spatial-frequency bands that sum exactly to the image: for stationary natural images, disjoint frequency bands are uncorrelated, like L and ab, and each keeps the garment’s identity (the low band its silhouette and shading, the high band its outline, seams and texture) while pixel-level details of one band say little about the other. Rejected: top/bottom halves (different object parts: what they share is position, not semantics) and image vs Sobel gradients (the gradient is a function of the image, so the views share almost everything, nuisances included, and matching is trivial).',
    'views is recorded as given (`auto` by default); it resolves to `lab` when the dataset has 3 channels and to `frequency` otherwise, so the config plus its dataset determine the split. `lab` on grayscale data is refused.',
    'Each view has its own encoder of encoder.preset (as the paper’s ResNet-50 per view). Image-level representation (kNN, linear probe): the views’ pooled features concatenated (Σ of the encoders’ widths, 256-d for two small encoders), as the paper concatenates both halves; the collapse metric reads the concatenated embeddings.',
    'Contrast: exact softmax over the other view’s whole memory bank by default, like InstDisc here: with n ≤ 60000 rows every row is scored anyway, and NCE’s Z fixed from the random initial bank misbehaves at this scale (see InstDisc). `nce` (the paper’s) and `in-batch` remain available.',
    'One augmented image per step (view 1), split into the views; the loop’s view 2 is ignored. Default crop 0.2–1 + flip (the official code), no colour jitter.',
    'bankInit "features" is not the paper’s: as for InstDisc, it tests whether the random positives of the first epoch (both banks start random, as the official code’s) are what holds CMC back at 10 epochs. It computes both banks from the unaugmented training images before step 1 (one pass over the training set) and is not redone on resume.',
  ],
};
