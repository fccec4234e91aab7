/** A tiny element builder: no innerHTML anywhere, so nothing from a run's data is ever parsed as HTML. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number | boolean | undefined> = {},
  ...children: (Node | string | null | undefined)[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (k === 'class') el.className = String(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) el.append(c);
  return el;
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing`);
  return el as T;
}

export const fmt = {
  percent: (v: number | null | undefined) => (v === null || v === undefined ? '—' : `${(v * 100).toFixed(2)}%`),
  number: (v: number | null | undefined, digits = 4) => (v === null || v === undefined ? '—' : Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(3) : v.toFixed(digits)),
  seconds: (v: number | null | undefined) => {
    if (v === null || v === undefined) return '—';
    if (v < 60) return `${v.toFixed(1)} s`;
    const m = Math.floor(v / 60);
    return m < 60 ? `${m} min ${Math.round(v % 60)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
  },
  time: (ms: number | null | undefined) => (ms ? new Date(ms).toLocaleString() : '—'),
};

/** Replaces an element's children. */
export function setChildren(el: Element, ...children: (Node | string)[]): void {
  el.replaceChildren(...children);
}
