import type { RecipeChanges } from './index';

/**
 * The building blocks of the `short` recipes (budgets of ≤ 20 epochs on small images). The papers'
 * optimisers are tuned for hundreds of epochs: plain SGD at lr 0.03 with cosine decay and no warm-up takes
 * small steps, the smaller still for the cosine losses (BYOL, SimSiam), whose gradients are 10–30× those
 * of MoCo's InfoNCE at τ 0.07 smaller. Adam is scale-free per parameter, so one learning rate suits every
 * loss; the `compact` encoder costs a third of `small` per image, so the same minutes take ~3× the steps.
 * docs/methods.md has the measurements behind each choice.
 */
export const SHORT_OPTIMIZER: NonNullable<RecipeChanges['optimizer']> = { name: 'adam', lr: 1e-3, weightDecay: 1e-6, warmupEpochs: 0, schedule: 'cosine' };

export const SHORT_COMMON: RecipeChanges = { batchSize: 64, encoder: { preset: 'compact' }, optimizer: SHORT_OPTIMIZER };

export const SHORT_COMMON_WHY = [
  'Adam lr 1e-3 with cosine decay, no warm-up, weight decay 1e-6, instead of the paper’s optimiser: it takes full-size steps from the first one whatever the loss’s gradient scale.',
  'Batch 64 instead of the paper’s: a budget of a few epochs is a budget of steps, and batch 64 gives 4× the steps of 256 for the same images (SimCLR, 3 epochs on builtin: 72.70% against 69.50% at 128 and 68.00% at 256).',
  'The compact encoder (conv 16/1, 32/2, 64/2, 64/2, 64-d): a third of small’s multiply-adds per image, and it starts higher (untrained, builtin: 61.70% against 54.60%).',
];
