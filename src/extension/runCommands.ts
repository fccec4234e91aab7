import { existsSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { exportRun } from '../store/export';
import { resolveRecordedConfig } from '../core/config';
import { describeResumePoint } from '../store/resume';
import { packRun, PackError, unpackRun } from '../store/pack';
import { runFolder } from '../store/store';
import { configFileText, resolveOrThrow, suggestedFileName } from './newRunModel';
import { describeRun, GROUP_BY, isLive, methodLabel, STATUS_LABEL, STATUS_ORDER, type GroupBy, type RunView, type ShownStatus } from './runsModel';
import { isResumableStatus } from '../store/resume';
import type { RunsNode } from './runsTree';
import type { Services } from './services';

/**
 * Commands on recorded runs. Each takes the clicked tree node (and the multi-selection), or a run id
 * (automation), and from the Command Palette asks which run.
 */

type Target = RunsNode | number | undefined;

interface PickOptions {
  placeholder: string;
  filter?: (v: RunView) => boolean;
  many?: boolean;
  none: string;
}

async function targets(s: Services, node: Target, nodes: unknown, o: PickOptions): Promise<RunView[]> {
  const given = (Array.isArray(nodes) && nodes.length ? (nodes as Target[]) : node !== undefined ? [node] : []).flatMap((n) => {
    const id = typeof n === 'number' ? n : n?.kind === 'run' ? n.view.row.id : undefined;
    return id === undefined ? [] : [id];
  });
  if (given.length) {
    await s.tree.refresh();
    return given.map((id) => s.tree.find(id)).filter((v): v is RunView => !!v);
  }
  await s.tree.refresh();
  const candidates = s.tree.all().filter(o.filter ?? (() => true));
  if (!candidates.length) {
    void vscode.window.showInformationMessage(o.none);
    return [];
  }
  const items = candidates.map((v) => ({ label: v.row.name, description: describeRun(v), detail: `#${v.row.id} · ${STATUS_LABEL[v.status]}`, v }));
  if (o.many) return ((await vscode.window.showQuickPick(items, { placeHolder: o.placeholder, canPickMany: true, matchOnDescription: true })) ?? []).map((i) => i.v);
  const one = await vscode.window.showQuickPick(items, { placeHolder: o.placeholder, matchOnDescription: true, matchOnDetail: true });
  return one ? [one.v] : [];
}

export async function stopRun(s: Services, node?: Target, nodes?: unknown): Promise<void> {
  const runs = await targets(s, node, nodes, { placeholder: 'Run to stop', filter: (v) => isLive(v.status), many: true, none: 'No run is queued or running.' });
  for (const v of runs) {
    const r = await s.manager.stop(s.settings().dbPath, v.row.id);
    if (r.kind === 'stopping' || r.kind === 'dequeued' || r.kind === 'signalled') vscode.window.setStatusBarMessage(`Contrastive Lab: ${r.message}`, 5000);
    else void vscode.window.showWarningMessage(`Contrastive Lab: ${r.message}`);
  }
  await s.tree.refresh();
}

export async function rerun(s: Services, node?: Target, nodes?: unknown): Promise<number[]> {
  const runs = await targets(s, node, nodes, { placeholder: 'Run to start again with the same config', none: 'There are no runs yet.' });
  const ids: number[] = [];
  for (const v of runs) {
    try {
      // Re-validated: a config recorded by an older version may no longer be accepted.
      const config = resolveOrThrow(v.row.config as unknown as Record<string, unknown>, { recorded: true });
      ids.push(await s.manager.enqueue(config, { dbPath: s.settings().dbPath, cwd: vscode.workspace.workspaceFolders?.[0]?.uri.fsPath }));
    } catch (e) {
      void vscode.window.showErrorMessage(`Contrastive Lab: cannot rerun “${v.row.name}”: ${(e as Error).message}`);
    }
  }
  if (ids.length) void s.tree.reveal(ids[ids.length - 1]);
  return ids;
}


/**
 * Continues runs from where they were stopped (a crashed or failed one from its last finished epoch), with their recorded config. Like Rerun it works in
 * Restricted Mode: nothing is read from the workspace, and the settings that name executables come from
 * the user settings there.
 */
export async function resumeRun(s: Services, node?: Target, nodes?: unknown): Promise<number[]> {
  const runs = await targets(s, node, nodes, { placeholder: 'Run to continue where it left off', filter: (v) => isResumableStatus(v.status), none: 'No cancelled, failed or crashed run to resume.' });
  const ids: number[] = [];
  for (const v of runs) {
    try {
      await s.manager.resume(v.row.id, { dbPath: s.settings().dbPath, cwd: vscode.workspace.workspaceFolders?.[0]?.uri.fsPath });
      ids.push(v.row.id);
    } catch (e) {
      void vscode.window.showErrorMessage(`Contrastive Lab: cannot resume “${v.row.name}”: ${(e as Error).message}`);
    }
  }
  if (ids.length) await s.tree.refresh();
  return ids;
}

export async function duplicateAsConfig(s: Services, node?: Target): Promise<vscode.Uri | undefined> {
  const [v] = await targets(s, node, undefined, { placeholder: 'Run whose config to save as a file', none: 'There are no runs yet.' });
  if (!v) return undefined;
  const base = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  // The full recorded config: every default spelled out, so the file reproduces this run even if defaults change
  // (fields added since the run was recorded at their legacy values: what it trained with, recipe paper included).
  const recorded = v.row.config as unknown as Record<string, unknown>;
  const raw = { ...((resolveRecordedConfig(recorded).config as unknown as Record<string, unknown> | undefined) ?? recorded) };
  const name = suggestedFileName({ name: raw.name });
  let uri = await vscode.window.showSaveDialog({
    defaultUri: base ? vscode.Uri.file(path.join(base, name)) : undefined,
    filters: { 'Contrastive Lab run config': ['clrun.json'] },
    saveLabel: 'Save Run Config',
    title: `Duplicate “${v.row.name}” as Config File`,
  });
  if (!uri) return undefined;
  if (!uri.path.endsWith('.clrun.json')) uri = uri.with({ path: uri.path.replace(/(\.json)?$/, '.clrun.json') });
  await vscode.workspace.fs.writeFile(uri, Buffer.from(configFileText(raw)));
  await vscode.window.showTextDocument(uri, { preview: false });
  return uri;
}

/** Removes the run's folder (checkpoints, worker log) and any recorded artifact inside the database's artifacts folder. */
function removeRunFiles(dbPath: string, runId: number, artifacts: { path: string }[]): void {
  const folder = runFolder(dbPath, runId);
  const root = path.dirname(folder);
  rmSync(folder, { recursive: true, force: true });
  for (const a of artifacts) {
    const p = path.resolve(path.dirname(dbPath), a.path);
    // Never delete outside our own artifacts folder, whatever a row says.
    if (p.startsWith(root + path.sep)) rmSync(p, { recursive: true, force: true });
  }
}

export async function deleteRuns(s: Services, node?: Target, nodes?: unknown): Promise<number> {
  const runs = await targets(s, node, nodes, { placeholder: 'Runs to delete', many: true, none: 'There are no runs to delete.' });
  const live = runs.filter((v) => isLive(v.status));
  const victims = runs.filter((v) => !isLive(v.status));
  if (live.length)
    void vscode.window.showWarningMessage(`Contrastive Lab: ${live.map((v) => `“${v.row.name}”`).join(', ')} ${live.length === 1 ? 'is' : 'are'} still queued or running: stop ${live.length === 1 ? 'it' : 'them'} first.`);
  if (!victims.length) return 0;
  const what = victims.length === 1 ? `run “${victims[0].row.name}”` : `${victims.length} runs`;
  const ok = await vscode.window.showWarningMessage(
    `Delete ${what}?`,
    { modal: true, detail: `Its metrics, evaluations, embeddings and checkpoint files are removed from ${s.settings().dbPath} and its artifacts folder. This cannot be undone.` },
    'Delete',
  );
  if (ok !== 'Delete') return 0;
  const store = await s.stores.get();
  let deleted = 0;
  for (const v of victims) {
    try {
      const artifacts = await store.deleteRun(v.row.id);
      removeRunFiles(store.path, v.row.id, artifacts);
      s.live.disposeLog(v.row.id);
      deleted++;
    } catch (e) {
      void vscode.window.showErrorMessage(`Contrastive Lab: could not delete “${v.row.name}”: ${(e as Error).message}`);
    }
  }
  await s.tree.refresh(true);
  return deleted;
}

export async function openRunFolder(s: Services, node?: Target): Promise<void> {
  const [v] = await targets(s, node, undefined, { placeholder: 'Run whose folder to open', none: 'There are no runs yet.' });
  if (!v) return;
  const folder = runFolder(s.settings().dbPath, v.row.id);
  if (!existsSync(folder)) {
    void vscode.window.showInformationMessage(`Run “${v.row.name}” has no files yet: checkpoints are written at the end of a run (or every contrastiveLab checkpointEvery epochs). Its folder will be ${folder}.`);
    return;
  }
  await vscode.commands.executeCommand('revealFileInOS', vscode.Uri.file(folder));
}

export async function exportRunCommand(s: Services, node?: Target): Promise<string | undefined> {
  const [v] = await targets(s, node, undefined, { placeholder: 'Run to export', none: 'There are no runs to export.' });
  if (!v) return undefined;
  const base = vscode.workspace.workspaceFolders?.[0]?.uri;
  const dest = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, defaultUri: base, openLabel: 'Export Here', title: `Export “${v.row.name}”: metrics.csv, evals.csv, embeddings.tsv + metadata.tsv` });
  if (!dest?.length) return undefined;
  const outDir = path.join(dest[0].fsPath, `run-${v.row.id}-export`);
  const store = await s.stores.get();
  const messages: string[] = [];
  // The same code as `clab export`, reporting to our log instead of the terminal.
  const code = await exportRun(store, v.row.id, outDir, undefined, {
    info: (m) => (s.log.info(m), messages.push(m)),
    error: (m) => (s.log.error(m), messages.push(m)),
  });
  if (code !== 0) {
    void vscode.window.showErrorMessage(`Contrastive Lab: export failed: ${messages.join('; ')}`);
    return undefined;
  }
  const reveal = 'Reveal in File Explorer';
  void vscode.window.showInformationMessage(`Contrastive Lab: ${messages.join('; ')}`, reveal).then((p) => p === reveal && vscode.commands.executeCommand('revealFileInOS', vscode.Uri.file(outDir)));
  return outDir;
}

