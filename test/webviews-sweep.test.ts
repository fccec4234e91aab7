import './fixtures/vscode-stub/register';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { panelHost } from '../src/extension/panelHost';
import type { Services } from '../src/extension/services';
import { RunStore } from '../src/store/store';
import { summarizeSweep, sweepCsv, type SweepSummary } from '../src/store/sweeps';
import { SweepController, type SweepActions } from '../src/webviews/controllers/sweep';
import { Webviews } from '../src/webviews/panels';
import { isSweepState, isSweepToHost, isSweepToWebview } from '../src/webviews/protocol/sweep';
import { stub, Uri, type WebviewPanel } from './fixtures/vscode-stub';
import { ensureWebviewBuild, root } from './webview-harness/build';
import { launchChromium, openPanel, startServer, type OpenPanel } from './webview-harness/harness';
import { knnCurve, recordOutcome, recordSweep, type RunOutcome } from './webview-harness/sweep-fixtures';

// The sweep view's real front end in headless Chromium driven by its real controller, on sweeps recorded
// in a run database as the queue records them: a 4 × 4 augmentation study with seeds and a row average
// (heatmap), a learning-rate sweep (bars), a three-axis grid (parallel coordinates). Assertions are on
// what is drawn; screenshots at 600, 900 and 1400 px go to test-output/screenshots/.
declare const document: {
  body: { dataset: Record<string, string | undefined> };
  querySelectorAll(s: string): ArrayLike<{ textContent: string | null; getAttribute(n: string): string | null }>;
};
declare const window: { acquireVsCodeApi(): { postMessage(m: unknown): void }; postMessage(m: unknown, origin: string): void; __sweep: { renders: number } };

const shots = join(root, 'test-output', 'screenshots');
let browser: Browser;
let server: Awaited<ReturnType<typeof startServer>>;
let store: RunStore;
let dbPath: string;
const logs: string[] = [];

const AUG = ['crop', 'cutout', 'colour', 'blur'];
const rank = (l: string | number | boolean | undefined) => AUG.indexOf(String(l));
/** The study's linear probe: crop + colour strongest, compositions better than singles. */
const augLinear = (first: number, second: number, seed: number) => 0.3 + 0.08 * (first === 0 || second === 0 ? 1 : 0) + 0.1 * (first === 0 && second === 2 ? 1 : 0) + 0.02 * (first !== second ? 1 : 0) + 0.01 * first + 0.004 * seed;
let aug: { sweepId: number; runIds: number[] };
let lr: { sweepId: number; runIds: number[] };
let three: { sweepId: number; runIds: number[] };

before(async () => {
  ensureWebviewBuild();
  mkdirSync(shots, { recursive: true });
  dbPath = join(mkdtempSync(join(tmpdir(), 'clab-sweepview-')), 'runs.db');
  store = await RunStore.open(dbPath, { staleAfterMs: 10 * 60_000 });
  aug = await recordSweep(
    store,
    {
      name: 'SimCLR augmentation study',
      grid: { first: AUG.map((label) => ({ label, set: { 'optimizer.lr': 0.001 } })), second: AUG.map((label) => ({ label, set: { 'projector.out': 16 } })), seed: [0, 1] },
      view: { rows: 'first', columns: 'second', rowAverage: true, metric: 'linear' },
    },
    (r): RunOutcome => {
      const [f, s, seed] = [rank(r.axisValues!.first), rank(r.axisValues!.second), r.config.seed];
      // blur × blur: seed 0 failed, seed 1 still running (no result yet); blur × colour: both queued.
      if (f === 3 && s === 3) return seed === 0 ? { status: 'failed', knn: [0.2] } : { status: 'running', knn: [0.21] };
      if (f === 3 && s === 2) return { status: 'queued', knn: [] };
      const v = augLinear(f, s, seed);
      return { status: 'completed', knn: knnCurve(v - 0.05, 3, r.id), linear: v, collapse: 0.02 + 0.001 * f };
    },
  );
  lr = await recordSweep(store, { name: 'learning rate', grid: { 'optimizer.lr': [0.0003, 0.001, 0.003, 0.01], seed: [0, 1, 2] }, view: { metric: 'knn' } }, (r): RunOutcome => {
    const v = 0.5 + 0.1 * [0.0003, 0.001, 0.003, 0.01].indexOf(r.config.optimizer.lr) - (r.config.optimizer.lr === 0.01 ? 0.25 : 0) + 0.01 * r.config.seed;
    return { status: 'completed', knn: [v - 0.1, v + 0.02, v], linear: v + 0.05, collapse: 0.03 };
  });
  three = await recordSweep(
    store,
    { name: 'three axes', grid: { 'optimizer.lr': [0.001, 0.003, 0.01], 'projector.out': [16, 32, 64], batchSize: [32, 64], seed: [0] } },
    (r): RunOutcome => {
      const v = 0.4 + 10 * r.config.optimizer.lr + r.config.projector.out / 1000 + r.config.batchSize / 2000;
      return r.sweepIndex === 17 ? { status: 'running', knn: [0.3] } : { status: 'completed', knn: knnCurve(v, 3, r.id), linear: v, collapse: 0.025 };
    },
  );
  server = await startServer();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await server?.close();
  await store?.close();
});

