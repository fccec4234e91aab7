import './fixtures/vscode-stub/register';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import childProcess, { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type * as vscode from 'vscode';
import { MapMemento, stub, Uri, commands, type Prompt } from './fixtures/vscode-stub';
import { activate, deactivate } from '../src/extension/extension';
import { RESTRICTED_MESSAGE } from '../src/extension/configFiles';
import { RESTRICTED_SETTINGS } from '../src/extension/settings';
import { DATASET_SPEC_PATTERN } from '../src/core/datasets';
import type { RunsNode } from '../src/extension/runsTree';
import type { Services } from '../src/extension/services';
import { RunStore, runFolder } from '../src/store/store';

// activate() and the command handlers, run against a stub of the vscode API (test/fixtures/vscode-stub)
// with real workers (dist/worker.js, as the installed extension runs them) and a real database.
const root = resolve(__dirname, '..');
const tmp = mkdtempSync(join(tmpdir(), 'clab-ext-activate-'));
const dbPath = join(tmp, 'runs.db');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  contributes: { commands: { command: string; category: string }[]; configuration: { properties: Record<string, { pattern?: string }> } };
  capabilities: { untrustedWorkspaces: { supported: string; restrictedConfigurations: string[] } };
  main: string;
};

let s: Services;
const context = {
  subscriptions: [] as { dispose(): unknown }[],
  extensionPath: root,
  globalStorageUri: Uri.file(join(tmp, 'global-storage')),
  workspaceState: new MapMemento(),
  globalState: new MapMemento(),
};

let forks = 0;
const realFork = childProcess.fork;

before(() => {
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'ensure-built.mjs')], { stdio: 'inherit' });
  assert.equal(r.status, 0, 'build failed');
  (childProcess as { fork: typeof realFork }).fork = ((...args: Parameters<typeof realFork>) => {
    forks++;
    return realFork(...args);
  }) as typeof realFork;
  stub.config.set('contrastiveLab.databasePath', dbPath);
  stub.workspaceFolders = [{ uri: Uri.file(tmp), name: 'ws', index: 0 }];
  s = activate(context as unknown as vscode.ExtensionContext);
});

after(async () => {
  await deactivate();
  for (const d of context.subscriptions) d.dispose();
  (childProcess as { fork: typeof realFork }).fork = realFork;
});

const children = (node?: RunsNode) => s.tree.getChildren(node);
const runNodes = () => children().flatMap((n) => (n.kind === 'group' ? children(n) : [n])).filter((n): n is Extract<RunsNode, { kind: 'run' }> => n.kind === 'run');
const ended = (runId: number) =>
  new Promise<string>((res) => {
    const sub = s.manager.onDidEnd((e) => {
      if (e.runId === runId) {
        sub.dispose();
        res(e.status);
      }
    });
  });
const firstStep = (runId: number) =>
  new Promise<void>((res) => {
    const sub = s.manager.onWorkerEvent(({ event }) => {
      if (event.type === 'step' && event.runId === runId) {
        sub.dispose();
        res();
      }
    });
  });
const tinyConfig = { method: 'simclr', epochs: 1, trainLimit: 128, batchSize: 32, encoder: { preset: 'tiny' }, projector: { hidden: 32, out: 16 }, eval: { linearProbe: false } };

