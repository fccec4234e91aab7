import { basename } from 'node:path';
import { METHOD_IDS, METHOD_INFO } from '../core/methods';
import { liveStatus, type Liveness } from '../store/liveness';
import type { RunRow, SweepRow } from '../store/types';
import type { ActiveRun } from '../queue/runManager';

/**
 * What the Runs view shows, as plain data: status, grouping, filtering, description and tooltip text.
 * The TreeDataProvider (runsTree.ts) only turns these into TreeItems.
 */

export type GroupBy = 'none' | 'status' | 'method' | 'dataset';
export const GROUP_BY: readonly GroupBy[] = ['none', 'status', 'method', 'dataset'];

/** The store's status, refined: a run whose worker we can see is gone is crashed now, not in 60 s. */
export type ShownStatus = 'queued' | 'starting' | 'running' | 'stopping' | 'completed' | 'failed' | 'cancelled' | 'crashed';
export const STATUS_ORDER: readonly ShownStatus[] = ['running', 'starting', 'stopping', 'queued', 'crashed', 'failed', 'cancelled', 'completed'];

export interface RunView {
  row: RunRow;
  status: ShownStatus;
  /** Present for runs this window started: live progress from the worker's IPC events. */
  live?: ActiveRun;
}

export interface RunFilter {
  text: string;
  methods: string[];
  statuses: ShownStatus[];
  starredOnly: boolean;
}
export const NO_FILTER: RunFilter = { text: '', methods: [], statuses: [], starredOnly: false };

export function isFiltered(f: RunFilter): boolean {
  return f.text.trim() !== '' || f.methods.length > 0 || f.statuses.length > 0 || f.starredOnly;
}

export function shownStatus(row: RunRow, live: ActiveRun | undefined, liveness?: Liveness): ShownStatus {
  if (live) {
    if (live.phase === 'stopping') return 'stopping';
    if (live.phase === 'starting') return 'starting';
    if (live.phase === 'queued') return 'queued';
  }
  // On this machine the worker's pid tells alive from crashed at once; elsewhere only the heartbeat can.
  return liveness ? liveStatus(row, liveness) : row.displayStatus;
}

export function toViews(rows: RunRow[], live: (id: number) => ActiveRun | undefined, liveness?: Liveness): RunView[] {
  return rows.map((row) => {
    const l = live(row.id);
    return { row, live: l, status: shownStatus(row, l, liveness) };
  });
}

export const methodLabel = (id: string) => METHOD_INFO[id]?.label ?? id;

/** `fashion-mnist:/long/path/to/fmnist` → `fashion-mnist:…/fmnist`. */
export function datasetLabel(spec: string): string {
  const i = spec.indexOf(':');
  if (i < 0) return spec;
  const dir = spec.slice(i + 1).replace(/[\\/]+$/, '');
  const base = basename(dir.replace(/\\/g, '/'));
  return base === dir ? spec : `${spec.slice(0, i)}:…/${base}`;
}

export function matchesFilter(v: RunView, f: RunFilter): boolean {
  if (f.starredOnly && !v.row.starred) return false;
  if (f.methods.length && !f.methods.includes(v.row.method)) return false;
  if (f.statuses.length && !f.statuses.includes(v.status)) return false;
  const text = f.text.trim().toLowerCase();
  if (!text) return true;
  const haystack = [v.row.name, v.row.method, methodLabel(v.row.method), v.row.dataset, v.row.note ?? '', `#${v.row.id}`, v.status].join('\n').toLowerCase();
  return text.split(/\s+/).every((word) => haystack.includes(word));
}

export const STATUS_LABEL: Record<ShownStatus, string> = {
  queued: 'Queued',
  starting: 'Starting',
  running: 'Running',
  stopping: 'Stopping',
  completed: 'Completed',
  failed: 'Failed',
  cancelled: 'Cancelled',
  crashed: 'Crashed',
};

export interface RunGroup {
  key: string;
  label: string;
  runs: RunView[];
}

/** Groups in a fixed, meaningful order (live runs first; methods in registry order); runs stay newest first. */
export function groupRuns(views: RunView[], by: GroupBy): RunGroup[] {
  if (by === 'none') return [{ key: 'all', label: 'All runs', runs: views }];
  const keyOf = (v: RunView) => (by === 'status' ? v.status : by === 'method' ? v.row.method : v.row.dataset);
  const groups = new Map<string, RunView[]>();
  for (const v of views) {
    const k = keyOf(v);
    groups.set(k, [...(groups.get(k) ?? []), v]);
  }
  const rank = (k: string) => {
    const order: readonly string[] = by === 'status' ? STATUS_ORDER : by === 'method' ? METHOD_IDS : [];
    const i = order.indexOf(k);
    return i < 0 ? order.length : i;
  };
  return [...groups.keys()]
    .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))
    .map((k) => ({
      key: `${by}:${k}`,
      label: by === 'status' ? STATUS_LABEL[k as ShownStatus] : by === 'method' ? methodLabel(k) : datasetLabel(k),
      runs: groups.get(k)!,
    }));
}

