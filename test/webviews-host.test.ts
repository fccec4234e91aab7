import './fixtures/vscode-stub/register';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Services } from '../src/extension/services';
import { SIMCLR_AUGMENT } from '../src/core/augment-spec';
import { resolveConfig } from '../src/core/config';
import { AnalysisClient } from '../src/webviews/analysis/client';
import { AugmentClient } from '../src/webviews/augment/client';
import { AugmentController } from '../src/webviews/controllers/augment';
import { DashboardController } from '../src/webviews/controllers/dashboard';
import { EmbeddingsController } from '../src/webviews/controllers/embeddings';
import { configDiff, MetricCursor, runSummary } from '../src/webviews/data';
import { contentSecurityPolicy } from '../src/webviews/html';
import { Webviews } from '../src/webviews/panels';
import { panelHost } from '../src/extension/panelHost';
import { isAugmentParams, isAugmentToHost } from '../src/webviews/protocol/augment';
import { isCompareToHost } from '../src/webviews/protocol/compare';
import { isDashboardState, isDashboardToHost, isDashboardToWebview, runActions } from '../src/webviews/protocol/dashboard';
import { isEmbeddingsToHost, isEmbeddingsToWebview } from '../src/webviews/protocol/embeddings';
import { paramsKey } from '../src/webviews/protocol/projection';
import { stub, Uri, type WebviewPanel } from './fixtures/vscode-stub';
import { ensureWebviewBuild, root } from './webview-harness/build';
import { makeFixture, metricPoints, type Fixture } from './webview-harness/fixtures';

// The panels' host side without a browser: message validation, incremental reads, the projection cache,
// the augmentation worker, and the VS Code wiring (HTML, CSP, resource roots, serializers) on the stub.
let fx: Fixture;
let analysis: AnalysisClient;
before(async () => {
  ensureWebviewBuild();
  fx = await makeFixture();
  analysis = new AnalysisClient();
});
after(async () => {
  analysis.dispose();
  await fx.store.close();
});

