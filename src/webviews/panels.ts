import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { RunStore } from '../store/store';
import { AnalysisClient } from './analysis/client';
import { AugmentClient } from './augment/client';
import { AugmentController } from './controllers/augment';
import { CompareController } from './controllers/compare';
import { DashboardController } from './controllers/dashboard';
import { EmbeddingsController } from './controllers/embeddings';
import { SweepController } from './controllers/sweep';
import type { Controller, PanelDeps } from './controllers/types';
import { PANEL_BUNDLES, webviewHtml, type PanelKind } from './html';
import { AUGMENT_VIEW_TYPE, isAugmentState } from './protocol/augment';
import { COMPARE_VIEW_TYPE, isCompareState } from './protocol/compare';
import { DASHBOARD_VIEW_TYPE, isDashboardState } from './protocol/dashboard';
import { EMBEDDINGS_VIEW_TYPE, isEmbeddingsState } from './protocol/embeddings';
import { isSweepState, SWEEP_VIEW_TYPE } from './protocol/sweep';
import { progressLine } from '../store/sweeps';

/**
 * The panels, VS Code side: commands that open them (from the Runs view, the palette, or with run
 * ids), one WebviewPanelSerializer each so they come back after a reload (from the state the webview
 * saved with setState), and the wiring of each webview to its controller. Everything else lives in the
 * controllers, which do not import vscode.
 */

const VIEW_TYPES: Record<PanelKind, string> = { dashboard: DASHBOARD_VIEW_TYPE, embeddings: EMBEDDINGS_VIEW_TYPE, augmentations: AUGMENT_VIEW_TYPE, compare: COMPARE_VIEW_TYPE, sweep: SWEEP_VIEW_TYPE };

/**
 * What the panels need from the extension, passed in by activate(): the panels import nothing from
 * src/extension, so the Runs view, the run manager and the settings can change without touching them.
 */
export interface PanelHost {
  /** The extension's folder (dist/webview, the analysis and augmentation workers, media/). */
  extensionUri: vscode.Uri;
  store(): Promise<RunStore>;
  dbPath(): string;
  onWorkerEvent: NonNullable<PanelDeps['onWorkerEvent']>;
  log(message: string): void;
  /** The dataset the augmentation preview shows when no run is given. */
  defaultDataset(): string;
  /** The recorded runs for a quick pick, newest first, read afresh. */
  runChoices(): Promise<{ id: number; name: string; description: string }[]>;
  /** A run's name, when the Runs view knows it. */
  runName(id: number): string | undefined;
  /** The run a command argument names: a run id, or a Runs-view node of a run. */
  runIdOf(target: unknown): number | undefined;
}

/** A sweep id from a command argument: a number, or a Runs-view sweep node (`{ kind: 'sweep', sweep: { id } }`). */
export function sweepIdOf(arg: unknown): number | undefined {
  if (typeof arg === 'number') return Number.isInteger(arg) && arg > 0 ? arg : undefined;
  const node = arg as { kind?: unknown; sweep?: { id?: unknown } } | undefined;
  const id = node?.kind === 'sweep' ? node.sweep?.id : undefined;
  return typeof id === 'number' && Number.isInteger(id) && id > 0 ? id : undefined;
}

function idsOf(host: PanelHost, node: unknown, nodes: unknown): number[] {
  const list = Array.isArray(nodes) && nodes.length ? (nodes as unknown[]) : node !== undefined ? [node] : [];
  return list.flatMap((n) => {
    const id = typeof n === 'number' ? n : host.runIdOf(n);
    return id === undefined ? [] : [id];
  });
}

async function pickRuns(host: PanelHost, placeholder: string, many: boolean): Promise<number[]> {
  const items = (await host.runChoices()).map((r) => ({ label: r.name, description: r.description, detail: `#${r.id}`, id: r.id }));
  if (!items.length) {
    void vscode.window.showInformationMessage('Contrastive Lab: there are no runs yet.');
    return [];
  }
  if (many) return ((await vscode.window.showQuickPick(items, { placeHolder: placeholder, canPickMany: true, matchOnDescription: true })) ?? []).map((i) => i.id);
  const one = await vscode.window.showQuickPick(items, { placeHolder: placeholder, matchOnDescription: true });
  return one ? [one.id] : [];
}

export class Webviews implements vscode.Disposable {
  private readonly open = new Map<string, vscode.WebviewPanel>();
  private analysisClient?: AnalysisClient;
  private augmentClient?: AugmentClient;

  constructor(private readonly host: PanelHost) {}

