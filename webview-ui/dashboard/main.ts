import type uPlot from 'uplot';
import type { EvalPoint, MetricColumns, RunSummary } from '../../src/webviews/protocol/common';
import { isDashboardState, isDashboardToWebview, RUN_ACTIONS, X_AXES, type DashboardState, type DashboardToHost, type DashboardToWebview, type RunAction, type XAxis } from '../../src/webviews/protocol/dashboard';
import { lineChart } from '../shared/chart';
import { byId, fmt, h, setChildren } from '../shared/dom';
import { onThemeChange, runColor } from '../shared/theme';
import { loadState, onMessage, post, saveState } from '../shared/vscode';
import '../shared/base.css';
import './dashboard.css';
import { AxisGeometry, CurveData } from './series';

/**
 * The run dashboard: loss (raw and TensorBoard-smoothed), kNN accuracy per epoch, learning rate,
 * collapse indicator, status, config, backend and timings, Stop / Resume / Rerun. Live points are appended to the
 * curves' arrays and the charts redrawn at most once per animation frame.
 */
const send = (m: DashboardToHost) => post(m);
let state: DashboardState = loadState(isDashboardState) ?? { runId: 0, smoothing: 0.6, xAxis: 'step', logScale: false };
let run: RunSummary | undefined;
const geometry = new AxisGeometry();
let loss = new CurveData(state.xAxis, state.smoothing, geometry);
let lr = new CurveData(state.xAxis, 0, geometry);
let epochSeconds: number[] = [];
let evals: EvalPoint[] = [];
let live: { step: number; totalSteps: number; viewsPerSecond: number } | undefined;
let charts: { loss?: uPlot; knn?: uPlot; lr?: uPlot } = {};

const AXIS_LABEL: Record<XAxis, string> = { step: 'step', epoch: 'epoch', wall: 'seconds' };

document.body.append(
  h(
    'header',
    {},
    h('h1', { id: 'title' }, 'Run dashboard'),
    h('div', { class: 'row' }, h('span', { id: 'status', class: 'badge' }, '…'), h('span', { id: 'subtitle', class: 'muted' })),
  ),
  h(
    'div',
    { class: 'toolbar', role: 'toolbar', 'aria-label': 'Run actions' },
    h('button', { id: 'stop', title: 'Stop this run (Contrastive Lab: Stop Run)', hidden: true }, 'Stop'),
    h('button', { id: 'resume', title: 'Continue this run from its saved state (Contrastive Lab: Resume Run)', hidden: true }, 'Resume'),
    h('button', { id: 'rerun', class: 'secondary', title: 'Start a new run with the same config', hidden: true }, 'Rerun'),
    h('button', { id: 'open-embeddings', class: 'secondary' }, 'Embedding explorer'),
    h('button', { id: 'open-augmentations', class: 'secondary' }, 'Augmentations'),
  ),
  h(
    'div',
    { class: 'toolbar', role: 'group', 'aria-label': 'Chart options' },
    h('label', { for: 'smoothing' }, 'Smoothing '),
    h('input', { id: 'smoothing', type: 'range', min: 0, max: 0.99, step: 0.01, 'aria-describedby': 'smoothing-value' }),
    h('output', { id: 'smoothing-value', for: 'smoothing' }),
    h('label', { for: 'x-axis' }, 'X axis '),
    h('select', { id: 'x-axis' }, ...X_AXES.map((a) => h('option', { value: a }, a === 'wall' ? 'wall time' : a))),
    h('label', {}, h('input', { id: 'log-scale', type: 'checkbox' }), ' log scale'),
  ),
  h('div', { id: 'error', class: 'error', role: 'alert' }),
  h(
    'div',
    { class: 'grid2' },
    h('section', { class: 'card', 'aria-label': 'Loss' }, h('div', { id: 'loss-chart' })),
    h('section', { class: 'card', 'aria-label': 'kNN accuracy' }, h('div', { id: 'knn-chart' })),
    h('section', { class: 'card', 'aria-label': 'Learning rate' }, h('div', { id: 'lr-chart' })),
    h(
      'section',
      { class: 'card', 'aria-labelledby': 'collapse-title' },
      h('h2', { id: 'collapse-title' }, 'Collapse indicator'),
      h('div', { id: 'collapse' }, h('span', { class: 'muted' }, 'No collapse measurement yet (recorded with each kNN evaluation).')),
      h('h2', {}, 'Evaluations'),
      h('div', { id: 'evals' }),
    ),
  ),
  h('h2', {}, 'Run'),
  h('table', { id: 'info', 'aria-label': 'Run details' }),
  h('details', {}, h('summary', {}, 'Config'), h('pre', { id: 'config' })),
);

const smoothingInput = byId<HTMLInputElement>('smoothing');
const axisSelect = byId<HTMLSelectElement>('x-axis');
const logInput = byId<HTMLInputElement>('log-scale');

