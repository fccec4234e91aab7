import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { AnalysisClient } from '../src/webviews/analysis/client';
import { AugmentClient } from '../src/webviews/augment/client';
import { AugmentController } from '../src/webviews/controllers/augment';
import { CompareController } from '../src/webviews/controllers/compare';
import type { Controller, PanelDeps } from '../src/webviews/controllers/types';
import { DashboardController } from '../src/webviews/controllers/dashboard';
import { EmbeddingsController } from '../src/webviews/controllers/embeddings';
import { SweepController } from '../src/webviews/controllers/sweep';
import type { PanelKind } from '../src/webviews/html';
import { ensureWebviewBuild, root } from './webview-harness/build';
import { makeFixture, type Fixture } from './webview-harness/fixtures';
import { launchChromium, openPanel, startServer } from './webview-harness/harness';
import { layoutProblems } from './webview-harness/layout';
import { recordSweep } from './webview-harness/sweep-fixtures';

// Browser globals used in code passed to the page (this file is compiled without the DOM lib).
declare const document: { body: { dataset: Record<string, string | undefined> }; querySelectorAll(s: string): { length: number } };
declare const requestAnimationFrame: (cb: () => void) => number;

// Every panel at the editor widths people have: 600 px (a narrow editor group), 900 px (a side panel
// open on a laptop) and 1400 px. Each must reflow: no two boxes on top of each other, nothing pushed
// out of the page sideways. Screenshots go to test-output/screenshots/layout-<panel>-<width>.png.
const WIDTHS = [600, 900, 1400];
const shots = join(root, 'test-output', 'screenshots');
let browser: Browser;
let server: Awaited<ReturnType<typeof startServer>>;
let fx: Fixture;
let analysis: AnalysisClient;
let augment: AugmentClient;
let sweepId: number;

before(async () => {
  ensureWebviewBuild();
  mkdirSync(shots, { recursive: true });
  fx = await makeFixture();
  // A 4 × 3 heatmap with the row average, 2 seeds per cell.
  const transforms = ['crop', 'cutout', 'color', 'sobel'];
  ({ sweepId } = await recordSweep(
    fx.store,
    { name: 'layout sweep', grid: { first: transforms.map((label, i) => ({ label, set: { 'optimizer.lr': 0.001 * (i + 1) } })), second: transforms.slice(0, 3).map((label, i) => ({ label, set: { 'projector.out': 16 * (i + 1) } })), seed: [0, 1] }, view: { rows: 'first', columns: 'second', rowAverage: true } },
    (r) => ({ status: 'completed', knn: [0.5, 0.55 + r.config.optimizer.lr * 10], linear: 0.6 + r.config.projector.out / 1000, collapse: 0.02 }),
  ));
  server = await startServer();
  browser = await launchChromium();
  analysis = new AnalysisClient();
  augment = new AugmentClient();
});

after(async () => {
  analysis?.dispose();
  augment?.dispose();
  await browser?.close();
  await server?.close();
  await fx?.store.close();
});

const deps = () => ({ store: async () => fx.store, dbPath: () => fx.dbPath, log: () => undefined });
const noActions = { stop: () => 0, resume: () => 0, rerun: () => 0, openEmbeddings: () => 0, openAugmentations: () => 0 };

