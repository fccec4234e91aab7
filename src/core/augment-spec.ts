import type { ObjectSpec } from './spec';

/**
 * Parameters of one view's augmentation pipeline, named as in torchvision / lightly so a researcher
 * recognises them. Applied in this order: random resized crop (+ horizontal flip), colour jitter
 * (brightness, contrast, saturation, hue) with probability `jitterProb`, grayscale, gaussian blur, solarize.
 */
export interface AugmentParams {
  cropMinScale: number;
  cropMaxScale: number;
  cropMinRatio: number;
  cropMaxRatio: number;
  flipProb: number;
  jitterProb: number;
  brightness: number;
  contrast: number;
  saturation: number;
  hue: number;
  grayscaleProb: number;
  blurProb: number;
  blurSigmaMin: number;
  blurSigmaMax: number;
  solarizeProb: number;
  solarizeThreshold: number;
}

const p = (description: string, def: number, min = 0, max = 1) => ({ kind: 'number' as const, description, default: def, min, max });

/** SimCLR's CIFAR recipe (arXiv 2002.05709, appendix B.9): no blur on small images. */
export const SIMCLR_AUGMENT: AugmentParams = {
  cropMinScale: 0.2,
  cropMaxScale: 1,
  cropMinRatio: 3 / 4,
  cropMaxRatio: 4 / 3,
  flipProb: 0.5,
  jitterProb: 0.8,
  brightness: 0.4,
  contrast: 0.4,
  saturation: 0.4,
  hue: 0.1,
  grayscaleProb: 0.2,
  blurProb: 0,
  blurSigmaMin: 0.1,
  blurSigmaMax: 2,
  solarizeProb: 0,
  solarizeThreshold: 0.5,
};

export function augmentSpec(description: string, d: AugmentParams): ObjectSpec {
  return {
    kind: 'object',
    description,
    fields: {
      cropMinScale: p('Random resized crop: smallest crop area as a fraction of the image.', d.cropMinScale, 0.01, 1),
      cropMaxScale: p('Random resized crop: largest crop area as a fraction of the image.', d.cropMaxScale, 0.01, 1),
      cropMinRatio: p('Random resized crop: smallest aspect ratio (width/height).', d.cropMinRatio, 0.1, 10),
      cropMaxRatio: p('Random resized crop: largest aspect ratio (width/height).', d.cropMaxRatio, 0.1, 10),
      flipProb: p('Probability of a horizontal flip.', d.flipProb),
      jitterProb: p('Probability of applying colour jitter (brightness, contrast, saturation, hue).', d.jitterProb),
      brightness: p('Colour jitter: brightness factor drawn from [1-b, 1+b].', d.brightness, 0, 1),
      contrast: p('Colour jitter: contrast factor drawn from [1-c, 1+c].', d.contrast, 0, 1),
      saturation: p('Colour jitter: saturation factor drawn from [1-s, 1+s] (colour data only).', d.saturation, 0, 1),
      hue: p('Colour jitter: hue shift drawn from [-h, h] turns (colour data only).', d.hue, 0, 0.5),
      grayscaleProb: p('Probability of converting to grayscale (colour data only).', d.grayscaleProb),
      blurProb: p('Probability of a gaussian blur.', d.blurProb),
      blurSigmaMin: p('Gaussian blur: smallest sigma, in pixels.', d.blurSigmaMin, 0.01, 10),
      blurSigmaMax: p('Gaussian blur: largest sigma, in pixels.', d.blurSigmaMax, 0.01, 10),
      solarizeProb: p('Probability of solarizing (pixels above the threshold are inverted).', d.solarizeProb),
      solarizeThreshold: p('Solarize threshold in [0, 1].', d.solarizeThreshold),
    },
  };
}

/** Cross-field checks the per-field spec cannot express. */
export function augmentProblems(a: AugmentParams, path: string): { path: string; message: string }[] {
  const out: { path: string; message: string }[] = [];
  if (a.cropMinScale > a.cropMaxScale) out.push({ path: `${path}.cropMinScale`, message: `must be ≤ cropMaxScale (${a.cropMaxScale}), got ${a.cropMinScale}` });
  if (a.cropMinRatio > a.cropMaxRatio) out.push({ path: `${path}.cropMinRatio`, message: `must be ≤ cropMaxRatio (${a.cropMaxRatio}), got ${a.cropMinRatio}` });
  if (a.blurSigmaMin > a.blurSigmaMax) out.push({ path: `${path}.blurSigmaMin`, message: `must be ≤ blurSigmaMax (${a.blurSigmaMax}), got ${a.blurSigmaMin}` });
  return out;
}
