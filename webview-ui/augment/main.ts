import type { AugmentParams, RotateAngles } from '../../src/core/augment-spec';
import type { Thumb } from '../../src/webviews/protocol/common';
import {
  describeParam,
  isAugmentState,
  isAugmentToWebview,
  MAX_IMAGES,
  MAX_PER_IMAGE,
  PARAM_FIELDS,
  ROTATE_ANGLES,
  type AugmentState,
  type AugmentStep,
  type AugmentToHost,
  type NumericParam,
  type ViewParams,
} from '../../src/webviews/protocol/augment';
import { byId, h, setChildren } from '../shared/dom';
import { thumbCanvas } from '../shared/thumbs';
import { loadState, onMessage, post, saveState } from '../shared/vscode';
import '../shared/base.css';
import './augment.css';

/**
 * Augmentation preview: real test images, each with K samples of each view, rendered by the training
 * code's own augmentation in the extension's worker thread. Every slider and toggle re-renders at once;
 * "Re-roll" draws a new seed.
 */
const send = (m: AugmentToHost) => post(m);
let state: AugmentState | undefined = loadState(isAugmentState);
let runParams: ViewParams | null = null;
let classNames: string[] = [];
let requestId = 0;
/** Probabilities remembered when a toggle switches a step off, to restore them when it goes back on. */
const remembered = new Map<string, number>();

const PROB_TOGGLES: [NumericParam, string][] = [
  ['flipProb', 'Horizontal flip'],
  ['jitterProb', 'Colour jitter'],
  ['grayscaleProb', 'Grayscale'],
  ['blurProb', 'Gaussian blur'],
  ['solarizeProb', 'Solarize'],
  ['cutoutProb', 'Cutout'],
  ['sobelProb', 'Sobel filter'],
  ['noiseProb', 'Gaussian noise'],
  ['rotateProb', 'Rotation'],
];

const STEP_LABELS: Record<AugmentStep, string> = {
  crop: 'Crop + flip',
  color: 'Colour (jitter, grayscale)',
  blur: 'Gaussian blur',
  solarize: 'Solarize',
  cutout: 'Cutout',
  sobel: 'Sobel filter',
  noise: 'Gaussian noise',
  rotate: 'Rotation',
};

/** Whether a step can change an image with these parameters (the crop always resamples). */
function stepActive(p: AugmentParams, step: AugmentStep): boolean {
  switch (step) {
    case 'crop':
      return !(p.cropMinScale === 1 && p.cropMaxScale === 1 && p.cropMinRatio === 1 && p.cropMaxRatio === 1 && p.flipProb === 0);
    case 'color':
      return p.jitterProb > 0 || p.grayscaleProb > 0;
    default:
      return p[`${step}Prob`] > 0;
  }
}

const ROTATE_LABELS: Record<RotateAngles, string> = { quarter: 'quarter (90/180/270°)', range: 'range (± max degrees)' };

document.body.append(
  h('header', {}, h('h1', { id: 'title' }, 'Augmentation preview'), h('div', { id: 'subtitle', class: 'muted' })),
  h(
    'div',
    { class: 'toolbar', role: 'group', 'aria-label': 'Preview options' },
    h('label', { for: 'seed' }, 'Seed '),
    h('input', { id: 'seed', type: 'number', min: 0, max: 2147483647, step: 1 }),
    h('button', { id: 'reroll', title: 'Draw new random augmentations' }, 'Re-roll'),
    h('label', { for: 'per-image' }, 'Samples per view '),
    h('select', { id: 'per-image' }, ...Array.from({ length: MAX_PER_IMAGE }, (_, i) => h('option', { value: i + 1 }, String(i + 1)))),
    h('label', { for: 'count' }, 'Images '),
    h('select', { id: 'count' }, ...[2, 4, 6, 8, 10, 12, 16].filter((n) => n <= MAX_IMAGES).map((n) => h('option', { value: n }, String(n)))),
    h('button', { id: 'reset', class: 'secondary', title: "Back to the run's own pipeline" }, "Reset to run's pipeline"),
    h('span', { id: 'source', class: 'badge' }),
  ),
  h('div', { id: 'error', class: 'error', role: 'alert' }),
  h('div', { class: 'layout' }, h('div', { id: 'grid', class: 'aug-grid', 'aria-live': 'polite' }), h('form', { id: 'editor', class: 'editor', 'aria-label': 'Augmentation parameters' })),
  h('p', { id: 'timing', class: 'muted' }),
);

