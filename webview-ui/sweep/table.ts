import { axisLabel, SWEEP_RUN_STATUSES, type SweepMetricName, type SweepRunSummary, type SweepSummary } from '../../src/core/sweep-summary';
import type { SweepSortKey } from '../../src/webviews/protocol/sweep';
import { h } from '../shared/dom';
import { axisOrder, fmtValue } from './format';

/**
 * The runs table: every run with its axis values, seed, status and metrics, sortable by any column
 * (runs without a value sort last either way). Clicking a run's id opens its dashboard.
 */
interface Column {
  key: SweepSortKey;
  label: string;
  numeric: boolean;
  /** What it sorts by; undefined sorts last. */
  value(r: SweepRunSummary): number | string | undefined;
  cell(r: SweepRunSummary): Node | string;
}

const METRIC_COLUMNS: { key: SweepMetricName; label: string }[] = [
  { key: 'knn', label: 'kNN last' },
  { key: 'bestKnn', label: 'kNN best' },
  { key: 'linear', label: 'linear' },
  { key: 'collapse', label: 'collapse' },
];

function columns(s: SweepSummary, openRun: (id: number) => void): Column[] {
  const axisColumns = s.cellAxes.map((a): Column => {
    const order = axisOrder(
      s.sweep.axes.find((x) => x.name === a),
      s.runs.map((r) => r.axisValues[a]),
    ).map(axisLabel);
    const rank = new Map(order.map((l, i) => [l, i]));
    return { key: `axis:${a}`, label: a, numeric: false, value: (r) => rank.get(axisLabel(r.axisValues[a])), cell: (r) => axisLabel(r.axisValues[a]) };
  });
  return [
    {
      key: 'index',
      label: 'run',
      numeric: false,
      value: (r) => r.index,
      cell: (r) => {
        const b = h('button', { type: 'button', class: 'link', 'data-run': r.runId, title: `${r.name} — open its dashboard` }, `#${r.runId}`);
        b.addEventListener('click', () => openRun(r.runId));
        return b;
      },
    },
    ...axisColumns,
    { key: 'seed', label: 'seed', numeric: true, value: (r) => r.seed, cell: (r) => String(r.seed) },
    {
      key: 'status',
      label: 'status',
      numeric: false,
      value: (r) => SWEEP_RUN_STATUSES.indexOf(r.status),
      cell: (r) => h('span', { class: `badge ${r.status}`, title: r.error ?? undefined }, r.status),
    },
    ...METRIC_COLUMNS.map((m): Column => ({ key: m.key, label: m.label, numeric: true, value: (r) => r.metrics[m.key], cell: (r) => fmtValue(m.key, r.metrics[m.key]) })),
    { key: 'epochs', label: 'epochs', numeric: true, value: (r) => (r.lastEpoch ?? 0) / Math.max(1, r.epochs), cell: (r) => `${r.lastEpoch ?? 0}/${r.epochs}` },
  ];
}

export function runsTable(s: SweepSummary, sort: { key: SweepSortKey; descending: boolean }, metric: SweepMetricName, onSort: (key: SweepSortKey) => void, openRun: (id: number) => void): HTMLTableElement {
  const cols = columns(s, openRun);
  const col = cols.find((c) => c.key === sort.key) ?? cols[0];
  const sign = sort.descending ? -1 : 1;
  const rows = s.runs
    .map((r) => ({ r, v: col.value(r) }))
    .sort((a, b) => {
      if (a.v === undefined || b.v === undefined) return a.v === b.v ? a.r.index - b.r.index : a.v === undefined ? 1 : -1;
      const d = typeof a.v === 'number' && typeof b.v === 'number' ? a.v - b.v : String(a.v).localeCompare(String(b.v));
      return sign * d || a.r.index - b.r.index;
    })
    .map(({ r }) => r);
  const head = h(
    'tr',
    {},
    ...cols.map((c) => {
      const active = c.key === col.key;
      const b = h('button', { type: 'button', class: 'sort', 'data-sort': c.key }, c.label, h('span', { class: 'arrow', 'aria-hidden': 'true' }, active ? (sort.descending ? ' ▼' : ' ▲') : ''));
      b.addEventListener('click', () => onSort(c.key));
      return h('th', { scope: 'col', class: `${c.numeric ? 'num' : ''}${c.key === metric ? ' metric' : ''}`, 'aria-sort': active ? (sort.descending ? 'descending' : 'ascending') : undefined }, b);
    }),
  );
  const body = rows.map((r) =>
    h(
      'tr',
      { 'data-run': r.runId, class: r.status },
      ...cols.map((c) => h('td', { class: `${c.numeric ? 'num' : ''}${c.key === metric ? ' metric' : ''}` }, c.cell(r))),
    ),
  );
  return h('table', { id: 'runs', class: 'runs' }, h('thead', {}, head), h('tbody', {}, ...body));
}
