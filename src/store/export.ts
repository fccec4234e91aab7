import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { classNamesFor } from '../core/datasets';
import type { RunStore } from './store';

/** RFC 4180 quoting for the few text fields we write. */
const csvCell = (v: string | number) => (typeof v === 'number' ? String(v) : /[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);

/** Where exportRun reports: the terminal for the CLI, an output channel and a message in the editor. */
export interface ExportReport {
  info(message: string): void;
  error(message: string): void;
}

/**
 * A run's records as files for other tools (`clab export`, Export Run… in the editor): `metrics.csv`
 * (step, epoch, name, value, wall time), `evals.csv`, and the chosen epoch's embeddings as TensorBoard
 * Embedding Projector files: `embeddings.tsv` (one vector per line) and `metadata.tsv` (a header row,
 * then label, class name and sample index per line).
 */
export async function exportRun(store: RunStore, id: number, outDir: string, epoch: number | undefined, report: ExportReport): Promise<number> {
  const run = await store.getRun(id);
  if (!run) {
    report.error(`no run ${id} in ${store.path}`);
    return 1;
  }
  mkdirSync(outDir, { recursive: true });
  const metrics = await store.getMetrics(id);
  const lines = ['step,epoch,name,value,wall_time'];
  for (const m of metrics) lines.push([m.step, m.epoch, csvCell(m.name), m.value, new Date(m.wallTime).toISOString()].join(','));
  writeFileSync(join(outDir, 'metrics.csv'), `${lines.join('\n')}\n`);
  const evals = await store.getEvals(id);
  writeFileSync(join(outDir, 'evals.csv'), `protocol,epoch,value,details\n${evals.map((e) => [csvCell(e.protocol), e.epoch, e.value, csvCell(JSON.stringify(e.details))].join(',')).join('\n')}\n`);
  const written = ['metrics.csv', 'evals.csv'];
  const infos = await store.listEmbeddings(id);
  const info = epoch === undefined ? infos[infos.length - 1] : infos.filter((e) => e.epoch === epoch).pop();
  if (epoch !== undefined && !info) {
    report.error(`run ${id} has no embeddings for epoch ${epoch} (saved: ${infos.map((e) => e.epoch).join(', ') || 'none'})`);
    return 1;
  }
  if (info) {
    const e = (await store.getEmbedding(info.id))!;
    const names = classNamesFor(run.dataset);
    const vec: string[] = [];
    const meta: string[] = ['label\tclass\tindex'];
    for (let i = 0; i < e.count; i++) {
      vec.push(Array.from(e.vectors.subarray(i * e.dim, (i + 1) * e.dim), (v) => v.toPrecision(6)).join('\t'));
      meta.push(`${e.labels[i]}\t${names[e.labels[i]] ?? e.labels[i]}\t${e.indices[i]}`);
    }
    writeFileSync(join(outDir, 'embeddings.tsv'), `${vec.join('\n')}\n`);
    writeFileSync(join(outDir, 'metadata.tsv'), `${meta.join('\n')}\n`);
    written.push(`embeddings.tsv (epoch ${e.epoch}, ${e.count}×${e.dim})`, 'metadata.tsv');
  }
  report.info(`exported run ${id} to ${outDir}: ${written.join(', ')}`);
  return 0;
}