describe('activation', () => {
  test('every command in package.json is registered (and no other), each in the Contrastive Lab category', () => {
    const contributed = pkg.contributes.commands.map((c) => c.command).sort();
    const registered = commands
      .getRegistered()
      .filter((id) => id.startsWith('contrastiveLab.'))
      .sort();
    assert.deepEqual(registered, contributed);
    for (const c of pkg.contributes.commands) assert.equal(c.category, 'Contrastive Lab', c.command);
    for (const id of ['contrastiveLab.newRun', 'contrastiveLab.runConfigFile', 'contrastiveLab.stopRun', 'contrastiveLab.rerun', 'contrastiveLab.duplicateAsConfig', 'contrastiveLab.deleteRuns', 'contrastiveLab.openRunFolder', 'contrastiveLab.exportRun', 'contrastiveLab.packRun', 'contrastiveLab.unpackRun', 'contrastiveLab.enableGpuTraining', 'contrastiveLab.refreshRuns'])
      assert.ok(contributed.includes(id), `stable command id ${id} missing`);
    for (const id of ['contrastiveLab.openDashboard', 'contrastiveLab.showEmbeddings', 'contrastiveLab.previewAugmentations', 'contrastiveLab.compareRuns']) assert.ok(registered.includes(id), `webview command ${id} missing`);
    assert.ok(context.subscriptions.length >= registered.length + 4, 'disposables not tracked in context.subscriptions');
    assert.equal(pkg.main, './dist/extension.js');
    assert.ok(existsSync(join(root, 'dist', 'extension.js')), 'the build did not produce dist/extension.js');
  });

  test('settings that name executables or files are restricted in untrusted workspaces, and all settings exist', () => {
    assert.equal(pkg.capabilities.untrustedWorkspaces.supported, 'limited');
    assert.deepEqual([...pkg.capabilities.untrustedWorkspaces.restrictedConfigurations].sort(), [...RESTRICTED_SETTINGS].sort());
    const props = Object.keys(pkg.contributes.configuration.properties);
    for (const key of [...RESTRICTED_SETTINGS, 'contrastiveLab.backend', 'contrastiveLab.defaultDataset', 'contrastiveLab.maxConcurrentRuns']) assert.ok(props.includes(key), key);
    // The setting accepts exactly the dataset specs a run config does.
    assert.equal(pkg.contributes.configuration.properties['contrastiveLab.defaultDataset'].pattern, DATASET_SPEC_PATTERN);
  });

  test('with no runs the view is empty (so the welcome view with New Run shows) once the database is read', async () => {
    await s.tree.refresh(true);
    assert.equal(stub.contexts.get('contrastiveLab.runsLoaded'), true);
    assert.equal(stub.contexts.get('contrastiveLab.databaseError'), false);
    assert.deepEqual(children(), []);
  });
});

test('the built dist/extension.js activates, trains a run with dist/worker.js, and unregisters everything when disposed', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(__dirname, 'fixtures', 'vscode-stub', 'activate-bundle.ts')], { encoding: 'utf8', timeout: 240_000 });
  // On failure, both streams: a hang (status null after the timeout) prints nothing on stderr.
  assert.equal(r.status, 0, `status ${r.status} (${r.signal ?? 'no signal'}); stderr:\n${r.stderr}\nstdout:\n${r.stdout}`);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { registered: string[]; runId: number; status: string; error?: string; left: number };
  assert.equal(out.registered.length, pkg.contributes.commands.length);
  assert.equal(out.runId, 1);
  assert.equal(out.status, 'completed', out.error);
  assert.equal(out.left, 0, 'commands still registered after the subscriptions were disposed');
});

describe('Restricted Mode', () => {
  test('Run Config File is refused with a message, reads and spawns nothing, and offers to manage trust', async () => {
    stub.reset();
    stub.trusted = false;
    try {
      const cfg = join(tmp, 'untrusted.clrun.json');
      writeFileSync(cfg, JSON.stringify(tinyConfig));
      stub.responder = (p) => (p.kind === 'warning' ? 'Manage Workspace Trust' : undefined);
      const before = forks;
      const ids = await commands.executeCommand('contrastiveLab.runConfigFile', Uri.file(cfg));
      assert.deepEqual(ids, []);
      assert.equal(forks, before, 'a process was spawned in Restricted Mode');
      assert.equal(stub.prompts[0]?.kind, 'warning');
      assert.equal(stub.prompts[0]?.message, RESTRICTED_MESSAGE);
      assert.ok(stub.commandsExecuted.some((c) => c.id === 'workbench.trust.manage'));
      const store = await RunStore.open(dbPath);
      assert.deepEqual(await store.listRuns(), [], 'a run was recorded in Restricted Mode');
      await store.close();
      // The CodeLens says why instead of offering Run.
      const lens = (stub.codeLensProviders[0] as { provideCodeLenses(d: unknown): { command?: { title: string; command: string } }[] }).provideCodeLenses({ uri: Uri.file(cfg) });
      assert.match(lens[0].command!.title, /Restricted Mode/);
      assert.equal(lens[0].command!.command, 'workbench.trust.manage');
    } finally {
      stub.trusted = true;
    }
  });
});

