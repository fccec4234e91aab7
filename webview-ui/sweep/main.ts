import { axisLabel, METRIC_LABELS, SWEEP_METRICS, type SweepMetricName, type SweepSummary } from '../../src/core/sweep-summary';
import { isSweepState, isSweepToWebview, type SweepSortKey, type SweepState, type SweepToHost, type SweepToWebview } from '../../src/webviews/protocol/sweep';
import { byId, fmt, h, setChildren } from '../shared/dom';
import { onThemeChange } from '../shared/theme';
import { loadState, onMessage, post, saveState } from '../shared/vscode';
import { bars, chartKind, heatmap, metricTitle, parallel } from './charts';
import { fmtValue, unitOf } from './format';
import { runsTable } from './table';
import '../shared/base.css';
import './sweep.css';

/**
 * The sweep view: the sweep's progress, its cells as a heatmap (two axes), bars (one) or parallel
 * coordinates (three or more) with seeds folded into mean ± std and the best cell marked, and every run
 * in a sortable table. Clicking a cell opens its runs in Compare, a run its dashboard; Export CSV saves
 * the table through the host. Redrawn whenever the host sends a changed summary (runs finishing).
 */
const send = (m: SweepToHost) => post(m);
let state: SweepState | undefined = loadState(isSweepState);
let summary: SweepSummary | undefined;
/** For the benchmark and the tests (ms since the epoch): when `ready` went out, when the last summary came in (validated), how long drawing it took, when its frame was drawn. */
const perf = { renders: 0, readyAt: 0, lastMessageAt: 0, lastRenderMs: 0, lastDrawnAt: 0 };
(window as unknown as { __sweep: typeof perf }).__sweep = perf;
const now = () => performance.timeOrigin + performance.now();

document.body.append(
  h(
    'header',
    {},
    h('div', { class: 'title-row' }, h('h1', { id: 'title' }, 'Sweep'), h('span', { id: 'done', class: 'badge' }), h('span', { id: 'counts', class: 'row' })),
    h('progress', { id: 'progress', max: 1, value: 0, 'aria-label': 'Runs done' }),
    h('p', { id: 'meta', class: 'muted' }),
  ),
  h(
    'div',
    { class: 'toolbar', role: 'group', 'aria-label': 'View options' },
    h('label', { for: 'metric' }, 'Metric '),
    h('select', { id: 'metric' }, ...SWEEP_METRICS.map((m) => h('option', { value: m }, METRIC_LABELS[m]))),
    h('button', { id: 'export', type: 'button', class: 'secondary' }, 'Export CSV'),
    h('span', { id: 'notice', class: 'muted', 'aria-live': 'polite' }),
  ),
  h('div', { id: 'error', class: 'error', role: 'alert' }),
  h(
    'div',
    { class: 'layout' },
    h('section', { class: 'card chart-card', 'aria-labelledby': 'chart-title' }, h('h2', { id: 'chart-title' }, 'Results'), h('p', { id: 'chart-note', class: 'muted' }), h('div', { id: 'chart' }), h('div', { id: 'scale' })),
    h('section', { class: 'runs-card', 'aria-labelledby': 'runs-title' }, h('h2', { id: 'runs-title' }, 'Runs'), h('div', { class: 'table-wrap' }, h('div', { id: 'table' }))),
  ),
);

const metricSelect = byId<HTMLSelectElement>('metric');
const metric = (): SweepMetricName => state?.metric ?? summary?.view.metric ?? 'linear';

metricSelect.addEventListener('change', () => {
  if (!state) return;
  state = { ...state, metric: metricSelect.value as SweepMetricName };
  saveState(state);
  render();
});
byId('export').addEventListener('click', () => {
  byId('notice').textContent = '';
  send({ type: 'exportCsv' });
});

function sortBy(key: SweepSortKey): void {
  if (!state) return;
  // A metric is best read highest first; anything else ascending first.
  const descending = state.sort.key === key ? !state.sort.descending : (SWEEP_METRICS as readonly string[]).includes(key);
  state = { ...state, sort: { key, descending } };
  saveState(state);
  renderTable();
}

/** The cell with the highest mean of the metric (higher is better for every one of them). */
function bestCell(s: SweepSummary, m: SweepMetricName): number | undefined {
  let best: number | undefined;
  s.cells.forEach((c, i) => {
    const v = c.metrics[m]?.mean;
    if (v !== undefined && (best === undefined || v > s.cells[best].metrics[m]!.mean)) best = i;
  });
  return best;
}

function openCell(i: number): void {
  const c = summary?.cells[i];
  if (c) send({ type: 'compare', runIds: c.runIds });
}

function renderHeader(s: SweepSummary, progress: string): void {
  byId('title').textContent = s.sweep.name;
  const c = s.sweep.counts;
  byId('done').textContent = `${c.completed}/${s.sweep.total} done`;
  byId('done').className = `badge${c.completed === s.sweep.total ? ' completed' : ''}`;
  byId('done').title = progress;
  setChildren(
    byId('counts'),
    ...(['running', 'queued', 'failed', 'cancelled'] as const).filter((k) => c[k]).map((k) => h('span', { class: `badge ${k}`, 'data-status': k }, `${c[k]} ${k}`)),
  );
  const p = byId<HTMLProgressElement>('progress');
  p.max = Math.max(1, s.sweep.total);
  p.value = c.completed;
  const seeds = new Set(s.runs.map((r) => r.seed)).size;
  const parts = [`Sweep #${s.sweep.id}`, `${s.sweep.total} runs`, `${s.cells.length} cell${s.cells.length === 1 ? '' : 's'}${seeds > 1 ? ` × ${seeds} seeds` : ''}`, `created ${fmt.time(s.sweep.createdAt)}`];
  if (s.sweep.jobs) parts.push(`${s.sweep.jobs} at a time`);
  if (s.sweep.source) parts.push(s.sweep.source);
  byId('meta').textContent = parts.join(' · ');
}