/** Each panel on the fixture database, and what shows that it has finished drawing. */
const PANELS: { kind: PanelKind; make: (d: PanelDeps) => Controller; state?: () => unknown; ready: (page: Page) => Promise<unknown> }[] = [
  {
    kind: 'dashboard',
    make: (d) => new DashboardController(fx.runA, d, noActions, 60_000),
    ready: (page) => page.waitForFunction(() => document.body.dataset.points === '300'),
  },
  {
    kind: 'embeddings',
    make: (d) => new EmbeddingsController(fx.runA, d, analysis),
    state: () => ({ runId: fx.runA, embeddingId: fx.smallEmbedding, params: { method: 'pca' }, hidden: [] }),
    ready: (page) => page.waitForSelector('canvas.scatter[data-drawn="1000"]', { timeout: 30_000 }),
  },
  {
    kind: 'augmentations',
    make: (d) => new AugmentController(fx.runA, d, augment),
    ready: (page) => page.waitForFunction(() => Number(document.body.dataset.rendered ?? 0) > 0 && document.body.dataset.rendered === document.body.dataset.pending, undefined, { timeout: 60_000 }),
  },
  {
    kind: 'compare',
    make: (d) => new CompareController([fx.runA, fx.runB], d, analysis),
    ready: (page) => page.waitForFunction(() => document.querySelectorAll('.map canvas.scatter[data-drawn]').length === 2, undefined, { timeout: 60_000 }),
  },
  {
    kind: 'sweep',
    make: (d) => new SweepController(sweepId, d, { compare: () => undefined, openRun: () => undefined, saveCsv: async () => undefined }),
    ready: (page) => page.waitForFunction(() => document.querySelectorAll('.hm-cell .mean').length === 12, undefined, { timeout: 30_000 }),
  },
];

describe('panels reflow at 600, 900 and 1400 px', () => {
  for (const panel of PANELS) {
    test(`${panel.kind}: no overlapping boxes, no sideways overflow`, async () => {
      const found: string[] = [];
      for (const width of WIDTHS) {
        const p = await openPanel(browser, server.origin, panel.kind, deps(), panel.make, { state: panel.state?.(), viewport: { width, height: 900 } });
        await panel.ready(p.page);
        // Let layout settle (fonts, the charts' resize observers) before measuring.
        await p.page.evaluate(() => new Promise<void>((done) => requestAnimationFrame(() => requestAnimationFrame(() => done()))));
        await p.page.screenshot({ path: join(shots, `layout-${panel.kind}-${width}.png`), fullPage: true });
        found.push(...(await layoutProblems(p.page)).map((m) => `${width} px: ${m}`));
        await p.close();
        assert.deepEqual(p.problems, [], `${panel.kind} at ${width} px`);
      }
      assert.deepEqual(found, [], `${panel.kind} does not reflow:\n${found.join('\n')}`);
    });
  }
});

test('the layout check finds overlapping boxes, content sticking out and a page wider than the window', async () => {
  const page = await browser.newPage({ viewport: { width: 600, height: 400 } });
  try {
    await page.setContent(`<body style="margin:0">
      <div id="row" style="display:grid;grid-template-columns:minmax(0,1fr) 330px">
        <div id="images"><div id="strip" style="width:500px;height:40px"></div></div>
        <aside id="params" style="height:40px"></aside>
      </div>
      <div id="pushed" style="margin-top:-20px;height:30px"></div>
      <div id="tip" style="position:absolute;top:0;left:0;width:50px;height:50px"></div>
      <div style="overflow-x:auto"><div id="scrolls" style="width:900px;height:10px"></div></div>
    </body>`);
    const found = await layoutProblems(page);
    assert.ok(found.some((m) => /div#strip sticks out of div#images \(0\.\.500 px in a 270 px box\)/.test(m)), found.join('\n'));
    assert.ok(found.some((m) => /div#row overlaps div#pushed/.test(m)), found.join('\n'));
    assert.ok(!found.some((m) => /tip|scrolls/.test(m)), `positioned or scrolled content reported: ${found.join('\n')}`);
    await page.setContent('<body style="margin:0"><div style="width:800px;height:10px"></div></body>');
    assert.deepEqual(await layoutProblems(page), ['the page is 800 px wide in a 600 px window']);
    await page.setContent('<body style="margin:0"><div style="display:flex;flex-wrap:wrap"><div style="width:400px;height:10px"></div><div style="width:400px;height:10px"></div></div></body>');
    assert.deepEqual(await layoutProblems(page), []);
  } finally {
    await page.close();
  }
});
