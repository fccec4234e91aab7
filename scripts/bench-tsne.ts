/**
 * Benchmark of our t-SNE (src/core/analysis/tsne.ts: FFT-interpolated or Barnes-Hut repulsion, exact or
 * approximate neighbours, split over worker threads as the embedding explorer runs it) against
 * scikit-learn's Barnes-Hut t-SNE on the same data, in the same run: Fashion-MNIST images (real images,
 * so real cluster structure) projected by PCA from 784 to 128 dimensions — the test split, and the
 * train split after it when more points are asked for (up to all 70,000). Prints wall and CPU time, KL
 * and a quality score both can be judged by: the fraction of each point's 10 nearest 2-D neighbours
 * that share its label; then our time over scikit-learn's.
 *
 *   node --import tsx scripts/bench-tsne.ts [--n 10000] [--dim 128] [--iterations 1000] [--perplexity 30]
 *        [--threads N] [--repulsion auto|fft|barnes-hut] [--neighbours auto|exact|approximate]
 *        [--data DIR] [--no-sklearn]
 *
 * --n takes a comma-separated list (--n 10000,70000); each size is one comparison. scikit-learn comes
 * from Debian (apt-get install python3-sklearn), runs with /usr/bin/python3 and its default threads
 * (all cores, as ours).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { exactKnn } from '../src/core/analysis/knn';
import { pca } from '../src/core/analysis/pca';
import { Tsne, type TsneOptions } from '../src/core/analysis/tsne';
import { loadDataset } from '../src/data/datasets';
import { defaultThreads, TsnePool } from '../src/webviews/analysis/tsne-pool';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '10000' },
    dim: { type: 'string', default: '128' },
    iterations: { type: 'string', default: '1000' },
    perplexity: { type: 'string', default: '30' },
    threads: { type: 'string', default: String(defaultThreads()) },
    repulsion: { type: 'string', default: 'auto' },
    neighbours: { type: 'string', default: 'auto' },
    data: { type: 'string', default: resolve(__dirname, '../../shared/datasets/fashion-mnist') },
    'no-sklearn': { type: 'boolean', default: false },
  },
});
const SIZES = values.n!.split(',').map(Number);
const D = Number(values.dim);
const ITER = Number(values.iterations);
const PERPLEXITY = Number(values.perplexity);
const THREADS = Number(values.threads);
if (!SIZES.every((s) => Number.isInteger(s) && s >= 10) || !(D >= 2) || !(ITER >= 1) || !(THREADS >= 1)) throw new Error('--n, --dim, --iterations and --threads must be positive integers (--n at least 10)');
if (!['auto', 'fft', 'barnes-hut'].includes(values.repulsion!)) throw new Error(`--repulsion ${values.repulsion}: use auto, fft or barnes-hut`);
if (!['auto', 'exact', 'approximate'].includes(values.neighbours!)) throw new Error(`--neighbours ${values.neighbours}: use auto, exact or approximate`);

const spec = existsSync(values.data!) ? `fashion-mnist:${values.data}` : 'builtin';
const ds = loadDataset(spec);
const available = ds.test.count + ds.train.count;

/** The first n images: the test split, then the train split. */
function images(n: number): { raw: Float32Array; labels: Uint8Array; pix: number } {
  const pix = ds.test.height * ds.test.width * ds.test.channels;
  const raw = new Float32Array(n * pix);
  const labels = new Uint8Array(n);
  let row = 0;
  for (const split of [ds.test, ds.train])
    for (let i = 0; i < split.count && row < n; i++, row++) {
      for (let t = 0; t < pix; t++) raw[row * pix + t] = split.images[i * pix + t] / 255;
      labels[row] = split.labels[i];
    }
  return { raw, labels, pix };
}

/** Fraction of each point's 10 nearest 2-D neighbours with the same label (exact search on the map). */
function neighbourAgreement(y: ArrayLike<number>, labels: Uint8Array, k = 10): number {
  const n = labels.length;
  const nn = exactKnn(Float32Array.from(y), n, 2, k);
  let same = 0;
  for (let i = 0; i < n; i++) for (let e = 0; e < k; e++) if (labels[nn.ids[i * k + e]] === labels[i]) same++;
  return same / (n * k);
}

