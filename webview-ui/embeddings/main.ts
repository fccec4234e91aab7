import type { EmbeddingSummary, NumArray, RunSummary, Thumb } from '../../src/webviews/protocol/common';
import { isEmbeddingsState, isEmbeddingsToWebview, MAX_THUMBS_PER_REQUEST, type EmbeddingsState, type EmbeddingsToHost } from '../../src/webviews/protocol/embeddings';
import { DEFAULT_PARAMS, LIMITS, METHOD_LABEL, PROJECTION_METHODS, type ProjectionMethod, type ProjectionParams } from '../../src/webviews/protocol/projection';
import { byId, h, setChildren } from '../shared/dom';
import { Legend } from '../shared/legend';
import { Scatter } from '../shared/scatter';
import { classColor } from '../shared/theme';
import { thumbCanvas } from '../shared/thumbs';
import { loadState, onMessage, post, saveState } from '../shared/vscode';
import '../shared/base.css';
import './embeddings.css';

/**
 * Embedding explorer: a run's test-set embedding as a t-SNE / UMAP / PCA map, coloured by label, drawn
 * live while it is computed; hover shows the image, click its cosine nearest neighbours.
 */
const send = (m: EmbeddingsToHost) => post(m);
const NEIGHBOURS = 8;
let state: EmbeddingsState = loadState(isEmbeddingsState) ?? { runId: 0, embeddingId: null, params: DEFAULT_PARAMS.tsne, hidden: [] };
let run: RunSummary | undefined;
let classNames: string[] = [];
let embeddings: EmbeddingSummary[] = [];
let labels: NumArray = [];
let requestId = 0;
let selected: number | null = null;
const thumbs = new Map<number, Thumb>();
const wanted = new Set<number>();

document.body.append(
  h('header', {}, h('h1', { id: 'title' }, 'Embedding explorer'), h('div', { id: 'subtitle', class: 'muted' })),
  h(
    'div',
    { class: 'toolbar', role: 'group', 'aria-label': 'Map options' },
    h('label', { for: 'epoch' }, 'Epoch '),
    h('select', { id: 'epoch' }),
    h('label', { for: 'method' }, 'Map '),
    h('select', { id: 'method' }, ...PROJECTION_METHODS.map((m) => h('option', { value: m }, METHOD_LABEL[m]))),
    h('span', { id: 'params', class: 'row' }),
    h('button', { id: 'compute', title: 'Compute the map again with these settings' }, 'Compute'),
    h('button', { id: 'cancel', class: 'secondary', disabled: true }, 'Cancel'),
  ),
  h('div', { class: 'row' }, h('progress', { id: 'progress', max: 1, value: 0, 'aria-label': 'Map progress' }), h('span', { id: 'progress-text', class: 'muted', 'aria-live': 'polite' })),
  h('div', { id: 'error', class: 'error', role: 'alert' }),
  h(
    'div',
    { class: 'explorer' },
    h('div', { id: 'plot', class: 'plot' }),
    h(
      'aside',
      { class: 'side' },
      h('h2', {}, 'Classes'),
      h('div', { id: 'legend' }),
      h('h2', {}, 'Nearest neighbours'),
      h('div', { id: 'neighbours', 'aria-live': 'polite' }, h('span', { class: 'muted' }, 'Click a point to see its nearest neighbours (cosine similarity in the embedding).')),
    ),
  ),
  h('div', { id: 'tooltip', class: 'tooltip', hidden: true, role: 'tooltip' }),
  h('p', { class: 'muted' }, 'Drag to pan, wheel to zoom; with the map focused: arrow keys pan, + and − zoom, 0 fits, Enter selects the point nearest the middle, Escape clears the selection.'),
);

const legend = new Legend(new Set(state.hidden), (hidden) => {
  state = { ...state, hidden: [...hidden] };
  saveState(state);
  scatter.setHidden(hidden);
});
byId('legend').append(legend.el);

const tooltip = byId('tooltip');
let hoverRow: number | null = null;
const scatter = new Scatter(byId('plot'), {
  ariaLabel: 'Embedding map: each point is a test image, coloured by its label',
  onHover: (row, x, y) => {
    hoverRow = row;
    if (row === null) {
      tooltip.hidden = true;
      return;
    }
    tooltip.style.left = `${Math.min(window.innerWidth - 180, x + 14)}px`;
    tooltip.style.top = `${Math.min(window.innerHeight - 120, y + 14)}px`;
    showTooltip(row);
    want([row]);
  },
  onClick: (row) => select(row),
});
scatter.setHidden(new Set(state.hidden));
(window as unknown as { __explorer: unknown }).__explorer = { scatter, thumbs };

