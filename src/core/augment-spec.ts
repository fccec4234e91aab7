import type { ObjectSpec } from './spec';

/**
 * The steps of one view's pipeline, each applied with its own probability, in the order `order` lists:
 * - crop: random resized crop + horizontal flip (always; a full-image box with ratio 1 is the identity);
 * - color: colour jitter (brightness, contrast, saturation, hue) with `jitterProb`, then grayscale with
 *   `grayscaleProb` — SimCLR's "colour distortion";
 * - blur: gaussian blur; solarize: invert pixels above a threshold;
 * - cutout: a random square set to 0 (DeVries & Taylor 2017, one of SimCLR's Figure 5 transformations);
 * - sobel: the image replaced by its Sobel edge magnitude (grayscale, in every channel);
 * - noise: additive gaussian noise, clipped to [0, 1];
 * - rotate: the paper's 90°, 180° or 270°, or a uniform angle in ±rotateMaxDegrees.
 */
export const AUGMENT_STEPS = ['crop', 'color', 'blur', 'solarize', 'cutout', 'sobel', 'noise', 'rotate'] as const;
export type AugmentStep = (typeof AUGMENT_STEPS)[number];

/**
 * The order every pipeline had before `order` existed (crop, color, blur, solarize), with the steps added
 * since (off unless asked for) where a user turning one on most likely wants it: rotate is geometric and
 * goes next to the crop, cutout and noise come last so the square stays erased and the noise stays noise.
 */
export const DEFAULT_ORDER = 'crop,rotate,color,blur,solarize,sobel,cutout,noise';

export const ROTATE_ANGLES = ['quarter', 'range'] as const;
export type RotateAngles = (typeof ROTATE_ANGLES)[number];

/**
 * Parameters of one view's augmentation pipeline, named as in torchvision / lightly so a researcher
 * recognises them. Steps and their order: see AUGMENT_STEPS and `order`.
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
  cutoutProb: number;
  cutoutSize: number;
  sobelProb: number;
  noiseProb: number;
  noiseStd: number;
  rotateProb: number;
  rotateAngles: RotateAngles;
  rotateMaxDegrees: number;
  /** The steps, comma-separated, each exactly once (AUGMENT_STEPS); DEFAULT_ORDER unless set. */
  order: string;
}

/**
 * The values of the fields added after runs were recorded that reproduce what training did before they
 * existed: the new steps off, the old order. Each is its field's `legacyValue` (spec.ts), so a recorded
 * run keeps its config hash; and with a step off the pipeline draws no random number for it, so the run
 * replays and resumes bit for bit (test/augment-golden.test.ts).
 */
export const LEGACY_AUGMENT_FIELDS = {
  cutoutProb: 0,
  cutoutSize: 0.5,
  sobelProb: 0,
  noiseProb: 0,
  noiseStd: 0.1,
  rotateProb: 0,
  rotateAngles: 'quarter',
  rotateMaxDegrees: 30,
  order: DEFAULT_ORDER,
} as const satisfies Partial<AugmentParams>;

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
  ...LEGACY_AUGMENT_FIELDS,
};

