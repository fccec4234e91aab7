import { axisLabel, type Stat, type SweepAxisInfo, type SweepAxisValue, type SweepMetricName } from '../../src/core/sweep-summary';

/** Accuracies are shown in percent, the collapse std as a plain number. */
export const isAccuracy = (m: SweepMetricName) => m !== 'collapse';

export function fmtValue(m: SweepMetricName, v: number | undefined): string {
  if (v === undefined) return '—';
  return isAccuracy(m) ? (v * 100).toFixed(1) : v.toPrecision(3);
}

export function fmtStat(m: SweepMetricName, s: Stat | undefined): { mean: string; std: string } {
  if (!s) return { mean: '—', std: '' };
  return { mean: fmtValue(m, s.mean), std: s.n > 1 ? `± ${fmtValue(m, s.std)}` : '' };
}

export const unitOf = (m: SweepMetricName) => (isAccuracy(m) ? ' (%)' : '');

/**
 * Orders an axis's values: as the sweep file lists them (the axis's labels), then any others (a random
 * axis has none) numerically or alphabetically.
 */
export function axisOrder(axis: SweepAxisInfo | undefined, values: SweepAxisValue[]): SweepAxisValue[] {
  const unique = [...new Map(values.map((v) => [axisLabel(v), v])).values()];
  const rank = new Map((axis?.labels ?? []).map((l, i) => [l, i]));
  return unique.sort((a, b) => {
    const ra = rank.get(axisLabel(a)) ?? Infinity;
    const rb = rank.get(axisLabel(b)) ?? Infinity;
    if (ra !== rb) return ra - rb;
    if (typeof a === 'number' && typeof b === 'number') return a - b;
    return axisLabel(a).localeCompare(axisLabel(b));
  });
}

// Viridis (matplotlib), sampled at nine points: perceptually uniform, readable on dark and light themes
// and for colour-blind readers.
const VIRIDIS = ['#440154', '#472d7b', '#3b528b', '#2c728e', '#21918c', '#28ae80', '#5ec962', '#addc30', '#fde725'].map((c) => [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16)));

/** The colour of t ∈ [0, 1] on the scale, and the text colour readable on it. */
export function scaleColor(t: number): { background: string; text: string } {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  const [r, g, b] = VIRIDIS[i].map((c, k) => Math.round(c + (VIRIDIS[i + 1][k] - c) * f));
  const luminance = (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
  return { background: `rgb(${r}, ${g}, ${b})`, text: luminance > 0.5 ? '#000000' : '#ffffff' };
}

/** Maps values onto [0, 1] over their range (a single value: the middle). */
export function normalizer(values: number[]): (v: number) => number {
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  return (v) => (hi > lo ? (v - lo) / (hi - lo) : 0.5);
}
