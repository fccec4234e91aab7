import type { Frame } from 'playwright-core';

/**
 * What canvases in a webview actually show, read back with getImageData inside the webview (the panels
 * draw charts, maps and images on canvases, so the DOM alone cannot say whether anything was drawn).
 * The functions run in the page, so they are passed as source text (no DOM types in this tsconfig).
 */

export interface CanvasSummary {
  width: number;
  height: number;
  /** Pixels drawn at all (alpha > 40). */
  drawn: number;
  /** Saturated pixels (chart series, class colours), bucketed by hue in 30° steps. */
  hueBuckets: number[];
  /** Pixels matching each of the given colours (±6 per channel). */
  matches: number[];
  /** Distinct grey levels among opaque pixels (an image has many; a blank canvas one or none). */
  greyLevels: number;
}

const SUMMARISE = `(([selector, colours]) => {
  const want = colours.map((c) => [parseInt(c.slice(1, 3), 16), parseInt(c.slice(3, 5), 16), parseInt(c.slice(5, 7), 16)]);
  return [...document.querySelectorAll(selector)].map((c) => {
    const out = { width: c.width, height: c.height, drawn: 0, hueBuckets: new Array(12).fill(0), matches: new Array(want.length).fill(0), greyLevels: 0 };
    const ctx = c.getContext && c.getContext('2d');
    if (!ctx || !c.width || !c.height) return out;
    const d = ctx.getImageData(0, 0, c.width, c.height).data;
    const greys = new Set();
    for (let i = 0; i < d.length; i += 4) {
      if (d[i + 3] <= 40) continue;
      out.drawn++;
      const r = d[i], g = d[i + 1], b = d[i + 2];
      const max = Math.max(r, g, b), min = Math.min(r, g, b);
      if (max - min <= 12) greys.add(r >> 2);
      if (max - min > 60) {
        let h = max === r ? (g - b) / (max - min) : max === g ? 2 + (b - r) / (max - min) : 4 + (r - g) / (max - min);
        h = ((h * 60) + 360) % 360;
        out.hueBuckets[Math.floor(h / 30) % 12]++;
      }
      for (let k = 0; k < want.length; k++) if (Math.abs(r - want[k][0]) <= 6 && Math.abs(g - want[k][1]) <= 6 && Math.abs(b - want[k][2]) <= 6) out.matches[k]++;
    }
    out.greyLevels = greys.size;
    return out;
  });
})`;

export async function canvases(frame: Frame, selector: string, colours: string[] = []): Promise<CanvasSummary[]> {
  return frame.evaluate(`${SUMMARISE}(${JSON.stringify([selector, colours])})`) as Promise<CanvasSummary[]>;
}

/** Hue buckets with at least `min` pixels: distinct series colours drawn. */
export function huesDrawn(c: CanvasSummary, min = 30): number {
  return c.hueBuckets.filter((n) => n >= min).length;
}

/** The panels' class colours (webview-ui/shared/theme.ts, Tableau 10). */
export const CLASS_COLORS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
