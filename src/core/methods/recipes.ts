import { SIMCLR_AUGMENT, type AugmentParams } from '../augment-spec';

/**
 * Augmentation recipes of the MoCo / BYOL / SimSiam / InstDisc papers, as AugmentParams.
 *
 * Blur sigma is in pixels of the augmented image. The papers blur 224-px crops with σ ∈ [0.1, 2.0] px;
 * on 28-px Fashion-MNIST the same relative strength is σ ∈ [0.0125, 0.25] px (×28/224), which is almost
 * no blur at all — consistent with the CIFAR recipes of MoCo's official demo and solo-learn, which drop
 * blur on small images. We keep each paper's blur probabilities (so BYOL's two views stay asymmetric in
 * the recorded config) with the scaled sigma; raise blurSigmaMax to blur for real.
 * Saturation, hue and grayscale are colour operations: on grayscale data they do nothing.
 */
const SCALED_BLUR = { blurSigmaMin: 0.1 * (28 / 224), blurSigmaMax: 2.0 * (28 / 224) };

/**
 * MoCo v1 (facebookresearch/moco `main_moco.py`, the default `augmentation` list) and InstDisc
 * (lemniscate `main.py`): RandomResizedCrop(scale 0.2–1), RandomGrayscale(0.2),
 * ColorJitter(0.4, 0.4, 0.4, 0.4) always, horizontal flip.
 */
export const MOCO_V1_AUGMENT: AugmentParams = {
  ...SIMCLR_AUGMENT,
  cropMinScale: 0.2,
  jitterProb: 1,
  brightness: 0.4,
  contrast: 0.4,
  saturation: 0.4,
  hue: 0.4,
  grayscaleProb: 0.2,
  blurProb: 0,
};

/**
 * MoCo v2's `--aug-plus` (arXiv 2003.04297; SimSiam uses the same list): RandomResizedCrop(0.2–1),
 * ColorJitter(0.4, 0.4, 0.4, 0.1) with p = 0.8, RandomGrayscale(0.2), GaussianBlur(σ 0.1–2) with
 * p = 0.5, horizontal flip.
 */
export const MOCO_V2_AUGMENT: AugmentParams = {
  ...SIMCLR_AUGMENT,
  cropMinScale: 0.2,
  jitterProb: 0.8,
  brightness: 0.4,
  contrast: 0.4,
  saturation: 0.4,
  hue: 0.1,
  grayscaleProb: 0.2,
  blurProb: 0.5,
  ...SCALED_BLUR,
};

/**
 * BYOL's asymmetric views (arXiv 2006.07733, Table 6): crop area 8–100%, flip, ColorJitter(0.4, 0.4,
 * 0.2, 0.1) with p = 0.8, grayscale 0.2; blur p = 1.0 / 0.1 and solarize p = 0 / 0.2 for view 1 / 2.
 * Solarize (invert pixels ≥ 0.5) is not a colour operation and acts on grayscale images as on RGB.
 */
const BYOL_COMMON: AugmentParams = {
  ...SIMCLR_AUGMENT,
  cropMinScale: 0.08,
  jitterProb: 0.8,
  brightness: 0.4,
  contrast: 0.4,
  saturation: 0.2,
  hue: 0.1,
  grayscaleProb: 0.2,
  ...SCALED_BLUR,
  solarizeThreshold: 0.5,
};
export const BYOL_VIEW1_AUGMENT: AugmentParams = { ...BYOL_COMMON, blurProb: 1.0, solarizeProb: 0 };
export const BYOL_VIEW2_AUGMENT: AugmentParams = { ...BYOL_COMMON, blurProb: 0.1, solarizeProb: 0.2 };
