import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { canvases, CLASS_COLORS, huesDrawn } from './pixels';
import { workerProcesses } from './server';
import { skip, type Steps } from './steps';
import { escapeRe, waitFor, Workbench } from './workbench';

/**
 * The main scenario, in a trusted workspace (server started with --disable-workspace-trust): what a
 * researcher does in a first session, each step checked on what the UI shows.
 */

export interface ScenarioContext {
  steps: Steps;
  browser: Browser;
  url: string;
  workspace: string;
  /** The installed extension's folder and its package.json (what it contributes). */
  extensionDir: string;
  extensionsDir: string;
  contributedCommands: Set<string>;
  /** Minutes a one-epoch run on the whole built-in dataset may take here (CPU shared with others). */
  fullEpochMinutes: number;
  log(m: string): void;
}

/** Config files written into the workspace before it is opened (see run.ts). */
export const WORKSPACE_FILES: Record<string, object> = {
  // trainLimit keeps these runs to seconds; the wizard run trains on the whole built-in dataset.
  'quick.clrun.json': { name: 'Config file run', method: 'simclr', dataset: 'builtin', epochs: 1, batchSize: 128, trainLimit: 512 },
  'byol.clrun.json': { name: 'BYOL for Compare', method: 'byol', dataset: 'builtin', epochs: 1, batchSize: 128, trainLimit: 1024 },
  'stop.clrun.json': { name: 'Run to stop', method: 'simclr', dataset: 'builtin', epochs: 3, batchSize: 64 },
  // Two axes (a heatmap), four runs of seconds each.
  'small.clsweep.json': {
    name: 'Small sweep',
    base: { method: 'simclr', dataset: 'builtin', epochs: 1, batchSize: 128, trainLimit: 256, eval: { linearProbe: true } },
    grid: { 'optimizer.lr': [0.001, 0.003], 'projector.out': [32, 64] },
    jobs: 1,
  },
};

const WEBVIEW_COMMANDS = {
  dashboard: 'contrastiveLab.openDashboard',
  embeddings: 'contrastiveLab.showEmbeddings',
  augmentations: 'contrastiveLab.previewAugmentations',
  compare: 'contrastiveLab.compareRuns',
};

