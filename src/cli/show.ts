import { liveStatus } from '../store/liveness';
import { checkResumable, describeResumePoint, isResumableStatus, ResumeRefused, type ResumePoint } from '../store/resume';
import type { RunStore } from '../store/store';
import type { RunRow } from '../store/types';

/** The end-of-run kNN baselines (recorded at epoch 0 by the training loop): not an epoch of training. */
const BASELINE_PROTOCOLS = ['knn-raw-pixels', 'knn-raw-pixels-centred', 'knn-untrained'];

const pct = (v: number | null | undefined) => (v == null ? '-' : `${(v * 100).toFixed(2)}%`);
const when = (ms: number | null) => (ms == null ? '-' : new Date(ms).toISOString().replace('T', ' ').slice(0, 19));

function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c])).join('  ').trimEnd()).join('\n');
}

function summary(r: RunRow) {
  return {
    id: r.id,
    name: r.name,
    method: r.method,
    dataset: r.dataset,
    status: liveStatus(r),
    epochs: r.config.epochs,
    lastEpoch: r.lastEpoch,
    knn: r.lastKnn,
    backend: r.backend,
    device: r.device,
    configHash: r.configHash,
    createdAt: new Date(r.createdAt).toISOString(),
    finishedAt: r.finishedAt == null ? null : new Date(r.finishedAt).toISOString(),
    error: r.error,
  };
}

export async function printRuns(store: RunStore, json: boolean): Promise<number> {
  const runs = await store.listRuns();
  if (json) {
    process.stdout.write(`${JSON.stringify(runs.map(summary))}\n`);
    return 0;
  }
  if (!runs.length) {
    process.stdout.write(`no runs yet in ${store.path}; start one with: clab train --method simclr\n`);
    return 0;
  }
  const rows = [['ID', 'STATUS', 'METHOD', 'DATASET', 'EPOCH', 'KNN', 'CREATED', 'NAME']];
  for (const r of runs) rows.push([String(r.id), liveStatus(r), r.method, r.dataset, `${r.lastEpoch ?? 0}/${r.config.epochs}`, pct(r.lastKnn), when(r.createdAt), r.name]);
  process.stdout.write(`${table(rows)}\n`);
  return 0;
}

export async function printRun(store: RunStore, id: number, json: boolean): Promise<number> {
  const run = await store.getRun(id);
  if (!run) {
    process.stderr.write(`clab show: no run ${id} in ${store.path}\n`);
    return 1;
  }
  const [evals, artifacts, embeddings, losses] = await Promise.all([store.getEvals(id), store.getArtifacts(id), store.listEmbeddings(id), store.getMetrics(id, { name: 'epoch_loss' })]);
  const resume = isResumableStatus(liveStatus(run)) ? await resumeFrom(store, id) : undefined;
  if (json) {
    const resumeFromPoint = resume && 'point' in resume ? { epoch: resume.point.epoch, step: resume.point.step, midEpoch: !!resume.point.partial, evaluationPending: !!resume.point.evaluationPending } : null;
    process.stdout.write(`${JSON.stringify({ ...summary(run), config: run.config, versions: run.versions, evals, artifacts, embeddings, epochLoss: losses, resumeFrom: resumeFromPoint })}\n`);
    return 0;
  }
  const out: string[] = [];
  out.push(`run ${run.id}: ${run.name}`);
  out.push(`  status     ${liveStatus(run)}${run.error ? ` — ${run.error}` : ''}`);
  if (resume) out.push(`  resume     ${'point' in resume ? `clab resume ${id} continues it ${describeResumePoint(resume.point)}` : `not possible: ${resume.refused}`}`);
  out.push(`  method     ${run.method}   recipe ${run.config.recipe ?? 'paper'}   dataset ${run.dataset}   config ${run.configHash}`);
  out.push(`  backend    ${run.backend ?? '-'} (${run.device ?? '-'})   host ${run.host ?? '-'}`);
  out.push(`  created    ${when(run.createdAt)}   started ${when(run.startedAt)}   finished ${when(run.finishedAt)}`);
  out.push(`  versions   ${Object.entries(run.versions).map(([k, v]) => `${k} ${v}`).join(', ') || '-'}`);
  if (losses.length || evals.length) {
    out.push('', '  epoch  loss      kNN      collapse');
    const epochs = [...new Set([...losses.map((l) => l.epoch), ...evals.filter((e) => !BASELINE_PROTOCOLS.includes(e.protocol)).map((e) => e.epoch)])].sort((a, b) => a - b);
    for (const ep of epochs) {
      const l = losses.find((x) => x.epoch === ep);
      const knn = evals.find((e) => e.epoch === ep && e.protocol === 'knn');
      const col = evals.find((e) => e.epoch === ep && e.protocol === 'collapse');
      out.push(`  ${String(ep).padEnd(5)}  ${(l ? l.value.toFixed(4) : '-').padEnd(8)}  ${pct(knn?.value).padEnd(7)}  ${col ? col.value.toFixed(4) : '-'}`);
    }
    const lin = evals.find((e) => e.protocol === 'linear');
    if (lin) out.push(`  linear probe (epoch ${lin.epoch}): ${pct(lin.value)}`);
    const [raw, centred, untrained] = BASELINE_PROTOCOLS.map((p) => evals.find((e) => e.protocol === p));
    if (raw && untrained) out.push(`  kNN baselines, same protocol: raw pixels ${pct(raw.value)}${centred ? ` (mean-centred ${pct(centred.value)})` : ''}, untrained encoder ${pct(untrained.value)}`);
  }
  if (embeddings.length) out.push('', `  embeddings ${embeddings.map((e) => `epoch ${e.epoch} (${e.split}, ${e.count}×${e.dim})`).join(', ')}`);
  if (artifacts.length) out.push('', ...artifacts.map((a) => `  ${a.kind.padEnd(10)} ${a.path}`));
  out.push('', `  config     ${JSON.stringify(run.config)}`);
  process.stdout.write(`${out.join('\n')}\n`);
  return 0;
}

/** Where a stopped run would resume from, or why it cannot. */
async function resumeFrom(store: RunStore, id: number): Promise<{ point: ResumePoint } | { refused: string }> {
  try {
    return { point: (await checkResumable(store, store.path, id)).from };
  } catch (e) {
    if (e instanceof ResumeRefused) return { refused: e.message };
    throw e;
  }
}
