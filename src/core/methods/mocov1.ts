import type { ObjectSpec } from '../spec';
import type { MethodInfo } from './index';
import { MOCO_V1_AUGMENT } from './recipes';
import { SHORT_COMMON, SHORT_COMMON_WHY } from './short';

/** MoCo's hyper-parameters; v1 and v2 differ only in the temperature's default. */
export function mocoParams(version: 'v1' | 'v2', temperature: number): ObjectSpec {
  return {
    kind: 'object',
    description: `MoCo ${version} hyper-parameters.`,
    fields: {
      temperature: { kind: 'number', description: `Softmax temperature τ of the InfoNCE logits (paper: ${temperature}).`, default: temperature, gt: 0.001, max: 10 },
      momentum: {
        kind: 'number',
        description: 'Key encoder momentum m: θ_k ← m·θ_k + (1 − m)·θ_q after every step (paper 0.999 on ImageNet; 0.99 in the official CIFAR demo).',
        default: 0.99,
        min: 0,
        max: 1,
      },
      queueSize: { kind: 'integer', description: 'Number K of negative keys in the queue (paper 65536 on ImageNet; 4096 in the CIFAR demo). Keep it well below the training-set size.', default: 4096, min: 1, max: 1048576 },
      symmetric: { kind: 'boolean', description: 'Also use view 2 as the query and view 1 as the key and add both losses (official CIFAR demo option).', default: false },
      shuffleBnSplits: {
        kind: 'integer',
        description: 'Shuffling BN: the encoders normalise this many sub-batches separately and the key batch is shuffled first, so a query and its key never share batch statistics (8 simulates the paper’s 8 GPUs, as the CIFAR demo does; 1 = plain BN).',
        default: 8,
        min: 1,
        max: 1024,
      },
    },
  };
}

/** Notes common to both MoCo versions. */
export const MOCO_NOTES = [
  'Key-encoder momentum 0.99 instead of the paper’s 0.999: with ~25–250 steps per epoch the key encoder must follow the query encoder faster (the official CIFAR demo uses 0.99).',
  'Queue of 4096 keys instead of 65536 (official CIFAR demo). Keys older than one epoch include the image’s own earlier keys as negatives, so keep K below the training-set size.',
  'SGD lr 0.03, momentum 0.9, weight decay 5e-4, cosine schedule: the demo’s CIFAR recipe (0.06 at batch 512) scaled to batch 256. The v1 paper used a step schedule and weight decay 1e-4.',
  'Shuffling BN is simulated on one device by running the encoders per sub-batch (8, like the demo’s SplitBatchNorm). BN running statistics, used only at evaluation, are then updated once per sub-batch.',
  'The symmetric loss (optional) is the sum of both directions, as in the demo; the loss then starts near 2·log(K+1) instead of log(K+1).',
];

export const mocov1: MethodInfo = {
  id: 'mocov1',
  label: 'MoCo v1',
  paper: 'https://arxiv.org/abs/1911.05722',
  summary: 'Query encoder vs a momentum key encoder; InfoNCE against a queue of past keys (linear head, τ = 0.07).',
  params: mocoParams('v1', 0.07),
  views: [MOCO_V1_AUGMENT, MOCO_V1_AUGMENT],
  overrides: { optimizer: { name: 'sgd', lr: 0.03, momentum: 0.9, weightDecay: 5e-4 } },
  short: { changes: SHORT_COMMON, why: SHORT_COMMON_WHY },
  notes: [...MOCO_NOTES, 'The head is one linear layer (the paper’s fc to 128-d): projector.out sets its size and projector.hidden is unused.'],
};
