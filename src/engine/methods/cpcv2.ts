import { METHOD_INFO } from '../../core/methods';
import { Cpc, type Direction } from './cpc';
import type { MethodDefinition } from './types';

const DIRECTIONS: Record<string, Direction[]> = {
  'top-down': ['top-down'],
  vertical: ['top-down', 'bottom-up'],
  all: ['top-down', 'bottom-up', 'left-right', 'right-left'],
};

/**
 * CPC v2 — "Data-Efficient Image Recognition with Contrastive Predictive Coding", Hénaff et al. 2019,
 * https://arxiv.org/abs/1905.09272, §3–4.1: CPC (cpc.ts) with the changes that matter at small scale,
 *   LN   layer norm instead of batch norm in the patch encoder (BN lets patches see each other)
 *   BU   predictions bottom-up as well as top-down, each direction with its own g_ar, W_k and targets
 *        (`directions: "all"` adds left-right and right-left)
 *   LP   larger patches (the defaults: 10 px every 4 px, a 5×5 grid, against CPC's 8 px every 4, 6×6)
 *   PA   per-patch augmentation: each patch its own random crop, flip, contrast and brightness
 * and the paper's pseudocode (appendix A): targets are a 1×1-conv projection of z to 64 dimensions,
 * predictions are scaled by `emb_scale` 0.1, and only offsets whose patches do not overlap the
 * context's own row are predicted (`steps_to_ignore`). Model capacity (ResNet-161) does not apply here.
 */
export const cpcv2: MethodDefinition = {
  info: METHOD_INFO.cpcv2,
  create: (ctx) => {
    const p = ctx.config.params;
    return new Cpc(ctx, {
      norm: 'layer',
      directions: DIRECTIONS[String(p.directions)],
      targetDim: Number(p.targetDim),
      predictionScale: 0.1,
      patchAugment: p.patchAugment ? { minScale: 0.75, flipProb: 0.5, contrast: 0.4, brightness: 0.4 } : undefined,
    });
  },
};
