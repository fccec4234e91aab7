import type uPlot from 'uplot';
import type { EvalPoint, MetricColumns, NumArray, RunSummary } from '../../src/webviews/protocol/common';
import { COMPARE_METRICS, isCompareState, isCompareToWebview, type CompareMetric, type CompareState, type CompareToHost, type CompareToWebview, type TableRow } from '../../src/webviews/protocol/compare';
import { DEFAULT_PARAMS, METHOD_LABEL, PROJECTION_METHODS, type ProjectionMethod } from '../../src/webviews/protocol/projection';
import { lineChart } from '../shared/chart';
import { byId, fmt, h, setChildren } from '../shared/dom';
import { Legend } from '../shared/legend';
import { Scatter } from '../shared/scatter';
import { onThemeChange, runColor } from '../shared/theme';
import { emaSmooth } from '../shared/smoothing';
import { loadState, onMessage, post, saveState } from '../shared/vscode';
import '../shared/base.css';
import './compare.css';

/**
 * Compare runs: overlaid curves (one colour per run), final numbers, the config keys that differ, and
 * each run's embedding map side by side, linked by test-image index: hovering or selecting a point, or
 * isolating a class, shows the same images in every map.
 */
const send = (m: CompareToHost) => post(m);
let state: CompareState = loadState(isCompareState) ?? { runIds: [], params: DEFAULT_PARAMS.pca, metric: 'loss', smoothing: 0.6, hidden: [] };
let runs: RunSummary[] = [];
let classNames: string[] = [];
const metrics = new Map<number, Map<string, { x: number[]; y: (number | null)[] }>>();
const evals = new Map<number, EvalPoint[]>();
interface MapView {
  scatter: Scatter;
  labels: NumArray;
  indices: NumArray;
  rowOf: Map<number, number>;
  status: HTMLElement;
}
const maps = new Map<number, MapView>();
let chart: uPlot | undefined;

const METRIC_LABEL: Record<CompareMetric, string> = { loss: 'step loss', epoch_loss: 'epoch loss', knn: 'kNN accuracy (%)' };

document.body.append(
  h('header', {}, h('h1', { id: 'title' }, 'Compare runs'), h('div', { id: 'runs', class: 'row' })),
  h(
    'div',
    { class: 'toolbar', role: 'group', 'aria-label': 'Curve options' },
    h('label', { for: 'metric' }, 'Curve '),
    h('select', { id: 'metric' }, ...COMPARE_METRICS.map((m) => h('option', { value: m }, METRIC_LABEL[m]))),
    h('label', { for: 'smoothing' }, 'Smoothing '),
    h('input', { id: 'smoothing', type: 'range', min: 0, max: 0.99, step: 0.01 }),
    h('output', { id: 'smoothing-value', for: 'smoothing' }),
  ),
  h('div', { id: 'error', class: 'error', role: 'alert' }),
  h('section', { class: 'card', 'aria-label': 'Curves' }, h('div', { id: 'chart' })),
  h('div', { class: 'grid2' }, h('section', {}, h('h2', {}, 'Final numbers'), h('table', { id: 'table' })), h('section', {}, h('h2', {}, 'Config differences'), h('div', { id: 'diff' }))),
  h('h2', {}, 'Embeddings'),
  h(
    'div',
    { class: 'toolbar', role: 'group', 'aria-label': 'Map options' },
    h('label', { for: 'method' }, 'Map '),
    h('select', { id: 'method' }, ...PROJECTION_METHODS.map((m) => h('option', { value: m }, METHOD_LABEL[m]))),
    h('span', { id: 'agreement', class: 'muted', 'aria-live': 'polite' }),
  ),
  h('div', { id: 'agreements' }),
  h('div', { id: 'legend' }),
  h('div', { id: 'maps', class: 'maps' }),
  h('p', { class: 'muted' }, 'Hover or click a point to find the same test image in every map; click a class to isolate it in all of them.'),
);

const legend = new Legend(new Set(state.hidden), (hidden) => {
  state = { ...state, hidden: [...hidden] };
  saveState(state);
  for (const m of maps.values()) m.scatter.setHidden(hidden);
});
byId('legend').append(legend.el);

