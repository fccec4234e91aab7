import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { RunsNode } from '../../../src/extension/runsTree';
import type { Services } from '../../../src/extension/services';
import type { RunRow } from '../../../src/store/types';

/**
 * The extension inside a real extension host, driven through its API: the commands (with run ids and
 * config objects, as the README of src/extension promises for automation), the Runs tree's data and the
 * store's contents. Runs use trainLimit to take seconds. The database is the one CLAB_DB names.
 */

export interface Bdd {
  describe(title: string, fn: () => void): void;
  it(title: string, fn: (this: { skip(): void }) => Promise<void> | void): void;
  before(fn: () => Promise<void> | void): void;
}

const EXTENSION_ID = 'contrastive-lab.contrastive-lab';
const QUICK = { method: 'simclr', dataset: 'builtin', epochs: 1, batchSize: 64, trainLimit: 256 };

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

export function defineTests({ describe, it, before }: Bdd): void {
  describe('Contrastive Lab in the extension host', () => {
    let s: Services;
    let quickId: number;
    const row = async (id: number): Promise<RunRow | undefined> => (await s.stores.get()).getRun(id);
    const waitForStatus = (id: number, status: RunRow['status'], minutes: number) =>
      until(
        `run #${id} to be ${status}`,
        async () => {
          const r = await row(id);
          if (r && r.status !== status && ['completed', 'failed', 'cancelled'].includes(r.status)) throw new Error(`run #${id} ended ${r.status}: ${r.error ?? ''}`);
          return r?.status === status && r;
        },
        minutes * 60_000,
      );

    before(async () => {
      const ext = vscode.extensions.getExtension<Services>(EXTENSION_ID);
      assert.ok(ext, `${EXTENSION_ID} is loaded`);
      s = await ext.activate();
      assert.ok(s?.manager && s.tree && s.stores, 'activate() returns its services');
    });

    it('registers every command it contributes', async () => {
      const pkg = vscode.extensions.getExtension(EXTENSION_ID)!.packageJSON as { contributes: { commands: { command: string }[] } };
      const registered = new Set(await vscode.commands.getCommands(true));
      const missing = pkg.contributes.commands.map((c) => c.command).filter((c) => !registered.has(c));
      assert.deepEqual(missing, [], 'contributed commands without a handler');
    });

    it('records runs in the database CLAB_DB names', () => {
      assert.ok(process.env.CLAB_DB, 'the runner sets CLAB_DB');
      assert.equal(s.stores.path, process.env.CLAB_DB);
    });

    it('New Run given a config object starts it without asking, returns its id, and the run completes', async () => {
      const id = await vscode.commands.executeCommand<number | undefined>('contrastiveLab.newRun', { ...QUICK, name: 'exthost: new run' });
      assert.equal(typeof id, 'number', 'the run id');
      quickId = id!;
      const r = await waitForStatus(quickId, 'completed', 10);
      assert.equal(r.lastEpoch, 1);
      assert.ok(r.lastKnn !== null && r.lastKnn > 0.1, `kNN accuracy above chance (${r.lastKnn})`);
      assert.equal(r.backend, 'wasm');
    });

    it('the Runs tree lists the run with its status and kNN accuracy', async () => {
      await s.tree.refresh(true);
      const nodes = s.tree.getChildren() as RunsNode[];
      const node = nodes.find((n) => n.kind === 'run' && n.view.row.id === quickId);
      assert.ok(node, `run #${quickId} is a node of the tree (${nodes.length} nodes)`);
      const item = s.tree.getTreeItem(node);
      assert.equal(item.label, 'exthost: new run');
      assert.match(String(item.description), /SimCLR · builtin · 1 epochs · kNN \d+(\.\d)?%/);
      assert.match(String(item.contextValue), /\brun\b.*\bended\b.*\bcompleted\b/);
    });

    it('the store holds its step losses, evaluations and test-set embeddings', async () => {
      const store = await s.stores.get();
      const metrics = await store.getMetrics(quickId);
      const evals = await store.getEvals(quickId);
      const embeddings = await store.listEmbeddings(quickId);
      assert.ok(metrics.some((m) => m.name === 'loss'), `loss points recorded (${metrics.length} points)`);
      // Its own evaluations, and the kNN baselines every run records beside them.
      assert.deepEqual([...new Set(evals.map((e) => e.protocol))].sort(), ['collapse', 'knn', 'knn-raw-pixels', 'knn-raw-pixels-centred', 'knn-untrained', 'linear']);
      assert.ok(embeddings.length >= 1, 'an embedding of the test split');
    });

    it('Stop Run given a run id cancels a running run', async () => {
      const id = (await vscode.commands.executeCommand<number>('contrastiveLab.newRun', { ...QUICK, trainLimit: 0, epochs: 3, name: 'exthost: stop me' }))!;
      await until('the run to be training', async () => (s.manager.get(s.stores.path, id)?.progress?.step ?? 0) > 0, 5 * 60_000);
      await vscode.commands.executeCommand('contrastiveLab.stopRun', id);
      const r = await waitForStatus(id, 'cancelled', 2);
      assert.ok((r.lastEpoch ?? 0) < 3, 'stopped before its last epoch');
    });

    it('Run Config File given a file starts that file’s run and returns its id', async () => {
      const dir = join(vscode.workspace.workspaceFolders![0].uri.fsPath, 'configs');
      mkdirSync(dir, { recursive: true });
      const file = join(dir, 'exthost.clrun.json');
      writeFileSync(file, JSON.stringify({ ...QUICK, name: 'exthost: config file' }, null, 2));
      const ids = await vscode.commands.executeCommand<number[]>('contrastiveLab.runConfigFile', vscode.Uri.file(file));
      assert.equal(ids?.length, 1);
      const r = await waitForStatus(ids[0], 'completed', 10);
      assert.equal(r.name, 'exthost: config file');
    });

    it('Open Run Dashboard given a run id opens its panel', async function () {
      const registered = await vscode.commands.getCommands(true);
      if (!registered.includes('contrastiveLab.openDashboard')) return this.skip();
      // Without a run id the command asks which run, and nobody answers in here.
      assert.equal(typeof quickId, 'number', 'the New Run test gave a run id');
      await vscode.commands.executeCommand('contrastiveLab.openDashboard', quickId);
      const tabs = () => vscode.window.tabGroups.all.flatMap((g) => g.tabs).map((t) => t.label);
      await until('a “Dashboard: exthost: new run” tab', async () => tabs().includes('Dashboard: exthost: new run'), 30_000);
    });
  });
}
