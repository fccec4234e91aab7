import { axisLabel, type SweepAxisInfo, type SweepCell, type SweepMetricName, type SweepRunStatus, type SweepSummary } from '../../src/core/sweep-summary';
import { h } from '../shared/dom';
import { axisOrder, fmtStat, fmtValue, normalizer, scaleColor, unitOf } from './format';

/**
 * The sweep's cells drawn three ways, by how many axes they have: a heatmap for two (rows × columns,
 * optionally with each row's average, as in the SimCLR paper's Figure 5), bars for one (or none: a
 * seeds-only sweep is one cell), parallel coordinates for three or more. Every cell shows the mean ± std
 * of its completed seeds; clicking one opens its runs.
 */
export interface ChartInput {
  summary: SweepSummary;
  metric: SweepMetricName;
  /** Index of the best cell for `metric`, if any cell has a value. */
  best: number | undefined;
  open(cell: number): void;
}

export type ChartKind = 'heatmap' | 'bars' | 'parallel';
export const chartKind = (s: SweepSummary): ChartKind => (s.cellAxes.length >= 3 ? 'parallel' : s.cellAxes.length === 2 ? 'heatmap' : 'bars');

const axisInfo = (s: SweepSummary, name: string): SweepAxisInfo | undefined => s.sweep.axes.find((a) => a.name === name);
const cellLabel = (s: SweepSummary, c: SweepCell) => (s.cellAxes.length ? s.cellAxes.map((a) => `${a} = ${axisLabel(c.key[a])}`).join(', ') : 'all runs');

/** What a cell without a result says instead: how its runs stand. */
function pending(c: SweepCell, statusOf: Map<number, SweepRunStatus>): string {
  const counts = new Map<string, number>();
  for (const id of c.runIds) {
    const st = statusOf.get(id) ?? 'queued';
    counts.set(st, (counts.get(st) ?? 0) + 1);
  }
  const order: SweepRunStatus[] = ['running', 'queued', 'completed', 'failed', 'crashed', 'cancelled'];
  return order.filter((st) => counts.get(st)).map((st) => `${counts.get(st)} ${st}`).join(', ');
}

const statusCache = new WeakMap<SweepSummary, Map<number, SweepRunStatus>>();
/** Each run's status by id (once per summary: every cell's label needs it). */
function statuses(s: SweepSummary): Map<number, SweepRunStatus> {
  let m = statusCache.get(s);
  if (!m) statusCache.set(s, (m = new Map(s.runs.map((r) => [r.runId, r.status]))));
  return m;
}

function describe(input: ChartInput, i: number): string {
  const { summary: s, metric } = input;
  const c = s.cells[i];
  const st = c.metrics[metric];
  const value = st ? `${fmtValue(metric, st.mean)}${st.n > 1 ? ` ± ${fmtValue(metric, st.std)}` : ''}${unitOf(metric)} over ${st.n} of ${c.runIds.length} run${c.runIds.length > 1 ? 's' : ''}` : pending(c, statuses(s)) || 'no runs';
  return `${cellLabel(s, c)}: ${value}${i === input.best ? ' (best)' : ''}`;
}

/** Colours cells by their mean over the range of all cells' means. */
function colourScale(input: ChartInput, extra: number[] = []): ((v: number) => number) | undefined {
  const means = input.summary.cells.flatMap((c) => (c.metrics[input.metric] ? [c.metrics[input.metric]!.mean] : []));
  return means.length ? normalizer([...means, ...extra]) : undefined;
}