describe('running from the editor', () => {
  test('a config file runs in a worker: progress, log, completion message, and the Runs view shows it', async () => {
    stub.reset();
    const dir = join(tmp, 'configs');
    mkdirSync(dir, { recursive: true });
    const cfg = join(dir, 'tiny.clrun.json');
    writeFileSync(cfg, JSON.stringify({ ...tinyConfig, name: 'tiny from file' }));
    const lens = (stub.codeLensProviders[0] as { provideCodeLenses(d: unknown): { command?: { command: string; arguments?: unknown[] } }[] }).provideCodeLenses({ uri: Uri.file(cfg) });
    assert.equal(lens[0].command!.command, 'contrastiveLab.runConfigFile');
    const before = forks;
    const [runId] = (await commands.executeCommand('contrastiveLab.runConfigFile', ...(lens[0].command!.arguments ?? []))) as number[];
    assert.ok(runId > 0);
    const status = await ended(runId);
    assert.equal(status, 'completed');
    assert.equal(forks, before + 1, 'one worker per run');
    await s.tree.refresh(true);
    const node = runNodes().find((n) => n.view.row.id === runId)!;
    const item = s.tree.getTreeItem(node);
    assert.equal(item.label, 'tiny from file');
    assert.match(String(item.description), new RegExp(`^#${runId} · SimCLR · builtin · 1 epochs · kNN \\d+\\.\\d%$`), 'the run’s id leads its description');
    assert.equal((item.iconPath as { id: string }).id, 'pass');
    assert.match(String(item.contextValue), /\bended\b.*\bhasLog\b/);
    const log = stub.outputs.get(`Contrastive Lab: #${runId} tiny from file`)!.join('\n');
    assert.match(log, /started: backend \w+/);
    assert.match(log, /knn at epoch 1/);
    const done = stub.prompts.find((p) => p.kind === 'info' && /completed/.test(p.message ?? ''));
    assert.match(done?.message ?? '', /Run “tiny from file” completed: kNN accuracy \d+\.\d%/);
  });

  test('New Run… validates as you type, starts the run; Stop Run cancels it; a live run cannot be deleted', async () => {
    stub.reset();
    const seen: string[] = [];
    let rejected: (string | undefined)[] = [];
    stub.responder = (p: Prompt) => {
      seen.push(`${p.kind}:${p.message}`);
      if (p.kind === 'quickPick' && p.message === 'Self-supervised method') return 'SimCLR';
      if (p.kind === 'quickPick' && p.message === 'Dataset') return 'builtin';
      if (p.kind === 'quickPick' && /^Recipe/.test(p.message ?? '')) return 'paper';
      if (p.kind === 'inputBox' && /^Epochs/.test(p.message ?? '')) {
        rejected = ['0', 'ten', '3'].map((v) => p.validate!(v));
        return '3';
      }
      if (p.kind === 'inputBox' && /^Batch size/.test(p.message ?? '')) return '32';
      if (p.kind === 'inputBox') return p.value; // the method's defaults
      if (p.kind === 'quickPick' && /^Encoder/.test(p.message ?? '')) return 'tiny';
      if (p.kind === 'quickPick' && /^Start the run/.test(p.message ?? '')) return '$(play) Start Run';
      return undefined;
    };
    const runId = (await commands.executeCommand('contrastiveLab.newRun')) as number;
    assert.ok(runId > 0, `the wizard did not start a run; it asked: ${seen.join(' | ')}`);
    assert.match(rejected[0] ?? '', /Epochs must be ≥ 1/);
    assert.match(rejected[1] ?? '', /Epochs must be a number/);
    assert.equal(rejected[2], undefined);
    const store = await RunStore.open(dbPath);
    const row = (await store.getRun(runId))!;
    assert.equal(row.config.epochs, 3);
    assert.equal(row.config.batchSize, 32);
    assert.equal(row.config.encoder.preset, 'tiny');
    assert.equal(row.config.recipe, 'paper', 'the recipe picked in the wizard is recorded');
    await firstStep(runId);
    await s.tree.refresh(true);
    assert.ok(
      stub.statusBar.some((b) => b.visible && /1 run/.test(b.text)),
      'no status-bar item for the active run',
    );
    const live = runNodes().find((n) => n.view.row.id === runId)!;
    assert.equal((s.tree.getTreeItem(live).iconPath as { id: string }).id, 'loading~spin');
    // Delete refuses a live run.
    stub.responder = () => 'Delete';
    assert.equal(await commands.executeCommand('contrastiveLab.deleteRuns', live), 0);
    assert.ok((await store.getRun(runId)) !== undefined);
    const status = ended(runId);
    await commands.executeCommand('contrastiveLab.stopRun', runId);
    assert.equal(await status, 'cancelled');
    assert.equal((await store.getRun(runId))!.status, 'cancelled');
    // Hovering the stopped run: where Resume would continue it (stopped in epoch 1, after its first step).
    await s.tree.refresh(true);
    const stopped = runNodes().find((n) => n.view.row.id === runId)!;
    const tip = (s.tree.resolveTreeItem(s.tree.getTreeItem(stopped), stopped).tooltip as { value: string }).value;
    assert.match(tip, /Resume continues it in epoch 1 at step \d+\.$/);
    await store.close();
  });
});