export async function mainScenario(ctx: ScenarioContext): Promise<void> {
  const { steps } = ctx;
  const page: Page = await ctx.browser.newPage({ viewport: { width: 1600, height: 1000 } });
  const wb = new Workbench(page);
  const sc = { name: 'main', page: () => page };
  const min = 60_000;
  const state: { wizardRun?: string; byolRun?: string } = {};
  const needWebview = (cmd: string) => {
    if (!ctx.contributedCommands.has(cmd)) skip(`the installed extension does not contribute ${cmd} (the webview panels of issue 7 are not in this build)`);
  };

  await steps.step(sc, 'workspace', 'Open a workspace', async () => {
    await wb.open(`${ctx.url}/?folder=${encodeURIComponent(ctx.workspace)}`);
    await wb.widenSideBar(520);
    const title = await waitFor('the window title to name the workspace folder', async () => {
      const t = await page.title();
      return t.includes(ctx.workspace.split('/').pop()!) && t;
    }, 60_000);
    return `window title: ${title}`;
  }, { timeoutMs: 3 * min });

  await steps.step(sc, 'welcome', 'The Contrastive Lab view is in the activity bar, with its welcome view', async () => {
    const item = wb.activityItem('Contrastive Lab');
    await item.waitFor({ timeout: 60_000 });
    await item.click();
    await wb.widenSideBar(520);
    const welcome = page.locator('.pane-body .welcome-view-content').filter({ hasText: 'No runs yet' });
    await welcome.waitFor({ timeout: 60_000 });
    const text = await welcome.innerText();
    assert.match(text, /Train a self-supervised model/);
    const buttons = await welcome.locator('.monaco-button').allInnerTexts();
    assert.ok(buttons.some((b) => /New Run/.test(b)), `the welcome view has a New Run button (buttons: ${buttons.join(', ')})`);
    return `welcome view: “${text.split('\n')[0]}”; buttons: ${buttons.join(', ')}`;
  }, { timeoutMs: 2 * min, needs: ['workspace'] });

  await steps.step(sc, 'new-run-wizard', 'Command palette → New Run… → SimCLR on the built-in dataset, 1 epoch', async () => {
    const before = new Set(await wb.runLabels());
    await wb.runCommand('Contrastive Lab: New Run…');
    const method = await wb.pick({ title: /New Run/, placeholder: /method/i }, /^SimCLR\b/);
    await steps.shot(page, 'method');
    const dataset = await wb.pick({ placeholder: /^Dataset/ }, /^builtin\b/);
    const answers: string[] = [];
    // Each step's title counts "(n/8)" (method 1, dataset 2): a step is read only once the count has moved
    // past the step just answered, whose rows may still be on screen for a moment.
    const stepOf = (title: string) => Number(/\((\d+)\/\d+\)/.exec(title)?.[1] ?? 0);
    let answered = 2;
    // The remaining steps: the method's key hyper-parameters, each prefilled with its default; only the
    // number of epochs is changed. Then the last step: Start Run.
    for (let guard = 0; guard < 20; guard++) {
      const kind = await waitFor('the next wizard step', async () => {
        if (!(await wb.quickInput.isVisible())) return undefined;
        if (stepOf(await wb.quickTitle()) <= answered) return undefined;
        const placeholder = (await wb.quickInput.locator('input').first().getAttribute('placeholder')) ?? '';
        if (/Start the run/.test(placeholder)) return 'final';
        const message = ((await wb.quickInput.locator('.quick-input-message').textContent()) ?? '').trim();
        if (message) return 'input';
        if ((await wb.quickRows()).length) return 'pick';
        return undefined;
      }, 20_000, 200);
      if (kind === 'final') break;
      const title = await wb.quickTitle();
      answered = stepOf(title);
      if (kind === 'input') {
        const prompt = ((await wb.quickInput.locator('.quick-input-message').textContent()) ?? '').trim();
        if (/^Epochs/.test(prompt)) {
          await steps.shot(page, 'epochs');
          await wb.answer(/^Epochs/, '1');
          answers.push(`${title}: Epochs = 1`);
        } else {
          const value = await wb.quickInput.locator('input').first().inputValue();
          answers.push(`${title}: ${(/^(.+?): (?=[A-Z])/.exec(prompt)?.[1] ?? prompt).trim()} = ${value}`);
          await wb.answer(/./, undefined);
        }
      } else {
        const placeholder = (await wb.quickInput.locator('input').first().getAttribute('placeholder')) ?? '';
        answers.push(`${title}: ${placeholder.split(' — ')[0]} = default`);
        await wb.quickInput.locator('input').first().press('Enter');
      }
      await page.waitForTimeout(300);
    }
    assert.ok(answers.some((a) => /Epochs/.test(a)), `the wizard asked for the number of epochs (steps: ${answers.join('; ')})`);
    await steps.shot(page, 'start');
    await wb.pick({ placeholder: /Start the run/ }, /Start Run/);
    const label = await waitFor('a new run in the Runs view', async () => (await wb.runLabels()).find((l) => !before.has(l)), 60_000);
    state.wizardRun = label.split(', ')[0];
    return `picked “${method}”, “${dataset}”; ${answers.join('; ')}; new run “${state.wizardRun}”`;
  }, { timeoutMs: 5 * min, needs: ['welcome'] });

  await steps.step(sc, 'run-running', 'The run appears in the Runs view as running', async () => {
    // Running and past its first steps (the row shows live progress).
    const label = await wb.waitForRun(state.wizardRun!, /^running$/, 10 * min, /epoch 1\/1 · [1-9]\d*%/);
    return label;
  }, { timeoutMs: 11 * min, needs: ['new-run-wizard'] });

  await steps.step(sc, 'run-completed', 'The run completes, with its kNN accuracy', async () => {
    const label = await wb.waitForRun(state.wizardRun!, /^completed$/, ctx.fullEpochMinutes * min, /kNN \d+(\.\d+)?%/);
    const knn = Number(/kNN (\d+(?:\.\d+)?)%/.exec(label)![1]);
    assert.ok(knn > 10 && knn <= 100, `kNN accuracy ${knn}% is above chance (10 classes)`);
    const note = await wb.waitNotification(new RegExp(`${escapeRe(state.wizardRun!)}.*completed: kNN accuracy`), 30_000).catch(() => '(no completion notification seen)');
    return `${label}; notification: ${note}`;
  }, { timeoutMs: (ctx.fullEpochMinutes + 1) * min, needs: ['run-running'] });

  await steps.step(sc, 'progress-closed', 'The run’s progress notification closes when it ends', async () => {
    const training = new RegExp(`^Training “${escapeRe(state.wizardRun!)}”`);
    await waitFor('no “Training …” progress notification for the finished run', async () => !(await wb.notifications()).some((n) => training.test(n)), 15_000).catch(async (e: Error) => {
      throw new Error(`${e.message}; on screen: ${JSON.stringify(await wb.notifications())} — a progress notification (with Cancel) is left over after the run ended`);
    });
    return 'no progress notification left';
  }, { timeoutMs: min, needs: ['run-completed'] });

  await steps.step(sc, 'dashboard', 'Open Run Dashboard: loss and kNN curves are drawn', async () => {
    needWebview(WEBVIEW_COMMANDS.dashboard);
    await wb.showRuns();
    await wb.clearNotifications();
    await wb.contextMenu(wb.runRow(state.wizardRun!), 'Open Run Dashboard');
    const frame = await wb.webviewFrame(new RegExp(`^Dashboard: ${escapeRe(state.wizardRun!)}$`));
    await waitFor('the dashboard to show the run as completed', async () => /completed/.test((await frame.locator('#status').textContent()) ?? ''), 60_000);
    const points = await waitFor('loss points in the dashboard', async () => {
      const n = (await frame.evaluate('(() => { const d = window.__dashboard; return d && d.charts.loss ? [d.charts.loss.data[0].length, d.charts.knn.data[0].length] : null; })()')) as [number, number] | null;
      return n && n[0] >= 2 && n[1] >= 1 ? n : undefined;
    }, 60_000);
    const [loss] = await canvases(frame, '#loss-chart canvas');
    const [knn] = await canvases(frame, '#knn-chart canvas');
    assert.ok(loss && huesDrawn(loss) >= 1, `the loss chart has a coloured curve (hue buckets ${JSON.stringify(loss?.hueBuckets)})`);
    assert.ok(knn && huesDrawn(knn, 5) >= 1, `the kNN chart shows its point (hue buckets ${JSON.stringify(knn?.hueBuckets)})`);
    return `loss curve: ${points[0]} points, kNN: ${points[1]} point(s); coloured pixels: loss ${loss.hueBuckets.reduce((a, b) => a + b)}, kNN ${knn.hueBuckets.reduce((a, b) => a + b)}`;
  }, { timeoutMs: 3 * min, needs: ['run-completed'] });

  await steps.step(sc, 'embeddings', 'Explore Embeddings: a t-SNE map with points in 10 colours', async () => {
    needWebview(WEBVIEW_COMMANDS.embeddings);
    await wb.showRuns();
    await wb.contextMenu(wb.runRow(state.wizardRun!), 'Explore Embeddings');
    const frame = await wb.webviewFrame(new RegExp(`^Embeddings: ${escapeRe(state.wizardRun!)}$`));
    const method = await frame.locator('#method').inputValue({ timeout: 30_000 });
    assert.equal(method, 'tsne', 'the map is a t-SNE map by default');
    const progress = await waitFor('the t-SNE map to finish', async () => {
      const t = (await frame.locator('#progress-text').textContent()) ?? '';
      return /\d+ points/.test(t) && !/iteration/.test(t) && t;
    }, 8 * min, 1000);
    const [map] = await canvases(frame, '#plot canvas.scatter', CLASS_COLORS);
    assert.ok(map, 'the map canvas exists');
    const colours = map.matches.filter((n) => n >= 5).length;
    const legend = await frame.locator('#legend button').count();
    assert.equal(colours, 10, `points in 10 class colours on the map (pixels per class colour: ${map.matches.join(', ')})`);
    assert.equal(legend, 10, 'a legend entry per class');
    return `${progress}; pixels per class colour: ${map.matches.join(', ')}; legend: ${legend} classes`;
  }, { timeoutMs: 10 * min, needs: ['run-completed'] });

  await steps.step(sc, 'augmentations', 'Preview Augmentations: a grid of images', async () => {
    needWebview(WEBVIEW_COMMANDS.augmentations);
    await wb.showRuns();
    await wb.contextMenu(wb.runRow(state.wizardRun!), 'Preview Augmentations');
    const frame = await wb.webviewFrame(new RegExp(`^Augmentations: ${escapeRe(state.wizardRun!)}$`));
    const n = await waitFor('augmented images in the grid', async () => {
      const c = await frame.locator('#grid canvas.thumb').count();
      return c >= 6 && c;
    }, 3 * min, 1000);
    const thumbs = await canvases(frame, '#grid canvas.thumb');
    const images = thumbs.filter((t) => t.drawn > 0 && t.greyLevels >= 8).length;
    assert.ok(images >= 6, `at least 6 thumbnails show an image (${images} of ${thumbs.length} have ≥ 8 grey levels)`);
    const rows = await frame.locator('#grid .aug-row:not(.aug-head)').count();
    return `${rows} source images, ${n} thumbnails, ${images} with image content`;
  }, { timeoutMs: 4 * min, needs: ['run-completed'] });

  await steps.step(sc, 'schema', 'A workspace *.clrun.json gets completion and validation from the schema', async () => {
    await wb.closeQuickInput();
    await wb.openFile('quick.clrun.json');
    await page.locator('.codelens-decoration a', { hasText: 'Run' }).first().waitFor({ timeout: 60_000 });
    // The line under the cursor replaced by `text` (the selection deleted first: typing a quote over a
    // selection would wrap it in quotes).
    const replaceLine = async (text: string) => {
      await page.keyboard.press('Home');
      await page.keyboard.press('Shift+End');
      await page.keyboard.press('Backspace');
      await page.keyboard.type(text);
    };
    // "Ln 8, Col 3" from the status bar.
    const cursor = async () => ((await page.locator('.statusbar-item[id="status.editor.selection"]').textContent()) ?? '').trim();
    const goToLine = async (line: number) => {
      await page.keyboard.press('Control+G');
      await wb.quickInput.locator('input').first().fill(`:${line}`);
      await page.keyboard.press('Enter');
      await wb.quickInput.waitFor({ state: 'hidden', timeout: 10_000 });
      await waitFor(`the cursor on line ${line}`, async () => (await cursor()).startsWith(`Ln ${line},`), 10_000, 200);
    };
    const editor = page.locator('.editor-instance .monaco-editor').first();
    await editor.click({ position: { x: 200, y: 10 } });
    // After the last property: a new one, with suggestions from the schema.
    await goToLine(7);
    await page.keyboard.press('End');
    await page.keyboard.type(',');
    await page.keyboard.press('Enter');
    await waitFor('the cursor on the new line 8', async () => (await cursor()).startsWith('Ln 8,'), 10_000, 200);
    const suggest = page.locator('.suggest-widget .monaco-list-row');
    // Ctrl+Space again if the language server was not ready for the first request.
    const offered = await waitFor('schema suggestions', async () => {
      if (!(await page.locator('.suggest-widget').isVisible())) {
        await page.keyboard.press('Control+Space');
        await page.waitForTimeout(1500);
      }
      const labels = await suggest.evaluateAll((els) => els.map((e) => (e.getAttribute('aria-label') ?? '').split(',')[0]));
      return labels.some((l) => /seed/.test(l)) && labels;
    }, 30_000, 300);
    assert.ok(offered.some((l) => /optimizer/.test(l)), `optimizer is offered too (${offered.join(', ')})`);
    assert.ok(!offered.some((l) => /^"?method"?$/.test(l)), 'keys already in the file are not offered again');
    await steps.shot(page, 'completion');
    await page.keyboard.press('Escape');
    // An out-of-range value: flagged with the schema's message.
    await replaceLine('"seed": -1');
    // Schema problems are warnings (syntax errors are errors).
    await page.locator('.monaco-editor .squiggly-warning').first().waitFor({ timeout: 30_000 });
    await wb.runCommand('View: Focus Problems (Errors, Warnings, Infos)').catch(() => page.keyboard.press('Control+Shift+M'));
    const problem = await waitFor('the schema’s message in the Problems panel', async () => {
      const rows = await page.locator('.markers-panel .monaco-list-row').allInnerTexts();
      return rows.find((r) => /below the minimum of 0/i.test(r));
    }, 30_000);
    await steps.shot(page, 'validation');
    // Fixed again (the CodeLens step runs this file), and saved.
    await wb.openFile('quick.clrun.json');
    await goToLine(8);
    await replaceLine('"seed": 1');
    await page.keyboard.press('Control+S');
    await waitFor('the problem to go away', async () => (await page.locator('.monaco-editor .squiggly-warning, .monaco-editor .squiggly-error').count()) === 0, 30_000);
    return `suggested: ${offered.slice(0, 12).join(', ')}…; problem: ${problem.replace(/\s+/g, ' ')}`;
  }, { timeoutMs: 4 * min, needs: ['workspace'] });

  await steps.step(sc, 'codelens', 'The config file runs from its CodeLens', async () => {
    await wb.openFile('quick.clrun.json');
    const lens = page.locator('.codelens-decoration a', { hasText: 'Run' }).first();
    await lens.waitFor({ timeout: 30_000 });
    await lens.click();
    const name = 'Config file run';
    await wb.waitForRun(name, /^(queued|starting|running|completed)$/, 60_000);
    const label = await wb.waitForRun(name, /^completed$/, 10 * min, /kNN/);
    return label;
  }, { timeoutMs: 11 * min, needs: ['schema'] });

  await steps.step(sc, 'byol', 'A second method: BYOL, run from the Explorer’s context menu', async () => {
    await wb.activityItem('Explorer').click();
    const row = page.locator('.explorer-folders-view .monaco-list-row[aria-label^="byol.clrun.json"]').first();
    await row.waitFor({ timeout: 30_000 });
    await wb.contextMenu(row, 'Run Config File');
    await wb.showRuns();
    const label = await wb.waitForRun('BYOL for Compare', /^completed$/, 10 * min, /kNN/);
    state.byolRun = 'BYOL for Compare';
    return label;
  }, { timeoutMs: 11 * min, needs: ['workspace'] });

  await steps.step(sc, 'compare', 'Select SimCLR and BYOL, Compare: two maps and an overlay chart', async () => {
    needWebview(WEBVIEW_COMMANDS.compare);
    await wb.showRuns();
    await wb.closeQuickInput();
    await wb.runRow(state.wizardRun!).click();
    await wb.runRow(state.byolRun!).click({ modifiers: ['Control'] });
    await wb.contextMenu(wb.runRow(state.byolRun!), 'Compare Runs');
    const frame = await wb.webviewFrame(/^Compare #\d+, #\d+$/);
    const maps = await waitFor('two finished embedding maps', async () => {
      const statuses = await frame.locator('#maps .card.map .row .muted').allInnerTexts();
      return statuses.length === 2 && statuses.every((s) => /\d+ points/.test(s)) && statuses;
    }, 10 * min, 1000);
    const scatters = await canvases(frame, '#maps canvas.scatter', CLASS_COLORS);
    assert.equal(scatters.length, 2, 'two maps side by side');
    for (const [i, m] of scatters.entries()) assert.ok(m.matches.filter((n) => n >= 5).length >= 8, `map ${i + 1} shows points in the class colours (${m.matches.join(', ')})`);
    const [chart] = await canvases(frame, '#chart canvas');
    assert.ok(chart && huesDrawn(chart, 20) >= 2, `the overlay chart draws two runs in two colours (hue buckets ${JSON.stringify(chart?.hueBuckets)})`);
    return `maps: ${maps.join(' | ')}; overlay chart hues: ${huesDrawn(chart, 20)}`;
  }, { timeoutMs: 12 * min, needs: ['run-completed', 'byol'] });

  await steps.step(sc, 'stop', 'Stop a run mid-epoch: it is marked cancelled', async () => {
    await wb.openFile('stop.clrun.json');
    await wb.runCommand('Contrastive Lab: Run Config File');
    const name = 'Run to stop';
    const running = await wb.waitForRun(name, /^running$/, 10 * min, /epoch 1\/3 · (?:[1-9]|[1-9]\d)%/);
    const workersBefore = workerProcesses(ctx.extensionsDir);
    assert.ok(workersBefore.length >= 1, 'its worker process is running');
    await steps.shot(page, 'running');
    await wb.contextMenu(wb.runRow(name), 'Stop Run');
    const label = await wb.waitForRun(name, /^cancelled$/, 2 * min);
    await waitFor('its worker process to exit', async () => workerProcesses(ctx.extensionsDir).length === 0, 60_000);
    return `before: ${running}; after: ${label}; worker pid ${workersBefore.map((w) => w.pid).join(', ')} exited`;
  }, { timeoutMs: 13 * min, needs: ['workspace'] });

  await steps.step(sc, 'pack', 'Pack the stopped run, unpack it: a second copy that resumes where it stopped', async () => {
    const name = 'Run to stop';
    await wb.showRuns();
    await wb.clearNotifications();
    await wb.contextMenu(wb.runRow(name), 'Pack Run…');
    const file = await wb.fileDialog(/^Pack “Run to stop” with its metrics/, undefined);
    assert.match(file, /\/run-\d+\.clabrun$/, 'the dialog proposes run-<id>.clabrun');
    assert.ok(file.startsWith(ctx.workspace), `the dialog proposes the workspace folder (${file})`);
    const packed = await wb.waitNotification(/packed into run-\d+\.clabrun \([\d.]+ MB; it resumes in epoch 1 at step \d+\)/, 60_000);
    const head = readFileSync(file).subarray(0, 2);
    assert.deepEqual([...head], [0x1f, 0x8b], 'the pack is a gzip file');
    await wb.clearNotifications();
    await wb.runCommand('Contrastive Lab: Unpack Run…');
    await wb.fileDialog(/^Unpack a run/, file);
    const added = await wb.waitNotification(/run-\d+\.clabrun added as run \d+ .*Resume continues it in epoch 1 at step \d+/, 60_000);
    const rows = await waitFor(`two “${name}” runs, both cancelled`, async () => {
      const l = (await wb.runLabels()).filter((x) => x.startsWith(`${name}, `));
      return l.length === 2 && l.every((x) => x.startsWith(`${name}, cancelled, `)) && l;
    }, 30_000, 500);
    const ids = rows.map((x) => /, cancelled, #(\d+) · /.exec(x)?.[1]);
    assert.ok(ids.every(Boolean) && ids[0] !== ids[1], `each row shows its own run id (${rows.join(' / ')})`);
    await steps.shot(page, 'unpacked');
    return `${packed} | ${added} | rows: ${rows.join(' / ')}`;
  }, { timeoutMs: 3 * min, needs: ['stop'] });

  await steps.step(sc, 'sweep', 'A sweep file starts from its CodeLens: a sweep node with 4/4 done, and its heatmap', async () => {
    await wb.openFile('small.clsweep.json');
    const lens = page.locator('.codelens-decoration a', { hasText: 'Start Sweep (4 runs)' }).first();
    await lens.waitFor({ timeout: 30_000 });
    // The file validates against the packaged sweep schema: no squiggle (an unloadable schema puts one on line 1).
    await page.waitForTimeout(3000);
    assert.equal(await page.locator('.monaco-editor .squiggly-warning, .monaco-editor .squiggly-error').count(), 0, 'the sweep file shows a problem (is dist/clsweep.schema.json packaged?)');
    await lens.click();
    await wb.showRuns();
    const sweepLabel = () => wb.runLabels().then((ls) => ls.find((l) => l.startsWith('Small sweep, sweep, ')));
    await waitFor('the sweep node in the Runs view', async () => (await sweepLabel()) ?? false, 60_000);
    const done = await waitFor('the sweep to show 4/4 done', async () => {
      const l = await sweepLabel();
      if (l && /failed/.test(l)) throw new Error(`a run of the sweep failed: ${l}`);
      return l && /4\/4 done/.test(l) && l;
    }, 10 * min, 1000);
    if (!ctx.contributedCommands.has('contrastiveLab.openSweep')) return `${done}; (no sweep view in this build)`;
    await wb.runRow('Small sweep').click();
    // The panel opens as "Sweep #N" and takes the sweep's name once its summary is read.
    const frame = await wb.webviewFrame(/^Sweep(: Small sweep| #\d+)$/, 60_000);
    const cells = await waitFor('a 2 × 2 heatmap with a value in every cell', async () => {
      const texts = await frame.locator('button.hm-cell').allInnerTexts();
      return texts.length === 4 && texts.every((t) => /\d/.test(t)) && texts;
    }, 60_000);
    await steps.shot(page, 'sweep-heatmap');
    return `${done}; heatmap: ${cells.map((c) => c.replace(/\s+/g, ' ')).join(' | ')}`;
  }, { timeoutMs: 12 * min, needs: ['workspace'] });

  await steps.step(sc, 'reload', 'Reload the window: the runs and the open dashboard come back', async () => {
    await wb.showRuns();
    const before = (await wb.runLabels()).map((l) => l.split(', ').slice(0, 2).join(', ')).sort();
    const withDashboard = ctx.contributedCommands.has(WEBVIEW_COMMANDS.dashboard) && !!state.wizardRun && steps.results.some((r) => r.name === 'dashboard' && r.status === 'passed');
    if (withDashboard) {
      await wb.closeQuickInput();
      await wb.contextMenu(wb.runRow(state.wizardRun!), 'Open Run Dashboard');
      await wb.activeTab(new RegExp(`^Dashboard: ${escapeRe(state.wizardRun!)}$`));
    }
    await wb.runCommand('Developer: Reload Window');
    await page.waitForTimeout(2000);
    await wb.waitReady();
    const after = await waitFor('the same runs, with the same statuses, after the reload', async () => {
      const now = (await wb.runLabels()).map((l) => l.split(', ').slice(0, 2).join(', ')).sort();
      return JSON.stringify(now) === JSON.stringify(before) && now;
    }, 2 * min, 1000).catch((e: Error) => {
      throw new Error(`${e.message}; before the reload: ${JSON.stringify(before)}`);
    });
    let dashboard = 'no dashboard was open';
    if (withDashboard) {
      await wb.activeTab(new RegExp(`^Dashboard: ${escapeRe(state.wizardRun!)}$`), 60_000);
      const frame = await wb.webviewFrame(new RegExp(`^Dashboard: ${escapeRe(state.wizardRun!)}$`), 60_000);
      const n = await waitFor('the restored dashboard to draw its loss curve', async () => {
        const v = (await frame.evaluate('(() => { const d = window.__dashboard; return d && d.charts.loss ? d.charts.loss.data[0].length : 0; })()')) as number;
        return v >= 2 && v;
      }, 60_000);
      dashboard = `dashboard restored with ${n} loss points`;
    }
    assert.ok(after.length >= 2, 'the runs are listed');
    return `runs: ${after.join(' | ')}; ${dashboard}`;
  }, { timeoutMs: 6 * min, needs: ['workspace'] });

  await page.close().catch(() => undefined);
}
