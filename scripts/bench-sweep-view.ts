/**
 * How fast the sweep view opens on a big sweep: 500 recorded runs (a 10 × 10 grid × 5 seeds, each run
 * with 18 epochs of steps, a kNN evaluation per epoch, the collapse std and a linear probe: 20
 * evaluations) in a temporary run database, recorded through the store as the queue's workers record them.
 * Prints, as medians over the opens:
 *   - host: what the controller does per read — getSweep, sweepRuns, sweepEvals (each run's last and best
 *     values, condensed in SQL), summarizeSweep, and the JSON it compares to the last one sent; beside it
 *     the same summary from every evaluation (evalsOf, what `clab sweep show` reads);
 *   - page: the webview drawing the summary (header, heatmap, 500-row table) once it has it;
 *   - open → drawn: from the webview's `ready` to the frame with everything drawn, in the page's clock
 *     (host read, message transfer and validation, drawing, the frame).
 * The page is the real front end (dist/webview/sweep.js) in headless Chromium (Debian's /usr/bin/chromium,
 * or $CHROMIUM_PATH) through test/webview-harness, whose message channel is playwright's page.evaluate
 * rather than VS Code's postMessage. No peer: no other tool opens a sweep in an editor webview.
 *
 *   node --import tsx scripts/bench-sweep-view.ts [--runs 500] [--opens 7] [--screenshot FILE.png]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { RunStore } from '../src/store/store';
import { summarizeSweep } from '../src/store/sweeps';
import type { MetricPoint } from '../src/store/types';
import { SweepController } from '../src/webviews/controllers/sweep';
import type { PanelDeps } from '../src/webviews/controllers/types';
import { isSweepToWebview } from '../src/webviews/protocol/sweep';
import { ensureWebviewBuild } from '../test/webview-harness/build';
import { launchChromium, openPanel, startServer } from '../test/webview-harness/harness';
import { expandSweep } from '../src/core/sweep';

declare const window: { __sweep: { readyAt: number; lastMessageAt: number; lastRenderMs: number; lastDrawnAt: number; renders: number } };
declare const document: { body: { dataset: Record<string, string | undefined> } };

const { values } = parseArgs({ options: { runs: { type: 'string', default: '500' }, opens: { type: 'string', default: '7' }, screenshot: { type: 'string' } } });
const RUNS = Number(values.runs);
const OPENS = Number(values.opens);
const SEEDS = 5;
const EPOCHS = 18;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (v: number) => `${v.toFixed(1)} ms`;

async function main(): Promise<void> {
  ensureWebviewBuild();
  const dir = mkdtempSync(join(tmpdir(), 'clab-bench-sweep-'));
  const dbPath = join(dir, 'runs.db');
  const store = await RunStore.open(dbPath, { staleAfterMs: 24 * 3600_000 });
  try {
    // A rows × columns grid with SEEDS seeds making RUNS runs.
    const cells = Math.ceil(RUNS / SEEDS);
    const rows = Math.max(1, Math.floor(Math.sqrt(cells)));
    const cols = Math.ceil(cells / rows);
    const raw = {
      name: `bench ${RUNS} runs`,
      base: { method: 'simclr', epochs: EPOCHS, trainLimit: 64, batchSize: 32, encoder: { preset: 'tiny' } },
      grid: {
        first: Array.from({ length: rows }, (_, i) => ({ label: `t${i}`, set: { 'optimizer.lr': 0.001 } })),
        second: Array.from({ length: cols }, (_, i) => ({ label: `u${i}`, set: { 'projector.out': 16 } })),
        seed: Array.from({ length: SEEDS }, (_, i) => i),
      },
      view: { rows: 'first', columns: 'second', rowAverage: true, metric: 'linear' },
    };
    const e = expandSweep(raw);
    const t0 = performance.now();
    const { sweepId } = await store.createSweep({ name: e.spec.name, spec: e.spec, axes: e.axes, runs: e.runs.slice(0, RUNS) });
    const runs = await store.sweepRuns(sweepId);
    let evals = 0;
    for (const [i, r] of runs.entries()) {
      await store.markRunning(r.id, { backend: 'cpu', device: 'cpu', versions: {}, pid: process.pid, host: 'bench' });
      const points: MetricPoint[] = Array.from({ length: EPOCHS }, (_, k) => ({ step: (k + 1) * 10 - 1, epoch: k + 1, name: 'epoch_loss', value: 5 - k * 0.1, wallTime: Date.now() }));
      await store.recordStep(r.id, points);
      const final = 0.3 + ((i * 7919) % 1000) / 4000;
      for (let k = 1; k <= EPOCHS; k++) await store.recordEval(r.id, { protocol: 'knn', value: final * (0.6 + (0.4 * k) / EPOCHS), epoch: k, details: { k: 200 } });
      await store.recordEval(r.id, { protocol: 'collapse', value: 0.02 + (i % 7) / 1000, epoch: EPOCHS, details: {} });
      await store.recordEval(r.id, { protocol: 'linear', value: final + 0.04, epoch: EPOCHS, details: {} });
      await store.finishRun(r.id, 'completed');
      evals += EPOCHS + 2;
    }
    console.log(`recorded sweep #${sweepId}: ${runs.length} runs (${rows} × ${cols} cells × ${SEEDS} seeds), ${evals} evaluations in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    // Host side alone, as SweepController.read does it.
    const host: Record<'getSweep' | 'sweepRuns' | 'sweepEvals' | 'summarize' | 'json' | 'total' | 'cpu' | 'guard' | 'evalsOf' | 'summarizeFull', number[]> = {
      getSweep: [],
      sweepRuns: [],
      sweepEvals: [],
      summarize: [],
      json: [],
      total: [],
      cpu: [],
      guard: [],
      evalsOf: [],
      summarizeFull: [],
    };
    let bytes = 0;
    for (let i = 0; i < OPENS; i++) {
      const cpu0 = process.cpuUsage();
      const a = performance.now();
      const sweep = (await store.getSweep(sweepId))!;
      const b = performance.now();
      const rs = await store.sweepRuns(sweepId);
      const c = performance.now();
      const ev = await store.sweepEvals(sweepId);
      const d = performance.now();
      const s = summarizeSweep(sweep, rs, ev);
      const f = performance.now();
      bytes = JSON.stringify(s).length;
      const g = performance.now();
      const cpu = process.cpuUsage(cpu0);
      host.cpu.push((cpu.user + cpu.system) / 1000);
      host.getSweep.push(b - a);
      host.sweepRuns.push(c - b);
      host.sweepEvals.push(d - c);
      host.summarize.push(f - d);
      host.json.push(g - f);
      host.total.push(g - a);
      const copy = JSON.parse(JSON.stringify({ type: 'summary', summary: s, progress: '' })) as unknown;
      const h0 = performance.now();
      if (!isSweepToWebview(copy)) throw new Error('the summary fails its own guard');
      host.guard.push(performance.now() - h0);
      // Side by side: every evaluation of every run (evalsOf), as the CLI's `sweep show` reads them.
      const e0 = performance.now();
      const full = await store.evalsOf(rs.map((r) => r.id));
      const e1 = performance.now();
      summarizeSweep(sweep, rs, full);
      host.evalsOf.push(e1 - e0);
      host.summarizeFull.push(performance.now() - e1);
    }

    // The real page, opened OPENS times.
    const server = await startServer();
    const browser = await launchChromium();
    const page: Record<'toHost' | 'read' | 'toPage' | 'render' | 'frame' | 'total' | 'rerender' | 'again', number[]> = { toHost: [], read: [], toPage: [], render: [], frame: [], total: [], rerender: [], again: [] };
    const clock = () => performance.timeOrigin + performance.now();
    try {
      for (let i = 0; i < OPENS; i++) {
        const actions = { compare: () => undefined, openRun: () => undefined, saveCsv: async () => undefined };
        // The host's side of the timeline: when `ready` arrived, when the summary was posted.
        const at = { ready: 0, posted: 0 };
        const make = (deps: PanelDeps) => {
          const c = new SweepController(sweepId, { ...deps, post: (m) => ((at.posted ||= clock()), deps.post(m)) }, actions);
          const handle = c.handle.bind(c);
          c.handle = (m: unknown) => ((at.ready ||= clock()), handle(m));
          return c;
        };
        const p = await openPanel(browser, server.origin, 'sweep', { store: async () => store, dbPath: () => dbPath }, make, { viewport: { width: 1400, height: 900 } });
        await p.page.waitForFunction(() => document.body.dataset.drawn === '1', undefined, { timeout: 60_000 });
        const t = await p.page.evaluate(() => window.__sweep);
        if (p.problems.length) throw new Error(p.problems.join('\n'));
        page.toHost.push(at.ready - t.readyAt);
        page.read.push(at.posted - at.ready);
        page.toPage.push(t.lastMessageAt - at.posted);
        page.render.push(t.lastRenderMs);
        page.frame.push(t.lastDrawnAt - t.lastMessageAt - t.lastRenderMs);
        page.total.push(t.lastDrawnAt - t.readyAt);
        // `ready` again once the page is idle (what a webview reload sends): the host reads and sends it all again.
        const drawnSoFar = Number(await p.page.evaluate(() => document.body.dataset.drawn));
        const readyAgain = await p.page.evaluate(() => {
          const t = performance.timeOrigin + performance.now();
          (globalThis as unknown as { acquireVsCodeApi(): { postMessage(m: unknown): void } }).acquireVsCodeApi().postMessage({ type: 'ready' });
          return t;
        });
        await p.page.waitForFunction((n) => Number(document.body.dataset.drawn) > n, drawnSoFar);
        page.again.push((await p.page.evaluate(() => window.__sweep)).lastDrawnAt - readyAgain);
        if (i === 0 && values.screenshot) await p.page.screenshot({ path: values.screenshot });
        if (i === 0) {
          // The same summary again (the page redraws every summary it gets), to see drawing alone.
          const again = JSON.stringify(p.toWebview.find((m) => (m as { type: string }).type === 'summary'));
          for (let k = 0; k < OPENS; k++) {
            const before = Number(await p.page.evaluate(() => document.body.dataset.drawn));
            await p.page.evaluate((x) => (globalThis as unknown as { postMessage(m: unknown, o: string): void }).postMessage(JSON.parse(x), '*'), again);
            await p.page.waitForFunction((n) => Number(document.body.dataset.drawn) > n, before);
            page.rerender.push((await p.page.evaluate(() => window.__sweep)).lastRenderMs);
          }
        }
        await p.close();
      }
    } finally {
      await browser.close();
      await server.close();
    }

    console.log(`\nSweep view, ${runs.length} runs × ${EVALS_PER_RUN} evaluations, median of ${OPENS} opens (each open in parentheses, ms):`);
    const line = (label: string, xs: number[]) => console.log(`  ${label.padEnd(36)} ${ms(median(xs)).padStart(10)}   (${xs.map((x) => x.toFixed(0)).join(", ")})`);
    line('host: getSweep', host.getSweep);
    line('host: sweepRuns', host.sweepRuns);
    line('host: sweepEvals (condensed)', host.sweepEvals);
    line('host: summarizeSweep', host.summarize);
    line(`host: JSON (${(bytes / 1024).toFixed(0)} KiB)`, host.json);
    line('host: total', host.total);
    line('host: total, CPU time', host.cpu);
    line('host: guard on the summary', host.guard);
    line('for comparison: evalsOf (every eval)', host.evalsOf);
    line('  + summarizeSweep on them', host.summarizeFull);
    console.log('  opening the page:');
    line('`ready` → host (harness channel)', page.toHost);
    line('host read + summary', page.read);
    line('summary → page (channel + guard)', page.toPage);
    line('page: render (header, chart, table)', page.render);
    line('page: render again, same summary', page.rerender);
    line('page: to the drawn frame', page.frame);
    line('open → drawn (ready → frame)', page.total);
    line('  of which outside the channel', page.total.map((t, i) => t - page.toHost[i] - page.toPage[i]));
    line('`ready` again, page idle → drawn', page.again);
    const best = Math.min(...page.total);
    console.log(`  target open → drawn < 300 ms: median ${median(page.total) < 300 ? 'meets it' : 'misses it'}, fastest open (${best.toFixed(0)} ms) ${best < 300 ? 'meets it' : 'misses it'}`);
    console.log(`\nmachine: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}; node ${process.version}`);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const EVALS_PER_RUN = EPOCHS + 2;
main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