function labelName(l: number): string {
  return classNames[l] ?? `class ${l}`;
}

function showTooltip(row: number): void {
  const t = thumbs.get(row);
  const l = labels[row];
  setChildren(tooltip, ...(t ? [thumbCanvas(t, 84)] : []), h('div', {}, h('strong', {}, labelName(l)), h('div', { class: 'muted' }, `row ${row}`)));
  tooltip.hidden = false;
}

/** Asks for thumbnails not yet here, batched per animation frame. */
let wantFrame = 0;
function want(rows: number[]): void {
  for (const r of rows) if (!thumbs.has(r)) wanted.add(r);
  if (wantFrame || !wanted.size || state.embeddingId === null) return;
  wantFrame = requestAnimationFrame(() => {
    wantFrame = 0;
    const batch = [...wanted].slice(0, MAX_THUMBS_PER_REQUEST);
    batch.forEach((r) => wanted.delete(r));
    if (state.embeddingId !== null) send({ type: 'thumbs', embeddingId: state.embeddingId, rows: batch });
    if (wanted.size) want([]);
  });
}

let neighbourRows: { row: number; similarity: number }[] = [];
function select(row: number | null): void {
  selected = row;
  neighbourRows = [];
  scatter.setEmphasis(row === null ? null : new Set([row]), row);
  if (row === null) {
    setChildren(byId('neighbours'), h('span', { class: 'muted' }, 'Click a point to see its nearest neighbours.'));
    return;
  }
  if (state.embeddingId !== null) send({ type: 'neighbours', embeddingId: state.embeddingId, row, k: NEIGHBOURS });
  want([row]);
  renderNeighbours();
}

function renderNeighbours(): void {
  if (selected === null) return;
  const cell = (row: number, caption: string, cls = '') => {
    const t = thumbs.get(row);
    const c = t ? thumbCanvas(t, 64, `${labelName(labels[row])}, ${caption}`) : h('div', { class: 'thumb-placeholder' });
    const item = h('figure', { class: `neighbour ${cls}`, 'data-row': row }, c, h('figcaption', {}, h('span', { class: 'swatch' }), ` ${labelName(labels[row])}`, h('br'), h('span', { class: 'muted' }, caption)));
    (item.querySelector('.swatch') as HTMLElement).style.background = classColor(labels[row]);
    return item;
  };
  const same = neighbourRows.filter((n) => labels[n.row] === labels[selected!]).length;
  setChildren(
    byId('neighbours'),
    cell(selected, `selected (row ${selected})`, 'query'),
    ...(neighbourRows.length ? [h('div', { class: 'muted', id: 'neighbour-summary' }, `${same} of ${neighbourRows.length} share its label`)] : []),
    h('div', { class: 'neighbour-grid' }, ...neighbourRows.map((n) => cell(n.row, `cos ${n.similarity.toFixed(3)}`))),
  );
}

function renderParams(): void {
  const p = state.params;
  const num = (key: keyof typeof LIMITS, label: string, value: number) => {
    const l = LIMITS[key];
    const input = h('input', { id: `param-${key}`, type: 'number', min: l.min, max: l.max, step: l.step, value, 'aria-label': label });
    input.addEventListener('change', () => {
      const v = Math.min(l.max, Math.max(l.min, Number(input.value) || l.default));
      input.value = String(v);
      state = { ...state, params: { ...state.params, [key]: key === 'minDist' ? v : Math.round(v) } as ProjectionParams };
      saveState(state);
      project();
    });
    return h('label', {}, `${label} `, input);
  };
  const fields =
    p.method === 'tsne'
      ? [num('perplexity', 'Perplexity', p.perplexity), num('iterations', 'Iterations', p.iterations)]
      : p.method === 'umap'
        ? [num('neighbours', 'Neighbours', p.neighbours), num('minDist', 'Min dist', p.minDist), num('epochs', 'Epochs', p.epochs)]
        : [h('span', { class: 'muted' }, 'first two principal components')];
  setChildren(byId('params'), ...fields);
  (byId('method') as HTMLSelectElement).value = p.method;
}