const L = LEGACY_AUGMENT_FIELDS;
const ORDER_PATTERN = '^[a-z]+(,[a-z]+)*$';
const legacy = (f: ReturnType<typeof p>, legacyValue: number) => ({ ...f, legacyValue });

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
      cutoutProb: legacy(p('Probability of cutout: a random square of the image set to 0.', d.cutoutProb), L.cutoutProb),
      cutoutSize: legacy(p("Cutout: the square's side as a fraction of the image side.", d.cutoutSize, 0.01, 1), L.cutoutSize),
      sobelProb: legacy(p('Probability of replacing the image by its Sobel edge magnitude (grayscale, in every channel).', d.sobelProb), L.sobelProb),
      noiseProb: legacy(p('Probability of adding gaussian noise to every pixel (then clipped to [0, 1]).', d.noiseProb), L.noiseProb),
      noiseStd: legacy(p('Gaussian noise: standard deviation, in pixel values (images are in [0, 1]).', d.noiseStd, 0, 1), L.noiseStd),
      rotateProb: legacy(p('Probability of a rotation about the image centre (corners outside the image become 0).', d.rotateProb), L.rotateProb),
      rotateAngles: {
        kind: 'enum',
        description: 'Rotation angles: `quarter` = 90°, 180° or 270°, equally likely (SimCLR, Figure 4); `range` = uniform in ±rotateMaxDegrees.',
        values: ROTATE_ANGLES,
        valueDescriptions: ['90°, 180° or 270°, equally likely (SimCLR, Figure 4).', 'A uniform angle in [−rotateMaxDegrees, rotateMaxDegrees].'],
        default: d.rotateAngles,
        legacyValue: L.rotateAngles,
      },
      rotateMaxDegrees: legacy(p('Rotation with `rotateAngles` = range: the largest angle, in degrees, either way.', d.rotateMaxDegrees, 0, 180), L.rotateMaxDegrees),
      order: {
        kind: 'string',
        description: `The steps in the order they are applied, comma-separated, each once: ${AUGMENT_STEPS.join(', ')} (color = jitter then grayscale). E.g. "cutout,crop,…" erases before cropping.`,
        default: d.order,
        pattern: ORDER_PATTERN,
        patternHint: `must list the steps separated by commas (${DEFAULT_ORDER})`,
        legacyValue: L.order,
      },
    },
  };
}


/** The steps of an `order` string, or the problem with it (unknown, repeated or missing steps). */
export function parseOrder(order: string): { steps: AugmentStep[] } | { problem: string } {
  const names = order.split(',');
  const unknown = names.filter((n) => !(AUGMENT_STEPS as readonly string[]).includes(n));
  if (unknown.length) return { problem: `unknown step${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => JSON.stringify(n)).join(', ')} (the steps: ${AUGMENT_STEPS.join(', ')})` };
  const twice = names.filter((n, i) => names.indexOf(n) !== i);
  if (twice.length) return { problem: `lists ${[...new Set(twice)].join(', ')} more than once; list each step once (${DEFAULT_ORDER})` };
  const missing = AUGMENT_STEPS.filter((n) => !names.includes(n));
  if (missing.length) return { problem: `misses ${missing.join(', ')}; list every step once (a step is turned off by its probability), e.g. ${DEFAULT_ORDER}` };
  return { steps: names as AugmentStep[] };
}

/** Cross-field checks the per-field spec cannot express. */
export function augmentProblems(a: AugmentParams, path: string): { path: string; message: string }[] {
  const out: { path: string; message: string }[] = [];
  if (a.cropMinScale > a.cropMaxScale) out.push({ path: `${path}.cropMinScale`, message: `must be ≤ cropMaxScale (${a.cropMaxScale}), got ${a.cropMinScale}` });
  if (a.cropMinRatio > a.cropMaxRatio) out.push({ path: `${path}.cropMinRatio`, message: `must be ≤ cropMaxRatio (${a.cropMaxRatio}), got ${a.cropMinRatio}` });
  if (a.blurSigmaMin > a.blurSigmaMax) out.push({ path: `${path}.blurSigmaMin`, message: `must be ≤ blurSigmaMax (${a.blurSigmaMax}), got ${a.blurSigmaMin}` });
  if (typeof a.order === 'string') {
    const parsed = parseOrder(a.order);
    if ('problem' in parsed) out.push({ path: `${path}.order`, message: `${parsed.problem}; got ${JSON.stringify(a.order)}` });
  }
  return out;
}

/** Every step off, a full-image crop with ratio 1: each image comes out as it went in. */
export const IDENTITY_AUGMENT: AugmentParams = {
  ...SIMCLR_AUGMENT,
  cropMinScale: 1,
  cropMaxScale: 1,
  cropMinRatio: 1,
  cropMaxRatio: 1,
  flipProb: 0,
  jitterProb: 0,
  grayscaleProb: 0,
  blurProb: 0,
  solarizeProb: 0,
  ...LEGACY_AUGMENT_FIELDS,
};

