/**
 * Principal component analysis of dense row-major Float32 vectors (n × d): the covariance matrix
 * (d × d, in float64) and its eigenvectors by cyclic Jacobi rotations — exact, robust to repeated
 * eigenvalues, and O(d³) per sweep, which is milliseconds for the 64–512-d embeddings we see.
 */

export interface PcaResult {
  /** n × k projections onto the top k components, row-major. */
  coords: Float32Array;
  /** k × d unit component vectors, row-major, by decreasing variance. */
  components: Float64Array;
  /** Variance along each of the k components. */
  variance: number[];
  /** Fraction of the total variance each of the k components explains. */
  explained: number[];
}

/** Eigen-decomposition of a symmetric d × d matrix (row-major, overwritten). Returns eigenvalues and column eigenvectors. */
export function symmetricEigen(a: Float64Array, d: number): { values: Float64Array; vectors: Float64Array } {
  const v = new Float64Array(d * d);
  for (let i = 0; i < d; i++) v[i * d + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    let diag = 0;
    for (let p = 0; p < d; p++) {
      diag += a[p * d + p] ** 2;
      for (let q = p + 1; q < d; q++) off += a[p * d + q] ** 2;
    }
    if (off <= 1e-24 * Math.max(diag, 1e-300)) break;
    for (let p = 0; p < d - 1; p++)
      for (let q = p + 1; q < d; q++) {
        const apq = a[p * d + q];
        if (Math.abs(apq) < 1e-300) continue;
        const app = a[p * d + p];
        const aqq = a[q * d + q];
        // Rotation that zeroes a[p][q] (Golub & Van Loan, symmetric Schur).
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let r = 0; r < d; r++) {
          const arp = a[r * d + p];
          const arq = a[r * d + q];
          a[r * d + p] = c * arp - s * arq;
          a[r * d + q] = s * arp + c * arq;
        }
        for (let r = 0; r < d; r++) {
          const apr = a[p * d + r];
          const aqr = a[q * d + r];
          a[p * d + r] = c * apr - s * aqr;
          a[q * d + r] = s * apr + c * aqr;
        }
        for (let r = 0; r < d; r++) {
          const vrp = v[r * d + p];
          const vrq = v[r * d + q];
          v[r * d + p] = c * vrp - s * vrq;
          v[r * d + q] = s * vrp + c * vrq;
        }
      }
  }
  const values = new Float64Array(d);
  for (let i = 0; i < d; i++) values[i] = a[i * d + i];
  return { values, vectors: v };
}

export function pca(x: Float32Array, n: number, d: number, k = 2): PcaResult {
  k = Math.min(k, d);
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let t = 0; t < d; t++) mean[t] += x[i * d + t];
  for (let t = 0; t < d; t++) mean[t] /= Math.max(1, n);
  const cov = new Float64Array(d * d);
  const row = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < d; t++) row[t] = x[i * d + t] - mean[t];
    for (let p = 0; p < d; p++) {
      const rp = row[p];
      if (rp === 0) continue;
      const o = p * d;
      for (let q = p; q < d; q++) cov[o + q] += rp * row[q];
    }
  }
  const denom = Math.max(1, n - 1);
  for (let p = 0; p < d; p++)
    for (let q = p; q < d; q++) {
      cov[p * d + q] /= denom;
      cov[q * d + p] = cov[p * d + q];
    }
  const { values, vectors } = symmetricEigen(cov, d);
  const order = Array.from({ length: d }, (_, i) => i).sort((a, b) => values[b] - values[a]);
  const total = values.reduce((s, v) => s + Math.max(0, v), 0);
  const components = new Float64Array(k * d);
  for (let c = 0; c < k; c++) {
    // Sign convention: the largest-magnitude loading is positive, so results don't flip between runs.
    let big = 0;
    for (let t = 0; t < d; t++) if (Math.abs(vectors[t * d + order[c]]) > Math.abs(big)) big = vectors[t * d + order[c]];
    const sign = big < 0 ? -1 : 1;
    for (let t = 0; t < d; t++) components[c * d + t] = sign * vectors[t * d + order[c]];
  }
  const coords = new Float32Array(n * k);
  for (let i = 0; i < n; i++)
    for (let c = 0; c < k; c++) {
      let s = 0;
      for (let t = 0; t < d; t++) s += (x[i * d + t] - mean[t]) * components[c * d + t];
      coords[i * k + c] = s;
    }
  const variance = order.slice(0, k).map((i) => Math.max(0, values[i]));
  return { coords, components, variance, explained: variance.map((v) => (total > 0 ? v / total : 0)) };
}
