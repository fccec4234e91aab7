import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { themeColors } from './theme';

/**
 * uPlot line charts themed from VS Code's colours. uPlot draws on a canvas, is fast with 10⁵ points, and
 * its legend shows the values under the cursor (the dashboard's hover values).
 */
export interface LineSeries {
  label: string;
  color: string;
  width?: number;
  dash?: number[];
  alpha?: number;
  points?: boolean;
  format?: (v: number | null) => string;
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  series: LineSeries[];
  log?: boolean;
  xFormat?: (v: number) => string;
  height?: number;
  /** x values are times in seconds (wall-clock axis). */
  time?: boolean;
  /**
   * The x axis spans at least this (e.g. a run's epochs 1..10, so its progress shows), more if the data
   * does; a function is read at every redraw.
   */
  xSpan?: [number, number] | (() => [number, number]);
  /** x ticks at whole numbers only (epochs). */
  wholeX?: boolean;
  /** The y axis fits the data (padded) but never goes beyond these (e.g. 0–100 for a percentage). */
  yBounds?: [number, number];
}

/** The data's range, padded by 8% of its span (±1 around a single value), clipped to `bounds`. */
export function paddedRange(min: number | null, max: number | null, bounds: [number, number]): [number, number] {
  if (min === null || max === null || !Number.isFinite(min) || !Number.isFinite(max)) return bounds;
  const pad = max > min ? (max - min) * 0.08 : 1;
  return [Math.max(bounds[0], min - pad), Math.min(bounds[1], max + pad)];
}

/** The data's range, widened to cover `span`. */
export function spanRange(min: number | null, max: number | null, span: [number, number]): [number, number] {
  if (min === null || max === null || !Number.isFinite(min) || !Number.isFinite(max)) return span;
  return [Math.min(span[0], min), Math.max(span[1], max)];
}

function withAlpha(color: string, alpha: number): string {
  if (alpha >= 1) return color;
  const m = /^#([0-9a-f]{6})$/i.exec(color);
  if (!m) return color;
  const n = parseInt(m[1], 16);
  return `rgba(${n >> 16}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}

export function lineChart(parent: HTMLElement, o: LineChartOptions, data: uPlot.AlignedData): uPlot {
  const t = themeColors();
  const axis = (label: string): uPlot.Axis => ({
    label,
    stroke: t.muted,
    grid: { stroke: withAlpha(t.grid.startsWith('#') ? t.grid : '#808080', 0.5), width: 1 },
    ticks: { stroke: t.grid, width: 1 },
    font: `11px ${t.font}`,
    labelFont: `11px ${t.font}`,
  });
  const opts: uPlot.Options = {
    title: o.title,
    width: Math.max(200, parent.clientWidth || 400),
    height: o.height ?? 220,
    scales: {
      x: { time: o.time ?? false, ...(o.xSpan ? { range: (_u, min, max) => spanRange(min, max, typeof o.xSpan === 'function' ? o.xSpan() : o.xSpan!) } : {}) },
      y: { distr: o.log ? 3 : 1, ...(o.yBounds && !o.log ? { range: (_u, min, max) => paddedRange(min, max, o.yBounds!) } : {}) },
    },
    axes: [
      { ...axis(o.xLabel), values: o.xFormat ? (_u, vals) => vals.map((v) => o.xFormat!(v)) : undefined, ...(o.wholeX ? { incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000] } : {}) },
      { ...axis(''), values: (_u, vals) => vals.map((v) => (v === null ? '' : tick(v))) },
    ],
    legend: { live: true },
    cursor: { drag: { x: true, y: false } },
    series: [
      { label: o.xLabel, value: o.xFormat ? (_u, v) => (v === null ? '—' : o.xFormat!(v)) : undefined },
      ...o.series.map(
        (s): uPlot.Series => ({
          label: s.label,
          stroke: withAlpha(s.color, s.alpha ?? 1),
          width: s.width ?? 1.5,
          dash: s.dash,
          spanGaps: true,
          points: { show: s.points ?? false, size: 6, fill: s.color },
          value: s.format ? (_u, v) => s.format!(v) : (_u, v) => (v === null || v === undefined ? '—' : formatValue(v)),
        }),
      ),
    ],
  };
  const u = new uPlot(opts, data, parent);
  new ResizeObserver(() => {
    const w = Math.max(200, parent.clientWidth);
    if (Math.abs(w - u.width) > 2) u.setSize({ width: w, height: u.height });
  }).observe(parent);
  return u;
}

/** Axis ticks: short, and distinct for small values such as learning rates (1.0e-3, 5.0e-4). */
function tick(v: number): string {
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e5 || a < 1e-2)) return v.toExponential(1);
  return String(+v.toPrecision(4));
}

export const formatValue = (v: number): string => (Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(3) : v.toPrecision(5));
