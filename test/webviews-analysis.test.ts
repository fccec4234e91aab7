import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cosineNeighbours, exactKnn, knnAgreement, l2NormalizeRows } from '../src/core/analysis/knn';
import { pca } from '../src/core/analysis/pca';
import { Tsne, tsne } from '../src/core/analysis/tsne';
import { clusters } from './helpers/clusters';

describe('nearest neighbours', () => {
  test('exactKnn matches a sort of all distances', () => {
    const { x, n } = clusters(3, 40, 7);
    const d = 7;
    const k = 5;
    const r = exactKnn(x, n, d, k);
    for (const i of [0, 17, 119]) {
      const all = Array.from({ length: n }, (_, j) => j)
        .filter((j) => j !== i)
        .map((j) => ({ j, d2: Array.from({ length: d }, (_, t) => (x[i * d + t] - x[j * d + t]) ** 2).reduce((a, b) => a + b, 0) }))
        .sort((a, b) => a.d2 - b.d2);
      assert.deepEqual([...r.ids.slice(i * k, i * k + k)], all.slice(0, k).map((e) => e.j), `row ${i}`);
      for (let t = 0; t < k; t++) assert.ok(Math.abs(r.dist2[i * k + t] - all[t].d2) < 1e-3);
    }
  });

  test('cosine neighbours and kNN agreement: identical embeddings agree fully, a shuffled one hardly', () => {
    const { x, n } = clusters(4, 50, 16);
    const unit = l2NormalizeRows(x, n, 16);
    const nb = cosineNeighbours(unit, n, 16, 0, 10);
    assert.equal(nb.ids.length, 10);
    assert.ok(!nb.ids.includes(0));
    assert.ok(nb.similarities.every((s, i) => i === 0 || s <= nb.similarities[i - 1]));
    // Same class (i % 4) as the query: clusters are 10σ apart.
    assert.ok(nb.ids.every((j) => j % 4 === 0));
    const queries = Array.from({ length: 50 }, (_, i) => i * 4);
    assert.equal(knnAgreement(unit, 16, unit, 16, n, 10, queries), 1);
    const perm = Array.from({ length: n }, (_, i) => (i * 37) % n);
    const shuffled = new Float32Array(n * 16);
    perm.forEach((p, i) => shuffled.set(unit.subarray(p * 16, p * 16 + 16), i * 16));
    assert.ok(knnAgreement(unit, 16, shuffled, 16, n, 10, queries) < 0.3);
  });
});

describe('PCA', () => {
  test('recovers the direction of largest variance and the explained fractions', () => {
    const n = 500;
    const x = new Float32Array(n * 3);
    for (let i = 0; i < n; i++) {
      const a = Math.sin(i * 12.9898) * 10; // large spread along (1, 1, 0)/√2
      const b = Math.cos(i * 78.233) * 1; // small along z
      x.set([a / Math.SQRT2 + 5, a / Math.SQRT2 - 2, b], i * 3);
    }
    const r = pca(x, n, 3, 2);
    assert.ok(Math.abs(Math.abs(r.components[0]) - Math.SQRT1_2) < 1e-6 && Math.abs(Math.abs(r.components[1]) - Math.SQRT1_2) < 1e-6);
    assert.ok(Math.abs(r.components[5]) > 0.999, 'second component is z');
    assert.ok(r.explained[0] > 0.97 && r.explained[0] + r.explained[1] > 0.9999);
  });
});