const seedInput = byId<HTMLInputElement>('seed');
const perImageSelect = byId<HTMLSelectElement>('per-image');
const countSelect = byId<HTMLSelectElement>('count');

function changed(): void {
  if (!state) return;
  saveState(state);
  renderSource();
  request();
}

seedInput.addEventListener('change', () => {
  if (!state) return;
  state = { ...state, seed: Math.max(0, Math.floor(Number(seedInput.value) || 0)) };
  changed();
});
byId('reroll').addEventListener('click', () => {
  if (!state) return;
  state = { ...state, seed: Math.floor(Math.random() * 2147483647) };
  seedInput.value = String(state.seed);
  changed();
});
perImageSelect.addEventListener('change', () => {
  if (!state) return;
  state = { ...state, perImage: Number(perImageSelect.value) };
  changed();
});
countSelect.addEventListener('change', () => {
  if (!state) return;
  state = { ...state, count: Number(countSelect.value) };
  changed();
});
byId('reset').addEventListener('click', () => {
  if (!state || !runParams) return;
  state = { ...state, params: structuredClone(runParams) };
  renderEditor();
  changed();
});

const isRunPipeline = () => !!state && !!runParams && JSON.stringify(state.params) === JSON.stringify(runParams);

function renderSource(): void {
  const b = byId('source');
  b.textContent = runParams ? (isRunPipeline() ? "run's pipeline" : 'edited') : 'method defaults';
  (byId('reset') as HTMLButtonElement).disabled = !runParams || isRunPipeline();
}

let frame = 0;
/** One render request per animation frame, however fast a slider moves; the host keeps only the latest. */
function request(): void {
  if (frame || !state) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    if (!state) return;
    requestId++;
    document.body.dataset.pending = String(requestId);
    send({ type: 'render', requestId, params: state.params, seed: state.seed, perImage: state.perImage, count: state.count });
  });
}

function setParam<K extends keyof AugmentParams>(view: keyof ViewParams, key: K, value: AugmentParams[K]): void {
  if (!state) return;
  const p: AugmentParams = { ...state.params[view], [key]: value };
  // Keep min ≤ max pairs valid while a slider moves past its partner.
  const pairs: [NumericParam, NumericParam][] = [
    ['cropMinScale', 'cropMaxScale'],
    ['cropMinRatio', 'cropMaxRatio'],
    ['blurSigmaMin', 'blurSigmaMax'],
  ];
  for (const [lo, hi] of pairs) {
    if (p[lo] > p[hi]) {
      if (key === lo) p[hi] = p[lo];
      else p[lo] = p[hi];
    }
  }
  state = { ...state, params: { ...state.params, [view]: p } };
  syncEditor();
  changed();
}

function stepOf(min: number, max: number): number {
  return max - min > 20 ? 1 : max - min > 5 ? 0.05 : 0.01;
}

