import FFT from 'fft.js';

/**
 * The repulsive half of the t-SNE gradient by FFT-accelerated interpolation (Linderman, Rachh, Hoskins,
 * Steinerberger & Kluger, "Fast interpolation-based t-SNE for improved visualization of single-cell
 * RNA-seq data", Nature Methods 16, 2019 — FIt-SNE, as openTSNE implements it for 2-D maps).
 *
 * The layout's bounding square is cut into nb × nb boxes with p × p equispaced Lagrange nodes each, so
 * the nodes form a regular N × N grid (N = nb·p). Every point spreads four charges (1, y₁, y₂, |y|²)
 * onto the p × p nodes of its box; the grid is convolved with the kernel K(d) = (1 + d²)⁻² by FFT
 * (zero-padded to M × M, M ≥ 2N, so the circular convolution is the linear one); the four potentials
 * are interpolated back at the points. From them, for every i:
 *
 *   Σ_j K_ij (y_i − y_j)          = y_i·φ₁ − φ_y                 (the repulsive force, unnormalised)
 *   Σ_j (1 + d²_ij)⁻¹ = Σ_j K_ij (1 + d²_ij) = (1 + |y_i|²)·φ₁ − 2 y_i·φ_y + φ_|y|²   (for Z)
 *
 * The cost per iteration is O(n·p²) for the interpolation plus O(M² log M) for the FFTs, whatever n.
 *
 * The FFT is fft.js (radix-4, power-of-two sizes, the fastest pure-JavaScript FFT on npm): a 2-D
 * transform is M row transforms and M column transforms of its 1-D one. Power-of-two sizes are why the
 * grid is chosen from M rather than the other way round: the padding M ≥ 2N leaves room for as many
 * boxes as fit, so a layout gets the finest grid that transform size allows. Two real grids are packed
 * into one complex grid (real and imaginary parts): the kernel is real, so the convolution keeps them
 * apart and four charges cost two complex convolutions.
 */

export interface FftRepulsionOptions {
  /** Interpolation nodes per box side (openTSNE: 3). */
  nodes?: number;
  /** Largest box side, in layout units; more boxes are used when the transform size has room. */
  maxBoxWidth?: number;
  /** Fewest boxes per side (openTSNE: 50); a tiny early layout still gets a fine grid. */
  minBoxes?: number;
  /** Largest FFT side: past it, boxes widen with the map instead (bounds the cost per iteration). */
  maxFftSize?: number;
}

// Measured on a 5,000-point Fashion-MNIST map (range 110): 4 nodes per box at the same grid spacing halve
// the force error of openTSNE's 3; box width ≤ 1 keeps the error below Barnes-Hut's at θ = 0.5.
const DEFAULTS: Required<FftRepulsionOptions> = { nodes: 4, maxBoxWidth: 1, minBoxes: 16, maxFftSize: 1024 };

const nextPow2 = (v: number): number => {
  let m = 2;
  while (m < v) m *= 2;
  return m;
};

/** A 2-D complex FFT over M × M interleaved (re, im) grids, row-major, from fft.js's 1-D transform. */
class Fft2d {
  readonly fft: FFT;
  private readonly tmp: Float64Array;
  private readonly colIn: Float64Array;
  private readonly colOut: Float64Array;

  constructor(readonly m: number) {
    this.fft = new FFT(m);
    this.tmp = new Float64Array(2 * m);
    this.colIn = new Float64Array(2 * m);
    this.colOut = new Float64Array(2 * m);
  }

  /** In place, forward. Rows from `rows` on are zero on input (the padding) and skip their transforms. */
  forward(g: Float64Array, rows = this.m): void {
    const { m, fft, tmp, colIn, colOut } = this;
    for (let r = 0; r < rows; r++) {
      fft.transform(tmp, g.subarray(2 * m * r, 2 * m * (r + 1)));
      g.set(tmp, 2 * m * r);
    }
    for (let c = 0; c < m; c++) {
      for (let r = 0, o = 2 * c; r < m; r++, o += 2 * m) {
        colIn[2 * r] = g[o];
        colIn[2 * r + 1] = g[o + 1];
      }
      fft.transform(colOut, colIn);
      for (let r = 0, o = 2 * c; r < m; r++, o += 2 * m) {
        g[o] = colOut[2 * r];
        g[o + 1] = colOut[2 * r + 1];
      }
    }
  }

