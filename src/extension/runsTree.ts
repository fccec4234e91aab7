import * as vscode from 'vscode';
import type { QueueState, RunRow, SweepRow } from '../store/types';
import type { RunManager } from '../queue/runManager';
import {
  contextValue,
  describeRun,
  filterSummary,
  groupRuns,
  isFiltered,
  matchesFilter,
  NO_FILTER,
  statusIcon,
  toViews,
  tooltipMarkdown,
  arrangeWithSweeps,
  describeSweep,
  sweepContextValue,
  sweepIcon,
  type SweepView,
  viewSignature,
  type GroupBy,
  type RunFilter,
  type RunGroup,
  type RunView,
} from './runsModel';
import { THIS_MACHINE } from '../store/liveness';
import { describeResumePoint, isResumableStatus, latestResumeState } from '../store/resume';
import type { StoreHolder } from './storeHolder';

export type RunsNode =
  | { kind: 'group'; group: RunGroup }
  | { kind: 'sweep'; sweep: SweepView }
  | { kind: 'run'; view: RunView }
  | { kind: 'message'; text: string; command?: vscode.Command };

const POLL_MS = 2000;
const GROUP_KEY = 'contrastiveLab.runs.groupBy';
const FILTER_KEY = 'contrastiveLab.runs.filter';

/**
 * The Runs view. The store is polled every 2 s (runs from the CLI or another window appear within
 * seconds); the run manager's events redraw runs this window started as soon as they make progress.
 */
