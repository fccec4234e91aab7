/**
 * `npm run screenshots`: the README's pictures (docs/images/*.png), from real runs. Trains two short runs
 * on the built-in dataset (SimCLR and MoCo v2, 3 epochs on 2,048 images; ~3 min on 2 cores) into a
 * temporary database, then renders each panel's real front end and controller with the webview harness
 * in headless Chromium (Debian's /usr/bin/chromium, or $CHROMIUM_PATH) and saves what it shows.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { resolveConfig } from '../../src/core/config';
import { runTraining } from '../../src/engine/train';
import { RunStore } from '../../src/store/store';
import { AnalysisClient } from '../../src/webviews/analysis/client';
import { AugmentClient } from '../../src/webviews/augment/client';
import { AugmentController } from '../../src/webviews/controllers/augment';
import { CompareController } from '../../src/webviews/controllers/compare';
import { DashboardController } from '../../src/webviews/controllers/dashboard';
import { EmbeddingsController } from '../../src/webviews/controllers/embeddings';
import { ensureWebviewBuild, root } from './build';
import { launchChromium, openPanel, startServer } from './harness';

declare const document: { body: { dataset: Record<string, string | undefined> }; querySelectorAll(s: string): { length: number } };

const RUNS = [
  { method: 'simclr', name: 'SimCLR, 3 epochs' },
  { method: 'mocov2', name: 'MoCo v2, 3 epochs' },
];
const VIEWPORT = { width: 1280, height: 760 };

async function main(): Promise<void> {
  const out = join(root, 'docs', 'images');
  mkdirSync(out, { recursive: true });
  const tmp = mkdtempSync(join(tmpdir(), 'clab-screenshots-'));
  const dbPath = join(tmp, 'runs.db');
  const store = await RunStore.open(dbPath);
  const analysis = new AnalysisClient();
  const augment = new AugmentClient();
  let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  try {
    const ids: number[] = [];
    for (const r of RUNS) {
      const { config, problems } = resolveConfig({ method: r.method, name: r.name, dataset: 'builtin', epochs: 3, trainLimit: 2048, batchSize: 128 });
      if (!config) throw new Error(problems.map((p) => p.message).join('; '));
      const runId = await store.createRun(config, { status: 'running' });
      process.stderr.write(`training run ${runId}: ${r.name}…\n`);
      const outcome = await runTraining(config, { store, dbPath, runId, emit: () => undefined, cancel: { requested: false } });
      if (outcome.status !== 'completed') throw new Error(`${r.name} ${outcome.status}: ${'error' in outcome ? outcome.error : ''}`);
      ids.push(runId);
    }
    ensureWebviewBuild();
    server = await startServer();
    browser = await launchChromium();
    const deps = { store: async () => store, dbPath: () => dbPath, log: (m: string) => process.stderr.write(`${m}\n`) };
    const actions = { stop: () => 0, resume: () => 0, rerun: () => 0, openEmbeddings: () => 0, openAugmentations: () => 0 };
    const shots: { file: string; open: () => ReturnType<typeof openPanel>; ready: (page: Page) => Promise<unknown> }[] = [
      {
        file: 'dashboard.png',
        open: () => openPanel(browser!, server!.origin, 'dashboard', deps, (d) => new DashboardController(ids[0], d, actions), { viewport: VIEWPORT }),
        ready: (page) => page.waitForFunction(() => Number(document.body.dataset.points ?? 0) > 0),
      },
      {
        file: 'embeddings.png',
        open: () => openPanel(browser!, server!.origin, 'embeddings', deps, (d) => new EmbeddingsController(ids[0], d, analysis), { viewport: VIEWPORT }),
        ready: (page) => page.waitForFunction(() => document.body.dataset.done === 'true', undefined, { timeout: 180_000 }),
      },
      {
        file: 'augmentations.png',
        open: () => openPanel(browser!, server!.origin, 'augmentations', deps, (d) => new AugmentController(ids[0], d, augment), { viewport: VIEWPORT }),
        ready: (page) => page.waitForFunction(() => Number(document.body.dataset.rendered ?? 0) > 0 && document.body.dataset.rendered === document.body.dataset.pending, undefined, { timeout: 120_000 }),
      },
      {
        file: 'compare.png',
        open: () => openPanel(browser!, server!.origin, 'compare', deps, (d) => new CompareController(ids, d, analysis), { viewport: VIEWPORT }),
        ready: (page) => page.waitForFunction(() => document.querySelectorAll('.map canvas.scatter[data-drawn]').length === 2, undefined, { timeout: 180_000 }),
      },
    ];
    for (const s of shots) {
      const p = await s.open();
      await s.ready(p.page);
      await p.page.waitForTimeout(300); // the charts' resize observers and the last animation frame
      await p.page.screenshot({ path: join(out, s.file) });
      await p.close();
      if (p.problems.length) throw new Error(`${s.file}: ${p.problems.join('; ')}`);
      process.stderr.write(`wrote ${join('docs', 'images', s.file)}\n`);
    }
  } finally {
    analysis.dispose();
    augment.dispose();
    await browser?.close();
    await server?.close();
    await store.close();
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`screenshots: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