  /**
   * In place: g ← IFFT2(g · scale), with `scale` a real M × M array (the kernel's transform). Only the
   * first `rows` rows of the result are transformed (the rest is padding nobody reads).
   */
  inverseScaled(g: Float64Array, scale: Float64Array, rows = this.m): void {
    const { m, fft, tmp, colIn, colOut } = this;
    for (let c = 0; c < m; c++) {
      for (let r = 0, o = 2 * c, s = c; r < m; r++, o += 2 * m, s += m) {
        const k = scale[s];
        colIn[2 * r] = g[o] * k;
        colIn[2 * r + 1] = g[o + 1] * k;
      }
      fft.inverseTransform(colOut, colIn);
      for (let r = 0, o = 2 * c; r < m; r++, o += 2 * m) {
        g[o] = colOut[2 * r];
        g[o + 1] = colOut[2 * r + 1];
      }
    }
    for (let r = 0; r < rows; r++) {
      fft.inverseTransform(tmp, g.subarray(2 * m * r, 2 * m * (r + 1)));
      g.set(tmp, 2 * m * r);
    }
  }
}

export class FftRepulsion {
  readonly options: Required<FftRepulsionOptions>;
  private ffts = new Map<number, Fft2d>();
  /** Per point: the first grid node of its box (x, y) and its p interpolation weights per axis. */
  private readonly boxX: Int32Array;
  private readonly boxY: Int32Array;
  private readonly wx: Float64Array;
  private readonly wy: Float64Array;
  private gridA = new Float64Array(0);
  private gridB = new Float64Array(0);
  private kernel = new Float64Array(0);
  private kernelHat = new Float64Array(0);
  /** The grid of the last call, for tests and the benchmark. */
  last = { boxes: 0, gridSide: 0, fftSize: 0, boxWidth: 0 };

  constructor(
    readonly n: number,
    options: FftRepulsionOptions = {},
  ) {
    this.options = { ...DEFAULTS, ...options };
    const p = this.options.nodes;
    this.boxX = new Int32Array(n);
    this.boxY = new Int32Array(n);
    this.wx = new Float64Array(n * p);
    this.wy = new Float64Array(n * p);
  }

  private fft2d(m: number): Fft2d {
    let f = this.ffts.get(m);
    if (!f) this.ffts.set(m, (f = new Fft2d(m)));
    return f;
  }

