import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { workerProcesses } from './server';
import type { Steps } from './steps';
import { waitFor, Workbench } from './workbench';

/**
 * Restricted Mode (server started without --disable-workspace-trust, the folder not trusted): recorded
 * runs can be browsed, but a workspace run config is not run — the user is told why, and no training
 * worker is started.
 */
export const UNTRUSTED_FILES: Record<string, object> = {
  'untrusted.clrun.json': { name: 'Must not run', method: 'simclr', dataset: 'builtin', epochs: 1, trainLimit: 256 },
};

export async function restrictedScenario(ctx: {
  steps: Steps;
  browser: Browser;
  url: string;
  workspace: string;
  extensionsDir: string;
  runCount(): Promise<number>;
}): Promise<void> {
  const { steps } = ctx;
  const page: Page = await ctx.browser.newPage({ viewport: { width: 1600, height: 1000 } });
  const wb = new Workbench(page);
  const sc = { name: 'restricted', page: () => page };
  const min = 60_000;

  await steps.step(sc, 'open-untrusted', 'Open a folder without trusting it: Restricted Mode', async () => {
    await page.goto(`${ctx.url}/?folder=${encodeURIComponent(ctx.workspace)}`, { timeout: 2 * min });
    await page.locator('.monaco-workbench').waitFor({ timeout: 2 * min });
    // VS Code asks once per folder; "No" keeps it in Restricted Mode.
    const dontTrust = page.locator('.monaco-dialog-box .monaco-button', { hasText: /No, I don.t trust/ });
    const asked = await dontTrust.waitFor({ timeout: 30_000 }).then(
      () => true,
      () => false,
    );
    if (asked) {
      await steps.shot(page, 'trust-prompt');
      await dontTrust.click();
    }
    await wb.waitReady();
    const indicator = await waitFor('the Restricted Mode indicator', async () => {
      const texts = await page.locator('.statusbar-item, .monaco-workbench .banner').allInnerTexts();
      return texts.find((t) => /Restricted Mode/i.test(t));
    }, 60_000);
    return `${asked ? 'trust prompt answered “No, I don’t trust the authors”' : 'no trust prompt (the folder was already untrusted)'}; shown: ${indicator.replace(/\s+/g, ' ').slice(0, 120)}`;
  }, { timeoutMs: 4 * min });

  await steps.step(sc, 'browse', 'Recorded runs are still listed in Restricted Mode', async () => {
    await wb.activityItem('Contrastive Lab').click();
    await wb.widenSideBar(520);
    const labels = await waitFor('the recorded runs in the Runs view', async () => {
      const l = await wb.runLabels();
      return l.length > 0 && l;
    }, 60_000);
    return `${labels.length} runs listed: ${labels.map((l) => l.split(', ').slice(0, 2).join(', ')).join(' | ')}`;
  }, { timeoutMs: 2 * min, needs: ['open-untrusted'] });

  await steps.step(sc, 'refused', 'Running a workspace config is refused with a message, and no worker is spawned', async () => {
    const runsBefore = await ctx.runCount();
    const workersBefore = workerProcesses(ctx.extensionsDir).map((p) => p.pid);
    await wb.openFile('untrusted.clrun.json');
    const lens = await waitFor('the CodeLens explaining Restricted Mode', async () => {
      const t = await page.locator('.codelens-decoration').allInnerTexts();
      return t.find((x) => /Restricted Mode/.test(x));
    }, 60_000);
    await wb.runCommand('Contrastive Lab: Run Config File');
    const message = await wb.waitNotification(/does not start runs from config files in Restricted Mode/, 30_000);
    // Give a worker that should not exist time to show up.
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const spawned = workerProcesses(ctx.extensionsDir).filter((p) => !workersBefore.includes(p.pid));
      assert.deepEqual(spawned, [], 'no training worker process was started');
      await new Promise((r) => setTimeout(r, 500));
    }
    const runsAfter = await ctx.runCount();
    assert.equal(runsAfter, runsBefore, 'no run was recorded');
    assert.ok(!(await wb.runLabels()).some((l) => l.startsWith('Must not run, ')), 'the config’s run is not in the Runs view');
    return `CodeLens: “${lens}”; message: “${message}”; runs recorded: ${runsBefore} → ${runsAfter}; no new worker process in 10 s`;
  }, { timeoutMs: 3 * min, needs: ['open-untrusted'] });

  await page.close().catch(() => undefined);
}