function syncControls(): void {
  smoothingInput.value = String(state.smoothing);
  byId('smoothing-value').textContent = state.smoothing.toFixed(2);
  axisSelect.value = state.xAxis;
  logInput.checked = state.logScale;
}

function persist(): void {
  saveState(state);
}

smoothingInput.addEventListener('input', () => {
  state = { ...state, smoothing: Number(smoothingInput.value) };
  byId('smoothing-value').textContent = state.smoothing.toFixed(2);
  loss.setSmoothing(state.smoothing);
  persist();
  scheduleDraw();
});
axisSelect.addEventListener('change', () => {
  state = { ...state, xAxis: axisSelect.value as XAxis };
  loss.setAxis(state.xAxis);
  lr.setAxis(state.xAxis);
  persist();
  buildCharts();
});
logInput.addEventListener('change', () => {
  state = { ...state, logScale: logInput.checked };
  persist();
  buildCharts();
});
byId('stop').addEventListener('click', () => send({ type: 'stop' }));
byId('resume').addEventListener('click', () => send({ type: 'resume' }));
byId('rerun').addEventListener('click', () => send({ type: 'rerun' }));
byId('open-embeddings').addEventListener('click', () => send({ type: 'openEmbeddings' }));
byId('open-augmentations').addEventListener('click', () => send({ type: 'openAugmentations' }));

const xFormat = (v: number) => (state.xAxis === 'epoch' ? String(+v.toFixed(2)) : state.xAxis === 'wall' ? fmt.seconds(v) : String(Math.round(v)));

function knnData(): uPlot.AlignedData {
  const knn = evals.filter((e) => e.protocol === 'knn').sort((a, b) => a.epoch - b.epoch);
  return [knn.map((e) => e.epoch), knn.map((e) => (e.value === null ? null : e.value * 100))];
}

function buildCharts(): void {
  for (const c of Object.values(charts)) c?.destroy();
  const color = runColor(0);
  charts = {
    loss: lineChart(
      byId('loss-chart'),
      {
        title: 'Loss',
        xLabel: AXIS_LABEL[state.xAxis],
        xFormat,
        log: state.logScale,
        series: [
          { label: 'loss', color, alpha: 0.3, width: 1 },
          { label: 'smoothed', color, width: 2 },
        ],
      },
      [loss.x, loss.raw, loss.smoothed] as uPlot.AlignedData,
    ),
    knn: lineChart(byId('knn-chart'), { title: 'kNN accuracy (%) per epoch', xLabel: 'epoch', xSpan: () => [1, Math.max(2, run?.epochs ?? 2)], wholeX: true, yBounds: [0, 100], series: [{ label: 'kNN top-1', color: runColor(2), points: true, format: (v) => (v === null ? '—' : `${v.toFixed(2)}%`) }] }, knnData()),
    lr: lineChart(
      byId('lr-chart'),
      { title: 'Learning rate', xLabel: AXIS_LABEL[state.xAxis], xFormat, log: state.logScale, series: [{ label: 'lr', color: runColor(1) }] },
      [lr.x, lr.raw] as uPlot.AlignedData,
    ),
  };
  (window as unknown as { __dashboard: unknown }).__dashboard = { charts, loss, lr };
}

let frame = 0;
/** Coalesces appends: one redraw per animation frame whatever the number of points that arrived. */
function scheduleDraw(): void {
  if (frame) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    charts.loss?.setData([loss.x, loss.raw, loss.smoothed] as uPlot.AlignedData);
    charts.lr?.setData([lr.x, lr.raw] as uPlot.AlignedData);
    charts.knn?.setData(knnData());
    document.body.dataset.points = String(loss.length);
  });
}

function applyMetrics(reset: boolean, series: MetricColumns[]): void {
  if (reset) {
    loss = new CurveData(state.xAxis, state.smoothing, geometry);
    lr = new CurveData(state.xAxis, 0, geometry);
    epochSeconds = [];
    geometry.stepsPerEpoch = 0;
    geometry.t0 = 0;
  }
  let regeometry = false;
  for (const c of series) {
    if (!geometry.t0 && c.wallTime.length) {
      geometry.t0 = run?.startedAt ?? c.wallTime[0];
      regeometry = true;
    }
    // An epoch's summary is recorded at its last step: that gives the steps per epoch.
    if (c.name === 'epoch_loss' && !geometry.stepsPerEpoch && c.step.length) {
      geometry.stepsPerEpoch = (c.step[0] + 1) / c.epoch[0];
      regeometry = true;
    }
    if (c.name === 'loss') loss.append(c);
    else if (c.name === 'lr') lr.append(c);
    else if (c.name === 'epoch_seconds') epochSeconds.push(...c.value.filter((v): v is number => v !== null));
  }
  if (regeometry) {
    loss.setAxis(state.xAxis);
    lr.setAxis(state.xAxis);
  }
  scheduleDraw();
  renderInfo();
}