  /**
   * Writes Σ_j (1 + d²_ij)⁻² (y_i − y_j) into neg (n × 2) for the layout y (n × 2) and returns
   * Z = Σ_{i≠j} (1 + d²_ij)⁻¹.
   */
  compute(y: Float64Array, neg: Float64Array): number {
    const { n } = this;
    const p = this.options.nodes;
    let minC = Infinity;
    let maxC = -Infinity;
    for (let i = 0; i < 2 * n; i++) {
      const v = y[i];
      if (v < minC) minC = v;
      if (v > maxC) maxC = v;
    }
    // One square for both axes, as openTSNE: the map's two axes are on the same scale.
    const range = Math.max(maxC - minC, 1e-12) * (1 + 1e-9);
    const needed = Math.max(this.options.minBoxes, Math.ceil(range / this.options.maxBoxWidth));
    const m = Math.min(nextPow2(2 * needed * p), nextPow2(this.options.maxFftSize));
    const nb = Math.floor(m / (2 * p));
    const side = nb * p;
    const h = range / nb;
    const s = h / p;
    this.last = { boxes: nb, gridSide: side, fftSize: m, boxWidth: h };

    if (this.gridA.length !== 2 * m * m) {
      this.gridA = new Float64Array(2 * m * m);
      this.gridB = new Float64Array(2 * m * m);
      this.kernel = new Float64Array(2 * m * m);
      this.kernelHat = new Float64Array(m * m);
    } else {
      this.gridA.fill(0);
      this.gridB.fill(0);
    }
    const { gridA, gridB, kernel, kernelHat, boxX, boxY, wx, wy } = this;

    // Kernel on the grid offsets, laid out circularly (offset −a at M − a), and its transform (real: the
    // kernel is even).
    kernel.fill(0);
    for (let a = -(side - 1); a < side; a++) {
      const ra = a < 0 ? a + m : a;
      for (let b = -(side - 1); b < side; b++) {
        const rb = b < 0 ? b + m : b;
        const d2 = s * s * (a * a + b * b);
        const k = 1 / (1 + d2);
        kernel[2 * (ra * m + rb)] = k * k;
      }
    }
    const f = this.fft2d(m);
    f.forward(kernel);
    for (let t = 0; t < m * m; t++) kernelHat[t] = kernel[2 * t];

    // Lagrange weights of each point in its box, in box-local units where node j sits at j + 1/2.
    const denom = new Float64Array(p);
    for (let j = 0; j < p; j++) {
      let d = 1;
      for (let q = 0; q < p; q++) if (q !== j) d *= j - q;
      denom[j] = d;
    }
    const weights = (u: number, out: Float64Array, o: number) => {
      for (let j = 0; j < p; j++) {
        let num = 1;
        for (let q = 0; q < p; q++) if (q !== j) num *= u - (q + 0.5);
        out[o + j] = num / denom[j];
      }
    };
    for (let i = 0; i < n; i++) {
      const ux = (y[2 * i] - minC) / h;
      const uy = (y[2 * i + 1] - minC) / h;
      const bx = Math.min(nb - 1, Math.floor(ux));
      const by = Math.min(nb - 1, Math.floor(uy));
      boxX[i] = bx * p;
      boxY[i] = by * p;
      weights((ux - bx) * p, wx, i * p);
      weights((uy - by) * p, wy, i * p);
    }

    // Spread the charges: A = 1 + i·y₁, B = y₂ + i·|y|² (grid row = y node, column = x node).
    for (let i = 0; i < n; i++) {
      const y1 = y[2 * i];
      const y2 = y[2 * i + 1];
      const yy = y1 * y1 + y2 * y2;
      const gx = boxX[i];
      const gy = boxY[i];
      for (let a = 0; a < p; a++) {
        const wa = wy[i * p + a];
        const row = (gy + a) * m;
        for (let b = 0; b < p; b++) {
          const w = wa * wx[i * p + b];
          const o = 2 * (row + gx + b);
          gridA[o] += w;
          gridA[o + 1] += w * y1;
          gridB[o] += w * y2;
          gridB[o + 1] += w * yy;
        }
      }
    }
    f.forward(gridA, side);
    f.forward(gridB, side);
    f.inverseScaled(gridA, kernelHat, side);
    f.inverseScaled(gridB, kernelHat, side);

    // Interpolate the potentials back at the points.
    let z = 0;
    for (let i = 0; i < n; i++) {
      const gx = boxX[i];
      const gy = boxY[i];
      let p1 = 0;
      let px = 0;
      let py = 0;
      let pyy = 0;
      for (let a = 0; a < p; a++) {
        const wa = wy[i * p + a];
        const row = (gy + a) * m;
        for (let b = 0; b < p; b++) {
          const w = wa * wx[i * p + b];
          const o = 2 * (row + gx + b);
          p1 += w * gridA[o];
          px += w * gridA[o + 1];
          py += w * gridB[o];
          pyy += w * gridB[o + 1];
        }
      }
      const y1 = y[2 * i];
      const y2 = y[2 * i + 1];
      neg[2 * i] = y1 * p1 - px;
      neg[2 * i + 1] = y2 * p1 - py;
      z += (1 + y1 * y1 + y2 * y2) * p1 - 2 * (y1 * px + y2 * py) + pyy;
    }
    // Every point's own term (K = 1, 1 + d² = 1) is in its φ: take the n of them out of Z.
    return Math.max(z - n, 1e-300);
  }
}