/** Pack Run…: the run in one .clabrun file (`clab pack`), to unpack on another machine or into another database. */
export async function packRunCommand(s: Services, node?: Target): Promise<string | undefined> {
  const [v] = await targets(s, node, undefined, { placeholder: 'Run to pack', none: 'There are no runs to pack.' });
  if (!v) return undefined;
  const base = vscode.workspace.workspaceFolders?.[0]?.uri;
  const dest = await vscode.window.showSaveDialog({
    defaultUri: base ? vscode.Uri.joinPath(base, `run-${v.row.id}.clabrun`) : undefined,
    filters: { 'Contrastive Lab run': ['clabrun'] },
    saveLabel: 'Pack',
    title: `Pack “${v.row.name}” with its metrics, embeddings, checkpoints and resume state`,
  });
  if (!dest) return undefined;
  try {
    const p = await packRun(await s.stores.get(), s.settings().dbPath, v.row.id, dest.fsPath);
    const mb = (p.bytes / 1e6).toFixed(1);
    s.log.info(`packed run ${v.row.id} into ${p.file} (${mb} MB)`);
    void vscode.window.showInformationMessage(
      `Contrastive Lab: “${v.row.name}” packed into ${path.basename(p.file)} (${mb} MB${p.resume ? `; it resumes ${describeResumePoint(p.resume)}` : ''}). Unpack Run… adds it to another database.`,
    );
    return p.file;
  } catch (e) {
    if (!(e instanceof PackError)) throw e;
    void vscode.window.showErrorMessage(`Contrastive Lab: cannot pack “${v.row.name}”: ${e.message}`);
    return undefined;
  }
}

