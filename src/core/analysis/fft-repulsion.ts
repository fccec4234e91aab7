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

/**
 * A 2-D complex FFT over M × M interleaved (re, im) grids, row-major, from fft.js's 1-D transform.
 * Columns are taken COLS at a time (each row's COLS values are adjacent in memory): one column at a
 * time reads one value per cache line, and the column pass took 2–12× the row pass's time (M = 1024
 * down to 256).
 */
const COLS = 8;
class Fft2d {
  readonly fft: FFT;
  private readonly tmp: Float64Array;
  private readonly colIn: Float64Array[];
  private readonly colOut: Float64Array[];

  constructor(readonly m: number) {
    this.fft = new FFT(m);
    this.tmp = new Float64Array(2 * m);
    this.colIn = Array.from({ length: COLS }, () => new Float64Array(2 * m));
    this.colOut = Array.from({ length: COLS }, () => new Float64Array(2 * m));
  }

  /**
   * In place, forward, for a grid whose rows from `rows` on are zero (the padding): they skip their
   * row transforms and are not gathered into the columns.
   */
  forward(g: Float64Array, rows = this.m): void {
    const { m, fft, tmp, colIn, colOut } = this;
    for (let r = 0; r < rows; r++) {
      fft.transform(tmp, g.subarray(2 * m * r, 2 * m * (r + 1)));
      g.set(tmp, 2 * m * r);
    }
    for (const c of colIn) c.fill(0, 2 * rows);
    const w = Math.min(COLS, m);
    for (let c0 = 0; c0 < m; c0 += w) {
      for (let r = 0; r < rows; r++) {
        const o = 2 * (r * m + c0);
        for (let q = 0; q < w; q++) {
          colIn[q][2 * r] = g[o + 2 * q];
          colIn[q][2 * r + 1] = g[o + 2 * q + 1];
        }
      }
      for (let q = 0; q < w; q++) fft.transform(colOut[q], colIn[q]);
      for (let r = 0; r < m; r++) {
        const o = 2 * (r * m + c0);
        for (let q = 0; q < w; q++) {
          g[o + 2 * q] = colOut[q][2 * r];
          g[o + 2 * q + 1] = colOut[q][2 * r + 1];
        }
      }
    }
  }

  /**
   * In place: g ← IFFT2(g · scale), with `scale` a real M × M array (the kernel's transform). Only the
   * first `rows` rows of the result are computed (the rest is padding nobody reads).
   */
  inverseScaled(g: Float64Array, scale: Float64Array, rows = this.m): void {
    const { m, fft, tmp, colIn, colOut } = this;
    const w = Math.min(COLS, m);
    for (let c0 = 0; c0 < m; c0 += w) {
      for (let r = 0; r < m; r++) {
        const o = 2 * (r * m + c0);
        const s = r * m + c0;
        for (let q = 0; q < w; q++) {
          const k = scale[s + q];
          colIn[q][2 * r] = g[o + 2 * q] * k;
          colIn[q][2 * r + 1] = g[o + 2 * q + 1] * k;
        }
      }
      for (let q = 0; q < w; q++) fft.inverseTransform(colOut[q], colIn[q]);
      for (let r = 0; r < rows; r++) {
        const o = 2 * (r * m + c0);
        for (let q = 0; q < w; q++) {
          g[o + 2 * q] = colOut[q][2 * r];
          g[o + 2 * q + 1] = colOut[q][2 * r + 1];
        }
      }
    }
    for (let r = 0; r < rows; r++) {
      fft.inverseTransform(tmp, g.subarray(2 * m * r, 2 * m * (r + 1)));
      g.set(tmp, 2 * m * r);
    }
  }
}

/** The grid one layout gets: all of it follows from the layout's extent, so threads agree on it. */
export interface FftPlan {
  /** Lower corner of the square, both axes. */
  min: number;
  boxes: number;
  /** Nodes per side (boxes × nodes). */
  gridSide: number;
  fftSize: number;
  boxWidth: number;
}

/**
 * One layout's repulsion in three steps, so worker threads can share it: plan (from the extent),
 * spread-and-convolve grid 0 (charges 1, y₁) and grid 1 (y₂, |y|²) — independent, one thread each —
 * then gather any range of points from both grids. compute() runs all three here.
 */