function fakeWebview() {
  const posted: { type: string; [k: string]: unknown }[] = [];
  const logs: string[] = [];
  const deps = { store: async () => fx.store, dbPath: () => fx.dbPath, post: (m: unknown) => posted.push(m as { type: string }), log: (m: string) => logs.push(m) };
  const next = async (type: string, from = 0, timeout = 20_000): Promise<unknown> => {
    const t0 = Date.now();
    for (;;) {
      const m = posted.slice(from).find((x) => x.type === type);
      if (m) return m;
      if (Date.now() - t0 > timeout) throw new Error(`no ${type} message; got ${posted.map((p) => p.type).join(', ')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return { posted, logs, deps, next };
}

describe('protocol guards', () => {
  test('webview → host messages are validated: unknown types, extra keys, out-of-range values and wrong shapes are rejected', () => {
    assert.ok(isDashboardToHost({ type: 'stop' }));
    for (const bad of [null, 'stop', { type: 'stop', runId: 3 }, { type: 'delete' }, []]) assert.ok(!isDashboardToHost(bad), JSON.stringify(bad));
    assert.ok(isEmbeddingsToHost({ type: 'neighbours', embeddingId: 1, row: 3, k: 8 }));
    for (const bad of [
      { type: 'neighbours', embeddingId: 1, row: 3, k: 5000 },
      { type: 'neighbours', embeddingId: 1, row: -1, k: 8 },
      { type: 'thumbs', embeddingId: 1, rows: Array.from({ length: 500 }, (_, i) => i) },
      { type: 'project', embeddingId: 1, requestId: 1, params: { method: 'tsne', perplexity: 1e6, iterations: 1000 } },
      { type: 'project', embeddingId: 1, requestId: 1, params: { method: 'tsne', perplexity: 30, iterations: 1000, evil: 1 } },
    ])
      assert.ok(!isEmbeddingsToHost(bad), JSON.stringify(bad));
    assert.ok(isCompareToHost({ type: 'project', params: { method: 'umap', neighbours: 15, minDist: 0.1, epochs: 200 } }));
    assert.ok(!isCompareToHost({ type: 'project', params: { method: 'umap', neighbours: 15.5, minDist: 0.1, epochs: 200 } }));
    const params = { view1: { ...SIMCLR_AUGMENT }, view2: { ...SIMCLR_AUGMENT } };
    assert.ok(isAugmentToHost({ type: 'render', requestId: 1, params, seed: 0, perImage: 4, count: 8 }));
    assert.ok(!isAugmentToHost({ type: 'render', requestId: 1, params, seed: 0, perImage: 400, count: 8 }));
    assert.ok(!isAugmentParams({ ...SIMCLR_AUGMENT, flipProb: 2 }));
    assert.ok(!isAugmentParams({ ...SIMCLR_AUGMENT, cropMinScale: 0.9, cropMaxScale: 0.5 }), 'min above max');
    assert.ok(!isAugmentParams({ ...SIMCLR_AUGMENT, extra: 1 }));
  });

  test('host → webview messages are validated too (typed arrays or plain arrays)', () => {
    assert.ok(isDashboardToWebview({ type: 'metrics', reset: true, series: [{ name: 'loss', step: [0, 1], epoch: [1, 1], wallTime: [5, 6], value: [1, null] }] }));
    assert.ok(!isDashboardToWebview({ type: 'metrics', reset: true, series: [{ name: 'loss', step: [0, 1], epoch: [1], wallTime: [5, 6], value: [1, 2] }] }), 'ragged columns');
    assert.ok(isEmbeddingsToWebview({ type: 'embedding', embeddingId: 1, labels: new Int32Array(3), indices: [0, 1, 2] }));
    assert.ok(!isEmbeddingsToWebview({ type: 'embedding', embeddingId: 1, labels: new Int32Array(3), indices: [0, 1] }));
    assert.ok(isDashboardState({ runId: 4, smoothing: 0.6, xAxis: 'wall', logScale: false }));
    assert.ok(!isDashboardState({ runId: 4, smoothing: 1.5, xAxis: 'wall', logScale: false }));
  });
});

describe('data', () => {
  test("MetricCursor hands out each point once, also an epoch summary written at the last step's step in a later transaction", () => {
    const c = new MetricCursor();
    const first = metricPoints(0, 100, 0, 1).filter((p) => p.name === 'loss' || p.name === 'lr');
    assert.equal(c.take(first).length, 200);
    assert.equal(c.afterStep, 98);
    const again = metricPoints(99, 150, 0, 1); // re-read of step 99, now with its epoch_loss and epoch_seconds
    const fresh = c.take(again);
    assert.deepEqual([...new Set(fresh.filter((p) => p.step === 99).map((p) => p.name))].sort(), ['epoch_loss', 'epoch_seconds']);
    assert.equal(fresh.filter((p) => p.name === 'loss').length, 50);
  });

  test('a panel shows a run as seen from this machine: a local worker alive is running whatever its heartbeat, a dead one crashed', async () => {
    const row = (await fx.store.getRun(fx.runA))!;
    const silent = { ...row, status: 'running' as const, displayStatus: 'crashed' as const, host: 'here', pid: 7 }; // e.g. a minute-long kNN
    assert.equal(runSummary(silent, { host: 'here', isAlive: (pid) => pid === 7 }).status, 'running');
    assert.equal(runSummary(silent, { host: 'here', isAlive: () => false }).status, 'crashed');
    assert.equal(runSummary({ ...silent, host: 'elsewhere' }, { host: 'here', isAlive: () => true }).status, 'crashed'); // remote: the heartbeat decides
  });

  test('configDiff lists only the keys that differ, with dotted paths', () => {
    assert.deepEqual(configDiff([{ name: 'a', lr: 1, o: { m: 0.9, k: 2 } }, { name: 'b', lr: 1, o: { m: 0.99, k: 2 }, x: true }]), [
      { key: 'o.m', values: ['0.9', '0.99'] },
      { key: 'x', values: ['—', 'true'] },
    ]);
  });
});

describe('controllers', () => {
  test('dashboard: everything once, then only new points; invalid messages are logged and ignored', async () => {
    const w = fakeWebview();
    const c = new DashboardController(fx.runB, w.deps, { stop: () => 0, resume: () => 0, rerun: () => 0, openEmbeddings: () => 0, openAugmentations: () => 0 }, 60_000);
    c.handle({ type: 'ready', extra: 1 });
    assert.equal(w.posted.length, 0);
    assert.match(w.logs[0], /invalid message/);
    c.handle({ type: 'ready' });
    // A completed run offers Rerun only: no Stop, no Resume.
    assert.deepEqual(((await w.next('run')) as { actions: string[] }).actions, ['rerun']);
    const metrics = (await w.next('metrics')) as { reset: boolean; series: { name: string; step: number[] }[] };
    assert.equal(metrics.reset, true);
    assert.equal(metrics.series.find((s) => s.name === 'loss')!.step.length, 400);
    assert.equal(((await w.next('evals')) as { evals: unknown[] }).evals.length, 5);
    const n = w.posted.length;
    await c.refresh();
    assert.equal(w.posted.length, n, 'nothing new, nothing sent');
    c.dispose();
  });

  test('dashboard actions follow the run: Stop while live, Resume only with a saved state, Rerun once it ended', async () => {
    assert.deepEqual(runActions('queued', false), ['stop']);
    assert.deepEqual(runActions('running', true), ['stop']);
    assert.deepEqual(runActions('completed', true), ['rerun']);
    for (const s of ['cancelled', 'failed', 'crashed']) {
      assert.deepEqual(runActions(s, true), ['resume', 'rerun'], s);
      assert.deepEqual(runActions(s, false), ['rerun'], s);
    }
    assert.ok(isDashboardToHost({ type: 'resume' }));
    const summaryB = runSummary((await fx.store.getRun(fx.runB))!);
    assert.ok(isDashboardToWebview({ type: 'run', run: summaryB, actions: ['rerun'] }));
    assert.ok(!isDashboardToWebview({ type: 'run', run: summaryB, actions: ['delete'] }), 'unknown action');
    assert.ok(!isDashboardToWebview({ type: 'run', run: summaryB }), 'no actions');
    const cancelled = await fx.store.createRun(resolveConfig({ method: 'simclr', name: 'stopped early' }).config!, { status: 'running' });
    await fx.store.finishRun(cancelled, 'cancelled');
    for (const [runId, expected] of [[fx.runA, ['stop']], [cancelled, ['rerun']]] as const) {
      const w = fakeWebview();
      const c = new DashboardController(runId, w.deps, { stop: () => 0, resume: () => 0, rerun: () => 0, openEmbeddings: () => 0, openAugmentations: () => 0 }, 60_000);
      c.handle({ type: 'ready' });
      assert.deepEqual(((await w.next('run')) as { actions: string[] }).actions, expected, `run ${runId}`);
      c.dispose();
    }
    await fx.store.deleteRun(cancelled);
  });

  test('embeddings: thumbnails and cosine neighbours by row, only for embeddings of this run; a map is computed once and then read from the store', async () => {
    const w = fakeWebview();
    const c = new EmbeddingsController(fx.runA, w.deps, analysis);
    c.handle({ type: 'ready' });
    const init = (await w.next('init')) as { embeddings: { id: number; count: number }[]; classNames: string[] };
    assert.deepEqual(
      init.embeddings.map((e) => e.count),
      [1000, 10000],
    );
    assert.equal(init.classNames[0], 'T-shirt/top');
    c.handle({ type: 'thumbs', embeddingId: fx.smallEmbedding, rows: [0, 5] });
    const thumbs = (await w.next('thumbs')) as { thumbs: { key: number; width: number; pixels: Uint8Array }[] };
    assert.deepEqual(
      thumbs.thumbs.map((t) => [t.key, t.width, t.pixels.length]),
      [
        [0, 28, 784],
        [5, 28, 784],
      ],
    );
    c.handle({ type: 'neighbours', embeddingId: fx.smallEmbedding, row: 10, k: 5 });
    const nb = (await w.next('neighbours')) as { neighbours: { row: number; similarity: number }[] };
    assert.equal(nb.neighbours.length, 5);
    assert.ok(!nb.neighbours.some((x) => x.row === 10));
    const other = await fx.store.listEmbeddings(fx.runB);
    c.handle({ type: 'thumbs', embeddingId: other[0].id, rows: [0] });
    assert.match(((await w.next('error')) as { message: string }).message, /does not belong to run/);

    const params = { method: 'pca' as const };
    const from = w.posted.length;
    c.handle({ type: 'project', embeddingId: fx.smallEmbedding, requestId: 7, params });
    const done = (await w.next('projection', from)) as { cached: boolean; done: boolean; coords: Float32Array };
    assert.deepEqual([done.cached, done.done, done.coords.length], [false, true, 2000]);
    for (let i = 0; i < 50 && !(await fx.store.getProjection(fx.smallEmbedding, 'pca', paramsKey(params))); i++) await new Promise((r) => setTimeout(r, 20));
    const from2 = w.posted.length;
    c.handle({ type: 'project', embeddingId: fx.smallEmbedding, requestId: 8, params });
    assert.equal(((await w.next('projection', from2)) as { cached: boolean }).cached, true);
    c.dispose();
  });

  test('embeddings of a training run: an epoch saved while the explorer is open appears in its chooser', async () => {
    const w = fakeWebview();
    const c = new EmbeddingsController(fx.runA, w.deps, analysis, undefined, 50);
    c.handle({ type: 'ready' });
    await w.next('init');
    const from = w.posted.length;
    const { vectors, labels, indices } = (await fx.store.getEmbedding(fx.smallEmbedding))!;
    await fx.store.recordEmbedding(fx.runA, { epoch: 4, split: 'test', dim: 32, vectors, labels, indices });
    const again = (await w.next('init', from)) as { embeddings: { epoch: number }[] };
    assert.deepEqual(
      again.embeddings.map((e) => e.epoch),
      [1, 3, 4],
    );
    c.dispose();
  });

  test('a folder-dataset run is shown at its own imageSize: thumbnails and augmentation previews load the dataset as it trained', async () => {
    const { config } = resolveConfig({ method: 'simclr', dataset: 'folder:/data/flowers', imageSize: 48, name: 'flowers 48px' });
    const runId = await fx.store.createRun(config!, { status: 'queued' });
    const { vectors, labels, indices } = (await fx.store.getEmbedding(fx.smallEmbedding))!;
    const embeddingId = await fx.store.recordEmbedding(runId, { epoch: 1, split: 'test', dim: 32, vectors, labels, indices });
    const loads: [string, number][] = [];
    const split = (dataset: string, imageSize: number) => {
      loads.push([dataset, imageSize]);
      return { count: 1000, height: imageSize, width: imageSize, channels: 3, images: new Uint8Array(1000 * imageSize * imageSize * 3), labels: new Int32Array(1000) };
    };
    const w = fakeWebview();
    const c = new EmbeddingsController(runId, w.deps, analysis, split);
    c.handle({ type: 'ready' });
    await w.next('init');
    c.handle({ type: 'thumbs', embeddingId, rows: [0] });
    const thumbs = (await w.next('thumbs')) as { thumbs: { width: number; pixels: Uint8Array }[] };
    assert.deepEqual(loads, [['folder:/data/flowers', 48]]);
    assert.deepEqual([thumbs.thumbs[0].width, thumbs.thumbs[0].pixels.length], [48, 48 * 48 * 3]);
    c.dispose();

    const asked: { dataset: string; imageSize: number }[] = [];
    const augment = { render: async (req: { dataset: string; imageSize: number }) => (asked.push(req), undefined) } as unknown as AugmentClient;
    const wa = fakeWebview();
    const a = new AugmentController(runId, wa.deps, augment);
    a.handle({ type: 'ready' });
    await wa.next('init');
    a.handle({ type: 'render', requestId: 1, params: { view1: config!.augment.view1, view2: config!.augment.view2 }, seed: 1, perImage: 1, count: 1 });
    assert.deepEqual(
      asked.map((r) => [r.dataset, r.imageSize]),
      [['folder:/data/flowers', 48]],
    );
    a.dispose();
    await fx.store.deleteRun(runId);
  });

  test('augmentations: the run pipeline, rendered by the training code in the worker thread, reproducible from the seed', async () => {
    const augment = new AugmentClient();
    try {
      const w = fakeWebview();
      const c = new AugmentController(fx.runA, w.deps, augment);
      c.handle({ type: 'ready' });
      const init = (await w.next('init')) as { params: { view1: unknown }; runParams: unknown; dataset: string };
      assert.deepEqual(init.runParams, init.params);
      assert.equal(init.dataset, 'builtin');
      const ask = { type: 'render', params: init.params, seed: 5, perImage: 3, count: 4 };
      c.handle({ ...ask, requestId: 1 });
      const a = (await w.next('samples', 0, 60_000)) as { originals: unknown[]; views: { pixels: Uint8Array }[][] };
      assert.equal(a.originals.length, 4);
      assert.deepEqual(
        a.views.map((v) => v.length),
        [12, 12],
      );
      const from = w.posted.length;
      c.handle({ ...ask, requestId: 2 });
      const b = (await w.next('samples', from, 60_000)) as typeof a;
      assert.deepEqual(b.views[0][0].pixels, a.views[0][0].pixels, 'same seed, same pictures');
      c.dispose();
    } finally {
      augment.dispose();
    }
  });
});

describe('VS Code wiring', () => {
  test('commands open panels with a nonce CSP and dist/webview as the only resource root; serializers restore them from their saved state', async () => {
    const services = {
      context: { extensionUri: Uri.file(root), subscriptions: [] },
      stores: { get: async () => fx.store, path: fx.dbPath },
      manager: { onWorkerEvent: () => ({ dispose: () => undefined }) },
      tree: { find: (id: number) => (id === fx.runA ? { row: { name: 'SimCLR baseline' } } : undefined), all: () => [], refresh: async () => undefined },
      log: { warn: () => undefined },
      settings: () => ({ defaultDataset: 'builtin' }),
    } as unknown as Services;
    const w = new Webviews(panelHost(services));
    const disposables = w.register();
    assert.deepEqual([...stub.serializers.keys()].sort(), ['contrastiveLab.augmentations', 'contrastiveLab.compare', 'contrastiveLab.dashboard', 'contrastiveLab.embeddings', 'contrastiveLab.sweep']);

    await w.commands['contrastiveLab.openDashboard'](fx.runA);
    const panel = stub.panels[stub.panels.length - 1] as WebviewPanel;
    assert.equal(panel.viewType, 'contrastiveLab.dashboard');
    assert.equal(panel.title, 'Dashboard: SimCLR baseline');
    const html = panel.webview.html;
    const nonce = /nonce="([^"]+)"/.exec(html)![1];
    assert.ok(html.includes(contentSecurityPolicy(panel.webview.cspSource, nonce)));
    assert.match(html, /default-src 'none'/);
    assert.doesNotMatch(html, /unsafe-inline|unsafe-eval/);
    assert.doesNotMatch(html, /<script(?![^>]*nonce=)/, 'every script carries the nonce');
    assert.deepEqual(
      (panel.webview.options as { localResourceRoots: Uri[] }).localResourceRoots.map((u) => u.fsPath),
      [join(root, 'dist', 'webview')],
    );
    // Opening it again reveals the same panel.
    await w.commands['contrastiveLab.openDashboard'](fx.runA);
    assert.equal(stub.panels.filter((p) => p.viewType === 'contrastiveLab.dashboard').length, 1);
    panel.receive({ type: 'ready' });
    for (let i = 0; i < 100 && !panel.posted.some((m) => (m as { type: string }).type === 'metrics'); i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(panel.posted.some((m) => (m as { type: string }).type === 'run'));
    // A run the Runs view has not listed yet gets its name in the tab once the store is read.
    await w.commands['contrastiveLab.openDashboard'](fx.runB);
    const b = stub.panels[stub.panels.length - 1] as WebviewPanel;
    assert.equal(b.title, `Dashboard: Run #${fx.runB}`);
    b.receive({ type: 'ready' });
    for (let i = 0; i < 100 && b.title !== 'Dashboard: SimCLR lr 0.003'; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(b.title, 'Dashboard: SimCLR lr 0.003');

    // After a reload VS Code hands back a panel and the state the webview saved.
    const restored = new (panel.constructor as typeof WebviewPanel)('contrastiveLab.compare', 'old title');
    await stub.serializers.get('contrastiveLab.compare')!.deserializeWebviewPanel(restored, { runIds: [fx.runA, fx.runB], params: { method: 'pca' }, metric: 'loss', smoothing: 0.6, hidden: [] });
    assert.equal(restored.title, `Compare #${fx.runA}, #${fx.runB}`);
    assert.match(restored.webview.html, /compare\.js/);
    const broken = new (panel.constructor as typeof WebviewPanel)('contrastiveLab.dashboard', 'x');
    await stub.serializers.get('contrastiveLab.dashboard')!.deserializeWebviewPanel(broken, { runId: 'nope' });
    assert.equal(broken.disposed, true, 'a panel without a valid state is closed, not left blank');

    for (const d of disposables) d.dispose();
    assert.equal(panel.disposed, true);
    assert.equal(stub.serializers.size, 0);
  });
});