interface Calls {
  compare: number[][];
  openRun: number[];
  csv: { fileName: string; text: string }[];
}
function fakeActions(): { calls: Calls; actions: SweepActions } {
  const calls: Calls = { compare: [], openRun: [], csv: [] };
  return {
    calls,
    actions: {
      compare: (ids) => calls.compare.push(ids),
      openRun: (id) => calls.openRun.push(id),
      saveCsv: async (fileName, text) => {
        calls.csv.push({ fileName, text });
        return `/exports/${fileName}`;
      },
    },
  };
}

const deps = () => ({ store: async () => store, dbPath: () => dbPath, log: (m: string) => logs.push(m) });
const summaryOf = async (id: number): Promise<SweepSummary> => {
  const runs = await store.sweepRuns(id);
  return summarizeSweep((await store.getSweep(id))!, runs, await store.evalsOf(runs.map((r) => r.id)));
};
const texts = (page: Page, sel: string) => page.$$eval(sel, (els) => els.map((e) => (e.textContent ?? '').trim()));
const drawn = (page: Page, n = 1) => page.waitForFunction((k) => Number(document.body.dataset.drawn ?? 0) >= k, n);

async function open(sweepId: number, width = 1280, pollMs = 60_000): Promise<OpenPanel<SweepController> & { calls: Calls }> {
  const { calls, actions } = fakeActions();
  const p = await openPanel(browser, server.origin, 'sweep', deps(), (d) => new SweepController(sweepId, d, actions, pollMs), { viewport: { width, height: 900 } });
  await drawn(p.page);
  return Object.assign(p, { calls });
}

async function screenshots(sweepId: number, name: string): Promise<void> {
  for (const width of [600, 900, 1400]) {
    const p = await open(sweepId, width);
    // Nothing spills out of the page sideways: wide content scrolls inside its own box.
    const overflow = await p.page.evaluate(() => (document as unknown as { documentElement: { scrollWidth: number; clientWidth: number } }).documentElement.scrollWidth - (document as unknown as { documentElement: { clientWidth: number } }).documentElement.clientWidth);
    assert.ok(overflow <= 0, `${name} at ${width} px overflows by ${overflow} px`);
    await p.page.screenshot({ path: join(shots, `sweep-${name}-${width}.png`), fullPage: true });
    await p.close();
    assert.deepEqual(p.problems, []);
  }
}