export function heatmap(input: ChartInput): HTMLElement {
  const { summary: s, metric } = input;
  const rowsAxis = s.view.rows && s.cellAxes.includes(s.view.rows) ? s.view.rows : s.cellAxes[0];
  const colsAxis = s.view.columns && s.cellAxes.includes(s.view.columns) && s.view.columns !== rowsAxis ? s.view.columns : s.cellAxes.find((a) => a !== rowsAxis)!;
  const rows = axisOrder(axisInfo(s, rowsAxis), s.cells.map((c) => c.key[rowsAxis]));
  const cols = axisOrder(axisInfo(s, colsAxis), s.cells.map((c) => c.key[colsAxis]));
  const at = new Map(s.cells.map((c, i) => [`${axisLabel(c.key[rowsAxis])}\0${axisLabel(c.key[colsAxis])}`, i]));
  const statusOf = statuses(s);
  const rowAverages = rows.map((r) => {
    const means = cols.flatMap((c) => {
      const i = at.get(`${axisLabel(r)}\0${axisLabel(c)}`);
      const m = i === undefined ? undefined : s.cells[i].metrics[metric];
      return m ? [m.mean] : [];
    });
    return means.length ? means.reduce((a, b) => a + b, 0) / means.length : undefined;
  });
  const norm = colourScale(input);
  const paint = (el: HTMLElement, v: number | undefined) => {
    if (v === undefined || !norm) return;
    const c = scaleColor(norm(v));
    el.style.background = c.background;
    el.style.color = c.text;
  };

  const head = h(
    'tr',
    {},
    h('th', { class: 'hm-corner', scope: 'col' }, h('span', { class: 'hm-rows' }, `${rowsAxis} ↓`), h('span', { class: 'hm-cols' }, `${colsAxis} →`)),
    ...cols.map((c) => h('th', { scope: 'col', class: 'hm-col' }, axisLabel(c))),
    s.view.rowAverage ? h('th', { scope: 'col', class: 'hm-col hm-avg-head' }, 'row average') : null,
  );
  const body = rows.map((r, ri) =>
    h(
      'tr',
      {},
      h('th', { scope: 'row', class: 'hm-row' }, axisLabel(r)),
      ...cols.map((c) => {
        const i = at.get(`${axisLabel(r)}\0${axisLabel(c)}`);
        if (i === undefined) return h('td', { class: 'hm-empty', title: 'not in this sweep' }, '');
        const cell = s.cells[i];
        const st = cell.metrics[metric];
        const f = fmtStat(metric, st);
        const best = i === input.best;
        const b = h(
          'button',
          { type: 'button', class: `hm-cell${best ? ' best' : ''}${st ? '' : ' pending'}`, 'data-cell': i, title: `${describe(input, i)} — click to compare its runs`, 'aria-label': describe(input, i) },
          st ? h('span', { class: 'mean' }, f.mean) : h('span', { class: 'status' }, pending(cell, statusOf)),
          f.std ? h('span', { class: 'std' }, f.std) : null,
          st && st.n < cell.runIds.length ? h('span', { class: 'n' }, `${st.n}/${cell.runIds.length}`) : null,
          best ? h('span', { class: 'star', 'aria-hidden': 'true' }, '★') : null,
        );
        paint(b, st?.mean);
        b.addEventListener('click', () => input.open(i));
        return h('td', { class: 'hm-td' }, b);
      }),
      s.view.rowAverage
        ? (() => {
            const v = rowAverages[ri];
            const td = h('td', { class: 'hm-avg', 'data-row': ri, title: `mean of the row's cells${unitOf(metric)}` }, fmtValue(metric, v));
            paint(td, v);
            return td;
          })()
        : null,
    ),
  );
  return h('div', { class: 'hm-wrap' }, h('table', { class: 'heatmap', id: 'heatmap', 'aria-label': `${metricTitle(metric)} by ${rowsAxis} and ${colsAxis}` }, h('thead', {}, head), h('tbody', {}, ...body)));
}