describe('Barnes-Hut t-SNE', () => {
  test('P is symmetric, sums to 1, and each point gets the asked perplexity', () => {
    const { x, n } = clusters(3, 60, 10);
    const t = new Tsne(x, n, 10, { perplexity: 10 });
    const { rowPtr, cols, vals } = t.P;
    const m = new Map<string, number>();
    let total = 0;
    for (let i = 0; i < n; i++)
      for (let e = rowPtr[i]; e < rowPtr[i + 1]; e++) {
        m.set(`${i},${cols[e]}`, vals[e]);
        total += vals[e];
      }
    assert.ok(Math.abs(total - 1) < 1e-9);
    for (const [key, v] of m) {
      const [i, j] = key.split(',');
      assert.ok(Math.abs((m.get(`${j},${i}`) ?? 0) - v) < 1e-12, `P[${key}] asymmetric`);
    }
  });

  test('separates well-separated gaussian clusters and the KL divergence decreases after early exaggeration', () => {
    const k = 5;
    const { x, labels, n } = clusters(k, 80, 32, 7);
    const t = new Tsne(x, n, 32, { perplexity: 20, iterations: 600 });
    const kls: number[] = [];
    while (!t.done) {
      t.step();
      if (t.iteration >= 300 && t.iteration % 50 === 0) kls.push(t.klDivergence());
    }
    for (let i = 1; i < kls.length; i++) assert.ok(kls[i] <= kls[i - 1] + 1e-3, `KL rose from ${kls[i - 1]} to ${kls[i]}`);
    assert.ok(kls[kls.length - 1] < kls[0]);
    // Barnes-Hut's Z is close to the exact one.
    const exact = t.exactKlDivergence();
    assert.ok(Math.abs(exact - kls[kls.length - 1]) < 0.05 * exact + 0.01, `BH KL ${kls[kls.length - 1]} vs exact ${exact}`);
    // Every point's 10 nearest 2-D neighbours share its label, and clusters are far apart relative to their size.
    const y = t.y;
    let agree = 0;
    for (let i = 0; i < n; i++) {
      const near = Array.from({ length: n }, (_, j) => j)
        .filter((j) => j !== i)
        .sort((a, b) => (y[2 * a] - y[2 * i]) ** 2 + (y[2 * a + 1] - y[2 * i + 1]) ** 2 - ((y[2 * b] - y[2 * i]) ** 2 + (y[2 * b + 1] - y[2 * i + 1]) ** 2))
        .slice(0, 10);
      agree += near.filter((j) => labels[j] === labels[i]).length / 10;
    }
    assert.ok(agree / n > 0.99, `2-D neighbours of the same cluster: ${((agree / n) * 100).toFixed(1)}%`);
    const centre = (c: number) => {
      let sx = 0;
      let sy = 0;
      let m = 0;
      for (let i = 0; i < n; i++)
        if (labels[i] === c) {
          sx += y[2 * i];
          sy += y[2 * i + 1];
          m++;
        }
      return [sx / m, sy / m];
    };
    const centres = Array.from({ length: k }, (_, c) => centre(c));
    let within = 0;
    for (let i = 0; i < n; i++) within += Math.hypot(y[2 * i] - centres[labels[i]][0], y[2 * i + 1] - centres[labels[i]][1]);
    within /= n;
    let between = Infinity;
    for (let a = 0; a < k; a++) for (let b = a + 1; b < k; b++) between = Math.min(between, Math.hypot(centres[a][0] - centres[b][0], centres[a][1] - centres[b][1]));
    assert.ok(between > 3 * within, `closest cluster centres ${between.toFixed(2)} apart, mean radius ${within.toFixed(2)}`);
  });

  test('theta = 0 gives the exact gradient: the same KL as the exact sum', () => {
    const { x, n } = clusters(3, 30, 8);
    const t = new Tsne(x, n, 8, { perplexity: 8, theta: 0, iterations: 100 });
    for (let i = 0; i < 100; i++) t.step();
    assert.ok(Math.abs(t.klDivergence() - t.exactKlDivergence()) < 1e-9);
  });

  test('deterministic: the same input gives the same layout', () => {
    const { x, n } = clusters(3, 30, 8);
    const a = tsne(x, n, 8, { perplexity: 8, iterations: 120 });
    const b = tsne(x, n, 8, { perplexity: 8, iterations: 120 });
    assert.deepEqual(a.coords, b.coords);
    assert.equal(a.iterations, 120);
    assert.ok(Number.isFinite(a.kl));
  });
});

describe('projections for the explorer (what the analysis worker runs)', () => {
  test('UMAP (umap-js, seeded) and PCA give one finite 2-D point per row, UMAP with progress and separated clusters; agreement of an embedding with itself is 1', async () => {
    const { project, agreement } = await import('../src/webviews/analysis/jobs');
    const { x, labels, n } = clusters(4, 60, 16, 3);
    const seen: number[] = [];
    const u = project(x, n, 16, { method: 'umap', neighbours: 10, minDist: 0.1, epochs: 100 }, (p) => seen.push(p.iteration), 0);
    assert.equal(u.coords.length, 2 * n);
    assert.ok(u.coords.every(Number.isFinite));
    assert.ok(seen.length > 10 && seen[0] === 0, 'progress reported while it runs');
    let agree = 0;
    for (let i = 0; i < n; i++) {
      let best = -1;
      let bestD = Infinity;
      for (let j = 0; j < n; j++) {
        const d2 = (u.coords[2 * i] - u.coords[2 * j]) ** 2 + (u.coords[2 * i + 1] - u.coords[2 * j + 1]) ** 2;
        if (j !== i && d2 < bestD) {
          bestD = d2;
          best = j;
        }
      }
      if (labels[best] === labels[i]) agree++;
    }
    assert.ok(agree / n > 0.95, `nearest 2-D neighbour shares the cluster for ${agree} of ${n}`);
    const again = project(x, n, 16, { method: 'umap', neighbours: 10, minDist: 0.1, epochs: 100 }, () => undefined);
    assert.deepEqual(again.coords, u.coords, 'seeded: the cache and a recomputation agree');
    const p = project(x, n, 16, { method: 'pca' }, () => undefined);
    assert.equal(p.coords.length, 2 * n);
    const idx = Int32Array.from({ length: n }, (_, i) => i);
    assert.equal(agreement({ vectors: x, d: 16, indices: idx }, { vectors: x, d: 16, indices: idx }, 5).value, 1);
  });
});
