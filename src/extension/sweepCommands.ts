import { rmSync } from 'node:fs';
import * as vscode from 'vscode';
import { countRuns, parseSweep, type ExpandedSweep } from '../core/sweep';
import { STUDIES, studyFileText } from '../core/studies';
import { describeCost, estimateCost } from '../queue/estimate';
import { runFolder } from '../store/store';
import type { SweepView } from './runsModel';
import type { RunsNode } from './runsTree';
import type { Services } from './services';
import { RESTRICTED_SWEEP_MESSAGE, startSweepFromFile, SWEEP_FILE_GLOB, sweepFromText } from './sweepFiles';

/**
 * Sweeps in the editor: New Sweep… (a built-in study or a blank sweep, written as a *.clsweep.json to
 * edit), Start Sweep (the CodeLens, the editor title, the palette), and the sweep node's actions in the
 * Runs view (open, cancel, retry, delete); Pause/Resume Queue for the whole queue.
 */

export async function newSweep(_s: Services, studyId?: unknown): Promise<vscode.Uri | undefined> {
  let study = STUDIES.find((x) => x.id === studyId);
  if (!study) {
    const pick = await vscode.window.showQuickPick(
      STUDIES.map((x) => ({ label: x.label, detail: x.detail, description: `${countRuns(parseSweep(x.sweep).spec!)} runs`, study: x })),
      { placeHolder: 'A study from the papers, or a blank sweep to edit', matchOnDetail: true },
    );
    if (!pick) return undefined;
    study = pick.study;
  }
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
  const target = await vscode.window.showSaveDialog({
    defaultUri: folder ? vscode.Uri.joinPath(folder, study.fileName) : undefined,
    filters: { 'Contrastive Lab sweep': ['clsweep.json'] },
    saveLabel: 'Save Sweep',
  });
  if (!target) return undefined;
  const uri = target.path.endsWith('.clsweep.json') ? target : target.with({ path: `${target.path.replace(/\.json$/, '')}.clsweep.json` });
  await vscode.workspace.fs.writeFile(uri, Buffer.from(studyFileText(study)));
  await vscode.window.showTextDocument(uri);
  void vscode.window.showInformationMessage(`Contrastive Lab: edit the sweep, then Start Sweep (the line at the top of the file).`);
  return uri;
}

/** Start Sweep: from the CodeLens or editor title (a uri), else the active *.clsweep.json, else a pick. Resolves to the sweep id. */
export async function startSweep(s: Services, uri?: unknown): Promise<number | undefined> {
  let file = uri instanceof vscode.Uri ? uri : typeof uri === 'string' ? vscode.Uri.file(uri) : undefined;
  if (!file) {
    const active = vscode.window.activeTextEditor?.document.uri;
    if (active?.path.endsWith('.clsweep.json')) file = active;
  }
  if (!file) {
    const found = await vscode.workspace.findFiles(SWEEP_FILE_GLOB, '**/node_modules/**', 200);
    if (!found.length) {
      const create = 'New Sweep…';
      if ((await vscode.window.showInformationMessage('Contrastive Lab: there are no *.clsweep.json sweep files in this workspace.', create)) === create) await newSweep(s);
      return undefined;
    }
    const picked = await vscode.window.showQuickPick(
      found.map((u) => ({ label: vscode.workspace.asRelativePath(u), u })),
      { placeHolder: 'Sweep file to start' },
    );
    if (!picked) return undefined;
    file = picked.u;
  }
  const dbPath = s.settings().dbPath;
  const out = await startSweepFromFile(file.fsPath, {
    isTrusted: () => vscode.workspace.isTrusted,
    readText: async () => (await vscode.workspace.openTextDocument(file)).getText(),
    manager: s.manager,
    dbPath: () => dbPath,
    prefs: () => ({ backend: s.settings().backend }),
    confirm: (sweep) => confirmSweep(s, sweep),
  });
  switch (out.kind) {
    case 'untrusted': {
      const manage = 'Manage Workspace Trust';
      if ((await vscode.window.showWarningMessage(out.message, manage)) === manage) await vscode.commands.executeCommand('workbench.trust.manage');
      return undefined;
    }
    case 'invalid': {
      s.log.error(out.message);
      const show = 'Show Details';
      void vscode.window.showErrorMessage(`Contrastive Lab: ${vscode.workspace.asRelativePath(file)}: ${out.message.split('\n').slice(0, 3).join(' ')}`, show).then((p) => p === show && s.log.show(true));
      return undefined;
    }
    case 'declined':
      return undefined;
    case 'started':
      vscode.window.setStatusBarMessage(`Contrastive Lab: sweep “${out.sweep.spec.name}” queued, ${out.runIds.length} runs`, 5000);
      await s.tree.refresh(true);
      if (s.settings().maxConcurrentRuns === 1 && (out.sweep.spec.jobs ?? 1) > 1)
        void vscode.window.showInformationMessage(
          `Contrastive Lab: the sweep asks for ${out.sweep.spec.jobs} runs at a time, but contrastiveLab.maxConcurrentRuns is 1, so its runs train one after another.`,
        );
      return out.sweepId;
  }
}

