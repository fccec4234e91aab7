import type { Thumb } from '../../src/webviews/protocol/common';

/** Draws a dataset image (HWC bytes, gray or RGB) into a canvas of `size` CSS pixels, pixelated. */
export function thumbCanvas(t: Thumb, size: number, title?: string): HTMLCanvasElement {
  const c = document.createElement('canvas');
  c.width = t.width;
  c.height = t.height;
  c.className = 'thumb';
  c.style.width = `${size}px`;
  c.style.height = `${size}px`;
  if (title) {
    c.title = title;
    c.setAttribute('role', 'img');
    c.setAttribute('aria-label', title);
  }
  drawThumb(c, t);
  return c;
}

export function drawThumb(c: HTMLCanvasElement, t: Thumb): void {
  c.width = t.width;
  c.height = t.height;
  const ctx = c.getContext('2d')!;
  const img = ctx.createImageData(t.width, t.height);
  const n = t.width * t.height;
  for (let i = 0; i < n; i++) {
    const r = t.channels === 3 ? t.pixels[3 * i] : t.pixels[i];
    const g = t.channels === 3 ? t.pixels[3 * i + 1] : t.pixels[i];
    const b = t.channels === 3 ? t.pixels[3 * i + 2] : t.pixels[i];
    img.data[4 * i] = r;
    img.data[4 * i + 1] = g;
    img.data[4 * i + 2] = b;
    img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}
