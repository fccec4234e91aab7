/**
 * The per-epoch kNN curves of recorded runs as a Markdown table, straight from a run database, for
 * docs/BENCHMARKS.md: one row per run with its kNN accuracy after every epoch, the mean training time of
 * its finished epochs (evaluation excluded) and the run's status. A run whose config is not its method's
 * default (for the dataset and epochs it ran) has the differences after the method, e.g.
 * `byol (optimizer.lr=0.06)`. Reads only.
 *
 *   node --import tsx scripts/knn-curves.ts --db runs.db [--runs 2,4,5] [--epochs 10]
 */
import { parseArgs } from 'node:util';
import { configSpecFor, resolveConfig } from '../src/core/config';
import { hashedConfig } from '../src/core/spec';
import { RunStore } from '../src/store/store';
import type { RunRow } from '../src/store/types';
import { configDiff } from '../src/webviews/data';

const { values } = parseArgs({ options: { db: { type: 'string' }, runs: { type: 'string' }, epochs: { type: 'string', default: '10' } } });

/** The method, and how the run's config differs from the method's default (the thread count aside: it changes the speed, not the result). */
export function methodCell(run: RunRow): string {
  // Against the default of the run's own recipe (a run recorded before recipes has none: paper).
  const { config } = resolveConfig({ method: run.method, recipe: run.config.recipe ?? 'paper', dataset: run.config.dataset, epochs: run.config.epochs, threads: run.config.threads });
  if (!config) return run.method;
  // As the config hash sees them: a field added later, at its legacyValue, counts as absent (a run recorded before it existed has none).
  const spec = configSpecFor(run.method);
  const diff = configDiff([hashedConfig(spec, config as unknown as Record<string, unknown>), hashedConfig(spec, run.config as unknown as Record<string, unknown>)]);
  return diff.length ? `${run.method} (${diff.map((d) => `${d.key}=${d.values[1]}`).join(', ')})` : run.method;
}

async function main(): Promise<void> {
  if (!values.db) throw new Error('--db PATH is required');
  const store = await RunStore.open(values.db);
  try {
    const all = await store.listRuns();
    const ids = values.runs ? values.runs.split(',').map(Number) : all.map((r) => r.id).reverse();
    const epochs = Number(values.epochs);
    const head = Array.from({ length: epochs }, (_, i) => `ep ${i + 1}`);
    process.stdout.write(`| run | method | ${head.join(' | ')} | s/epoch (training) | status |\n|${'---|'.repeat(epochs + 4)}\n`);
    for (const id of ids) {
      const run = all.find((r) => r.id === id);
      if (!run) throw new Error(`run ${id} is not in ${values.db}`);
      const knn = new Map((await store.getEvals(id)).filter((e) => e.protocol === 'knn').map((e) => [e.epoch, e.value]));
      // Finished epochs only (those with a kNN evaluation): a cancelled epoch's time is of a part of it.
      const seconds = (await store.getMetrics(id, { name: 'epoch_seconds' })).filter((m) => knn.has(m.epoch)).map((m) => m.value);
      const cells = Array.from({ length: epochs }, (_, i) => (knn.has(i + 1) ? `${(knn.get(i + 1)! * 100).toFixed(2)}%` : '–'));
      const mean = seconds.length ? `${(seconds.reduce((a, b) => a + b, 0) / seconds.length).toFixed(0)} (${seconds.map((s) => s.toFixed(0)).join(', ')})` : '–';
      process.stdout.write(`| ${id} | ${methodCell(run)} | ${cells.join(' | ')} | ${mean} | ${run.displayStatus}, ${knn.size}/${run.config.epochs} epochs |\n`);
    }
  } finally {
    await store.close();
  }
}

void main().catch((e: unknown) => {
  process.stderr.write(`knn-curves: ${(e as Error).message}\n`);
  process.exitCode = 1;
});