let resizeFrame = 0;
function renderChart(): void {
  const s = summary!;
  const m = metric();
  const kind = chartKind(s);
  const best = bestCell(s, m);
  const seeds = new Set(s.runs.map((r) => r.seed)).size;
  const over = s.cellAxes.length ? s.cellAxes.join(' × ') : 'seed';
  byId('chart-title').textContent = `${metricTitle(m)}${unitOf(m)} by ${over}`;
  const bestStat = best !== undefined ? s.cells[best].metrics[m] : undefined;
  const bestKey = best !== undefined ? (s.cellAxes.map((a) => `${a} = ${axisLabel(s.cells[best].key[a])}`).join(', ') || 'all runs') : '';
  byId('chart-note').textContent = [
    seeds > 1 ? `Each cell: mean ± std over its completed seeds.` : 'Each cell: its completed run.',
    bestStat ? `★ best: ${bestKey} (${fmtValue(m, bestStat.mean)}${bestStat.n > 1 ? ` ± ${fmtValue(m, bestStat.std)}` : ''}${m === 'collapse' ? '' : '%'}).` : 'No completed run has this metric yet.',
    (m === 'knn' || m === 'bestKnn') && s.rawPixelsKnn !== undefined ? `Raw pixels: ${fmtValue(m, s.rawPixelsKnn)}% with the same kNN protocol.` : '',
    'Click a cell to compare its runs.',
  ]
    .filter(Boolean)
    .join(' ');
  const input = { summary: s, metric: m, best, open: openCell };
  const chart = byId('chart');
  chart.dataset.kind = kind;
  document.querySelector('.layout')!.setAttribute('data-kind', kind);
  if (kind === 'heatmap') setChildren(chart, heatmap(input));
  else if (kind === 'bars') setChildren(chart, bars(input));
  else setChildren(chart, parallel(input, chart.clientWidth || 600));
  renderScale(s, m);
  fitLayout();
}

/** Side by side (wide windows) only while the heatmap fits in its half; a bigger one gets the whole width. */
function fitLayout(): void {
  const layout = document.querySelector<HTMLElement>('.layout')!;
  const hm = document.getElementById('heatmap');
  layout.classList.toggle('stack', !!hm && hm.offsetWidth + 40 > layout.clientWidth * 0.55);
}
window.addEventListener('resize', fitLayout);

/** The colour scale under the heatmap and the parallel coordinates: its gradient and the range it spans. */
function renderScale(s: SweepSummary, m: SweepMetricName): void {
  const means = s.cells.flatMap((c) => (c.metrics[m] ? [c.metrics[m]!.mean] : []));
  const el = byId('scale');
  if (!means.length || chartKind(s) === 'bars') {
    setChildren(el);
    return;
  }
  const bar = h('span', { class: 'scale-bar' });
  setChildren(el, h('span', {}, formatEnd(m, Math.min(...means))), bar, h('span', {}, formatEnd(m, Math.max(...means))));
}
const formatEnd = (m: SweepMetricName, v: number) => (m === 'collapse' ? v.toPrecision(3) : `${(v * 100).toFixed(1)}%`);

function renderTable(): void {
  const s = summary!;
  byId('runs-title').textContent = `Runs (${s.runs.length})`;
  setChildren(byId('table'), runsTable(s, state!.sort, metric(), sortBy, (runId) => send({ type: 'openRun', runId })));
}

function render(): void {
  if (!summary || !state) return;
  const t0 = performance.now();
  metricSelect.value = metric();
  renderChart();
  renderTable();
  perf.lastRenderMs = performance.now() - t0;
  perf.renders++;
  const n = perf.renders;
  requestAnimationFrame(() => {
    perf.lastDrawnAt = now();
    document.body.dataset.drawn = String(n);
  });
}

let lastProgress = '';
onMessage(isSweepToWebview, (m: SweepToWebview) => {
  switch (m.type) {
    case 'summary':
      perf.lastMessageAt = now();
      summary = m.summary;
      lastProgress = m.progress;
      if (!state || state.sweepId !== m.summary.sweep.id) state = { sweepId: m.summary.sweep.id, metric: null, sort: { key: 'index', descending: false } };
      saveState(state);
      byId('error').textContent = '';
      renderHeader(m.summary, lastProgress);
      render();
      return;
    case 'exported':
      byId('notice').textContent = `Saved ${m.path}`;
      return;
    case 'error':
      byId('error').textContent = m.message;
      return;
  }
});

let chartWidth = 0;
new ResizeObserver(() => {
  const w = byId('chart').clientWidth;
  if (w === chartWidth) return;
  chartWidth = w;
  if (!summary || chartKind(summary) !== 'parallel') return;
  cancelAnimationFrame(resizeFrame);
  resizeFrame = requestAnimationFrame(renderChart);
}).observe(byId('chart'));
onThemeChange(() => summary && renderChart());
perf.readyAt = now();
send({ type: 'ready' });