export class RunsTreeProvider implements vscode.TreeDataProvider<RunsNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<RunsNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly loaded = new vscode.EventEmitter<RunView[]>();
  /** After every poll: the status bar counts live runs from here. */
  readonly onDidLoad = this.loaded.event;

  private rows: RunRow[] = [];
  private sweeps: SweepRow[] = [];
  private queue?: QueueState;
  private views: RunView[] = [];
  private signature = '';
  private timer?: NodeJS.Timeout;
  private redrawTimer?: NodeJS.Timeout;
  private refreshing?: Promise<void>;
  private again?: Promise<void>;
  private dbError?: string;
  private readonly contexts = new Map<string, unknown>();
  private readonly subscriptions: vscode.Disposable[] = [];
  private readonly liveness = THIS_MACHINE;
  groupBy: GroupBy;
  filter: RunFilter;
  treeView?: vscode.TreeView<RunsNode>;

  constructor(
    private readonly stores: StoreHolder,
    private readonly manager: RunManager,
    private readonly memento: { workspace: vscode.Memento; global: vscode.Memento },
    private readonly hasLog: (runId: number) => boolean,
  ) {
    this.groupBy = memento.global.get<GroupBy>(GROUP_KEY, 'none');
    this.filter = { ...NO_FILTER, ...memento.workspace.get<Partial<RunFilter>>(FILTER_KEY, {}) };
    this.subscriptions.push(
      this.changed,
      this.loaded,
      manager.onDidChange(() => this.redrawSoon()),
      // A run that ended changes its row (status, final kNN): read it now rather than at the next poll.
      manager.onDidEnd(() => void this.refresh()),
    );
  }

  attach(view: vscode.TreeView<RunsNode>): void {
    this.treeView = view;
    this.updateViewChrome();
  }

  start(): void {
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), POLL_MS);
  }

  /** All runs as last read (unfiltered), newest first. */
  all(): RunView[] {
    return this.views;
  }

  find(id: number): RunView | undefined {
    return this.views.find((v) => v.row.id === id);
  }

  /** Reads the store; redraws only if something the view shows has changed. */
  refresh(force = false): Promise<void> {
    // One read at a time, so a slow disk does not pile up polls; a refresh asked for during a read
    // (after a rename, say) gets a fresh read once that one is done, not the stale result.
    if (this.refreshing) {
      this.again ??= this.refreshing.then(() => {
        this.again = undefined;
        return this.refresh(force);
      });
      return this.again;
    }
    this.refreshing = this.load(force).finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }
  private async load(force: boolean): Promise<void> {
    try {
      const store = await this.stores.get();
      this.rows = await store.listRuns();
      this.sweeps = await store.listSweeps();
      this.queue = await store.queueState();
      this.dbError = undefined;
    } catch (e) {
      this.rows = [];
      this.sweeps = [];
      this.queue = undefined;
      this.dbError = `Could not open the run database: ${(e as Error).message}`;
    }
    this.setContext('contrastiveLab.databaseError', !!this.dbError);
    this.setContext('contrastiveLab.runsLoaded', true);
    this.setContext('contrastiveLab.queuePaused', !!this.queue?.paused);
    this.recompute(force);
    this.updateViewChrome();
  }
  /** Context keys are set only when they change (the poll runs every 2 s). */
  private setContext(key: string, value: unknown): void {
    if (this.contexts.has(key) && this.contexts.get(key) === value) return;
    this.contexts.set(key, value);
    void vscode.commands.executeCommand('setContext', key, value);
  }

  private recompute(force = false): void {
    const dbPath = this.stores.path;
    this.views = toViews(this.rows, (id) => this.manager.get(dbPath, id), this.liveness);
    const sig = `${this.groupBy}\n${JSON.stringify(this.filter)}\n${this.queue?.paused}\n${this.sweeps.map((s) => `${s.id}:${s.name}:${s.total}`).join(',')}\n${viewSignature(this.views)}`;
    this.loaded.fire(this.views);
    if (!force && sig === this.signature) return;
    this.signature = sig;
    this.updateViewChrome();
    this.changed.fire(undefined);
  }

  /** Live progress arrives several times a second: redraw at most every 500 ms. */
  private redrawSoon(): void {
    if (this.redrawTimer) return;
    this.redrawTimer = setTimeout(() => {
      this.redrawTimer = undefined;
      this.recompute();
    }, 500);
  }

  setGroupBy(by: GroupBy): void {
    this.groupBy = by;
    void this.memento.global.update(GROUP_KEY, by);
    this.setContext('contrastiveLab.groupBy', by);
    this.recompute(true);
  }

  setFilter(f: RunFilter): void {
    this.filter = f;
    void this.memento.workspace.update(FILTER_KEY, f);
    this.recompute(true);
  }

  private updateViewChrome(): void {
    this.setContext('contrastiveLab.runsFiltered', isFiltered(this.filter));
    if (!this.treeView) return;
    const shown = this.views.filter((v) => matchesFilter(v, this.filter)).length;
    this.treeView.description = isFiltered(this.filter) ? `${shown} of ${this.views.length}` : undefined;
    const paused = this.queue?.paused ? `The run queue is paused: ${this.queue.queued} queued run${this.queue.queued === 1 ? '' : 's'} wait (Resume Queue starts them).` : undefined;
    this.treeView.message = this.dbError ?? ([paused, filterSummary(this.filter)].filter(Boolean).join(' ') || undefined);
  }

  /** The sweeps as last read, with their runs. */
  sweepViews(): SweepView[] {
    return arrangeWithSweeps(this.views, this.sweeps).flatMap((n) => (n.kind === 'sweep' ? [n.sweep] : []));
  }

  getChildren(node?: RunsNode): RunsNode[] {
    if (node?.kind === 'group') return node.group.runs.map((view) => ({ kind: 'run', view }));
    if (node?.kind === 'sweep') return node.sweep.runs.filter((v) => matchesFilter(v, this.filter)).map((view) => ({ kind: 'run', view }));
    if (node) return [];
    // Empty only when there are no runs at all, so the welcome view (New Run) shows then and only then.
    if (!this.views.length) return [];
    const shown = this.views.filter((v) => matchesFilter(v, this.filter));
    if (!shown.length) return [{ kind: 'message', text: 'No runs match the filter', command: { command: 'contrastiveLab.clearRunFilter', title: 'Clear Filter' } }];
    // Ungrouped, a sweep is one node holding its runs; grouped by status, method or dataset, its runs join their groups.
    if (this.groupBy === 'none')
      return arrangeWithSweeps(shown, this.sweeps).map((n): RunsNode => (n.kind === 'run' ? n : { kind: 'sweep', sweep: n.sweep }));
    return groupRuns(shown, this.groupBy).map((group) => ({ kind: 'group', group }));
  }

  getParent(node: RunsNode): RunsNode | undefined {
    if (node.kind !== 'run') return undefined;
    if (this.groupBy === 'none') {
      const sweep = node.view.row.sweepId !== null ? this.sweepViews().find((s) => s.sweep.id === node.view.row.sweepId) : undefined;
      return sweep && { kind: 'sweep', sweep };
    }
    const groups = groupRuns(
      this.views.filter((v) => matchesFilter(v, this.filter)),
      this.groupBy,
    );
    const group = groups.find((g) => g.runs.some((v) => v.row.id === node.view.row.id));
    return group && { kind: 'group', group };
  }

  /** On hover: a stopped run's tooltip also says where Resume continues it (read from its saved state). */
  resolveTreeItem(item: vscode.TreeItem, node: RunsNode): vscode.TreeItem {
    if (node.kind !== 'run' || !isResumableStatus(node.view.status)) return item;
    let resume: string;
    try {
      const state = latestResumeState(this.stores.path, node.view.row.id);
      resume = state ? `Resume continues it ${describeResumePoint(state.point)}.` : 'No saved state to resume from: Rerun starts it again.';
    } catch (e) {
      resume = `Its saved state cannot be read: ${(e as Error).message}`;
    }
    item.tooltip = markdown(tooltipMarkdown(node.view, resume));
    return item;
  }

  getTreeItem(node: RunsNode): vscode.TreeItem {
    if (node.kind === 'message') {
      const item = new vscode.TreeItem(node.text, vscode.TreeItemCollapsibleState.None);
      item.iconPath = new vscode.ThemeIcon('filter');
      item.command = node.command;
      return item;
    }
    if (node.kind === 'sweep') {
      const { sweep } = node;
      const item = new vscode.TreeItem(sweep.sweep.name, vscode.TreeItemCollapsibleState.Collapsed);
      item.id = `sweep:${sweep.sweep.id}`;
      item.description = `sweep #${sweep.sweep.id} · ${describeSweep(sweep)}`;
      const icon = sweepIcon(sweep);
      item.iconPath = new vscode.ThemeIcon(icon.id, icon.color ? new vscode.ThemeColor(icon.color) : undefined);
      item.contextValue = sweepContextValue(sweep);
      item.tooltip = markdown(
        [`**${sweep.sweep.name}** (sweep #${sweep.sweep.id})`, describeSweep(sweep), `Axes: ${sweep.sweep.axes.map((a) => `${a.name}${a.labels ? ` (${a.labels.length})` : ''}`).join(' × ') || 'none'}`, sweep.sweep.source ? `From ${sweep.sweep.source}` : undefined]
          .filter(Boolean)
          .join('  \n'),
      );
      item.command = { command: 'contrastiveLab.openSweep', title: 'Open Sweep', arguments: [sweep.sweep.id] };
      item.accessibilityInformation = { label: `${sweep.sweep.name}, sweep, ${describeSweep(sweep)}` };
      return item;
    }
    if (node.kind === 'group') {
      const item = new vscode.TreeItem(node.group.label, vscode.TreeItemCollapsibleState.Expanded);
      item.id = `group:${node.group.key}`;
      item.description = String(node.group.runs.length);
      item.contextValue = 'runGroup';
      return item;
    }
    const { view } = node;
    const item = new vscode.TreeItem(view.row.starred ? `★ ${view.row.name}` : view.row.name, vscode.TreeItemCollapsibleState.None);
    item.id = `run:${view.row.id}`;
    // The id leads: two runs of one config file, or a run unpacked beside its original, share a name, and
    // the id is what `clab show`, the Compare panel's title and the quick picks call a run.
    item.description = `#${view.row.id} · ${describeRun(view)}`;
    item.tooltip = markdown(tooltipMarkdown(view));
    const icon = statusIcon(view.status);
    item.iconPath = new vscode.ThemeIcon(icon.id, icon.color ? new vscode.ThemeColor(icon.color) : undefined);
    item.contextValue = contextValue(view, this.hasLog(view.row.id));
    item.accessibilityInformation = { label: `${view.row.name}, ${view.status}, ${item.description}` };
    return item;
  }

  async reveal(runId: number): Promise<void> {
    await this.refresh();
    const view = this.find(runId);
    if (view && this.treeView?.visible) await this.treeView.reveal({ kind: 'run', view }, { select: true, focus: false, expand: true }).then(undefined, () => undefined);
  }

  dispose(): void {
    clearInterval(this.timer);
    clearTimeout(this.redrawTimer);
    for (const d of this.subscriptions) d.dispose();
  }
}

function markdown(text: string): vscode.MarkdownString {
  const md = new vscode.MarkdownString(text);
  md.supportThemeIcons = false;
  return md;
}
