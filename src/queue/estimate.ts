import type { RunConfig } from '../core/config';
import type { RunStore } from '../store/store';

/**
 * Roughly what a set of runs costs, from step times measured on this database: for each method and
 * encoder, the median time per step of its most recent runs (scaled by batch size), times the steps the
 * new runs make. Evaluation time is not included (it depends on the test split and the protocols), so
 * the estimate is a lower bound; a method never run here has no estimate, and the answer says so.
 */
export interface CostEstimate {
  /** Seconds of training, one run after another; undefined when no run of some method was measured. */
  seconds?: number;
  /** Methods (with encoder) without a measured step time. */
  unmeasured: string[];
  /** ms per step used, per method/encoder. */
  stepMs: Record<string, number>;
}

/** Training images per epoch of the datasets whose size is fixed (a folder's is not known before loading). */
const TRAIN_SIZES: Record<string, number> = { builtin: 6000, mnist: 60000, 'fashion-mnist': 60000, cifar10: 50000, cifar100: 50000, 'cifar100-coarse': 50000 };

export function stepsOf(c: RunConfig): number | undefined {
  const kind = c.dataset.includes(':') ? c.dataset.slice(0, c.dataset.indexOf(':')) : c.dataset;
  const known = TRAIN_SIZES[kind];
  const size = c.trainLimit ? Math.min(c.trainLimit, known ?? Infinity) : known;
  return size ? c.epochs * Math.max(1, Math.floor(size / c.batchSize)) : undefined;
}

const keyOf = (c: Pick<RunConfig, 'method' | 'encoder'>) => `${c.method}/${c.encoder.preset}`;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

export async function estimateCost(store: RunStore, configs: RunConfig[]): Promise<CostEstimate> {
  const wanted = new Map<string, RunConfig>();
  for (const c of configs) if (!wanted.has(keyOf(c))) wanted.set(keyOf(c), c);
  const runs = (await store.listRuns()).filter((r) => r.lastEpoch !== null && wanted.has(keyOf(r.config)));
  const stepMs: Record<string, number> = {};
  for (const [k] of wanted) {
    const measured: number[] = [];
    for (const r of runs.filter((x) => keyOf(x.config) === k).slice(0, 3)) {
      const loss = await store.getMetrics(r.id, { name: 'loss' });
      const gaps: number[] = [];
      for (let i = 1; i < loss.length; i++) if (loss[i].epoch === loss[i - 1].epoch) gaps.push(loss[i].wallTime - loss[i - 1].wallTime);
      // Per image, so runs of another batch size count too.
      if (gaps.length) measured.push(median(gaps) / r.config.batchSize);
    }
    if (measured.length) stepMs[k] = median(measured);
  }
  let seconds = 0;
  const unmeasured = new Set<string>();
  for (const c of configs) {
    const perImage = stepMs[keyOf(c)];
    const steps = stepsOf(c);
    if (perImage === undefined || steps === undefined) unmeasured.add(keyOf(c));
    else seconds += (steps * perImage * c.batchSize) / 1000;
  }
  for (const k of Object.keys(stepMs)) stepMs[k] = Number((stepMs[k] * (wanted.get(k)?.batchSize ?? 1)).toFixed(1));
  return { seconds: unmeasured.size ? undefined : seconds, unmeasured: [...unmeasured], stepMs };
}

/** "about 12 min", "about 2.5 h" */
export function formatDuration(seconds: number): string {
  if (seconds < 90) return `about ${Math.max(1, Math.round(seconds))} s`;
  if (seconds < 90 * 60) return `about ${Math.round(seconds / 60)} min`;
  return `about ${(seconds / 3600).toFixed(1)} h`;
}

/** One line for a confirmation: the count, and the cost if it is known. */
export function describeCost(runs: number, e: CostEstimate, jobs: number): string {
  const head = `${runs} run${runs === 1 ? '' : 's'}`;
  if (e.seconds === undefined)
    return `${head}; no step time measured yet for ${e.unmeasured.join(', ')} on this database (train one run first for an estimate)`;
  const par = jobs > 1 ? `, less with ${jobs} at a time where the cores or GPUs allow` : '';
  return `${head}: ${formatDuration(e.seconds)} of training one after another${par} (from measured step times; evaluation not included)`;
}
