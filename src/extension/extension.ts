import * as vscode from 'vscode';
import { CONFIG_FILE_GLOB, ConfigFileCodeLens, runConfigFile } from './configFileUi';
import { enableGpuTraining } from './gpu';
import { nativeModuleDir } from './gpuInstall';
import { extraModuleDirs, workerLaunch } from './launch';
import { LiveUi } from './liveUi';
import { newRun } from './newRun';
import {
  deleteRuns,
  duplicateAsConfig,
  editNote,
  exportRunCommand,
  packRunCommand,
  unpackRunCommand,
  filterRuns,
  groupRunsBy,
  openRunFolder,
  renameRun,
  rerun,
  resumeRun,
  setStarred,
  showRunLog,
  stopRun,
} from './runCommands';
import { RunManager } from '../queue/runManager';
import { NO_FILTER } from './runsModel';
import { RunsTreeProvider } from './runsTree';
import type { Services } from './services';
import { readSettings, SECTION, type Settings } from './settings';
import { StoreHolder } from './storeHolder';
import { cancelQueuedRuns, cancelSweep, deleteSweep, newSweep, retrySweep, setQueuePaused, startSweep, SweepFileCodeLens } from './sweepCommands';
import { SWEEP_FILE_GLOB } from './sweepFiles';
import { Webviews } from '../webviews/panels';
import { panelHost } from './panelHost';

let services: Services | undefined;

/**
 * Wires the host logic to VS Code. Everything created here is disposed through context.subscriptions;
 * the run manager is shut down in deactivate() (queued runs stay queued in the database for the next
 * runner, running workers keep training and the next window shows them from the store).
 */