/** Unpack Run…: adds a packed run to this database under a new id; returns the id. Starts nothing. */
export async function unpackRunCommand(s: Services, file?: unknown): Promise<number | undefined> {
  let fsPath = file instanceof vscode.Uri ? file.fsPath : typeof file === 'string' ? file : undefined;
  if (!fsPath) {
    const picked = await vscode.window.showOpenDialog({ canSelectFiles: true, canSelectMany: false, filters: { 'Contrastive Lab run': ['clabrun'] }, openLabel: 'Unpack', title: 'Unpack a run packed with Pack Run… or clab pack' });
    if (!picked?.length) return undefined;
    fsPath = picked[0].fsPath;
  }
  try {
    const r = await unpackRun(await s.stores.get(), s.settings().dbPath, fsPath);
    s.log.info(`unpacked ${fsPath} as run ${r.runId} (run ${r.from.runId} of ${r.from.database} on ${r.from.host})`);
    await s.tree.refresh(true);
    void vscode.window.showInformationMessage(
      `Contrastive Lab: ${path.basename(fsPath)} added as run ${r.runId} (run ${r.from.runId} on ${r.from.host})${r.resume ? `; Resume continues it ${describeResumePoint(r.resume)}` : ''}.`,
    );
    return r.runId;
  } catch (e) {
    if (!(e instanceof PackError)) throw e;
    void vscode.window.showErrorMessage(`Contrastive Lab: cannot unpack: ${e.message}`);
    return undefined;
  }
}