describe('managing recorded runs', () => {
  test('rename, note, star, group, filter, export, duplicate and delete', async () => {
    stub.reset();
    await s.tree.refresh(true);
    const [newest, older] = s.tree.all();
    const id = older.row.id; // the completed run from the config file
    const store = await RunStore.open(dbPath);

    stub.responder = (p) => (p.kind === 'inputBox' ? (p.validate?.('') ? 'renamed run' : 'a note') : undefined);
    await commands.executeCommand('contrastiveLab.renameRun', id);
    stub.responder = (p) => (p.kind === 'inputBox' ? 'compare with MoCo' : undefined);
    await commands.executeCommand('contrastiveLab.editRunNote', id);
    await commands.executeCommand('contrastiveLab.starRun', id);
    const row = (await store.getRun(id))!;
    assert.deepEqual([row.name, row.note, row.starred], ['renamed run', 'compare with MoCo', true]);

    await commands.executeCommand('contrastiveLab.groupRunsBy', 'status');
    assert.deepEqual(
      children().map((n) => n.kind === 'group' && n.group.label),
      ['Cancelled', 'Completed'],
    );
    s.tree.setFilter({ text: 'moco', methods: [], statuses: [], starredOnly: false });
    assert.deepEqual(
      runNodes().map((n) => n.view.row.id),
      [id],
      'the note is searched',
    );
    s.tree.setFilter({ text: 'no such run', methods: [], statuses: [], starredOnly: false });
    assert.equal(children()[0].kind, 'message');
    assert.equal(stub.contexts.get('contrastiveLab.runsFiltered'), true);
    await commands.executeCommand('contrastiveLab.clearRunFilter');
    await commands.executeCommand('contrastiveLab.groupRunsBy', 'none');
    assert.equal(runNodes().length, 2);

    const exportTo = join(tmp, 'exports');
    mkdirSync(exportTo);
    stub.responder = (p) => (p.kind === 'openDialog' ? [Uri.file(exportTo)] : undefined);
    const out = (await commands.executeCommand('contrastiveLab.exportRun', id)) as string;
    assert.equal(out, join(exportTo, `run-${id}-export`));
    assert.match(readFileSync(join(out, 'metrics.csv'), 'utf8'), /^step,epoch,name,value,wall_time\n0,1,loss,/);
    assert.ok(existsSync(join(out, 'embeddings.tsv')));

    // Pack Run… then Unpack Run… (here into the same database): the run comes back under a new id.
    const packTo = join(tmp, 'moved.clabrun');
    stub.responder = (p) => (p.kind === 'saveDialog' ? Uri.file(packTo) : undefined);
    assert.equal(await commands.executeCommand('contrastiveLab.packRun', id), packTo);
    assert.match(stub.prompts.at(-1)!.message!, /packed into moved\.clabrun \([\d.]+ MB\)\. Unpack Run… adds it/);
    stub.responder = (p) => (p.kind === 'openDialog' ? [Uri.file(packTo)] : undefined);
    const unpacked = (await commands.executeCommand('contrastiveLab.unpackRun')) as number;
    assert.ok(unpacked > id);
    assert.match(stub.prompts.at(-1)!.message!, new RegExp(`moved\\.clabrun added as run ${unpacked} \\(run ${id} on `));
    assert.deepEqual((await store.getEvals(unpacked)).map((e) => e.value), (await store.getEvals(id)).map((e) => e.value));
    assert.ok(runNodes().some((n) => n.view.row.id === unpacked), 'the Runs view shows the unpacked run');
    stub.responder = (p) => (p.kind === 'openDialog' ? [Uri.file(join(out, 'metrics.csv'))] : undefined);
    assert.equal(await commands.executeCommand('contrastiveLab.unpackRun'), undefined);
    assert.match(stub.prompts.at(-1)!.message!, /^Contrastive Lab: cannot unpack: .*metrics\.csv is not a readable run pack/);
    assert.equal(stub.prompts.at(-1)!.kind, 'error');
    await store.deleteRun(unpacked);
    await s.tree.refresh(true);

    const copy = join(tmp, 'copy.clrun.json');
    stub.responder = (p) => (p.kind === 'saveDialog' ? Uri.file(copy) : undefined);
    await commands.executeCommand('contrastiveLab.duplicateAsConfig', id);
    const dup = JSON.parse(readFileSync(copy, 'utf8')) as { method: string; epochs: number; encoder: { preset: string } };
    assert.deepEqual([dup.method, dup.epochs, dup.encoder.preset], ['simclr', 1, 'tiny']);

    // Delete both with one confirmation; the run folders go too.
    assert.ok(existsSync(runFolder(dbPath, id)), 'the run had no folder to delete');
    stub.reset();
    stub.responder = (p) => (p.kind === 'warning' ? 'Delete' : undefined);
    const nodes = runNodes();
    assert.equal(await commands.executeCommand('contrastiveLab.deleteRuns', nodes[0], nodes), 2);
    assert.equal((stub.prompts[0].options as { modal?: boolean }).modal, true, 'deletion is confirmed in a modal dialog');
    assert.deepEqual(await store.listRuns(), []);
    assert.equal(existsSync(runFolder(dbPath, id)), false);
    assert.equal(existsSync(runFolder(dbPath, newest.row.id)), false);
    await store.close();
  });

  test('after a reload, runs the store says are running show as running or crashed by their worker process', async () => {
    const store = await RunStore.open(dbPath);
    const { resolveConfig } = await import('../src/core/config');
    const config = resolveConfig(tinyConfig).config!;
    const alive = await store.createRun({ ...config, name: 'from the CLI' }, { status: 'running' });
    await store.markRunning(alive, { backend: 'wasm', device: 'cpu', versions: {}, pid: process.pid, host: hostname() });
    const dead = await store.createRun({ ...config, name: 'window closed, worker killed' }, { status: 'running' });
    await store.markRunning(dead, { backend: 'wasm', device: 'cpu', versions: {}, pid: 2 ** 22 + 12345, host: hostname() });
    await s.tree.refresh(true);
    const items = runNodes().map((n) => s.tree.getTreeItem(n));
    assert.deepEqual(
      items.map((i) => [i.label, (i.iconPath as { id: string }).id]),
      [
        ['window closed, worker killed', 'warning'],
        ['from the CLI', 'loading~spin'],
      ],
    );
    assert.match((items[1].tooltip as { value: string }).value, /Started outside this window/);
    assert.match(String(items[1].contextValue), /\blive\b/, 'Stop is offered for a run started elsewhere');
    assert.ok(stub.statusBar.some((b) => b.visible && /1 run/.test(b.text)));
    await store.finishRun(alive, 'completed');
    await store.finishRun(dead, 'failed', 'crashed');
    await store.close();
  });

  test('a database that cannot be opened is reported in the view, and the view recovers when the setting is fixed', async () => {
    const notADb = join(tmp, 'notes.txt');
    writeFileSync(notADb, 'not a database, just text that is long enough to have a header page '.repeat(20));
    stub.config.set('contrastiveLab.databasePath', notADb);
    try {
      await s.tree.refresh(true);
      assert.equal(stub.contexts.get('contrastiveLab.databaseError'), true);
      assert.match(String(stub.treeViews.get('contrastiveLab.runs')!.view.message), /Could not open the run database/);
      assert.deepEqual(children(), []);
    } finally {
      stub.config.set('contrastiveLab.databasePath', dbPath);
    }
    await s.tree.refresh(true);
    assert.equal(stub.contexts.get('contrastiveLab.databaseError'), false);
    assert.equal(stub.treeViews.get('contrastiveLab.runs')!.view.message, undefined);
  });

  test('Enable GPU Training without npm says how to get it', async () => {
    stub.reset();
    stub.config.set('contrastiveLab.npmPath', join(tmp, 'no-npm-here'));
    try {
      stub.responder = () => undefined;
      assert.equal(await commands.executeCommand('contrastiveLab.enableGpuTraining', 'tfjs-node'), false);
      const err = stub.prompts.find((p) => p.kind === 'error');
      assert.match(err?.message ?? '', /npm was not found/);
      assert.deepEqual(
        err?.items?.map((i) => i.label),
        ['Show Log', 'Set npm Path'],
      );
    } finally {
      stub.config.delete('contrastiveLab.npmPath');
    }
  });
});