export class FftRepulsion {
  readonly options: Required<FftRepulsionOptions>;
  private ffts = new Map<number, Fft2d>();
  /** The two packed grids (2 · M² each at the largest M): shared between threads when given. */
  readonly grids: [Float64Array, Float64Array];
  private kernel = new Float64Array(0);
  private kernelHat = new Float64Array(0);
  private kernelFor = { m: 0, s: 0 };
  private readonly wx: Float64Array;
  private readonly wy: Float64Array;
  private readonly denom: Float64Array;
  /** The grid of the last plan, for tests and the benchmark. */
  last: FftPlan = { min: 0, boxes: 0, gridSide: 0, fftSize: 0, boxWidth: 0 };

  constructor(
    readonly n: number,
    options: FftRepulsionOptions = {},
    grids?: [Float64Array, Float64Array],
  ) {
    this.options = { ...DEFAULTS, ...options };
    const p = this.options.nodes;
    const maxM = nextPow2(this.options.maxFftSize);
    this.grids = grids ?? [new Float64Array(2 * maxM * maxM), new Float64Array(2 * maxM * maxM)];
    if (this.grids[0].length < 2 * maxM * maxM) throw new Error(`FFT grids hold ${this.grids[0].length} values; ${2 * maxM * maxM} needed`);
    this.wx = new Float64Array(p);
    this.wy = new Float64Array(p);
    this.denom = new Float64Array(p);
    for (let j = 0; j < p; j++) {
      let d = 1;
      for (let q = 0; q < p; q++) if (q !== j) d *= j - q;
      this.denom[j] = d;
    }
  }

  /** Bytes of the two grids at the largest transform size (what a caller allocates to share them). */
  static gridLength(options: FftRepulsionOptions = {}): number {
    const m = nextPow2(options.maxFftSize ?? DEFAULTS.maxFftSize);
    return 2 * m * m;
  }

  private fft2d(m: number): Fft2d {
    let f = this.ffts.get(m);
    if (!f) this.ffts.set(m, (f = new Fft2d(m)));
    return f;
  }

  plan(y: Float64Array): FftPlan {
    const p = this.options.nodes;
    let minC = Infinity;
    let maxC = -Infinity;
    for (let i = 0; i < 2 * this.n; i++) {
      const v = y[i];
      if (v < minC) minC = v;
      if (v > maxC) maxC = v;
    }
    // One square for both axes, as openTSNE: the map's two axes are on the same scale.
    const range = Math.max(maxC - minC, 1e-12) * (1 + 1e-9);
    const needed = Math.max(this.options.minBoxes, Math.ceil(range / this.options.maxBoxWidth));
    const m = Math.min(nextPow2(2 * needed * p), nextPow2(this.options.maxFftSize));
    const boxes = Math.floor(m / (2 * p));
    // Box widths on a ladder of 2^(1/16) steps (the grid overhangs the map by < 4.5%): the kernel's
    // transform only changes when the map has grown a step, not every iteration.
    const boxWidth = 2 ** (Math.ceil(Math.log2(range / boxes) * 16) / 16);
    return (this.last = { min: minC, boxes, gridSide: boxes * p, fftSize: m, boxWidth });
  }

  /** Point i's box (first node per axis) and Lagrange weights, in box-local units where node j sits at j + ½. */
  private locate(plan: FftPlan, y: Float64Array, i: number): [number, number] {
    const p = this.options.nodes;
    const { wx, wy, denom } = this;
    const ux = (y[2 * i] - plan.min) / plan.boxWidth;
    const uy = (y[2 * i + 1] - plan.min) / plan.boxWidth;
    const bx = Math.min(plan.boxes - 1, Math.floor(ux));
    const by = Math.min(plan.boxes - 1, Math.floor(uy));
    const lx = (ux - bx) * p;
    const ly = (uy - by) * p;
    for (let j = 0; j < p; j++) {
      let nx = 1;
      let ny = 1;
      for (let q = 0; q < p; q++)
        if (q !== j) {
          nx *= lx - (q + 0.5);
          ny *= ly - (q + 0.5);
        }
      wx[j] = nx / denom[j];
      wy[j] = ny / denom[j];
    }
    return [bx * p, by * p];
  }