const metricSelect = byId<HTMLSelectElement>('metric');
const smoothing = byId<HTMLInputElement>('smoothing');
metricSelect.value = state.metric;
smoothing.value = String(state.smoothing);
byId('smoothing-value').textContent = state.smoothing.toFixed(2);
(byId('method') as HTMLSelectElement).value = state.params.method;
metricSelect.addEventListener('change', () => {
  state = { ...state, metric: metricSelect.value as CompareMetric };
  saveState(state);
  buildChart();
});
smoothing.addEventListener('input', () => {
  state = { ...state, smoothing: Number(smoothing.value) };
  byId('smoothing-value').textContent = state.smoothing.toFixed(2);
  saveState(state);
  scheduleDraw();
});
byId('method').addEventListener('change', () => {
  state = { ...state, params: DEFAULT_PARAMS[(byId('method') as HTMLSelectElement).value as ProjectionMethod] };
  saveState(state);
  for (const m of maps.values()) m.status.textContent = 'computing…';
  send({ type: 'project', params: state.params });
});

/** The runs' points of the chosen curve on one shared x axis (uPlot's aligned data; null where a run has no point). */
function chartData(): uPlot.AlignedData {
  const per = runs.map((r) => {
    if (state.metric === 'knn') {
      const e = (evals.get(r.id) ?? []).filter((x) => x.protocol === 'knn').sort((a, b) => a.epoch - b.epoch);
      return { x: e.map((x) => x.epoch), y: e.map((x) => (x.value === null ? null : x.value * 100)) };
    }
    const s = metrics.get(r.id)?.get(state.metric) ?? { x: [], y: [] };
    return { x: s.x, y: state.smoothing > 0 ? emaSmooth(s.y, state.smoothing) : s.y };
  });
  const xs = [...new Set(per.flatMap((p) => p.x))].sort((a, b) => a - b);
  const at = new Map(xs.map((x, i) => [x, i]));
  const ys = per.map((p) => {
    const col: (number | null)[] = new Array<number | null>(xs.length).fill(null);
    p.x.forEach((x, i) => (col[at.get(x)!] = p.y[i]));
    return col;
  });
  return [xs, ...ys] as uPlot.AlignedData;
}

function buildChart(): void {
  chart?.destroy();
  const xLabel = state.metric === 'loss' ? 'step' : 'epoch';
  chart = lineChart(
    byId('chart'),
    {
      title: METRIC_LABEL[state.metric],
      xLabel,
      height: 260,
      ...(state.metric === 'knn' ? { xSpan: [1, Math.max(2, ...runs.map((r) => r.epochs))] as [number, number], wholeX: true, yBounds: [0, 100] as [number, number] } : {}),
      ...(state.metric === 'epoch_loss' ? { wholeX: true } : {}),
      series: runs.map((r, i) => ({ label: `#${r.id} ${r.name}`, color: runColor(i), width: 1.8, points: state.metric !== 'loss' })) },
    chartData(),
  );
  (window as unknown as { __compare: unknown }).__compare = { chart, maps };
}

let frame = 0;
function scheduleDraw(): void {
  if (frame) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    chart?.setData(chartData());
  });
}

function addMetrics(runId: number, reset: boolean, series: MetricColumns[]): void {
  let m = metrics.get(runId);
  if (!m || reset) metrics.set(runId, (m = new Map()));
  for (const c of series) {
    let s = m.get(c.name);
    if (!s) m.set(c.name, (s = { x: [], y: [] }));
    // Step loss against steps; per-epoch metrics against epochs.
    s.x.push(...(c.name === 'loss' || c.name === 'lr' ? c.step : c.epoch));
    s.y.push(...c.value);
  }
  scheduleDraw();
}

function renderTable(table: TableRow[]): void {
  const head = h('tr', {}, h('th', {}, ''), ...runs.map((r, i) => h('th', { scope: 'col' }, h('span', { class: 'swatch', 'data-color': i }), ` #${r.id} ${r.name}`)));
  const fmtOf = (f: TableRow['format'], v: number | null) => (f === 'percent' ? fmt.percent(v) : f === 'seconds' ? fmt.seconds(v) : f === 'integer' ? (v === null ? '—' : String(Math.round(v))) : fmt.number(v));
  setChildren(byId('table'), head, ...table.map((row) => h('tr', {}, h('th', { scope: 'row' }, row.label), ...row.values.map((v) => h('td', { class: 'num' }, fmtOf(row.format, v))))));
  colorSwatches(byId('table'));
}