export async function setStarred(s: Services, starred: boolean, node?: Target, nodes?: unknown): Promise<void> {
  const runs = await targets(s, node, nodes, { placeholder: starred ? 'Run to star' : 'Run to unstar', many: true, filter: (v) => v.row.starred !== starred, none: 'No run to change.' });
  const store = await s.stores.get();
  for (const v of runs) await store.updateRunMeta(v.row.id, { starred });
  await s.tree.refresh();
}

export async function renameRun(s: Services, node?: Target): Promise<void> {
  const [v] = await targets(s, node, undefined, { placeholder: 'Run to rename', none: 'There are no runs yet.' });
  if (!v) return;
  const name = await vscode.window.showInputBox({
    title: 'Rename Run',
    value: v.row.name,
    prompt: `New name for run #${v.row.id}`,
    validateInput: (t) => (t.trim() ? (t.length > 200 ? 'At most 200 characters' : undefined) : 'A run needs a name'),
  });
  if (name === undefined) return;
  await (await s.stores.get()).updateRunMeta(v.row.id, { name: name.trim() });
  await s.tree.refresh();
}

export async function editNote(s: Services, node?: Target): Promise<void> {
  const [v] = await targets(s, node, undefined, { placeholder: 'Run to annotate', none: 'There are no runs yet.' });
  if (!v) return;
  const note = await vscode.window.showInputBox({ title: `Note for “${v.row.name}”`, value: v.row.note ?? '', prompt: 'Shown in the tooltip and searched by the filter; empty removes the note' });
  if (note === undefined) return;
  await (await s.stores.get()).updateRunMeta(v.row.id, { note: note.trim() || null });
  await s.tree.refresh();
}

export async function showRunLog(s: Services, node?: Target): Promise<void> {
  const [v] = await targets(s, node, undefined, { placeholder: 'Run whose log to show', filter: (x) => s.live.hasLog(x.row.id), none: 'Only runs started in this window have a log here; `clab show <id>` prints any run.' });
  if (v && !s.live.showLog(v.row.id)) void vscode.window.showInformationMessage(`Run “${v.row.name}” was not started in this window, so its log is not here.`);
}

export async function filterRuns(s: Services): Promise<void> {
  const f = s.tree.filter;
  const text = await vscode.window.showInputBox({
    title: 'Filter Runs (1/2)',
    value: f.text,
    prompt: 'Words to find in the name, method, dataset, note or #id (empty: any)',
  });
  if (text === undefined) return;
  type Item = vscode.QuickPickItem & { status?: ShownStatus; method?: string; starred?: boolean };
  const methods = [...new Set(s.tree.all().map((v) => v.row.method))];
  const items: Item[] = [
    { label: 'Starred only', starred: true, picked: f.starredOnly },
    { label: 'Status', kind: vscode.QuickPickItemKind.Separator },
    ...STATUS_ORDER.map((st) => ({ label: STATUS_LABEL[st], status: st, picked: f.statuses.includes(st) })),
    { label: 'Method', kind: vscode.QuickPickItemKind.Separator },
    ...methods.map((m) => ({ label: methodLabel(m), description: m, method: m, picked: f.methods.includes(m) })),
  ];
  const picked = await vscode.window.showQuickPick(items, { title: 'Filter Runs (2/2)', canPickMany: true, placeHolder: 'Show only runs with these statuses and methods (none checked: all)' });
  if (!picked) return;
  s.tree.setFilter({
    text: text.trim(),
    starredOnly: picked.some((i) => i.starred),
    statuses: picked.flatMap((i) => (i.status ? [i.status] : [])),
    methods: picked.flatMap((i) => (i.method ? [i.method] : [])),
  });
}

export async function groupRunsBy(s: Services, by?: GroupBy): Promise<void> {
  if (!by || !GROUP_BY.includes(by)) {
    const labels: Record<GroupBy, string> = { none: 'No Grouping', status: 'Status', method: 'Method', dataset: 'Dataset' };
    const items = GROUP_BY.map((g) => ({ label: labels[g], description: g === s.tree.groupBy ? 'current' : undefined, g }));
    by = (await vscode.window.showQuickPick(items, { placeHolder: 'Group runs by' }))?.g;
  }
  if (by) s.tree.setGroupBy(by);
}
