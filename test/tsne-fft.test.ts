import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { approximateKnn } from '../src/core/analysis/ann';
import { FftRepulsion } from '../src/core/analysis/fft-repulsion';
import { exactKnn } from '../src/core/analysis/knn';
import { pca } from '../src/core/analysis/pca';
import { barnesHut, QuadTree, Tsne, type TsneOptions } from '../src/core/analysis/tsne';
import { loadDataset } from '../src/data/datasets';
import { TsnePool } from '../src/webviews/analysis/tsne-pool';
import { clusters } from './helpers/clusters';

/** Fraction of each point's k nearest 2-D neighbours that share its label (brute force). */
function labelAgreement(y: ArrayLike<number>, labels: ArrayLike<number>, k = 10): number {
  const n = labels.length;
  const d2 = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) d2[j] = j === i ? Infinity : (y[2 * i] - y[2 * j]) ** 2 + (y[2 * i + 1] - y[2 * j + 1]) ** 2;
    const near = Array.from(d2.keys())
      .sort((a, b) => d2[a] - d2[b])
      .slice(0, k);
    total += near.filter((j) => labels[j] === labels[i]).length / k;
  }
  return total / n;
}

/** The first n test images of the shipped Fashion-MNIST subset (1,000), PCA'd to 50 dimensions, with labels. */
function builtinImages(count: number): { x: Float32Array; n: number; d: number; labels: ArrayLike<number> } {
  const split = loadDataset('builtin').test;
  const n = Math.min(count, split.count);
  const pix = split.height * split.width * split.channels;
  const raw = new Float32Array(n * pix);
  for (let i = 0; i < n * pix; i++) raw[i] = split.images[i] / 255;
  return { x: pca(raw, n, pix, 50).coords, n, d: 50, labels: split.labels.slice(0, n) };
}

describe('FFT-accelerated interpolation (the repulsion of large maps)', () => {
  test('forces and Z match the exact O(n²) sums on a layout of clusters 60 units wide', () => {
    const n = 1500;
    const y = new Float64Array(2 * n);
    let s = 7;
    const u = () => ((s = (s * 16807) % 2147483647) / 2147483647);
    for (let i = 0; i < n; i++) {
      const c = i % 6;
      y[2 * i] = (c % 3) * 20 - 20 + (u() - 0.5) * 8;
      y[2 * i + 1] = Math.floor(c / 3) * 30 - 15 + (u() - 0.5) * 8;
    }
    const exact = new Float64Array(2 * n);
    let z = 0;
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        if (i === j) continue;
        const dx = y[2 * i] - y[2 * j];
        const dy = y[2 * i + 1] - y[2 * j + 1];
        const q = 1 / (1 + dx * dx + dy * dy);
        z += q;
        exact[2 * i] += q * q * dx;
        exact[2 * i + 1] += q * q * dy;
      }
    const f = new FftRepulsion(n);
    const neg = new Float64Array(2 * n);
    const zf = f.compute(y, neg);
    let err = 0;
    let norm = 0;
    for (let i = 0; i < 2 * n; i++) {
      err += (neg[i] - exact[i]) ** 2;
      norm += exact[i] ** 2;
    }
    // Barnes-Hut at θ = 0.5 (the small maps' repulsion) is 1.6% off here: the interpolation must do better.
    const tree = new QuadTree(n);
    tree.build(y);
    const bh = new Float64Array(2 * n);
    barnesHut(tree, y, 0.5, 0, n, bh);
    let bhErr = 0;
    for (let i = 0; i < 2 * n; i++) bhErr += (bh[i] - exact[i]) ** 2;
    assert.ok(err < bhErr, `FFT force error ${Math.sqrt(err / norm)}, Barnes-Hut ${Math.sqrt(bhErr / norm)}`);
    assert.ok(Math.sqrt(err / norm) < 0.012, `relative force error ${Math.sqrt(err / norm)}`);
    assert.ok(Math.abs(zf - z) / z < 1e-3, `Z ${zf} vs exact ${z}`);
    assert.ok(f.last.boxWidth <= 1, `box width ${f.last.boxWidth}`);
  });
});

describe('approximate nearest neighbours (random-projection forest + one local join)', () => {
  test('finds nearly all of the exact 30 neighbours, nearest first, never the point itself', () => {
    const { x, n } = clusters(8, 250, 24, 5, 4);
    const k = 30;
    const ex = exactKnn(x, n, 24, k);
    const ap = approximateKnn(x, n, 24, k);
    let hit = 0;
    for (let i = 0; i < n; i++) {
      const truth = new Set(ex.ids.subarray(i * k, (i + 1) * k));
      for (let e = 0; e < k; e++) {
        const j = ap.ids[i * k + e];
        assert.notEqual(j, i, `row ${i} lists itself`);
        if (truth.has(j)) hit++;
        if (e) assert.ok(ap.dist2[i * k + e] >= ap.dist2[i * k + e - 1], `row ${i} not sorted`);
      }
    }
    assert.ok(hit / (n * k) > 0.9, `recall ${hit / (n * k)}`);
  });
});