/** Says what the sweep will cost; a sweep over the limit (contrastiveLab.sweepRunLimit) must be confirmed in a dialog. */
async function confirmSweep(s: Services, sweep: ExpandedSweep): Promise<boolean> {
  const n = sweep.runs.length;
  const jobs = Math.min(s.settings().maxConcurrentRuns, sweep.spec.jobs ?? Infinity);
  let cost: string;
  try {
    cost = describeCost(n, await estimateCost(await s.stores.get(), sweep.runs.map((r) => r.config)), jobs);
  } catch (e) {
    cost = `${n} runs (no estimate: ${(e as Error).message})`;
  }
  const limit = s.settings().sweepRunLimit;
  if (n <= limit) {
    s.log.info(`sweep “${sweep.spec.name}”: ${cost}`);
    return true;
  }
  const go = `Start ${n} Runs`;
  const answer = await vscode.window.showWarningMessage(
    `Sweep “${sweep.spec.name}” makes ${n} runs, more than contrastiveLab.sweepRunLimit (${limit}).`,
    { modal: true, detail: `${cost}.\n\nAxes: ${sweep.axes.map((a) => `${a.name}${a.labels ? ` (${a.labels.length})` : ''}`).join(' × ')}` },
    go,
  );
  return answer === go;
}

function sweepOf(s: Services, node: unknown): SweepView | undefined {
  const n = node as RunsNode | number | undefined;
  if (typeof n === 'number') return s.tree.sweepViews().find((v) => v.sweep.id === n);
  return n?.kind === 'sweep' ? n.sweep : undefined;
}

async function pickSweep(s: Services, node: unknown, placeholder: string): Promise<SweepView | undefined> {
  await s.tree.refresh();
  const given = sweepOf(s, node);
  if (given) return given;
  const all = s.tree.sweepViews();
  if (!all.length) {
    void vscode.window.showInformationMessage('Contrastive Lab: there are no sweeps yet (New Sweep… makes one).');
    return undefined;
  }
  return (await vscode.window.showQuickPick(all.map((v) => ({ label: v.sweep.name, description: `#${v.sweep.id}`, v })), { placeHolder: placeholder }))?.v;
}

/** Cancels the sweep's queued runs and stops its running ones (they save their state: Retry resumes them). */
export async function cancelSweep(s: Services, node?: unknown): Promise<void> {
  const v = await pickSweep(s, node, 'Sweep to cancel');
  if (!v) return;
  const dbPath = s.settings().dbPath;
  const store = await s.stores.get();
  const cancelled = await store.cancelQueued({ sweepId: v.sweep.id });
  // Mirrors of runs this window queued end now, not at the next tick.
  for (const id of cancelled) if (s.manager.get(dbPath, id)) await s.manager.stop(dbPath, id);
  const running = v.runs.filter((r) => r.status === 'running' || r.status === 'starting');
  for (const r of running) await s.manager.stop(dbPath, r.row.id);
  await s.tree.refresh(true);
  vscode.window.setStatusBarMessage(`Contrastive Lab: sweep “${v.sweep.name}”: ${cancelled.length} queued runs cancelled, ${running.length} stopping`, 5000);
}

/** Puts the sweep's failed, cancelled and crashed runs back in the queue, resumed where they saved a state. */
export async function retrySweep(s: Services, node?: unknown): Promise<void> {
  const v = await pickSweep(s, node, 'Sweep whose failed and cancelled runs to queue again');
  if (!v) return;
  if (!vscode.workspace.isTrusted) {
    void vscode.window.showWarningMessage(RESTRICTED_SWEEP_MESSAGE);
    return;
  }
  const ids = v.runs.filter((r) => r.status === 'failed' || r.status === 'cancelled' || r.status === 'crashed').map((r) => r.row.id);
  if (!ids.length) {
    void vscode.window.showInformationMessage(`Contrastive Lab: sweep “${v.sweep.name}” has no failed or cancelled runs.`);
    return;
  }
  const done = await s.manager.requeue(ids, { dbPath: s.settings().dbPath });
  const refused = done.filter((d) => d.refused);
  for (const r of refused) s.log.warn(`retry: ${r.refused}`);
  await s.tree.refresh(true);
  vscode.window.setStatusBarMessage(`Contrastive Lab: ${done.length - refused.length} runs of “${v.sweep.name}” queued again`, 5000);
}