function colorSwatches(root: HTMLElement): void {
  root.querySelectorAll<HTMLElement>('.swatch[data-color]').forEach((s) => (s.style.background = runColor(Number(s.dataset.color))));
}

function renderDiff(diff: { key: string; values: string[] }[]): void {
  if (!diff.length) {
    setChildren(byId('diff'), h('span', { class: 'muted' }, 'The configs are identical (apart from the names).'));
    return;
  }
  setChildren(
    byId('diff'),
    h(
      'table',
      { id: 'diff-table' },
      h('tr', {}, h('th', {}, 'key'), ...runs.map((r, i) => h('th', {}, h('span', { class: 'swatch', 'data-color': i }), ` #${r.id}`))),
      ...diff.map((d) => h('tr', {}, h('td', {}, h('code', {}, d.key)), ...d.values.map((v) => h('td', {}, v)))),
    ),
  );
  colorSwatches(byId('diff'));
}

type Agreement = Extract<CompareToWebview, { type: 'agreement' }>;
const agreements = new Map<string, Agreement>();
/** Runs without a test embedding: no map, no agreement. */
const noMaps = new Set<number>();

/**
 * kNN agreement: for two maps a sentence beside the map options; for three or more, a matrix of every
 * pair below them (cells fill in as the host computes the pairs).
 */
function renderAgreement(): void {
  const list = [...agreements.values()];
  const sentence = byId('agreement');
  const matrix = byId('agreements');
  if (list.length === 1 && runs.filter((r) => !noMaps.has(r.id)).length <= 2) {
    const m = list[0];
    const [a, b] = m.runIds;
    sentence.textContent =
      m.value === null
        ? `kNN agreement: runs #${a} and #${b} share no test images.`
        : `kNN agreement of #${a} and #${b}: ${(m.value * 100).toFixed(1)}% of each image's ${m.k} nearest neighbours (cosine) are the same, over ${m.queries} queries among ${m.common} common test images.`;
    setChildren(matrix);
    return;
  }
  const ids = runs.map((r) => r.id).filter((id) => !noMaps.has(id));
  const cell = (a: number, b: number) => {
    if (a === b) return h('td', { class: 'num muted' }, '—');
    const m = agreements.get(`${a}:${b}`) ?? agreements.get(`${b}:${a}`);
    if (!m) return h('td', { class: 'num muted' }, '…');
    if (m.value === null) return h('td', { class: 'num muted', title: 'no common test images' }, 'none');
    return h('td', { class: 'num', title: `#${a} and #${b}: ${m.queries} queries among ${m.common} common test images` }, `${(m.value * 100).toFixed(1)}%`);
  };
  const color = (id: number) => runs.findIndex((r) => r.id === id);
  sentence.textContent = `kNN agreement of each pair of runs: the share of each image's ${list[0].k} nearest neighbours (cosine) that the two embeddings have in common (table below).`;
  setChildren(
    matrix,
    h(
      'table',
      { id: 'agreement-table', 'aria-label': 'kNN agreement of each pair of runs' },
      h('tr', {}, h('th', {}, ''), ...ids.map((id) => h('th', { scope: 'col' }, h('span', { class: 'swatch', 'data-color': color(id) }), ` #${id}`))),
      ...ids.map((a) => h('tr', { 'data-run': a }, h('th', { scope: 'row' }, h('span', { class: 'swatch', 'data-color': color(a) }), ` #${a}`), ...ids.map((b) => cell(a, b)))),
    ),
  );
  colorSwatches(matrix);
}