describe('sweep view', () => {
  test('two axes: a heatmap of mean ± std over seeds with the row average, the best cell marked; a cell opens its runs in Compare, a run its dashboard; sorting; CSV through the host', async () => {
    const p = await open(aug.sweepId);
    const { page } = p;
    const s = await summaryOf(aug.sweepId);
    assert.equal(await page.textContent('#title'), 'SimCLR augmentation study');
    assert.equal(await page.textContent('#done'), '28/32 done');
    assert.deepEqual(await texts(page, '#counts .badge'), ['1 running', '2 queued', '1 failed']);
    assert.equal(await page.getAttribute('#chart', 'data-kind'), 'heatmap');
    assert.equal(await page.inputValue('#metric'), 'linear');
    // Rows and columns in the file's order, then the row average.
    assert.deepEqual(await texts(page, '#heatmap thead th.hm-col'), [...AUG, 'row average']);
    assert.deepEqual(await texts(page, '#heatmap tbody th'), AUG);
    assert.equal((await page.$$('#heatmap .hm-cell')).length, 16);
    // crop × cutout: seeds 0 and 1 → mean ± sample std, in percent.
    const cell = (f: string, sec: string) => s.cells.findIndex((c) => c.key.first === f && c.key.second === sec);
    const cc = cell('crop', 'cutout');
    const a = [0, 1].map((seed) => augLinear(0, 1, seed) * 100);
    const mean = (a[0] + a[1]) / 2;
    const std = Math.abs(a[0] - a[1]) / Math.SQRT2;
    assert.equal(await page.textContent(`.hm-cell[data-cell="${cc}"] .mean`), mean.toFixed(1));
    assert.equal(await page.textContent(`.hm-cell[data-cell="${cc}"] .std`), `± ${std.toFixed(1)}`);
    // The best cell is crop × colour (the study's strongest pair), and only it is marked.
    const best = cell('crop', 'colour');
    assert.deepEqual(await page.$$eval('.hm-cell.best', (els) => els.map((e) => e.getAttribute('data-cell'))), [String(best)]);
    assert.match((await page.getAttribute(`.hm-cell[data-cell="${best}"]`, 'aria-label'))!, /first = crop, second = colour: .* over 2 of 2 runs \(best\)/);
    // blur × blur has one failed and one running run: it says so instead of a number; blur × colour is queued.
    assert.equal(await page.textContent(`.hm-cell[data-cell="${cell('blur', 'blur')}"] .status`), '1 running, 1 failed');
    assert.equal(await page.textContent(`.hm-cell[data-cell="${cell('blur', 'colour')}"] .status`), '2 queued');
    // Row average = mean of the row's cell means (cells without a result left out).
    const avg = await texts(page, '#heatmap td.hm-avg');
    const cropRow = AUG.map((sec) => s.cells[cell('crop', sec)].metrics.linear!.mean);
    assert.equal(avg[0], ((cropRow.reduce((x, y) => x + y, 0) / 4) * 100).toFixed(1));
    const blurRow = ['crop', 'cutout'].map((sec) => s.cells[cell('blur', sec)].metrics.linear!.mean);
    assert.equal(avg[3], ((blurRow.reduce((x, y) => x + y, 0) / 2) * 100).toFixed(1));
    // Colour follows the value: the best cell is the brightest (viridis' yellow end).
    const bg = await page.$eval(`.hm-cell[data-cell="${best}"]`, (e) => (e as unknown as { style: { background: string } }).style.background);
    assert.match(bg, /rgb\(253, 231, 37\)/);

    // Another metric: the chart follows, the best cell is recomputed for it.
    await page.selectOption('#metric', 'bestKnn');
    await drawn(page, 2);
    const bestKnn = s.cells.reduce((b, c, i) => ((c.metrics.bestKnn?.mean ?? -1) > (s.cells[b].metrics.bestKnn?.mean ?? -1) ? i : b), 0);
    assert.deepEqual(await page.$$eval('.hm-cell.best', (els) => els.map((e) => e.getAttribute('data-cell'))), [String(bestKnn)]);
    assert.match((await page.textContent('#chart-title'))!, /kNN accuracy \(best\)/);

    // Clicking a cell asks for its runs in Compare; the host checks they are this sweep's and passes them on.
    await page.click(`.hm-cell[data-cell="${cc}"]`);
    await page.waitForFunction(() => true);
    for (let i = 0; i < 50 && !p.calls.compare.length; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(p.calls.compare, [s.cells[cc].runIds]);

    // Runs table: every run, sortable; the run id opens its dashboard.
    assert.equal((await page.$$('#runs tbody tr')).length, 32);
    await page.click('#runs button.sort[data-sort="linear"]');
    const linearCol = await page.$$eval('#runs thead th', (ths) => ths.findIndex((t) => (t.textContent ?? '').startsWith('linear')));
    const col = await page.$$eval(`#runs tbody tr td:nth-child(${linearCol + 1})`, (tds) => tds.map((t) => t.textContent ?? ''));
    const nums = col.filter((v) => v !== '—').map(Number);
    assert.deepEqual(nums, [...nums].sort((x, y) => y - x), 'highest linear probe first');
    assert.deepEqual(col.slice(nums.length), ['—', '—', '—', '—'], 'runs without a linear probe last');
    assert.equal(await page.getAttribute('#runs th[aria-sort]', 'aria-sort'), 'descending');
    const firstRun = Number(await page.getAttribute('#runs tbody tr:first-child', 'data-run'));
    await page.click('#runs tbody tr:first-child button.link');
    for (let i = 0; i < 50 && !p.calls.openRun.length; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(p.calls.openRun, [firstRun]);

    // Export CSV: the host produces the text (the same as `clab sweep show`'s) and saves it.
    await page.click('#export');
    await page.waitForFunction(() => /Saved/.test(document.querySelectorAll('#notice')[0].textContent ?? ''));
    assert.equal(p.calls.csv.length, 1);
    assert.equal(p.calls.csv[0].fileName, 'SimCLR-augmentation-study.csv');
    assert.equal(p.calls.csv[0].text, sweepCsv(s));
    assert.equal(await page.textContent('#notice'), 'Saved /exports/SimCLR-augmentation-study.csv');

    // The view's choices are saved for a reload.
    const saved = await page.evaluate(() => (window as unknown as { __getState(): unknown }).__getState());
    assert.ok(isSweepState(saved));
    assert.deepEqual(saved, { sweepId: aug.sweepId, metric: 'bestKnn', sort: { key: 'linear', descending: true } });
    await p.close();
    assert.deepEqual(p.problems, []);
    await screenshots(aug.sweepId, 'heatmap');
  });

  test('one axis: bars with ± std whiskers in the file order, the best marked', async () => {
    const p = await open(lr.sweepId);
    const { page } = p;
    assert.equal(await page.getAttribute('#chart', 'data-kind'), 'bars');
    assert.equal(await page.inputValue('#metric'), 'knn');
    assert.deepEqual(await texts(page, '.bar-row .bar-label'), ['0.0003', '0.001', '0.003', '0.01']);
    // 0.003: kNN last = 0.7 + 0.01 × seed over seeds 0, 1, 2 → 71.0 ± 1.0.
    const values = await texts(page, '.bar-row .bar-value');
    assert.equal(values[2], '71.0 ± 1.0 ★');
    assert.equal((await page.$$('.bar-row.best')).length, 1);
    assert.equal(await page.getAttribute('.bar-row.best', 'data-cell'), '2');
    // Bar lengths are proportional to the means (from 0).
    const widths = await page.$$eval('.bar-row .bar-fill', (els) => els.map((e) => (e as unknown as { getBoundingClientRect(): { width: number } }).getBoundingClientRect().width));
    assert.ok(Math.abs(widths[0] / widths[2] - 0.51 / 0.71) < 0.01, `widths ${widths}`);
    await page.click('.bar-row[data-cell="3"]');
    for (let i = 0; i < 50 && !p.calls.compare.length; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(p.calls.compare[0].length, 3);
    await p.close();
    assert.deepEqual(p.problems, []);
    await screenshots(lr.sweepId, 'bars');
  });

  test('three axes: parallel coordinates, one line per cell through its values to its mean, coloured by it; a running cell dashed', async () => {
    const p = await open(three.sweepId);
    const { page } = p;
    assert.equal(await page.getAttribute('#chart', 'data-kind'), 'parallel');
    assert.equal((await page.$$('#parallel .pc-line')).length, 18);
    assert.equal((await page.$$('#parallel .pc-line.pending')).length, 1);
    assert.deepEqual(await texts(page, '#parallel .pc-name'), ['optimizer.lr', 'projector.out', 'batchSize', 'linear probe (%)']);
    const s = await summaryOf(three.sweepId);
    assert.equal(await page.getAttribute('#parallel .pc-line.best', 'data-cell'), String(s.best));
    // The best cell is lr 0.01, out 64, batch 32 (the batch-64 one is still running).
    assert.deepEqual(s.cells[s.best!].key, { 'optimizer.lr': 0.01, 'projector.out': 64, batchSize: 32 });
    // Its line ends at the top of the metric axis; a line has a point per axis.
    const pts = (await page.getAttribute('#parallel .pc-line.best polyline.vis', 'points'))!.split(' ').map((xy) => xy.split(',').map(Number));
    assert.equal(pts.length, 4);
    assert.equal(pts[3][1], 34, 'the top of the metric axis (names on one line at 1280 px)');
    await page.click('#parallel .pc-line.best polyline.hit', { force: true });
    for (let i = 0; i < 50 && !p.calls.compare.length; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(p.calls.compare, [s.cells[s.best!].runIds]);
    await p.close();
    assert.deepEqual(p.problems, []);
    await screenshots(three.sweepId, 'parallel');
  });

  test('live: a run finishing redraws the counts, its cell and the row average without a reload', async () => {
    const p = await open(aug.sweepId, 1280, 150);
    const { page } = p;
    const running = (await store.sweepRuns(aug.sweepId)).find((r) => r.status === 'running')!;
    await recordOutcome(store, running, { status: 'completed', knn: [0.3, 0.31], linear: 0.35 });
    await store.finishRun(running.id, 'completed');
    await page.waitForFunction(() => (document.querySelectorAll('#done')[0].textContent ?? '') === '29/32 done', undefined, { timeout: 10_000 });
    const s = await summaryOf(aug.sweepId);
    const bb = s.cells.findIndex((c) => c.key.first === 'blur' && c.key.second === 'blur');
    assert.equal(await page.textContent(`.hm-cell[data-cell="${bb}"] .mean`), '35.0');
    assert.deepEqual(await texts(page, '#counts .badge'), ['2 queued', '1 failed']);
    // The queued runs keep it polling; nothing new means nothing is sent again.
    const before = p.toWebview.length;
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(p.toWebview.length, before);
    await p.close();
    assert.deepEqual(p.problems, []);
  });

  test('bad messages: the host refuses runs of other sweeps and malformed messages; the webview ignores a malformed summary', async () => {
    const p = await open(lr.sweepId);
    const { page } = p;
    logs.length = 0;
    // A webview that asks for a run of another sweep, or sends garbage, gets nothing opened.
    await page.evaluate((id) => window.acquireVsCodeApi().postMessage({ type: 'compare', runIds: [id] }), aug.runIds[0]);
    await page.waitForFunction(() => /not runs of sweep/.test(document.querySelectorAll('#error')[0].textContent ?? ''));
    await page.evaluate(() => window.acquireVsCodeApi().postMessage({ type: 'openRun', runId: 'x' }));
    await page.evaluate(() => window.acquireVsCodeApi().postMessage({ type: 'compare', runIds: [1], extra: true }));
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(p.calls.compare, []);
    assert.deepEqual(p.calls.openRun, []);
    assert.equal(logs.filter((l) => /ignored an invalid message/.test(l)).length, 2);
    assert.equal(logs.filter((l) => /refused to open run/.test(l)).length, 1);
    // A malformed summary from the host side is dropped: the page keeps what it showed.
    const renders = await page.evaluate(() => window.__sweep.renders);
    await page.evaluate(() => window.postMessage({ type: 'summary', summary: { sweep: { id: 1 } }, progress: 'x' }, '*'));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(await page.evaluate(() => window.__sweep.renders), renders);
    assert.equal((await page.$$('.bar-row')).length, 4);
    await p.close();
    assert.deepEqual(
      p.problems.filter((x) => !/invalid message/.test(x)),
      [],
    );
    assert.equal(p.problems.filter((x) => /invalid message/.test(x)).length, 1);
  });

  test('a deleted sweep shows an error, not a blank page', async () => {
    const { calls, actions } = fakeActions();
    const p = await openPanel(browser, server.origin, 'sweep', deps(), (d) => new SweepController(999, d, actions));
    await p.page.waitForFunction(() => /Sweep 999 is not in/.test(document.querySelectorAll('#error')[0].textContent ?? ''));
    await p.close();
    assert.deepEqual(calls.compare, []);
  });
});

describe('sweep view protocol and VS Code wiring', () => {
  test('guards: webview → host messages and the saved state are checked; a summary from the store passes the host → webview guard', async () => {
    assert.ok(isSweepToHost({ type: 'ready' }));
    assert.ok(isSweepToHost({ type: 'compare', runIds: [1, 2] }));
    assert.ok(isSweepToHost({ type: 'openRun', runId: 3 }));
    assert.ok(isSweepToHost({ type: 'exportCsv' }));
    for (const bad of [null, [], { type: 'ready', x: 1 }, { type: 'compare', runIds: [] }, { type: 'compare', runIds: [1.5] }, { type: 'compare', runIds: [0] }, { type: 'openRun', runId: -1 }, { type: 'delete' }]) assert.equal(isSweepToHost(bad), false, JSON.stringify(bad));
    assert.ok(isSweepState({ sweepId: 1, metric: null, sort: { key: 'axis:optimizer.lr', descending: false } }));
    assert.equal(isSweepState({ sweepId: 1, metric: 'loss', sort: { key: 'index', descending: false } }), false);
    assert.equal(isSweepState({ sweepId: 1, metric: null, sort: { key: 'axis:', descending: false } }), false);
    const s = JSON.parse(JSON.stringify(await summaryOf(aug.sweepId))) as SweepSummary;
    assert.ok(isSweepToWebview({ type: 'summary', summary: s, progress: '' }));
    assert.equal(isSweepToWebview({ type: 'summary', summary: { ...s, best: s.cells.length }, progress: '' }), false);
    assert.equal(isSweepToWebview({ type: 'summary', summary: { ...s, runs: [{ ...s.runs[0], status: 'exploded' }] }, progress: '' }), false);
  });

  test('sweepEvals condenses the evaluations to what the summary reads: the same summary as from every evaluation, NaN and all', async () => {
    // A run whose last kNN evaluation is NaN (a diverged epoch): last and best are its last finite ones.
    const [r] = await store.sweepRuns(lr.sweepId);
    await store.recordEval(r.id, { protocol: 'knn', value: Number.NaN, epoch: 4, details: {} });
    for (const { sweepId } of [aug, lr, three]) {
      const sweep = (await store.getSweep(sweepId))!;
      const runs = await store.sweepRuns(sweepId);
      const full = summarizeSweep(sweep, runs, await store.evalsOf(runs.map((x) => x.id)));
      const condensed = await store.sweepEvals(sweepId);
      assert.deepEqual(summarizeSweep(sweep, runs, condensed), full);
      assert.ok([...condensed.values()].every((list) => list.length <= 4), 'at most best kNN, last kNN, linear, collapse per run');
    }
    const lrSummary = await summaryOf(lr.sweepId);
    assert.equal(lrSummary.runs[0].metrics.knn, 0.5);
  });

  test('openSweep takes an id or a Runs-view sweep node, reveals an open panel, restores after a reload; the CSV goes through a save dialog', async () => {
    const services = {
      context: { extensionUri: Uri.file(root), subscriptions: [] },
      stores: { get: async () => store, path: dbPath },
      manager: { onWorkerEvent: () => ({ dispose: () => undefined }) },
      tree: { find: () => undefined, all: () => [], refresh: async () => undefined },
      log: { warn: (m: string) => logs.push(m) },
      settings: () => ({ defaultDataset: 'builtin' }),
    } as unknown as Services;
    const w = new Webviews(panelHost(services));
    const disposables = w.register();
    assert.ok(stub.serializers.has('contrastiveLab.sweep'));
    const before = stub.panels.length;
    await w.commands['contrastiveLab.openSweep'](lr.sweepId);
    const panel = stub.panels[stub.panels.length - 1] as WebviewPanel;
    assert.equal(panel.viewType, 'contrastiveLab.sweep');
    assert.match(panel.webview.html, /sweep\.js/);
    await w.commands['contrastiveLab.openSweep']({ kind: 'sweep', sweep: { id: lr.sweepId } });
    assert.equal(stub.panels.length, before + 1, 'the open panel is revealed, not duplicated');
    panel.receive({ type: 'ready' });
    for (let i = 0; i < 100 && panel.title !== 'Sweep: learning rate'; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(panel.title, 'Sweep: learning rate');
    // No argument: a quick pick of the database's sweeps.
    stub.responder = (pr) => (pr.kind === 'quickPick' ? 'three axes' : undefined);
    await w.commands['contrastiveLab.openSweep']();
    assert.equal(stub.panels[stub.panels.length - 1].viewType, 'contrastiveLab.sweep');
    assert.equal(stub.panels.length, before + 2);
    // Export: the save dialog's file gets the CSV.
    const out = join(mkdtempSync(join(tmpdir(), 'clab-sweepcsv-')), 'lr.csv');
    stub.responder = (pr) => (pr.kind === 'saveDialog' ? Uri.file(out) : undefined);
    panel.receive({ type: 'exportCsv' });
    for (let i = 0; i < 100 && !panel.posted.some((m) => (m as { type: string }).type === 'exported'); i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(readFileSync(out, 'utf8'), sweepCsv(await summaryOf(lr.sweepId)));
    stub.reset();
    // After a reload VS Code hands back the panel and the state the webview saved.
    const restored = new (panel.constructor as typeof WebviewPanel)('contrastiveLab.sweep', 'old');
    await stub.serializers.get('contrastiveLab.sweep')!.deserializeWebviewPanel(restored, { sweepId: three.sweepId, metric: 'knn', sort: { key: 'index', descending: false } });
    assert.equal(restored.title, `Sweep #${three.sweepId}`);
    assert.match(restored.webview.html, /sweep\.js/);
    const broken = new (panel.constructor as typeof WebviewPanel)('contrastiveLab.sweep', 'x');
    await stub.serializers.get('contrastiveLab.sweep')!.deserializeWebviewPanel(broken, { sweepId: 'nope' });
    assert.equal(broken.disposed, true);
    for (const d of disposables) d.dispose();
  });
});
