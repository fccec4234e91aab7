/**
 * Benchmark of our Barnes-Hut t-SNE (src/core/analysis/tsne.ts) against scikit-learn's on the same data:
 * 10,000 points of 128 dimensions — the Fashion-MNIST test set (real images, so real cluster structure)
 * projected by PCA from 784 to 128 dimensions. Prints time and KL for both, and a quality score both can
 * be judged by: the fraction of each point's 10 nearest 2-D neighbours that share its label.
 *
 *   node --import tsx scripts/bench-tsne.ts [--n 10000] [--dim 128] [--iterations 1000] [--data DIR] [--no-sklearn]
 *
 * scikit-learn comes from Debian (apt-get install python3-sklearn) and runs with /usr/bin/python3, once with
 * its default threads and once with OMP_NUM_THREADS=1 (ours is single-threaded).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { pca } from '../src/core/analysis/pca';
import { Tsne } from '../src/core/analysis/tsne';
import { loadDataset } from '../src/data/datasets';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '10000' },
    dim: { type: 'string', default: '128' },
    iterations: { type: 'string', default: '1000' },
    perplexity: { type: 'string', default: '30' },
    data: { type: 'string', default: resolve(__dirname, '../../shared/datasets/fashion-mnist') },
    'no-sklearn': { type: 'boolean', default: false },
  },
});
const N = Number(values.n);
const D = Number(values.dim);
const ITER = Number(values.iterations);
const PERPLEXITY = Number(values.perplexity);

const spec = existsSync(values.data!) ? `fashion-mnist:${values.data}` : 'builtin';
const ds = loadDataset(spec);
const split = ds.test.count >= N ? ds.test : ds.train;
const n = Math.min(N, split.count);
const pix = split.height * split.width * split.channels;
const raw = new Float32Array(n * pix);
for (let i = 0; i < n * pix; i++) raw[i] = split.images[i] / 255;
const labels = split.labels.slice(0, n);
const x = pca(raw, n, pix, D).coords;
console.log(`load average at start: ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
console.log(`data: ${n} × ${D} (PCA of ${ds.name} ${split === ds.test ? 'test' : 'train'} pixels), perplexity ${PERPLEXITY}, ${ITER} iterations, ${cpus().length} cores`);

/** Fraction of each point's 10 nearest 2-D neighbours with the same label (brute force). */
function neighbourAgreement(y: ArrayLike<number>, k = 10): number {
  let total = 0;
  const d2 = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) d2[j] = j === i ? Infinity : (y[2 * i] - y[2 * j]) ** 2 + (y[2 * i + 1] - y[2 * j + 1]) ** 2;
    const near = Array.from(d2.keys()).sort((a, b) => d2[a] - d2[b]).slice(0, k);
    total += near.filter((j) => labels[j] === labels[i]).length / k;
  }
  return total / n;
}

// Wall and CPU time: on a shared machine the CPU seconds say what the work costs whatever share it got.
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const t = new Tsne(x, n, D, { perplexity: PERPLEXITY, iterations: ITER });
const tAff = performance.now();
const kls: string[] = [];
while (!t.done) {
  t.step();
  if (t.iteration % 250 === 0) kls.push(`${t.iteration}: ${t.klDivergence().toFixed(4)}`);
}
const tEnd = performance.now();
const cpu = process.cpuUsage(cpu0);
const ours = { cpuSeconds: (cpu.user + cpu.system) / 1e6, seconds: (tEnd - t0) / 1000, affinitySeconds: (tAff - t0) / 1000, kl: t.klDivergence(), agreement: neighbourAgreement(t.y) };
console.log(`ours (TypeScript, Node ${process.versions.node}, 1 thread): ${ours.seconds.toFixed(1)} s wall, ${ours.cpuSeconds.toFixed(1)} s CPU (affinities ${ours.affinitySeconds.toFixed(1)} s wall), KL ${ours.kl.toFixed(4)}, 10-NN label agreement ${(ours.agreement * 100).toFixed(1)}%`);
console.log(`  KL during optimisation (exaggerated phase included): ${kls.join(', ')}`);

if (!values['no-sklearn']) {
  const dir = mkdtempSync(join(tmpdir(), 'bench-tsne-'));
  const file = join(dir, 'x.f32');
  writeFileSync(file, Buffer.from(x.buffer, x.byteOffset, x.byteLength));
  for (const threads of [undefined, '1']) {
    const env = { ...process.env, ...(threads ? { OMP_NUM_THREADS: threads } : {}) };
    const r = spawnSync('/usr/bin/python3', [join(__dirname, 'bench_tsne_sklearn.py'), file, String(n), String(D), String(ITER), String(PERPLEXITY)], { encoding: 'utf8', env });
    if (r.status !== 0) {
      console.log(`scikit-learn did not run (apt-get install python3-sklearn): ${r.stderr.trim().split('\n').pop()}`);
      break;
    }
    const s = JSON.parse(r.stdout.trim().split('\n').pop()!) as { seconds: number; cpu_seconds: number; kl: number; version: string; omp_threads: string };
    const y = new Float32Array(new Uint8Array(readFileSync(`${file}.sklearn.f32`)).buffer);
    console.log(
      `scikit-learn ${s.version} (threads: ${s.omp_threads}): ${s.seconds.toFixed(1)} s wall, ${s.cpu_seconds.toFixed(1)} s CPU, KL ${s.kl.toFixed(4)}, 10-NN label agreement ${(neighbourAgreement(y) * 100).toFixed(1)}%`,
    );
  }
  rmSync(dir, { recursive: true, force: true });
}