/** Highlights one test image (by sample index) in every map. */
let selectedSample: number | null = null;
function link(sample: number | null, from: number | null, select = false): void {
  if (select) selectedSample = sample;
  const target = select ? sample : (sample ?? selectedSample);
  for (const [runId, m] of maps) {
    const row = target === null ? undefined : m.rowOf.get(target);
    const sel = selectedSample === null ? undefined : m.rowOf.get(selectedSample);
    const rows = new Set<number>([row, sel].filter((r): r is number => r !== undefined));
    m.scatter.setEmphasis(rows.size ? rows : null, sel ?? (runId === from ? null : (row ?? null)));
  }
  document.body.dataset.linked = target === null ? '' : String(target);
}

function ensureMap(runId: number): MapView {
  const m = maps.get(runId);
  if (m) return m;
  const i = runs.findIndex((r) => r.id === runId);
  const r = runs[i];
  const plot = h('div', { class: 'plot' });
  const status = h('span', { class: 'muted' });
  const card = h('section', { class: 'card map', 'data-run': runId }, h('div', { class: 'row' }, h('span', { class: 'swatch', 'data-color': i }), h('strong', {}, `#${runId} ${r?.name ?? ''}`), status), plot);
  // In run order, whichever map arrives first (a cached one comes at once, a computed one later).
  const after = [...byId('maps').children].find((c) => runs.findIndex((x) => x.id === Number((c as HTMLElement).dataset.run)) > i);
  byId('maps').insertBefore(card, after ?? null);
  colorSwatches(card);
  const view: MapView = {
    scatter: new Scatter(plot, {
      ariaLabel: `Embedding map of run ${runId}`,
      onHover: (row) => link(row === null ? null : Number(view.indices[row]), runId),
      onClick: (row) => link(row === null ? null : Number(view.indices[row]), runId, true),
    }),
    labels: [],
    indices: [],
    rowOf: new Map(),
    status,
  };
  view.scatter.setHidden(new Set(state.hidden));
  maps.set(runId, view);
  return view;
}

onMessage(isCompareToWebview, (m) => {
  switch (m.type) {
    case 'init':
      runs = m.runs;
      classNames = m.classNames;
      state = { ...state, runIds: runs.map((r) => r.id) };
      saveState(state);
      document.title = `Compare ${runs.map((r) => `#${r.id}`).join(', ')}`;
      byId('title').textContent = `Compare ${runs.length} runs`;
      setChildren(byId('runs'), ...runs.map((r, i) => h('span', { class: 'run-chip' }, h('span', { class: 'swatch', 'data-color': i }), ` #${r.id} ${r.name} `, h('span', { class: `badge ${r.status}` }, r.status))));
      colorSwatches(byId('runs'));
      renderTable(m.table);
      renderDiff(m.configDiff);
      buildChart();
      break;
    case 'metrics':
      addMetrics(m.runId, m.reset, m.series);
      break;
    case 'evals':
      evals.set(m.runId, m.reset ? [...m.evals] : [...(evals.get(m.runId) ?? []), ...m.evals]);
      scheduleDraw();
      break;
    case 'map': {
      noMaps.delete(m.runId);
      const v = ensureMap(m.runId);
      if (v.labels !== m.labels) {
        v.labels = m.labels;
        v.indices = m.indices;
        v.rowOf = new Map(Array.from(m.indices, (s, row) => [Number(s), row]));
        // Counted per test image, however many maps show it.
        const bySample = new Map<number, number>();
        for (const x of maps.values()) for (let row = 0; row < x.indices.length; row++) bySample.set(Number(x.indices[row]), Number(x.labels[row]));
        legend.set(classNames, [...bySample.values()]);
      }
      v.scatter.setPoints(m.coords, m.labels);
      v.status.textContent = m.done ? `epoch ${m.epoch} · ${METHOD_LABEL[m.params.method]} · ${m.labels.length} points` : `${METHOD_LABEL[m.params.method]}: iteration ${m.iteration} of ${m.totalIterations}`;
      break;
    }
    case 'noMap':
      noMaps.add(m.runId);
      ensureMap(m.runId).status.textContent = m.reason;
      break;
    case 'agreement':
      agreements.set(m.runIds.join(':'), m);
      renderAgreement();
      break;
    case 'error':
      byId('error').textContent = m.message;
      break;
  }
});

buildChart();
onThemeChange(buildChart);
send({ type: 'ready' });
