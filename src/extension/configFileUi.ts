import * as vscode from 'vscode';
import { startFromConfigFile } from './configFiles';
import type { Services } from './services';

export const CONFIG_FILE_GLOB = '**/*.clrun.json';

/**
 * Run Config File: from the editor title, the explorer (several files at once), the CodeLens at the top
 * of a *.clrun.json file, or the palette (the active file, else a pick of the workspace's config files).
 * Unsaved edits count: the open document's text is what runs. Resolves to the ids of the runs started.
 */
export async function runConfigFile(s: Services, uri?: unknown, uris?: unknown): Promise<number[]> {
  let files = (Array.isArray(uris) && uris.length ? uris : uri instanceof vscode.Uri ? [uri] : []).filter((u): u is vscode.Uri => u instanceof vscode.Uri);
  if (!files.length && typeof uri === 'string') files = [vscode.Uri.file(uri)];
  if (!files.length) {
    const active = vscode.window.activeTextEditor?.document.uri;
    if (active?.path.endsWith('.clrun.json')) files = [active];
  }
  if (!files.length) {
    const found = await vscode.workspace.findFiles(CONFIG_FILE_GLOB, '**/node_modules/**', 200);
    if (!found.length) {
      const create = 'New Run…';
      const pick = await vscode.window.showInformationMessage('Contrastive Lab: there are no *.clrun.json run config files in this workspace. New Run… can save one.', create);
      if (pick === create) await vscode.commands.executeCommand('contrastiveLab.newRun');
      return [];
    }
    const picked = await vscode.window.showQuickPick(
      found.map((u) => ({ label: vscode.workspace.asRelativePath(u), u })),
      { placeHolder: 'Run config file to run' },
    );
    if (!picked) return [];
    files = [picked.u];
  }
  const ids: number[] = [];
  for (const file of files) {
    const out = await startFromConfigFile(file.fsPath, {
      isTrusted: () => vscode.workspace.isTrusted,
      readText: async () => (await vscode.workspace.openTextDocument(file)).getText(),
      manager: s.manager,
      dbPath: () => s.settings().dbPath,
      prefs: () => ({ backend: s.settings().backend }),
    });
    if (out.kind === 'untrusted') {
      const manage = 'Manage Workspace Trust';
      const pick = await vscode.window.showWarningMessage(out.message, manage);
      if (pick === manage) await vscode.commands.executeCommand('workbench.trust.manage');
      return ids; // the same answer for every other file
    }
    if (out.kind === 'invalid') {
      s.log.error(out.message);
      const show = 'Show Details';
      void vscode.window
        .showErrorMessage(`Contrastive Lab: ${vscode.workspace.asRelativePath(file)}: ${out.message.split('\n').slice(0, 3).join(' ')}`, show)
        .then((p) => p === show && s.log.show(true));
      continue;
    }
    ids.push(out.runId);
    vscode.window.setStatusBarMessage(`Contrastive Lab: started “${out.config.name}” from ${vscode.workspace.asRelativePath(file)}`, 5000);
  }
  if (ids.length) void s.tree.reveal(ids[ids.length - 1]);
  return ids;
}

/** "Run" at the top of every *.clrun.json file; in Restricted Mode it says why it cannot. */
export class ConfigFileCodeLens implements vscode.CodeLensProvider, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeCodeLenses = this.changed.event;
  private readonly trustSub = vscode.workspace.onDidGrantWorkspaceTrust(() => this.changed.fire());

  provideCodeLenses(doc: vscode.TextDocument): vscode.CodeLens[] {
    const top = new vscode.Range(0, 0, 0, 0);
    if (!vscode.workspace.isTrusted)
      return [new vscode.CodeLens(top, { title: '$(shield) Running is disabled in Restricted Mode', command: 'workbench.trust.manage', tooltip: 'Trust this workspace to run its config files' })];
    return [
      new vscode.CodeLens(top, { title: '$(play) Run', command: 'contrastiveLab.runConfigFile', arguments: [doc.uri], tooltip: 'Train this run config in a worker process (Contrastive Lab)' }),
    ];
  }

  dispose(): void {
    this.trustSub.dispose();
    this.changed.dispose();
  }
}