export function activate(context: vscode.ExtensionContext): Services {
  const settings = (): Settings => readSettings(vscode.workspace.getConfiguration(SECTION), vscode.workspace.workspaceFolders?.[0]?.uri.fsPath);
  const nativeDir = nativeModuleDir(context.globalStorageUri.fsPath);
  const log = vscode.window.createOutputChannel('Contrastive Lab', { log: true });
  const stores = new StoreHolder(() => settings().dbPath);
  const partial = { context, settings };
  const manager = new RunManager({
    launch: () => workerLaunch(partial),
    maxConcurrentRuns: () => settings().maxConcurrentRuns,
    extraModuleDirs: () => extraModuleDirs(nativeDir),
    onQueueError: (dbPath, e) => log.warn(`the run queue of ${dbPath}: ${e instanceof Error ? e.message : String(e)}`),
  });
  // This window drains the queue of the database it shows, when no other window or CLI does. Also in
  // Restricted Mode: the queue holds runs the user queued (New Run…, the CLI, a trusted window's config
  // files), the database path comes from user settings there, and the workspace's own files never
  // enter the queue untrusted (Run Config File and Start Sweep refuse).
  let watched: string | undefined;
  const watchQueue = () => {
    const db = settings().dbPath;
    if (watched !== undefined && watched !== db) void manager.unwatch(watched);
    watched = db;
    void manager.watch(db).then(() => manager.resumeDraining(), () => undefined);
  };
  // The tree marks runs that have a log (for "Show Run Log"); the logs live in LiveUi, which needs the tree.
  const logs = { has: (_id: number) => false };
  const tree = new RunsTreeProvider(stores, manager, { workspace: context.workspaceState, global: context.globalState }, (id) => logs.has(id));
  const live = new LiveUi(manager, tree, () => settings().dbPath);
  logs.has = (id) => live.hasLog(id);
  const s: Services = { context, settings, manager, stores, tree, live, log, nativeDir };
  services = s;

  const treeView = vscode.window.createTreeView('contrastiveLab.runs', { treeDataProvider: tree, canSelectMany: true, showCollapseAll: false });
  tree.attach(treeView);
  const codeLens = new ConfigFileCodeLens();
  const sweepLens = new SweepFileCodeLens(s);
  const webviews = new Webviews(panelHost(s));

  const commands: Record<string, (...args: never[]) => unknown> = {
    'contrastiveLab.newRun': (preset?: unknown) => newRun(s, preset),
    'contrastiveLab.runConfigFile': (uri?: unknown, uris?: unknown) => runConfigFile(s, uri, uris),
    'contrastiveLab.stopRun': (node?: never, nodes?: unknown) => stopRun(s, node, nodes),
    'contrastiveLab.rerun': (node?: never, nodes?: unknown) => rerun(s, node, nodes),
    'contrastiveLab.resumeRun': (node?: never, nodes?: unknown) => resumeRun(s, node, nodes),
    'contrastiveLab.duplicateAsConfig': (node?: never) => duplicateAsConfig(s, node),
    'contrastiveLab.deleteRuns': (node?: never, nodes?: unknown) => deleteRuns(s, node, nodes),
    'contrastiveLab.openRunFolder': (node?: never) => openRunFolder(s, node),
    'contrastiveLab.exportRun': (node?: never) => exportRunCommand(s, node),
    'contrastiveLab.packRun': (node?: never) => packRunCommand(s, node),
    'contrastiveLab.unpackRun': (file?: never) => unpackRunCommand(s, file),
    'contrastiveLab.enableGpuTraining': (choice?: never) => enableGpuTraining(s, choice),
    'contrastiveLab.refreshRuns': () => tree.refresh(true),
    'contrastiveLab.filterRuns': () => filterRuns(s),
    'contrastiveLab.clearRunFilter': () => tree.setFilter(NO_FILTER),
    'contrastiveLab.groupRunsBy': (by?: never) => groupRunsBy(s, by),
    'contrastiveLab.starRun': (node?: never, nodes?: unknown) => setStarred(s, true, node, nodes),
    'contrastiveLab.unstarRun': (node?: never, nodes?: unknown) => setStarred(s, false, node, nodes),
    'contrastiveLab.renameRun': (node?: never) => renameRun(s, node),
    'contrastiveLab.editRunNote': (node?: never) => editNote(s, node),
    'contrastiveLab.showRunLog': (node?: never) => showRunLog(s, node),
    'contrastiveLab.newSweep': (study?: never) => newSweep(s, study),
    'contrastiveLab.startSweep': (uri?: never) => startSweep(s, uri),
    'contrastiveLab.cancelSweep': (node?: never) => cancelSweep(s, node),
    'contrastiveLab.retrySweep': (node?: never) => retrySweep(s, node),
    'contrastiveLab.deleteSweep': (node?: never) => deleteSweep(s, node),
    'contrastiveLab.pauseQueue': () => setQueuePaused(s, true),
    'contrastiveLab.cancelQueuedRuns': () => cancelQueuedRuns(s),
    'contrastiveLab.resumeQueue': () => setQueuePaused(s, false),
    ...webviews.commands,
  };

  context.subscriptions.push(
    log,
    treeView,
    tree,
    live,
    codeLens,
    vscode.languages.registerCodeLensProvider({ pattern: CONFIG_FILE_GLOB }, codeLens),
    sweepLens,
    vscode.languages.registerCodeLensProvider({ pattern: SWEEP_FILE_GLOB }, sweepLens),
    ...Object.entries(commands).map(([id, fn]) => vscode.commands.registerCommand(id, report(log, id, fn))),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration(`${SECTION}.databasePath`)) {
        void tree.refresh(true);
        watchQueue();
      }
      if (e.affectsConfiguration(`${SECTION}.maxConcurrentRuns`)) manager.reschedule();
    }),
    vscode.workspace.onDidGrantWorkspaceTrust(() => {
      void tree.refresh(true);
      watchQueue();
    }),
    { dispose: () => void stores.dispose() },
    ...webviews.register(),
  );
  void vscode.commands.executeCommand('setContext', 'contrastiveLab.groupBy', tree.groupBy);
  tree.start();
  watchQueue();
  return s;
}

/** An error thrown by a command is shown to the user and logged, never lost. */
function report<A extends unknown[]>(log: vscode.LogOutputChannel, id: string, fn: (...args: A) => unknown) {
  return async (...args: A) => {
    try {
      return await fn(...args);
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      log.error(`${id}: ${e instanceof Error && e.stack ? e.stack : message}`);
      void vscode.window.showErrorMessage(`Contrastive Lab: ${message}`);
      return undefined;
    }
  };
}

export async function deactivate(): Promise<void> {
  const s = services;
  services = undefined;
  await s?.manager.dispose();
}