export async function deleteSweep(s: Services, node?: unknown): Promise<void> {
  const v = await pickSweep(s, node, 'Sweep to delete');
  if (!v) return;
  const del = 'Delete Sweep and Runs';
  const answer = await vscode.window.showWarningMessage(
    `Delete sweep “${v.sweep.name}” and its ${v.sweep.total} runs?`,
    { modal: true, detail: 'Their metrics, evaluations, embeddings and checkpoints are deleted. The sweep file stays.' },
    del,
  );
  if (answer !== del) return;
  const dbPath = s.settings().dbPath;
  const { runIds, artifacts } = await (await s.stores.get()).deleteSweep(v.sweep.id);
  for (const a of artifacts) rmSync(a.path, { recursive: true, force: true });
  // Run folders (resume states, logs) are named by id beside the database.
  for (const id of runIds) rmSync(runFolder(dbPath, id), { recursive: true, force: true });
  await s.tree.refresh(true);
}

/** Cancels every queued run of the database (running ones go on), after asking. */
export async function cancelQueuedRuns(s: Services): Promise<void> {
  const store = await s.stores.get();
  const q = await store.queueState();
  if (!q.queued) {
    void vscode.window.showInformationMessage('Contrastive Lab: no runs are queued.');
    return;
  }
  const go = `Cancel ${q.queued} Queued Run${q.queued === 1 ? '' : 's'}`;
  if ((await vscode.window.showWarningMessage(`Cancel all ${q.queued} queued runs? Running runs go on.`, { modal: true }, go)) !== go) return;
  const dbPath = s.settings().dbPath;
  const cancelled = await store.cancelQueued();
  for (const id of cancelled) if (s.manager.get(dbPath, id)) await s.manager.stop(dbPath, id);
  await s.tree.refresh(true);
}

export async function setQueuePaused(s: Services, paused: boolean): Promise<void> {
  await (await s.stores.get()).setQueuePaused(paused);
  if (!paused) s.manager.reschedule();
  await s.tree.refresh(true);
  vscode.window.setStatusBarMessage(paused ? 'Contrastive Lab: run queue paused (running runs go on)' : 'Contrastive Lab: run queue resumed', 4000);
}

/** "Start Sweep (N runs)" at the top of every *.clsweep.json, or what is wrong with it; in Restricted Mode, why it cannot. */
export class SweepFileCodeLens implements vscode.CodeLensProvider, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeCodeLenses = this.changed.event;
  // VS Code asks again when the document changes; trust is the one outside change that alters the lens.
  private readonly subs = [vscode.workspace.onDidGrantWorkspaceTrust(() => this.changed.fire())];

  constructor(private readonly s: Services) {}

  provideCodeLenses(doc: vscode.TextDocument): vscode.CodeLens[] {
    const top = new vscode.Range(0, 0, 0, 0);
    if (!vscode.workspace.isTrusted)
      return [new vscode.CodeLens(top, { title: '$(shield) Starting sweeps is disabled in Restricted Mode', command: 'workbench.trust.manage', tooltip: 'Trust this workspace to start its sweep files' })];
    const { sweep, message, problems } = sweepFromText(doc.uri.fsPath, doc.getText(), { backend: this.s.settings().backend });
    if (!sweep)
      return [
        new vscode.CodeLens(top, {
          title: `$(error) ${problems ? `${problems} problem${problems > 1 ? 's' : ''} in this sweep` : 'Not valid JSON'}`,
          command: 'contrastiveLab.startSweep',
          arguments: [doc.uri],
          tooltip: message?.split('\n').slice(0, 8).join('\n'),
        }),
      ];
    const n = sweep.runs.length;
    return [
      new vscode.CodeLens(top, {
        title: `$(play) Start Sweep (${n} run${n === 1 ? '' : 's'})`,
        command: 'contrastiveLab.startSweep',
        arguments: [doc.uri],
        tooltip: `Queue the ${n} runs of this sweep (axes: ${sweep.axes.map((a) => a.name).join(' × ')}); they train ${Math.min(this.s.settings().maxConcurrentRuns, sweep.spec.jobs ?? Infinity)} at a time`,
      }),
    ];
  }

  dispose(): void {
    for (const d of this.subs) d.dispose();
    this.changed.dispose();
  }
}