export const percent = (v: number) => `${(v * 100).toFixed(1)}%`;

/** Progress as the list shows it: live step progress for our runs, the recorded epoch for the others. */
export function progressText(v: RunView): string | undefined {
  const epochs = v.row.config.epochs;
  const p = v.live?.progress;
  if (p && p.totalSteps > 0 && v.status !== 'completed') return `epoch ${Math.max(1, p.epoch)}/${epochs} · ${Math.floor((100 * p.step) / p.totalSteps)}%`;
  if (v.status === 'queued') return 'queued';
  if (v.status === 'starting') return 'starting…';
  if (v.row.lastEpoch !== null) return v.status === 'completed' && v.row.lastEpoch >= epochs ? `${epochs} epochs` : `epoch ${v.row.lastEpoch}/${epochs}`;
  return undefined;
}

export function describeRun(v: RunView): string {
  const knn = v.live?.lastKnn ?? v.row.lastKnn;
  return [methodLabel(v.row.method), datasetLabel(v.row.dataset), progressText(v), knn !== null && knn !== undefined ? `kNN ${percent(knn)}` : undefined]
    .filter((s): s is string => !!s)
    .join(' · ');
}

// Enough to keep a run's name or note from turning into emphasis, links or HTML.
export const escapeMd = (s: string) => s.replace(/[\\`*_[\]<>|]/g, '\\$&');
const when = (ms: number | null) => (ms === null ? undefined : new Date(ms).toLocaleString());

/**
 * The tooltip as Markdown: enough of the config to tell two runs apart without opening anything, and
 * for a stopped run where Resume would continue it (`resume`, read from its saved state on hover).
 */
export function tooltipMarkdown(v: RunView, resume?: string): string {
  const { row } = v;
  const c = row.config;
  const info = METHOD_INFO[row.method];
  const params = Object.entries(c.params ?? {})
    .map(([k, val]) => `${k} = ${String(val)}`)
    .join(', ');
  const lines = [
    `**${escapeMd(row.name)}** — ${STATUS_LABEL[v.status]} (run #${row.id})`,
    '',
    `Method: ${info ? `[${escapeMd(info.label)}](${info.paper})` : escapeMd(row.method)}`,
    `Dataset: \`${row.dataset}\``,
    `Epochs ${c.epochs} · batch ${c.batchSize} · seed ${c.seed}${c.trainLimit ? ` · first ${c.trainLimit} images` : ''}`,
    `Encoder ${c.encoder?.preset} · projector ${c.projector?.hidden}→${c.projector?.out}`,
    c.optimizer ? `Optimizer ${c.optimizer.name}, lr ${c.optimizer.lr}, weight decay ${c.optimizer.weightDecay}, ${c.optimizer.schedule}` : undefined,
    params ? `Params: ${escapeMd(params)}` : undefined,
    `Backend: ${row.backend ? `${row.backend}${row.device ? ` (${escapeMd(row.device)})` : ''}` : `${c.backend} (requested)`}`,
    row.lastKnn !== null ? `kNN accuracy: ${percent(row.lastKnn)} (k=${c.eval?.knnK}, cosine, epoch ${row.lastEpoch ?? '?'})` : undefined,
    v.live?.progress?.loss !== undefined ? `Loss: ${v.live.progress.loss.toFixed(4)} · ${Math.round(v.live.progress.viewsPerSecond ?? 0)} views/s` : undefined,
    `Config hash \`${row.configHash}\` · created ${when(row.createdAt)}${row.finishedAt ? ` · finished ${when(row.finishedAt)}` : ''}`,
    row.host ? `Host ${escapeMd(row.host)}${row.pid ? `, process ${row.pid}` : ''}` : undefined,
    v.status === 'running' && !v.live ? '_Started outside this window (the CLI, another window, or before a reload); Stop asks its worker to stop._' : undefined,
    row.error ? `\n**Error:** ${escapeMd(row.error.split('\n')[0])}` : undefined,
    resume ? `\n${escapeMd(resume)}` : undefined,
    row.note ? `\n**Note:** ${escapeMd(row.note)}` : undefined,
  ];
  return lines.filter((l): l is string => l !== undefined).join('  \n');
}

/** A codicon id and theme colour per status; `~spin` animates live runs. */
export function statusIcon(s: ShownStatus): { id: string; color?: string } {
  switch (s) {
    case 'running':
    case 'starting':
      return { id: 'loading~spin' };
    case 'stopping':
      return { id: 'loading~spin', color: 'charts.yellow' };
    case 'queued':
      return { id: 'clock' };
    case 'completed':
      return { id: 'pass', color: 'testing.iconPassed' };
    case 'failed':
      return { id: 'error', color: 'testing.iconFailed' };
    case 'crashed':
      return { id: 'warning', color: 'list.warningForeground' };
    case 'cancelled':
      return { id: 'circle-slash' };
  }
}

export const isLive = (s: ShownStatus) => s === 'running' || s === 'starting' || s === 'stopping' || s === 'queued';

/** Space-separated flags that package.json's menus match with `viewItem =~ /\bflag\b/`. */
export function contextValue(v: RunView, hasLog: boolean): string {
  return ['run', isLive(v.status) ? 'live' : 'ended', v.status, v.row.starred ? 'starred' : 'unstarred', hasLog ? 'hasLog' : ''].filter(Boolean).join(' ');
}

export function filterSummary(f: RunFilter): string | undefined {
  if (!isFiltered(f)) return undefined;
  const parts = [
    f.text.trim() ? `“${f.text.trim()}”` : '',
    f.methods.map(methodLabel).join(', '),
    f.statuses.map((s) => STATUS_LABEL[s].toLowerCase()).join(', '),
    f.starredOnly ? 'starred' : '',
  ];
  return `Filtered: ${parts.filter(Boolean).join('; ')}`;
}

/** A cheap fingerprint of what the view shows, so a poll that changed nothing redraws nothing. */
export function viewSignature(views: RunView[]): string {
  return views
    .map((v) => [v.row.id, v.status, v.row.name, v.row.starred, v.row.note, v.row.lastEpoch, v.row.lastKnn, v.row.error, v.live?.progress?.step, v.live?.lastKnn].join('|'))
    .join('\n');
}

/** A sweep as the Runs view shows it: a node grouping its runs, with `k/n done`. */
export interface SweepView {
  sweep: SweepRow;
  runs: RunView[];
}

/**
 * The top level of the ungrouped view: runs not in a sweep, and one entry per sweep placed where its
 * newest run is (the list is newest first), holding its runs in the sweep's order.
 */
export function arrangeWithSweeps(views: RunView[], sweeps: SweepRow[]): ({ kind: 'run'; view: RunView } | { kind: 'sweep'; sweep: SweepView })[] {
  const byId = new Map(sweeps.map((s) => [s.id, { sweep: s, runs: [] as RunView[] }]));
  const out: ({ kind: 'run'; view: RunView } | { kind: 'sweep'; sweep: SweepView })[] = [];
  for (const v of views) {
    const sv = v.row.sweepId !== null ? byId.get(v.row.sweepId) : undefined;
    if (!sv) {
      out.push({ kind: 'run', view: v });
      continue;
    }
    if (!sv.runs.length) out.push({ kind: 'sweep', sweep: sv });
    sv.runs.push(v);
  }
  for (const o of out) if (o.kind === 'sweep') o.sweep.runs.sort((a, b) => (a.row.sweepIndex ?? 0) - (b.row.sweepIndex ?? 0) || a.row.id - b.row.id);
  return out;
}

/** `3/9 done · 2 running · 1 failed`, from the runs as shown (a crashed worker counts as crashed). */
export function describeSweep(s: SweepView): string {
  const count = (st: ShownStatus[]) => s.runs.filter((r) => st.includes(r.status)).length;
  const parts = [`${count(['completed'])}/${s.sweep.total} done`];
  const running = count(['running', 'starting', 'stopping']);
  if (running) parts.push(`${running} running`);
  const queued = count(['queued']);
  if (queued) parts.push(`${queued} queued`);
  const failed = count(['failed', 'crashed']);
  if (failed) parts.push(`${failed} failed`);
  const cancelled = count(['cancelled']);
  if (cancelled) parts.push(`${cancelled} cancelled`);
  return parts.join(' · ');
}

export function sweepContextValue(s: SweepView): string {
  const live = s.runs.some((r) => isLive(r.status));
  const retry = s.runs.some((r) => r.status === 'failed' || r.status === 'cancelled' || r.status === 'crashed');
  // Not 'live'/'ended': run menus match those.
  return ['sweep', live ? 'sweepLive' : 'sweepEnded', retry ? 'retryable' : ''].filter(Boolean).join(' ');
}

export function sweepIcon(s: SweepView): { id: string; color?: string } {
  if (s.runs.some((r) => r.status === 'running' || r.status === 'starting' || r.status === 'stopping')) return { id: 'loading~spin' };
  if (s.runs.some((r) => r.status === 'queued')) return { id: 'clock' };
  if (s.runs.some((r) => r.status === 'failed' || r.status === 'crashed')) return { id: 'warning', color: 'list.warningForeground' };
  return { id: 'beaker' };
}