describe('t-SNE maps by FFT interpolation and approximate neighbours', () => {
  test('clusters: KL decreases after early exaggeration and every 2-D neighbourhood is one cluster', () => {
    const { x, labels, n } = clusters(6, 150, 32, 11);
    // A grid of at most 256² (the default allows 1024²) keeps the test short: a coarser grid is the
    // harder case for the map's quality.
    const t = new Tsne(x, n, 32, { perplexity: 30, iterations: 600, repulsion: 'fft', neighbours: 'approximate', fft: { maxFftSize: 256 } });
    assert.equal(t.repulsionMethod, 'fft');
    const kls: number[] = [];
    while (!t.done) {
      t.step();
      if (t.iteration >= 300 && t.iteration % 50 === 0) kls.push(t.klDivergence());
    }
    for (let i = 1; i < kls.length; i++) assert.ok(kls[i] <= kls[i - 1] + 1e-3, `KL rose from ${kls[i - 1]} to ${kls[i]}`);
    assert.ok(kls[kls.length - 1] < kls[0] - 0.01, `KL ${kls[0]} → ${kls[kls.length - 1]}`);
    const exact = t.exactKlDivergence();
    assert.ok(Math.abs(exact - kls[kls.length - 1]) < 0.01, `interpolated KL ${kls[kls.length - 1]} vs exact ${exact}`);
    assert.ok(labelAgreement(t.y, labels) > 0.99);
  });

  test('Fashion-MNIST images: the FFT map is as good as the Barnes-Hut one (10-NN label agreement, exact KL)', () => {
    const { x, n, d, labels } = builtinImages(500);
    // The same (exact) neighbours for both, so the KLs are of the same P and only the repulsion differs.
    const run = (repulsion: 'fft' | 'barnes-hut') => {
      const t = new Tsne(x, n, d, { iterations: 500, repulsion, neighbours: 'exact' });
      while (!t.done) t.step();
      return { agreement: labelAgreement(t.y, labels), kl: t.exactKlDivergence() };
    };
    const bh = run('barnes-hut');
    const fft = run('fft');
    assert.ok(bh.agreement > 0.6, `Barnes-Hut agreement ${bh.agreement}`);
    assert.ok(fft.agreement > bh.agreement - 0.02, `FFT agreement ${fft.agreement} vs Barnes-Hut ${bh.agreement}`);
    assert.ok(fft.kl < bh.kl + 0.02, `FFT KL ${fft.kl} vs Barnes-Hut ${bh.kl}`);
  });

  test('split over worker threads, the steps compute what one thread computes', () => {
    const { x, n } = clusters(4, 150, 16, 2);
    for (const repulsion of ['fft', 'barnes-hut'] as const) {
      const o: TsneOptions = { perplexity: 20, iterations: 300, repulsion, neighbours: 'approximate' };
      const one = new Tsne(x, n, 16, o);
      const pool = new TsnePool(3);
      try {
        const three = new Tsne(x, n, 16, o, pool);
        assert.deepEqual(three.P.cols, one.P.cols, `${repulsion}: same neighbour graph`);
        assert.deepEqual(three.P.vals, one.P.vals, `${repulsion}: same affinities`);
        // Only the order in which Z's partial sums are added differs; t-SNE's gains amplify such
        // round-off over hundreds of steps, so compare the first steps.
        for (let it = 0; it < 40; it++) {
          one.step();
          three.step();
        }
        let maxDiff = 0;
        let scale = 0;
        for (let i = 0; i < 2 * n; i++) {
          maxDiff = Math.max(maxDiff, Math.abs(three.y[i] - one.y[i]));
          scale = Math.max(scale, Math.abs(one.y[i]));
        }
        assert.ok(maxDiff < 1e-7 * scale, `${repulsion}: layouts differ by ${maxDiff} (scale ${scale})`);
        assert.ok(Math.abs(three.klDivergence() - one.klDivergence()) < 1e-9);
      } finally {
        pool.close();
      }
    }
  });

  test("the explorer's job: progress carries the KL as it falls, on two threads", async () => {
    const { project } = await import('../src/webviews/analysis/jobs');
    const { x, n } = clusters(3, 100, 12, 4);
    const seen: { iteration: number; kl: number | null }[] = [];
    const r = project(x, n, 12, { method: 'tsne', perplexity: 20, iterations: 400 }, (p) => seen.push({ iteration: p.iteration, kl: p.kl }), 0, () => false, 2);
    assert.equal(r.iteration, 400);
    assert.ok(r.kl !== null && Number.isFinite(r.kl));
    const late = seen.filter((p) => p.iteration > 250 && p.kl !== null);
    assert.ok(late.length > 10, `${late.length} progress reports with a KL after exaggeration`);
    assert.ok(late[late.length - 1].kl! < late[0].kl!, `KL ${late[0].kl} → ${late[late.length - 1].kl}`);
  });

  test('a failing thread stops the step with its error instead of hanging', () => {
    const pool = new TsnePool(2);
    try {
      // Thread 1 has no context yet.
      assert.throws(() => pool.run('bh', 1, () => 0), /thread 1: .*before any setup/);
    } finally {
      pool.close();
    }
  });
});
