import { AUGMENT_STEPS, augmentProblems, augmentSpec, ROTATE_ANGLES, SIMCLR_AUGMENT, type AugmentParams, type AugmentStep } from '../../core/augment-spec';
import { validateAgainst, type ConfigProblem } from '../../core/spec';
import { isArrayOf, isInt, isNum, isObj, isStr, isThumb, type Thumb } from './common';

/**
 * Augmentation preview ↔ host. The webview edits the two views' parameters (starting from a run's own
 * pipeline, or the method defaults) and asks for a render; the host runs the training code's
 * augmentation on real images in a worker thread and sends back each image with K samples per view.
 */
export const AUGMENT_VIEW_TYPE = 'contrastiveLab.augmentations';

export interface ViewParams {
  view1: AugmentParams;
  view2: AugmentParams;
}

/** The parameters that hold a number. */
export type NumericParam = { [K in keyof AugmentParams]: AugmentParams[K] extends number ? K : never }[keyof AugmentParams];

/** Every numeric parameter with its range and description, from the same spec that validates run configs. */
export interface ParamField {
  key: NumericParam;
  description: string;
  min: number;
  max: number;
}

const SPEC = augmentSpec('', SIMCLR_AUGMENT);
export const PARAM_FIELDS: ParamField[] = Object.entries(SPEC.fields).flatMap(([key, f]) => (f.kind === 'number' ? [{ key: key as NumericParam, description: f.description, min: f.min ?? 0, max: f.max ?? 1 }] : []));
/** The spec's description of a field (the editor's tooltips). */
export const describeParam = (key: keyof AugmentParams): string => SPEC.fields[key]?.description ?? '';
export { AUGMENT_STEPS, ROTATE_ANGLES, type AugmentStep };

export type AugmentToWebview =
  | { type: 'init'; runId: number | null; runName: string | null; dataset: string; classNames: string[]; runParams: ViewParams | null; params: ViewParams }
  | {
      type: 'samples';
      requestId: number;
      seed: number;
      perImage: number;
      originals: Thumb[];
      /** Per view: for each original, `perImage` augmented images (same size as the originals), one Thumb each, originals-major. */
      views: [Thumb[], Thumb[]];
      milliseconds: number;
    }
  | { type: 'error'; message: string; requestId?: number };

export type AugmentToHost = { type: 'ready' } | { type: 'render'; requestId: number; params: ViewParams; seed: number; perImage: number; count: number };

export interface AugmentState {
  runId: number | null;
  dataset: string;
  params: ViewParams;
  seed: number;
  perImage: number;
  count: number;
}

export const MAX_IMAGES = 16;
export const MAX_PER_IMAGE = 8;

/**
 * What is wrong with one view's parameters, by key (empty when they are valid): the run config's own
 * checks (ranges, enum values, the `order` steps), and every field present, none extra.
 */
export function augmentParamsProblems(v: unknown): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  validateAgainst(SPEC, v, '', out);
  if (out.length || !isObj(v)) return out;
  for (const key of Object.keys(SPEC.fields)) if (!(key in v)) out.push({ path: key, message: 'is missing' });
  return out.length ? out : augmentProblems(v as unknown as AugmentParams, '').map((p) => ({ ...p, path: p.path.replace(/^\./, '') }));
}

export const isAugmentParams = (v: unknown): v is AugmentParams => augmentParamsProblems(v).length === 0;

export const isViewParams = (v: unknown): v is ViewParams => isObj(v) && isAugmentParams(v.view1) && isAugmentParams(v.view2);

export function isAugmentState(v: unknown): v is AugmentState {
  return (
    isObj(v) &&
    (v.runId === null || isInt(v.runId)) &&
    isStr(v.dataset) &&
    isViewParams(v.params) &&
    isInt(v.seed) &&
    isInt(v.perImage) &&
    v.perImage >= 1 &&
    v.perImage <= MAX_PER_IMAGE &&
    isInt(v.count) &&
    v.count >= 1 &&
    v.count <= MAX_IMAGES
  );
}

export function isAugmentToHost(m: unknown): m is AugmentToHost {
  if (!isObj(m)) return false;
  if (m.type === 'ready') return true;
  return (
    m.type === 'render' &&
    isInt(m.requestId) &&
    isViewParams(m.params) &&
    isInt(m.seed) &&
    m.seed >= 0 &&
    isInt(m.perImage) &&
    m.perImage >= 1 &&
    m.perImage <= MAX_PER_IMAGE &&
    isInt(m.count) &&
    m.count >= 1 &&
    m.count <= MAX_IMAGES
  );
}

export function isAugmentToWebview(m: unknown): m is AugmentToWebview {
  if (!isObj(m)) return false;
  switch (m.type) {
    case 'init':
      return (
        (m.runId === null || isInt(m.runId)) &&
        (m.runName === null || isStr(m.runName)) &&
        isStr(m.dataset) &&
        isArrayOf(isStr)(m.classNames) &&
        (m.runParams === null || isViewParams(m.runParams)) &&
        isViewParams(m.params)
      );
    case 'samples':
      return (
        isInt(m.requestId) &&
        isInt(m.seed) &&
        isInt(m.perImage) &&
        isArrayOf(isThumb)(m.originals) &&
        Array.isArray(m.views) &&
        m.views.length === 2 &&
        m.views.every((v) => isArrayOf(isThumb)(v) && v.length === (m.originals as Thumb[]).length * (m.perImage as number)) &&
        isNum(m.milliseconds)
      );
    case 'error':
      return isStr(m.message) && (m.requestId === undefined || isInt(m.requestId));
    default:
      return false;
  }
}
