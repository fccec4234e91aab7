/** Test data shared by the analysis tests (neighbours, t-SNE, UMAP). */

/** Seeded gaussian clusters: `k` centres 10σ apart in `d` dimensions, `per` points each. */
export function clusters(k: number, per: number, d: number, seed = 1, spread = 10): { x: Float32Array; labels: Int32Array; n: number } {
  let s = seed >>> 0;
  const u = () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const g = () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
  const n = k * per;
  const centres = Array.from({ length: k }, () => Array.from({ length: d }, () => g() * spread));
  const x = new Float32Array(n * d);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % k;
    labels[i] = c;
    for (let t = 0; t < d; t++) x[i * d + t] = centres[c][t] + g();
  }
  return { x, labels, n };
}