export function bars(input: ChartInput): HTMLElement {
  const { summary: s, metric } = input;
  const axis = s.cellAxes[0];
  const order = axis ? axisOrder(axisInfo(s, axis), s.cells.map((c) => c.key[axis])).map(axisLabel) : [];
  const idx = s.cells.map((_, i) => i).sort((a, b) => (axis ? order.indexOf(axisLabel(s.cells[a].key[axis])) - order.indexOf(axisLabel(s.cells[b].key[axis])) : a - b));
  const stats = s.cells.map((c) => c.metrics[metric]);
  const hi = Math.max(0, ...stats.flatMap((x) => (x ? [x.mean + x.std] : [])));
  const lo = Math.min(0, ...stats.flatMap((x) => (x ? [x.mean - x.std] : [])));
  const span = hi - lo || 1;
  const pct = (v: number) => `${(((v - lo) / span) * 100).toFixed(2)}%`;
  const statusOf = statuses(s);
  const rows = idx.map((i) => {
    const c = s.cells[i];
    const st = stats[i];
    const f = fmtStat(metric, st);
    const best = i === input.best;
    const fill = h('span', { class: 'bar-fill' });
    const err = h('span', { class: 'bar-err' });
    if (st) {
      fill.style.left = pct(Math.min(0, st.mean));
      fill.style.width = `${((Math.abs(st.mean) / span) * 100).toFixed(2)}%`;
      if (st.n > 1 && st.std > 0) {
        err.style.left = pct(st.mean - st.std);
        err.style.width = `${(((2 * st.std) / span) * 100).toFixed(2)}%`;
      } else err.hidden = true;
    } else err.hidden = true;
    const b = h(
      'button',
      { type: 'button', class: `bar-row${best ? ' best' : ''}`, 'data-cell': i, title: `${describe(input, i)} — click to compare its runs`, 'aria-label': describe(input, i) },
      h('span', { class: 'bar-label' }, axis ? axisLabel(c.key[axis]) : 'all runs'),
      h('span', { class: 'bar-track' }, fill, err),
      h('span', { class: 'bar-value' }, st ? `${f.mean}${f.std ? ` ${f.std}` : ''}` : pending(c, statusOf), st && st.n < c.runIds.length ? h('span', { class: 'n' }, ` ${st.n}/${c.runIds.length}`) : null, best ? h('span', { class: 'star', 'aria-hidden': 'true' }, ' ★') : null),
    );
    b.addEventListener('click', () => input.open(i));
    return b;
  });
  return h('div', { class: 'bars', id: 'bars', role: 'group', 'aria-label': `${metricTitle(metric)} by ${axis ?? 'seed'}` }, h('div', { class: 'bars-axis muted' }, h('span', {}, axis ?? ''), h('span', {}, `${fmtValue(metric, lo)} – ${fmtValue(metric, hi)}${unitOf(metric)}`)), ...rows);
}

const SVG = 'http://www.w3.org/2000/svg';
function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, ...children: (Node | string)[]): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  el.append(...children);
  return el;
}