function renderCollapse(): void {
  const c = evals.filter((e) => e.protocol === 'collapse');
  const last = c[c.length - 1];
  if (!last || last.value === null) return;
  const healthy = typeof last.details.healthy === 'number' ? last.details.healthy : null;
  const ratio = healthy ? last.value / healthy : null;
  const verdict = ratio === null ? '' : ratio < 0.2 ? 'collapsed' : ratio < 0.5 ? 'partly collapsed' : 'healthy';
  setChildren(
    byId('collapse'),
    h(
      'div',
      { class: 'row' },
      h('meter', { id: 'collapse-meter', min: 0, max: 1, low: 0.2, high: 0.5, optimum: 1, value: Math.min(1, ratio ?? 0), 'aria-label': 'Collapse ratio' }),
      h('strong', { id: 'collapse-verdict', class: `collapse-${verdict.replace(' ', '-')}` }, verdict || '—'),
    ),
    h('div', { class: 'muted' }, `std of L2-normalised projector output ${fmt.number(last.value)} at epoch ${last.epoch}; healthy ≈ 1/√d = ${fmt.number(healthy)}; 0 = collapsed.`),
  );
}

function renderEvals(): void {
  const rows = evals
    .filter((e) => e.protocol !== 'collapse')
    .map((e) => h('tr', {}, h('td', {}, e.protocol), h('td', { class: 'num' }, String(e.epoch)), h('td', { class: 'num' }, e.protocol === 'collapse' ? fmt.number(e.value) : fmt.percent(e.value))));
  setChildren(byId('evals'), rows.length ? h('table', { 'aria-label': 'Evaluations' }, h('tr', {}, h('th', {}, 'protocol'), h('th', {}, 'epoch'), h('th', {}, 'value')), ...rows) : h('span', { class: 'muted' }, 'None yet.'));
}

function renderInfo(): void {
  if (!run) return;
  const r = run;
  const duration = r.startedAt ? ((r.finishedAt ?? Date.now()) - r.startedAt) / 1000 : null;
  const meanEpoch = epochSeconds.length ? epochSeconds.reduce((a, b) => a + b, 0) / epochSeconds.length : null;
  const linear = evals.filter((e) => e.protocol === 'linear').pop();
  const rows: [string, string][] = [
    ['Method', r.method],
    ['Dataset', r.dataset],
    ['Backend', r.backend ?? '—'],
    ['Device', r.device ?? '—'],
    ['Epochs', `${r.lastEpoch ?? 0} / ${r.epochs}`],
    ['Last kNN accuracy', fmt.percent(r.lastKnn)],
    ['Linear probe', fmt.percent(linear?.value)],
    ['Created', fmt.time(r.createdAt)],
    ['Started', fmt.time(r.startedAt)],
    ['Finished', fmt.time(r.finishedAt)],
    [r.finishedAt ? 'Duration' : 'Running for', fmt.seconds(duration)],
    ['Seconds per epoch', fmt.seconds(meanEpoch)],
    ['Throughput', live ? `${Math.round(live.viewsPerSecond)} views/s (step ${live.step + 1} of ${live.totalSteps || '?'})` : '—'],
    ['Config hash', r.configHash],
    ['Versions', Object.entries(r.versions).map(([k, v]) => `${k} ${v}`).join(', ') || '—'],
  ];
  if (r.error) rows.push(['Error', r.error]);
  setChildren(byId('info'), ...rows.map(([k, v]) => h('tr', {}, h('th', { scope: 'row' }, k), h('td', {}, v))));
}

function renderRun(r: RunSummary, actions: RunAction[]): void {
  const first = !run || run.id !== r.id;
  const epochsChanged = run?.epochs !== r.epochs;
  run = r;
  if (epochsChanged) scheduleDraw(); // the kNN chart's x axis spans the run's epochs
  if (first) {
    state = { ...state, runId: r.id };
    persist();
  }
  document.title = `Dashboard: ${r.name}`;
  byId('title').textContent = r.name;
  const status = byId('status');
  status.textContent = r.status;
  status.className = `badge ${r.status}`;
  byId('subtitle').textContent = `#${r.id} · ${r.method} on ${r.dataset}`;
  // Only the actions that apply to the run as it is now (no Stop on a completed run).
  for (const a of RUN_ACTIONS) byId(a).hidden = !actions.includes(a);
  byId('config').textContent = JSON.stringify(r.config, null, 2);
  renderInfo();
}

onMessage(isDashboardToWebview, (m: DashboardToWebview) => {
  switch (m.type) {
    case 'run':
      renderRun(m.run, m.actions);
      break;
    case 'metrics':
      applyMetrics(m.reset, m.series);
      break;
    case 'evals':
      evals = m.reset ? [...m.evals] : [...evals, ...m.evals];
      renderCollapse();
      renderEvals();
      renderInfo();
      scheduleDraw();
      break;
    case 'progress':
      live = m;
      renderInfo();
      break;
    case 'error':
      byId('error').textContent = m.message;
      break;
  }
});

syncControls();
buildCharts();
onThemeChange(buildCharts);
if (state.runId) persist();
send({ type: 'ready' });
