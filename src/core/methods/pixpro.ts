import type { MethodInfo } from './index';
import { BYOL_VIEW1_AUGMENT, BYOL_VIEW2_AUGMENT } from './recipes';
import { SHORT_COMMON_WHY, SHORT_OPTIMIZER } from './short';

export const pixpro: MethodInfo = {
  id: 'pixpro',
  label: 'PixPro',
  paper: 'https://arxiv.org/abs/2011.10043',
  summary: 'Pixel-level consistency: feature-map cells of two crops that cover the same place in the image agree, after a pixel propagation module, with a momentum encoder’s.',
  params: {
    kind: 'object',
    description: 'PixPro hyper-parameters.',
    fields: {
      positiveRadius: {
        kind: 'number',
        description: 'Threshold T: cells of the two views are positives when their centres are closer than T times the larger bin diagonal in the original image (paper 0.7).',
        default: 0.7,
        gt: 0,
        max: 10,
      },
      sharpness: { kind: 'number', description: 'γ of the pixel propagation module’s similarity max(cos, 0)^γ (paper 2).', default: 2, gt: 0, max: 16 },
      momentum: { kind: 'number', description: 'Base momentum of the momentum encoder; it rises to 1 on a cosine schedule (paper 0.99).', default: 0.99, min: 0, max: 1 },
      instanceWeight: {
        kind: 'number',
        description:
          'Weight of the instance-level branch (the paper’s “PixPro + instance”: BYOL on the averaged outputs of a second per-pixel projector and a predictor, with its own momentum projector). 0 turns it off, as in the paper’s base PixPro; its instance runs use 1.',
        default: 0,
        min: 0,
        max: 10,
        legacyValue: 0,
      },
    },
  },
  views: [BYOL_VIEW1_AUGMENT, BYOL_VIEW2_AUGMENT],
  noRotation: 'PixPro matches feature-map cells across the two views by their crop boxes, and a rotation moves the pixels without the box',
  overrides: { optimizer: { name: 'sgd', lr: 0.03, momentum: 0.9, weightDecay: 5e-4 }, projector: { hidden: 256, out: 256 } },
  short: {
    changes: { batchSize: 64, optimizer: SHORT_OPTIMIZER, augment: { view1: { cropMinScale: 0.2 }, view2: { cropMinScale: 0.2, solarizeProb: 0 } } },
    why: [
      SHORT_COMMON_WHY[0],
      SHORT_COMMON_WHY[1],
      'Encoder stays small: PixPro matches cells of the last feature map, 7×7 for small on 28-px images but 4×4 for compact, too coarse for pixel-level positives.',
      'Crops of 20–100% instead of 8–100%, and no solarisation, as BYOL’s short recipe.',
    ],
  },
  notes: [
    'Paper defaults: T = 0.7, γ = 2, a one-layer transform g in the pixel propagation module, momentum 0.99 → 1 (cosine), a per-pixel projector Linear → BN → ReLU → Linear with 256-d output, BYOL’s augmentations with crops of 8–100% of the image. The instance-level branch (PixPro + instance) is off by default, as in the paper’s base PixPro; `params.instanceWeight` 1 turns it on.',
    'Pixel features: the encoder’s last feature map, 7×7 for the small preset on 28-px images (the paper’s C5 map is 7×7 on 224-px crops). Positive pairs follow the official code’s conventions: crop boxes normalised by image size − 1, bins of box/7, the distance normalised by the larger bin diagonal, mirrored boxes handled by their swapped x-coordinates.',
    'With 8–100% crops about 2% of view pairs share no cell within T (20,000 draws on 28-px images; 117 positive cell pairs per image on average); such images contribute 0 to the loss, as in the paper.',
    'Projector hidden width 256: twice the encoder width, as the paper’s 4096 is twice ResNet-50’s 2048 (it runs on every cell, 49 per image, so a 1024-wide one made a step 4× slower). SGD lr 0.03, momentum 0.9, weight decay 5e-4 instead of LARS (base lr 1.0, weight decay 1e-5, batch 1024), as for BYOL here.',
    'Image-level representation (kNN, linear probe): the encoder’s pooled features, the global kNN the issue asks for; the collapse metric reads the projector output averaged over cells.',
  ],
};