const model = cpus()[0]?.model ?? 'unknown CPU';
console.log(`machine: ${cpus().length} cores (${model}), Node ${process.versions.node}; load average at start: ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);

for (const N of SIZES) {
  const n = Math.min(N, available);
  const { raw, labels, pix } = images(n);
  const x = pca(raw, n, pix, D).coords;
  console.log(`\n${n} × ${D} (PCA of ${ds.name} pixels${n > ds.test.count ? ', test then train split' : ', test split'}), perplexity ${PERPLEXITY}, ${ITER} iterations`);

  // Wall and CPU time (all threads): on a shared machine the CPU seconds say what the work costs whatever share it got.
  const options: TsneOptions = { perplexity: PERPLEXITY, iterations: ITER, repulsion: values.repulsion as TsneOptions['repulsion'], neighbours: values.neighbours as TsneOptions['neighbours'] };
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const pool = new TsnePool(THREADS);
  let ours: { seconds: number; cpuSeconds: number; affinitySeconds: number; kl: number; agreement: number; method: string };
  const kls: string[] = [];
  try {
    const t = new Tsne(x, n, D, options, pool);
    const tAff = performance.now();
    while (!t.done) {
      t.step();
      if (t.iteration % 250 === 0) kls.push(`${t.iteration}: ${t.currentKl().toFixed(4)}`);
    }
    const kl = t.klDivergence();
    const tEnd = performance.now();
    const cpu = process.cpuUsage(cpu0);
    ours = {
      seconds: (tEnd - t0) / 1000,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      affinitySeconds: (tAff - t0) / 1000,
      kl,
      agreement: neighbourAgreement(t.y, labels),
      method: `${t.repulsionMethod} repulsion, ${t.approximateNeighbours ? 'approximate' : 'exact'} neighbours`,
    };
  } finally {
    pool.close();
  }
  console.log(
    `ours (${ours.method}, ${THREADS} thread${THREADS > 1 ? 's' : ''}): ${ours.seconds.toFixed(1)} s wall, ${ours.cpuSeconds.toFixed(1)} s CPU (affinities ${ours.affinitySeconds.toFixed(1)} s wall), KL ${ours.kl.toFixed(4)}, 10-NN label agreement ${(ours.agreement * 100).toFixed(1)}%`,
  );
  console.log(`  KL during optimisation (exaggerated phase included): ${kls.join(', ')}`);
  console.log(`  load average after: ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);

  if (values['no-sklearn']) continue;
  const dir = mkdtempSync(join(tmpdir(), 'bench-tsne-'));
  try {
    const file = join(dir, 'x.f32');
    writeFileSync(file, Buffer.from(x.buffer, x.byteOffset, x.byteLength));
    const r = spawnSync('/usr/bin/python3', [join(__dirname, 'bench_tsne_sklearn.py'), file, String(n), String(D), String(ITER), String(PERPLEXITY)], { encoding: 'utf8' });
    if (r.status !== 0) {
      console.log(`scikit-learn did not run (apt-get install python3-sklearn): ${r.stderr.trim().split('\n').pop()}`);
      continue;
    }
    const s = JSON.parse(r.stdout.trim().split('\n').pop()!) as { seconds: number; cpu_seconds: number; kl: number; version: string; omp_threads: string };
    const y = new Float32Array(new Uint8Array(readFileSync(`${file}.sklearn.f32`)).buffer);
    const agreement = neighbourAgreement(y, labels);
    console.log(`scikit-learn ${s.version} (Barnes-Hut, threads: ${s.omp_threads}): ${s.seconds.toFixed(1)} s wall, ${s.cpu_seconds.toFixed(1)} s CPU, KL ${s.kl.toFixed(4)}, 10-NN label agreement ${(agreement * 100).toFixed(1)}%`);
    console.log(
      `ours / scikit-learn: ${(ours.seconds / s.seconds).toFixed(2)}× wall, ${(ours.cpuSeconds / s.cpu_seconds).toFixed(2)}× CPU; KL ${ours.kl - s.kl >= 0 ? '+' : ''}${(ours.kl - s.kl).toFixed(4)}; agreement ${ours.agreement >= agreement ? '+' : ''}${((ours.agreement - agreement) * 100).toFixed(1)} points`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