  /** The kernel's transform for this grid (real: the kernel is even), recomputed only when the grid changed. */
  private kernelTransform(plan: FftPlan): Float64Array {
    const m = plan.fftSize;
    const side = plan.gridSide;
    const s = plan.boxWidth / this.options.nodes;
    if (this.kernelFor.m === m && this.kernelFor.s === s) return this.kernelHat;
    if (this.kernel.length !== 2 * m * m) {
      this.kernel = new Float64Array(2 * m * m);
      this.kernelHat = new Float64Array(m * m);
    } else this.kernel.fill(0);
    const kernel = this.kernel;
    // Offsets laid out circularly (offset −a at M − a).
    for (let a = -(side - 1); a < side; a++) {
      const ra = a < 0 ? a + m : a;
      for (let b = -(side - 1); b < side; b++) {
        const rb = b < 0 ? b + m : b;
        const k = 1 / (1 + s * s * (a * a + b * b));
        kernel[2 * (ra * m + rb)] = k * k;
      }
    }
    this.fft2d(m).forward(kernel);
    for (let t = 0; t < m * m; t++) this.kernelHat[t] = kernel[2 * t];
    this.kernelFor = { m, s };
    return this.kernelHat;
  }

  /**
   * Grid `which` (0: charges 1 and y₁; 1: y₂ and |y|², packed as real and imaginary parts) spread from
   * all points and convolved with the kernel (grid row = y node, column = x node).
   */
  spreadAndConvolve(plan: FftPlan, y: Float64Array, which: 0 | 1): void {
    const p = this.options.nodes;
    const m = plan.fftSize;
    const g = this.grids[which].subarray(0, 2 * m * m);
    g.fill(0);
    const { wx, wy } = this;
    for (let i = 0; i < this.n; i++) {
      const y1 = y[2 * i];
      const y2 = y[2 * i + 1];
      const re = which === 0 ? 1 : y2;
      const im = which === 0 ? y1 : y1 * y1 + y2 * y2;
      const [gx, gy] = this.locate(plan, y, i);
      for (let a = 0; a < p; a++) {
        const row = (gy + a) * m;
        for (let b = 0; b < p; b++) {
          const w = wy[a] * wx[b];
          const o = 2 * (row + gx + b);
          g[o] += w * re;
          g[o + 1] += w * im;
        }
      }
    }
    const hat = this.kernelTransform(plan);
    const f = this.fft2d(m);
    f.forward(g, plan.gridSide);
    f.inverseScaled(g, hat, plan.gridSide);
  }

  /**
   * Points [lo, hi): Σ_j (1 + d²_ij)⁻² (y_i − y_j) into neg, from both convolved grids; returns their
   * share of Z = Σ_{i≠j} (1 + d²_ij)⁻¹.
   */
  gather(plan: FftPlan, y: Float64Array, lo: number, hi: number, neg: Float64Array): number {
    const p = this.options.nodes;
    const m = plan.fftSize;
    const [gA, gB] = this.grids;
    const { wx, wy } = this;
    let z = 0;
    for (let i = lo; i < hi; i++) {
      const [gx, gy] = this.locate(plan, y, i);
      let p1 = 0;
      let px = 0;
      let py = 0;
      let pyy = 0;
      for (let a = 0; a < p; a++) {
        const row = (gy + a) * m;
        for (let b = 0; b < p; b++) {
          const w = wy[a] * wx[b];
          const o = 2 * (row + gx + b);
          p1 += w * gA[o];
          px += w * gA[o + 1];
          py += w * gB[o];
          pyy += w * gB[o + 1];
        }
      }
      const y1 = y[2 * i];
      const y2 = y[2 * i + 1];
      neg[2 * i] = y1 * p1 - px;
      neg[2 * i + 1] = y2 * p1 - py;
      // Every point's own term (K = 1, 1 + d² = 1) is in its φ: take it out of Z.
      z += (1 + y1 * y1 + y2 * y2) * p1 - 2 * (y1 * px + y2 * py) + pyy - 1;
    }
    return z;
  }

  /**
   * Writes Σ_j (1 + d²_ij)⁻² (y_i − y_j) into neg (n × 2) for the layout y (n × 2) and returns
   * Z = Σ_{i≠j} (1 + d²_ij)⁻¹.
   */
  compute(y: Float64Array, neg: Float64Array): number {
    const plan = this.plan(y);
    this.spreadAndConvolve(plan, y, 0);
    this.spreadAndConvolve(plan, y, 1);
    return Math.max(this.gather(plan, y, 0, this.n, neg), 1e-300);
  }
}