/** Moves a step one place earlier (-1) or later (+1) in a view's `order`, keeping the focus on the moved step. */
function moveStep(view: keyof ViewParams, step: AugmentStep, by: -1 | 1): void {
  if (!state) return;
  const steps = state.params[view].order.split(',');
  const i = steps.indexOf(step);
  const j = i + by;
  if (i < 0 || j < 0 || j >= steps.length) return;
  [steps[i], steps[j]] = [steps[j], steps[i]];
  setParam(view, 'order', steps.join(','));
  const target = document.getElementById(`${view}-order-${step}-${by < 0 ? 'up' : 'down'}`) as HTMLButtonElement | null;
  const fallback = document.getElementById(`${view}-order-${step}-${by < 0 ? 'down' : 'up'}`) as HTMLButtonElement | null;
  (target && !target.disabled ? target : fallback)?.focus();
}

/** A view's steps in their order, each with buttons to move it; steps that do nothing here are shown muted. */
function renderOrder(view: keyof ViewParams): void {
  const list = document.getElementById(`${view}-order`);
  if (!state || !list) return;
  const p = state.params[view];
  const steps = p.order.split(',') as AugmentStep[];
  setChildren(
    list,
    ...steps.map((step, i) => {
      const button = (dir: 'up' | 'down') => {
        const b = h(
          'button',
          { type: 'button', class: 'secondary', id: `${view}-order-${step}-${dir}`, 'aria-label': `Move ${STEP_LABELS[step]} ${dir === 'up' ? 'earlier' : 'later'}`, disabled: dir === 'up' ? i === 0 : i === steps.length - 1 },
          dir === 'up' ? '↑' : '↓',
        );
        b.addEventListener('click', () => moveStep(view, step, dir === 'up' ? -1 : 1));
        return b;
      };
      const active = stepActive(p, step);
      return h('li', { 'data-step': step, class: active ? undefined : 'off', title: active ? undefined : 'Off with these parameters' }, h('span', { class: 'step-name' }, STEP_LABELS[step]), button('up'), button('down'));
    }),
  );
  list.title = p.order;
}

function renderEditor(): void {
  if (!state) return;
  const views: (keyof ViewParams)[] = ['view1', 'view2'];
  setChildren(
    byId('editor'),
    ...views.map((view, vi) => {
      const toggles = PROB_TOGGLES.map(([key, label]) => {
        const box = h('input', { type: 'checkbox', id: `${view}-${key}-on`, 'data-view': view, 'data-toggle': key });
        box.addEventListener('change', () => {
          const cur = state!.params[view][key];
          if (!box.checked) {
            remembered.set(`${view}.${key}`, cur || 0.5);
            setParam(view, key, 0);
          } else setParam(view, key, remembered.get(`${view}.${key}`) ?? 0.5);
        });
        return h('label', { class: 'toggle' }, box, ` ${label}`);
      });
      const sliders = PARAM_FIELDS.map((f) => {
        const id = `${view}-${f.key}`;
        const input = h('input', { type: 'range', id, min: f.min, max: f.max, step: stepOf(f.min, f.max), 'data-view': view, 'data-key': f.key, 'aria-describedby': `${id}-value` });
        input.addEventListener('input', () => setParam(view, f.key, Number(input.value)));
        return h('div', { class: 'param', title: f.description }, h('label', { for: id }, f.key), input, h('output', { id: `${id}-value`, for: id }));
      });
      // The rotation angles sit after rotateProb, as in the config.
      const angles = h('select', { id: `${view}-rotateAngles`, 'data-view': view, 'data-key': 'rotateAngles' }, ...ROTATE_ANGLES.map((a) => h('option', { value: a }, ROTATE_LABELS[a])));
      angles.addEventListener('change', () => setParam(view, 'rotateAngles', angles.value as RotateAngles));
      const anglesRow = h('div', { class: 'param', title: describeParam('rotateAngles') }, h('label', { for: angles.id }, 'rotateAngles'), angles);
      const at = PARAM_FIELDS.findIndex((f) => f.key === 'rotateProb') + 1;
      const order = h(
        'div',
        { class: 'order', title: describeParam('order') },
        h('div', { class: 'order-head', id: `${view}-order-label` }, 'Order (first applied on top)'),
        h('ol', { id: `${view}-order`, 'aria-labelledby': `${view}-order-label` }),
      );
      return h('fieldset', {}, h('legend', {}, `View ${vi + 1}`), h('div', { class: 'toggles' }, ...toggles), ...sliders.slice(0, at), anglesRow, ...sliders.slice(at), order);
    }),
  );
  syncEditor();
}