/** The transformations of SimCLR's augmentation study (arXiv 2002.05709, Figure 5), in the figure's order. */
export const STUDY_TRANSFORM_IDS = ['crop', 'cutout', 'color', 'sobel', 'noise', 'blur', 'rotate'] as const;
export type StudyTransform = (typeof STUDY_TRANSFORM_IDS)[number];

/**
 * Each transformation of the study as the fields it sets on top of IDENTITY_AUGMENT, at the paper's
 * strength where the paper gives one, scaled to 28-px images where size matters:
 * - crop: random resized crop and flip, with this repository's SimCLR CIFAR crop (area 20–100%, ratio
 *   3/4–4/3; the paper's 8% floor is for 224-px images: on 28 px it leaves 8×8 crops);
 * - cutout: always, a square of half the side (DeVries & Taylor's 16 px on 32-px CIFAR-10);
 * - color: the paper's colour distortion at strength 1 (Appendix A): jitter(0.8, 0.8, 0.8, 0.2) with
 *   p = 0.8, then grayscale with p = 0.2 (on grayscale data only brightness and contrast act);
 * - sobel: always;
 * - noise: always, σ = 0.1 of the pixel range (the paper states no level);
 * - blur: p = 0.5 as the paper; σ ∈ [0.1, 1] px — the paper's σ ≤ 2 px on 224 px scales to ≤ 0.25 px
 *   here, which leaves a 28-px image all but unchanged, so the range is widened until the blur shows;
 * - rotate: always, one of 90°, 180°, 270° (Figure 4).
 */
export const STUDY_TRANSFORMS: Record<StudyTransform, Partial<AugmentParams>> = {
  crop: { cropMinScale: 0.2, cropMaxScale: 1, cropMinRatio: 3 / 4, cropMaxRatio: 4 / 3, flipProb: 0.5 },
  cutout: { cutoutProb: 1, cutoutSize: 0.5 },
  color: { jitterProb: 0.8, brightness: 0.8, contrast: 0.8, saturation: 0.8, hue: 0.2, grayscaleProb: 0.2 },
  sobel: { sobelProb: 1 },
  noise: { noiseProb: 1, noiseStd: 0.1 },
  blur: { blurProb: 0.5, blurSigmaMin: 0.1, blurSigmaMax: 1 },
  rotate: { rotateProb: 1, rotateAngles: 'quarter' },
};

/** The study transformation each step belongs to (the steps outside the study stay off). */
const STEP_OF: Record<StudyTransform, AugmentStep> = { crop: 'crop', cutout: 'cutout', color: 'color', sobel: 'sobel', noise: 'noise', blur: 'blur', rotate: 'rotate' };

/**
 * The pipeline of one cell of the study: IDENTITY_AUGMENT with `first` and then `second` turned on (one
 * transformation when `second` is omitted or equal to `first`: the figure's diagonal). `order` puts
 * `first`'s step before `second`'s, then the other (inactive) steps in DEFAULT_ORDER.
 */
export function studyAugment(first: StudyTransform, second?: StudyTransform): AugmentParams {
  for (const t of [first, second]) if (t !== undefined && !(t in STUDY_TRANSFORMS)) throw new Error(`studyAugment: unknown transformation ${JSON.stringify(t)} (known: ${STUDY_TRANSFORM_IDS.join(', ')})`);
  const picked = second === undefined || second === first ? [first] : [first, second];
  const steps = picked.map((t) => STEP_OF[t]);
  const rest = DEFAULT_ORDER.split(',').filter((s) => !steps.includes(s as AugmentStep));
  return Object.assign({}, IDENTITY_AUGMENT, ...picked.map((t) => STUDY_TRANSFORMS[t]), { order: [...steps, ...rest].join(',') }) as AugmentParams;
}