byId('method').addEventListener('change', () => {
  const m = (byId('method') as HTMLSelectElement).value as ProjectionMethod;
  state = { ...state, params: DEFAULT_PARAMS[m] };
  saveState(state);
  renderParams();
  project();
});
byId('epoch').addEventListener('change', () => {
  state = { ...state, embeddingId: Number((byId('epoch') as HTMLSelectElement).value) };
  saveState(state);
  thumbs.clear();
  select(null);
  project();
});
byId('compute').addEventListener('click', () => project());
byId('cancel').addEventListener('click', () => {
  send({ type: 'cancel', requestId });
  setBusy(false, 'Cancelled.');
});

function setBusy(busy: boolean, text: string): void {
  (byId('cancel') as HTMLButtonElement).disabled = !busy;
  byId('progress-text').textContent = text;
  document.body.dataset.busy = String(busy);
}

function project(): void {
  if (state.embeddingId === null) return;
  requestId++;
  byId('error').textContent = '';
  (byId('progress') as HTMLProgressElement).value = 0;
  setBusy(true, `Computing ${METHOD_LABEL[state.params.method]}…`);
  send({ type: 'project', embeddingId: state.embeddingId, requestId, params: state.params });
}

onMessage(isEmbeddingsToWebview, (m) => {
  switch (m.type) {
    case 'init': {
      // Sent again when a training run saves another epoch: keep what is shown unless it went away.
      const shown = run !== undefined && m.embeddings.some((e) => e.id === state.embeddingId);
      run = m.run;
      classNames = m.classNames;
      embeddings = m.embeddings;
      state = { ...state, runId: run.id };
      document.title = `Embeddings: ${run.name}`;
      byId('title').textContent = `Embeddings — ${run.name}`;
      byId('subtitle').textContent = `#${run.id} · ${run.method} on ${run.dataset} · test-set encoder features`;
      const sel = byId('epoch') as HTMLSelectElement;
      setChildren(sel, ...embeddings.map((e) => h('option', { value: e.id }, `epoch ${e.epoch} (${e.count} × ${e.dim})`)));
      if (!embeddings.length) {
        setBusy(false, '');
        byId('error').textContent = 'This run saved no test-set embeddings yet: they are saved at the end of training (and every eval.embeddingsEvery epochs).';
        return;
      }
      if (!embeddings.some((e) => e.id === state.embeddingId)) state = { ...state, embeddingId: embeddings[embeddings.length - 1].id };
      sel.value = String(state.embeddingId);
      saveState(state);
      if (shown) break;
      renderParams();
      project();
      break;
    }
    case 'embedding':
      if (m.embeddingId !== state.embeddingId) return;
      labels = m.labels;
      legend.set(classNames, labels);
      break;
    case 'projection': {
      if (m.requestId !== requestId || m.embeddingId !== state.embeddingId) return;
      scatter.setPoints(m.coords, labels);
      (byId('progress') as HTMLProgressElement).value = m.totalIterations ? m.iteration / m.totalIterations : 1;
      const what = METHOD_LABEL[m.params.method];
      const kl = m.kl !== null ? ` · KL ${m.kl.toFixed(3)}` : '';
      setBusy(!m.done, m.done ? `${what}: ${labels.length} points${m.cached ? ' (cached)' : ` in ${m.seconds.toFixed(1)} s`}${kl}` : `${what}: iteration ${m.iteration} of ${m.totalIterations}${kl} · ${m.seconds.toFixed(1)} s`);
      document.body.dataset.iteration = String(m.iteration);
      document.body.dataset.done = String(m.done);
      break;
    }
    case 'thumbs':
      if (m.embeddingId !== state.embeddingId) return;
      for (const t of m.thumbs) thumbs.set(t.key, t);
      if (hoverRow !== null && thumbs.has(hoverRow)) showTooltip(hoverRow);
      if (selected !== null) renderNeighbours();
      break;
    case 'neighbours':
      if (m.embeddingId !== state.embeddingId || m.row !== selected) return;
      neighbourRows = m.neighbours;
      scatter.setEmphasis(new Set([m.row, ...m.neighbours.map((n) => n.row)]), m.row);
      want(m.neighbours.map((n) => n.row));
      renderNeighbours();
      break;
    case 'error':
      byId('error').textContent = m.message;
      if (m.requestId === undefined || m.requestId === requestId) setBusy(false, '');
      break;
  }
});

renderParams();
send({ type: 'ready' });