/** Puts the state's values into the controls (after a reset, a partner slider moving, or a toggle). */
function syncEditor(): void {
  if (!state) return;
  for (const view of ['view1', 'view2'] as const) {
    for (const f of PARAM_FIELDS) {
      const input = document.getElementById(`${view}-${f.key}`) as HTMLInputElement | null;
      if (!input) continue;
      const v = state.params[view][f.key];
      if (Number(input.value) !== v) input.value = String(v);
      byId(`${view}-${f.key}-value`).textContent = v.toFixed(2);
    }
    for (const [key] of PROB_TOGGLES) {
      const box = document.getElementById(`${view}-${key}-on`) as HTMLInputElement | null;
      if (box) box.checked = state.params[view][key] > 0;
    }
    const angles = document.getElementById(`${view}-rotateAngles`) as HTMLSelectElement | null;
    if (angles) angles.value = state.params[view].rotateAngles;
    renderOrder(view);
  }
}

function renderGrid(originals: Thumb[], views: [Thumb[], Thumb[]], perImage: number): void {
  const size = 56;
  const header = h('div', { class: 'aug-row aug-head' }, h('div', {}, 'image'), h('div', {}, `view 1 × ${perImage}`), h('div', {}, `view 2 × ${perImage}`));
  const rows = originals.map((o, i) => {
    const name = classNames[o.label] ?? `class ${o.label}`;
    const cells = (v: 0 | 1) => h('div', { class: 'aug-cells', 'data-view': v + 1 }, ...views[v].slice(i * perImage, (i + 1) * perImage).map((t, k) => thumbCanvas(t, size, `${name}, view ${v + 1}, sample ${k + 1}`)));
    return h('div', { class: 'aug-row', 'data-index': o.key }, h('figure', {}, thumbCanvas(o, size, `${name} (test image ${o.key})`), h('figcaption', {}, name)), cells(0), cells(1));
  });
  setChildren(byId('grid'), header, ...rows);
  // Header and rows share column widths: K thumbnails per view.
  byId('grid').style.setProperty('--cells', `${perImage * (size + 5)}px`);
}

onMessage(isAugmentToWebview, (m) => {
  switch (m.type) {
    case 'init': {
      runParams = m.runParams;
      classNames = m.classNames;
      const saved = state && state.runId === m.runId ? state : undefined;
      state = saved ?? { runId: m.runId, dataset: m.dataset, params: structuredClone(m.params), seed: 0, perImage: 4, count: 8 };
      state = { ...state, dataset: m.dataset };
      document.title = m.runName ? `Augmentations: ${m.runName}` : 'Augmentation preview';
      byId('title').textContent = m.runName ? `Augmentations — ${m.runName}` : 'Augmentation preview';
      byId('subtitle').textContent = `${m.dataset} · test images · the training pipeline's own code (src/engine/augment)`;
      seedInput.value = String(state.seed);
      perImageSelect.value = String(state.perImage);
      countSelect.value = String(state.count);
      byId('reset').hidden = !runParams;
      renderEditor();
      changed();
      break;
    }
    case 'samples':
      if (m.requestId !== requestId) return;
      byId('error').textContent = '';
      renderGrid(m.originals, m.views, m.perImage);
      byId('timing').textContent = `Rendered ${m.originals.length} images × ${m.perImage} samples × 2 views in ${m.milliseconds} ms (seed ${m.seed}).`;
      document.body.dataset.rendered = String(m.requestId);
      break;
    case 'error':
      byId('error').textContent = m.message;
      break;
  }
});

send({ type: 'ready' });