  /** The only folder the webviews may load from (localResourceRoots). */
  private get root(): vscode.Uri {
    return vscode.Uri.joinPath(this.host.extensionUri, 'dist', 'webview');
  }

  private get analysis(): AnalysisClient {
    return (this.analysisClient ??= new AnalysisClient(vscode.Uri.joinPath(this.host.extensionUri, 'dist', 'analysis-worker.js').fsPath));
  }
  private get augment(): AugmentClient {
    return (this.augmentClient ??= new AugmentClient(vscode.Uri.joinPath(this.host.extensionUri, 'dist', 'augment-worker.js').fsPath));
  }

  /** Commands and serializers, for context.subscriptions. */
  register(): vscode.Disposable[] {
    const restore = <S>(isState: (v: unknown) => v is S, open: (panel: vscode.WebviewPanel, state: S) => void): vscode.WebviewPanelSerializer => ({
      deserializeWebviewPanel: async (panel, state) => {
        if (isState(state)) open(panel, state);
        else panel.dispose(); // nothing to show: the webview never said what it was showing
      },
    });
    return [
      vscode.window.registerWebviewPanelSerializer(DASHBOARD_VIEW_TYPE, restore(isDashboardState, (p, st) => this.dashboard(st.runId, p))),
      vscode.window.registerWebviewPanelSerializer(EMBEDDINGS_VIEW_TYPE, restore(isEmbeddingsState, (p, st) => this.embeddings(st.runId, p))),
      vscode.window.registerWebviewPanelSerializer(AUGMENT_VIEW_TYPE, restore(isAugmentState, (p, st) => this.augmentations(st.runId, p, st.dataset))),
      vscode.window.registerWebviewPanelSerializer(COMPARE_VIEW_TYPE, restore(isCompareState, (p, st) => this.compare(st.runIds, p))),
      vscode.window.registerWebviewPanelSerializer(SWEEP_VIEW_TYPE, restore(isSweepState, (p, st) => this.sweep(st.sweepId, p))),
      this,
    ];
  }

  /** Command handlers: a tree node (and the multi-selection), run id(s), or nothing (then a quick pick). */
  readonly commands = {
    'contrastiveLab.openDashboard': async (node?: unknown, nodes?: unknown) => {
      const ids = idsOf(this.host, node, nodes);
      for (const id of ids.length ? ids : await pickRuns(this.host, 'Run to show', false)) this.dashboard(id);
    },
    'contrastiveLab.showEmbeddings': async (node?: unknown) => {
      const [id] = idsOf(this.host, node, undefined).length ? idsOf(this.host, node, undefined) : await pickRuns(this.host, 'Run whose embeddings to explore', false);
      if (id !== undefined) this.embeddings(id);
    },
    'contrastiveLab.previewAugmentations': (node?: unknown) => {
      const [id] = idsOf(this.host, node, undefined);
      this.augmentations(id ?? null);
    },
    'contrastiveLab.compareRuns': async (node?: unknown, nodes?: unknown) => {
      let ids = idsOf(this.host, node, nodes);
      if (ids.length < 2) ids = [...new Set([...ids, ...(await pickRuns(this.host, 'Runs to compare (two or more)', true))])];
      if (ids.length < 2) {
        if (ids.length) void vscode.window.showInformationMessage('Contrastive Lab: choose two or more runs to compare.');
        return;
      }
      this.compare(ids.slice(0, 8));
    },
    /** A sweep id or a Runs-view sweep node; nothing: a quick pick of the database's sweeps. */
    'contrastiveLab.openSweep': async (arg?: unknown) => {
      const id = sweepIdOf(arg) ?? (await this.pickSweep());
      if (id !== undefined) this.sweep(id);
    },
  };

  private deps(panel: vscode.WebviewPanel): PanelDeps {
    return {
      store: () => this.host.store(),
      post: (m) => void panel.webview.postMessage(m),
      title: (t) => (panel.title = t),
      onWorkerEvent: (l) => this.host.onWorkerEvent(l),
      dbPath: () => this.host.dbPath(),
      log: (m) => this.host.log(m),
    };
  }

  private runName(id: number): string {
    return this.host.runName(id) ?? `Run #${id}`;
  }

