/**
 * PNG and JPEG decoding (pure JavaScript: pngjs, jpeg-js) and the resize + centre crop that brings
 * images of any size to the configured input size. Used once per image folder, at load time; the
 * result is cached on disk (folder.ts), so none of this runs while training.
 */
import * as jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { DatasetError } from './idx';

/** An 8-bit RGB image, HWC (r, g, b for each pixel, row by row). */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg'];

/**
 * Decodes a PNG or JPEG (recognised by content, not by file name) to RGB. Alpha is dropped and gray
 * images are expanded to three equal channels, as PIL's `convert('RGB')` does; 16-bit PNGs are
 * scaled to 8 bits. Throws a DatasetError naming `file` when the bytes cannot be decoded.
 */
export function decodeImage(file: string, bytes: Buffer): RgbImage {
  const isPng = bytes.length >= 8 && bytes.readUInt32BE(0) === 0x89504e47;
  const isJpeg = bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
  if (!isPng && !isJpeg) {
    throw new DatasetError(`${file}: not a PNG or JPEG image (${bytes.length === 0 ? 'empty file' : `starts with ${bytes.subarray(0, 4).toString('hex')}`}); remove it or convert it`);
  }
  try {
    if (isPng) {
      const png = PNG.sync.read(bytes); // always RGBA, 8 bits per channel
      return { width: png.width, height: png.height, data: dropAlpha(png.data, png.width * png.height) };
    }
    // formatAsRGBA false gives RGB, gray JPEGs included; limits guard against decompression bombs.
    const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, maxResolutionInMP: 200, maxMemoryUsageInMB: 1024 });
    if (!img.width || !img.height || img.data.length !== img.width * img.height * 3) throw new Error('no image data');
    return { width: img.width, height: img.height, data: img.data };
  } catch (e) {
    throw new DatasetError(`${file}: cannot decode ${isPng ? 'PNG' : 'JPEG'} image (${(e as Error).message}); remove it or re-save it`);
  }
}

function dropAlpha(rgba: Uint8Array, pixels: number): Uint8Array {
  const out = new Uint8Array(pixels * 3);
  for (let i = 0, j = 0; i < pixels; i++, j += 3) {
    out[j] = rgba[i * 4];
    out[j + 1] = rgba[i * 4 + 1];
    out[j + 2] = rgba[i * 4 + 2];
  }
  return out;
}

/** Source pixels and weights of each output pixel along one axis. */
interface Taps {
  start: Int32Array;
  count: Int32Array;
  weights: Float32Array[];
}

/**
 * Antialiased linear resampling as PIL does it (triangle filter widened by the scale factor when
 * shrinking, so downsizing averages every source pixel instead of skipping some). Output pixel j
 * covers resized coordinate j + offset, i.e. source coordinate (j + offset + 0.5) / scale.
 */
function taps(inSize: number, outSize: number, scale: number, offset: number): Taps {
  const support = Math.max(1, 1 / scale);
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights: Float32Array[] = [];
  for (let j = 0; j < outSize; j++) {
    const center = (j + offset + 0.5) / scale;
    const lo = Math.max(0, Math.floor(center - support));
    const hi = Math.min(inSize - 1, Math.ceil(center + support));
    const w = new Float32Array(hi - lo + 1);
    let sum = 0;
    for (let i = lo; i <= hi; i++) {
      const v = Math.max(0, 1 - Math.abs(i + 0.5 - center) / support);
      w[i - lo] = v;
      sum += v;
    }
    if (sum === 0) {
      // Cannot happen for in-range centres; keep the nearest pixel rather than produce black.
      w.fill(0);
      w[Math.min(w.length - 1, Math.max(0, Math.round(center - 0.5) - lo))] = 1;
      sum = 1;
    }
    for (let k = 0; k < w.length; k++) w[k] /= sum;
    start[j] = lo;
    count[j] = w.length;
    weights.push(w);
  }
  return { start, count, weights };
}

/**
 * torchvision's Resize(size) + CenterCrop(size): scale so the shorter side is `size`, then cut the
 * central size×size square. Done in one resampling pass over only the kept pixels.
 */
export function resizeCenterCrop(img: RgbImage, size: number): RgbImage {
  const { width: w, height: h } = img;
  if (w === size && h === size) return img;
  const scale = size / Math.min(w, h);
  const rw = Math.max(size, Math.round(w * scale));
  const rh = Math.max(size, Math.round(h * scale));
  // Scale per axis so the resized image is exactly rw×rh, as a real resize would be.
  const tx = taps(w, size, rw / w, Math.round((rw - size) / 2));
  const ty = taps(h, size, rh / h, Math.round((rh - size) / 2));
  // Horizontal pass over the rows the vertical pass needs, then the vertical pass.
  const rowLo = ty.start[0];
  const rowHi = ty.start[size - 1] + ty.count[size - 1];
  const tmp = new Float32Array((rowHi - rowLo) * size * 3);
  for (let y = rowLo; y < rowHi; y++) {
    const src = y * w * 3;
    const dst = (y - rowLo) * size * 3;
    for (let x = 0; x < size; x++) {
      const wx = tx.weights[x];
      let r = 0;
      let g = 0;
      let b = 0;
      for (let k = 0, p = src + tx.start[x] * 3; k < wx.length; k++, p += 3) {
        r += img.data[p] * wx[k];
        g += img.data[p + 1] * wx[k];
        b += img.data[p + 2] * wx[k];
      }
      tmp[dst + x * 3] = r;
      tmp[dst + x * 3 + 1] = g;
      tmp[dst + x * 3 + 2] = b;
    }
  }
  const out = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    const wy = ty.weights[y];
    for (let x = 0; x < size * 3; x++) {
      let v = 0;
      for (let k = 0; k < wy.length; k++) v += tmp[(ty.start[y] - rowLo + k) * size * 3 + x] * wy[k];
      out[y * size * 3 + x] = v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
    }
  }
  return { width: size, height: size, data: out };
}

/** True when every pixel has r = g = b (a gray image stored as RGB). */
export function isGray(img: RgbImage): boolean {
  const d = img.data;
  for (let i = 0; i < d.length; i += 3) if (d[i] !== d[i + 1] || d[i] !== d[i + 2]) return false;
  return true;
}