/** One vertical axis per cell axis and one for the metric; a line per cell through its values, coloured by its mean. */
export function parallel(input: ChartInput, width: number): SVGSVGElement {
  const { summary: s, metric } = input;
  const W = Math.max(320, Math.floor(width));
  const H = 380;
  const names = [...s.cellAxes, metric];
  // Room on the left for the first axis's value labels (about 7 px a character).
  const firstLabels = s.cells.map((c) => axisLabel(c.key[s.cellAxes[0]]).length);
  const left = Math.min(170, Math.max(44, 7 * Math.max(...firstLabels) + 14));
  // Axis names that would run into each other (about 7 px a character) alternate between two lines.
  const spacing = (W - left - 64) / (names.length - 1);
  // The first name runs right of its axis, the last (the metric's) left of it, the others centred.
  const nameWidth = (k: number) => 7 * (k === names.length - 1 ? `${metricTitle(metric)}${unitOf(metric)}` : names[k]).length;
  const leftOf = (k: number) => (k === 0 ? 0 : k === names.length - 1 ? nameWidth(k) : nameWidth(k) / 2);
  const rightOf = (k: number) => (k === 0 ? nameWidth(k) : k === names.length - 1 ? 0 : nameWidth(k) / 2);
  const stagger = names.some((_, k) => k > 0 && rightOf(k - 1) + leftOf(k) + 10 > spacing);
  const m = { top: stagger ? 48 : 34, bottom: 26, left, right: 64 };
  const x = (k: number) => m.left + (k * (W - m.left - m.right)) / (names.length - 1);
  const innerH = H - m.top - m.bottom;
  type Scale = { y(v: unknown): number; ticks: { y: number; label: string }[] };
  const scales: Scale[] = s.cellAxes.map((a) => {
    const info = axisInfo(s, a);
    const values = s.cells.map((c) => c.key[a]);
    if (info?.kind === 'random' && values.every((v) => typeof v === 'number')) {
      const nums = values as number[];
      const lo = Math.min(...nums);
      const hi = Math.max(...nums);
      const log = lo > 0 && hi / lo >= 20;
      const f = (v: number) => (log ? Math.log(v) : v);
      const t = (v: number) => (hi > lo ? (f(v) - f(lo)) / (f(hi) - f(lo)) : 0.5);
      const y = (v: unknown) => m.top + (1 - t(v as number)) * innerH;
      const tickValues = log ? [lo, Math.sqrt(lo * hi), hi] : [lo, (lo + hi) / 2, hi];
      return { y, ticks: tickValues.map((v) => ({ y: y(v), label: axisLabel(Number(v.toPrecision(3))) })) };
    }
    const order = axisOrder(info, values).map(axisLabel);
    // The file's first value at the bottom: a grid listed small to large reads upwards, like the metric.
    const y = (v: unknown) => m.top + (order.length > 1 ? 1 - order.indexOf(axisLabel(v as string)) / (order.length - 1) : 0.5) * innerH;
    const every = Math.ceil(order.length / 12);
    return { y, ticks: order.filter((_, i) => i % every === 0).map((l) => ({ y: y(l), label: l })) };
  });
  const means = s.cells.flatMap((c) => (c.metrics[metric] ? [c.metrics[metric]!.mean] : []));
  const lo = means.length ? Math.min(...means) : 0;
  const hi = means.length ? Math.max(...means) : 1;
  const my = (v: number) => m.top + (hi > lo ? 1 - (v - lo) / (hi - lo) : 0.5) * innerH;
  scales.push({ y: (v) => my(v as number), ticks: (hi > lo ? [hi, (lo + hi) / 2, lo] : [hi]).map((v) => ({ y: my(v), label: fmtValue(metric, v) })) });
  const norm = means.length ? normalizer(means) : undefined;

  const lines = s.cells.map((c, i) => {
    const st = c.metrics[metric];
    const pts = s.cellAxes.map((a, k) => `${x(k).toFixed(1)},${scales[k].y(c.key[a]).toFixed(1)}`);
    if (st) pts.push(`${x(names.length - 1).toFixed(1)},${my(st.mean).toFixed(1)}`);
    const best = i === input.best;
    const colour = st && norm ? scaleColor(norm(st.mean)).background : 'currentColor';
    const g = svg(
      'g',
      { class: `pc-line${best ? ' best' : ''}${st ? '' : ' pending'}`, 'data-cell': i, tabindex: 0, role: 'button', 'aria-label': describe(input, i) },
      svg('title', {}, `${describe(input, i)} — click to compare its runs`),
      svg('polyline', { class: 'hit', points: pts.join(' '), fill: 'none', stroke: 'transparent', 'stroke-width': 9 }),
      ...(best ? [svg('polyline', { class: 'halo', points: pts.join(' '), fill: 'none', 'stroke-width': 6 })] : []),
      svg('polyline', { class: 'vis', points: pts.join(' '), fill: 'none', stroke: colour, 'stroke-width': best ? 3 : 1.5, ...(st ? {} : { 'stroke-dasharray': '3 3' }) }),
    );
    g.addEventListener('click', () => input.open(i));
    g.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        input.open(i);
      }
    });
    return { g, best, has: !!st };
  });
  // Cells without a result under the rest, the best one on top.
  lines.sort((a, b) => Number(a.has) - Number(b.has) || Number(a.best) - Number(b.best));

  const axes = names.map((name, k) =>
    svg(
      'g',
      { class: `pc-axis${k === names.length - 1 ? ' metric' : ''}` },
      svg('line', { x1: x(k), x2: x(k), y1: m.top, y2: m.top + innerH }),
      svg('text', { x: x(k), y: m.top - 14 - (stagger && k % 2 === 1 ? 16 : 0), 'text-anchor': k === 0 ? 'start' : k === names.length - 1 ? 'end' : 'middle', class: 'pc-name' }, k === names.length - 1 ? `${metricTitle(metric)}${unitOf(metric)}` : name),
      ...scales[k].ticks.map((t) => svg('text', { x: x(k) + (k === names.length - 1 ? 6 : -6), y: t.y + 4, 'text-anchor': k === names.length - 1 ? 'start' : 'end', class: 'pc-tick' }, t.label)),
    ),
  );
  return svg('svg', { id: 'parallel', class: 'parallel', width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: 'group', 'aria-label': `${metricTitle(metric)} over ${s.cellAxes.join(', ')}` }, ...lines.map((l) => l.g), ...axes);
}

export const metricTitle = (m: SweepMetricName) => ({ linear: 'linear probe', knn: 'kNN accuracy (last)', bestKnn: 'kNN accuracy (best)', collapse: 'collapse (embedding std)' })[m];