  /** Reveals the panel already showing `key`, or sets one up (a new one, or one VS Code restored). */
  private show(kind: PanelKind, key: string, title: string, make: (deps: PanelDeps) => Controller, restored?: vscode.WebviewPanel): void {
    const existing = this.open.get(`${kind}:${key}`);
    if (existing && !restored) {
      existing.reveal();
      return;
    }
    const options = { enableScripts: true, localResourceRoots: [this.root] };
    const panel = restored ?? vscode.window.createWebviewPanel(VIEW_TYPES[kind], title, vscode.ViewColumn.Active, options);
    panel.webview.options = options;
    panel.title = title;
    panel.iconPath = vscode.Uri.joinPath(this.host.extensionUri, 'media', 'contrastive-lab.svg');
    const bundle = PANEL_BUNDLES[kind];
    panel.webview.html = webviewHtml({
      cspSource: panel.webview.cspSource,
      nonce: randomBytes(16).toString('base64'),
      scriptUri: panel.webview.asWebviewUri(vscode.Uri.joinPath(this.root, `${bundle}.js`)).toString(),
      styleUri: panel.webview.asWebviewUri(vscode.Uri.joinPath(this.root, `${bundle}.css`)).toString(),
      title,
    });
    const controller = make(this.deps(panel));
    this.open.set(`${kind}:${key}`, panel);
    const subs = [
      panel.webview.onDidReceiveMessage((m: unknown) => controller.handle(m)),
      panel.onDidDispose(() => {
        controller.dispose();
        if (this.open.get(`${kind}:${key}`) === panel) this.open.delete(`${kind}:${key}`);
        subs.forEach((d) => d.dispose());
      }),
    ];
  }

  dashboard(runId: number, restored?: vscode.WebviewPanel): void {
    const actions = {
      stop: (id: number) => vscode.commands.executeCommand('contrastiveLab.stopRun', id),
      resume: (id: number) => vscode.commands.executeCommand('contrastiveLab.resumeRun', id),
      rerun: async (id: number) => {
        const ids = (await vscode.commands.executeCommand<number[] | undefined>('contrastiveLab.rerun', id)) ?? [];
        for (const n of ids) this.dashboard(n);
      },
      openEmbeddings: (id: number) => this.embeddings(id),
      openAugmentations: (id: number) => this.augmentations(id),
    };
    this.show('dashboard', String(runId), `Dashboard: ${this.runName(runId)}`, (d) => new DashboardController(runId, d, actions), restored);
  }

  embeddings(runId: number, restored?: vscode.WebviewPanel): void {
    this.show('embeddings', String(runId), `Embeddings: ${this.runName(runId)}`, (d) => new EmbeddingsController(runId, d, this.analysis), restored);
  }

  augmentations(runId: number | null, restored?: vscode.WebviewPanel, dataset?: string): void {
    const title = runId === null ? 'Augmentation Preview' : `Augmentations: ${this.runName(runId)}`;
    this.show('augmentations', String(runId), title, (d) => new AugmentController(runId, d, this.augment, dataset ?? this.host.defaultDataset()), restored);
  }

  compare(runIds: number[], restored?: vscode.WebviewPanel): void {
    this.show('compare', runIds.join(','), `Compare ${runIds.map((id) => `#${id}`).join(', ')}`, (d) => new CompareController(runIds, d, this.analysis), restored);
  }

  /** The sweep view; a cell's runs open in Compare (one run: its dashboard), a run in its dashboard, the CSV through a save dialog. */
  sweep(sweepId: number, restored?: vscode.WebviewPanel): void {
    const actions = {
      compare: (ids: number[]) => (ids.length > 1 ? this.compare(ids) : this.dashboard(ids[0])),
      openRun: (id: number) => this.dashboard(id),
      saveCsv: async (fileName: string, text: string) => {
        const base = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
        const uri = await vscode.window.showSaveDialog({
          defaultUri: base ? vscode.Uri.file(path.join(base, fileName)) : undefined,
          filters: { CSV: ['csv'] },
          saveLabel: 'Export CSV',
          title: 'Export Sweep as CSV',
        });
        if (!uri) return undefined;
        await vscode.workspace.fs.writeFile(uri, Buffer.from(text, 'utf8'));
        return uri.fsPath;
      },
    };
    this.show('sweep', String(sweepId), `Sweep #${sweepId}`, (d) => new SweepController(sweepId, d, actions), restored);
  }

  private async pickSweep(): Promise<number | undefined> {
    const sweeps = await (await this.host.store()).listSweeps();
    if (!sweeps.length) {
      void vscode.window.showInformationMessage('Contrastive Lab: there are no sweeps yet.');
      return undefined;
    }
    const items = sweeps.map((sw) => ({ label: sw.name, description: progressLine(sw), detail: `#${sw.id}`, id: sw.id }));
    return (await vscode.window.showQuickPick(items, { placeHolder: 'Sweep to show', matchOnDescription: true }))?.id;
  }

  dispose(): void {
    for (const p of [...this.open.values()]) p.dispose();
    this.analysisClient?.dispose();
    this.augmentClient?.dispose();
  }
}
