import type { Frame, Locator, Page } from 'playwright-core';

/**
 * The VS Code web workbench as a user sees it, through Playwright: the command palette, quick picks and
 * input boxes, the Runs view, notifications, editors, context menus and webview panels. Selectors are
 * the workbench's own class names and ARIA labels (tree rows carry "name, status, description").
 */

export class UiTimeout extends Error {}

/** Polls `probe` until it returns a value (not undefined/false) or the time is up, then fails saying what it waited for. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs: number, intervalMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new UiTimeout(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}${last ? ` (last error: ${(last as Error).message.split('\n')[0]})` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export class Workbench {
  constructor(readonly page: Page) {}

  get quickInput(): Locator {
    return this.page.locator('.quick-input-widget');
  }
  get runRows(): Locator {
    return this.page.locator('.monaco-list[aria-label="Runs"] .monaco-list-row');
  }

  async open(url: string, timeoutMs = 120_000): Promise<void> {
    await this.page.goto(url, { timeout: timeoutMs });
    await this.waitReady(timeoutMs);
  }

  /** The workbench is up and its extension host answers (the status bar and activity bar are drawn). */
  async waitReady(timeoutMs = 120_000): Promise<void> {
    await this.page.locator('.monaco-workbench').waitFor({ timeout: timeoutMs });
    await this.page.locator('.part.statusbar').waitFor({ timeout: timeoutMs });
    await this.page.locator('.part.activitybar, .activitybar').first().waitFor({ timeout: timeoutMs });
  }

  /** The activity bar's item for a view container, by its title. */
  activityItem(title: string): Locator {
    return this.page.locator(`.activitybar .action-item a[aria-label^="${title}"], .activitybar .action-item .action-label[aria-label^="${title}"]`).first();
  }

  async pressKey(key: string): Promise<void> {
    await this.page.keyboard.press(key);
  }

  /** F1, type the command's title, run it (the row whose label is exactly that title, so no other command runs). */
  async runCommand(title: string, timeoutMs = 15_000): Promise<void> {
    await this.closeQuickInput();
    const input = this.quickInput.locator('input').first();
    // Open and type again every 3 s until it takes: on a loaded machine a key pressed while a webview holds
    // the focus can be lost on its way to the workbench (seen once: the palette never opened), and the
    // palette can close again as it opens when a webview takes the focus back (seen once: the input went
    // inert, then hidden, before "Developer: Reload Window" was typed).
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await this.page.keyboard.press('F1');
      try {
        const wait = () => Math.max(1, Math.min(3_000, deadline - Date.now()));
        await input.waitFor({ timeout: wait() });
        await input.fill(`>${title}`, { timeout: wait() });
        break;
      } catch (e) {
        if (Date.now() >= deadline) throw e;
      }
    }
    const row = this.quickInput.locator('.quick-input-list .monaco-list-row').filter({ has: this.page.locator('.label-name', { hasText: title }) });
    await waitFor(
      `the command “${title}” in the command palette`,
      async () => {
        const labels = await row.evaluateAll((els) => els.map((e) => (e.querySelector('.label-name')?.textContent ?? '').trim()));
        return labels.some((l) => l === title);
      },
      timeoutMs,
      200,
    );
    const exact = row.filter({ has: this.page.locator('.label-name', { hasText: new RegExp(`^${escapeRe(title)}$`) }) }).first();
    await exact.click();
  }

  async closeQuickInput(): Promise<void> {
    await this.dismiss();
  }

  async quickTitle(): Promise<string> {
    return ((await this.quickInput.locator('.quick-input-title').textContent()) ?? '').trim();
  }

  /** Labels (aria) of the visible quick-pick rows. */
  async quickRows(): Promise<string[]> {
    return this.quickInput.locator('.quick-input-list .monaco-list-row').evaluateAll((els) => els.map((e) => e.getAttribute('aria-label') ?? ''));
  }

  /** Waits for a quick pick whose title/placeholder matches, then clicks the row whose label matches. */
  async pick(what: { title?: RegExp; placeholder?: RegExp }, row: RegExp, timeoutMs = 20_000): Promise<string> {
    await waitFor(
      `a quick pick ${what.title ?? ''} ${what.placeholder ?? ''} offering ${row}`,
      async () => {
        if (!(await this.quickInput.isVisible())) return false;
        if (what.title && !what.title.test(await this.quickTitle())) return false;
        if (what.placeholder && !what.placeholder.test((await this.quickInput.locator('input').first().getAttribute('placeholder')) ?? '')) return false;
        return (await this.quickRows()).some((l) => row.test(l));
      },
      timeoutMs,
      200,
    );
    const rows = this.quickInput.locator('.quick-input-list .monaco-list-row');
    const labels = await this.quickRows();
    const i = labels.findIndex((l) => row.test(l));
    await rows.nth(i).click();
    return labels[i];
  }

  /** Waits for an input box whose prompt matches, replaces its text and presses Enter. */
  async answer(prompt: RegExp, value: string | undefined, timeoutMs = 20_000): Promise<string> {
    const text = await waitFor(
      `an input box asking ${prompt}`,
      async () => {
        if (!(await this.quickInput.isVisible())) return false;
        const msg = ((await this.quickInput.locator('.quick-input-message').textContent()) ?? '').trim();
        return prompt.test(msg) && msg;
      },
      timeoutMs,
      200,
    );
    const input = this.quickInput.locator('input').first();
    if (value !== undefined) await input.fill(value);
    await input.press('Enter');
    return text;
  }

  /**
   * Answers a Save or Open dialog. VS Code in a browser shows its simple file dialog: a quick input titled
   * as the extension asked, whose text is a path. `path` replaces that text (undefined keeps the proposed
   * one); returns the path accepted.
   */
  async fileDialog(title: RegExp, path: string | undefined, timeoutMs = 20_000): Promise<string> {
    const input = this.quickInput.locator('input').first();
    await waitFor(`a file dialog titled ${title}`, async () => (await this.quickInput.isVisible()) && title.test(await this.quickTitle()), timeoutMs, 200).catch(async (e: Error) => {
      throw new Error(`${e.message}; quick input title now: ${JSON.stringify(await this.quickTitle().catch(() => ''))}`);
    });
    if (path !== undefined) {
      await input.fill(path);
      // The dialog completes a typed path against the folder's entries as the value changes; wait until it
      // shows exactly the path before accepting it.
      await waitFor(`the file dialog to show ${path}`, async () => (await input.inputValue()) === path, 5_000, 100);
    }
    const accepted = await input.inputValue();
    await input.press('Enter');
    await waitFor(`the file dialog titled ${title} to close`, async () => !(await this.quickInput.isVisible()), timeoutMs, 200);
    return accepted;
  }

  /** Opens the Contrastive Lab view container unless the Runs view is already on screen. */
  async showRuns(): Promise<void> {
    if (await this.page.locator('.monaco-list[aria-label="Runs"]').isVisible().catch(() => false)) return;
    await this.activityItem('Contrastive Lab').click();
    await this.page.locator('.monaco-list[aria-label="Runs"], .pane-body .welcome-view-content').first().waitFor({ timeout: 30_000 });
  }

  /** The Runs view's rows as their ARIA labels: "name, status, #id · method · dataset · progress · kNN". */
  async runLabels(): Promise<string[]> {
    return this.runRows.evaluateAll((els) => els.map((e) => e.getAttribute('aria-label') ?? ''));
  }

  runRow(name: string): Locator {
    return this.page.locator(`.monaco-list[aria-label="Runs"] .monaco-list-row[aria-label^="${cssString(name)}, "]`).first();
  }

  /** Waits until the run's row says `status` (and matches `extra` if given); returns its label. */
  async waitForRun(name: string, status: RegExp, timeoutMs: number, extra?: RegExp): Promise<string> {
    await this.showRuns();
    return waitFor(
      `the run “${name}” to show ${status}${extra ? ` and ${extra}` : ''} in the Runs view`,
      async () => {
        const label = (await this.runLabels()).find((l) => l.startsWith(`${name}, `));
        if (!label) return false;
        const st = label.slice(name.length + 2).split(',')[0].trim();
        if (/^(failed|crashed)$/.test(st) && !status.test(st)) throw new Error(`the run “${name}” ${st}: ${label}`);
        return status.test(st) && (!extra || extra.test(label)) && label;
      },
      timeoutMs,
      1000,
    ).catch(async (e: Error) => {
      throw new Error(`${e.message}\n  Runs view now: ${JSON.stringify(await this.runLabels().catch(() => []))}`);
    });
  }

  /** Texts of the notification toasts on screen. */
  async notifications(): Promise<string[]> {
    return this.page.locator('.notifications-toasts .notification-toast .notification-list-item-message').allInnerTexts();
  }

  async waitNotification(text: RegExp, timeoutMs = 20_000): Promise<string> {
    return waitFor(`a notification saying ${text}`, async () => (await this.notifications()).find((n) => text.test(n)), timeoutMs, 300).catch(async (e: Error) => {
      throw new Error(`${e.message}\n  notifications now: ${JSON.stringify(await this.notifications().catch(() => []))}`);
    });
  }

  async clearNotifications(): Promise<void> {
    await this.runCommand('Notifications: Clear All Notifications').catch(() => undefined);
  }

  /** Opens a workspace file with Quick Open (Ctrl+P), like a user. */
  async openFile(relPath: string): Promise<void> {
    await this.closeQuickInput();
    await this.page.keyboard.press('Control+P');
    const input = this.quickInput.locator('input').first();
    await input.waitFor({ timeout: 10_000 });
    await input.fill(relPath);
    const base = relPath.split('/').pop()!;
    await waitFor(`${relPath} in Quick Open`, async () => (await this.quickRows()).some((l) => l.includes(base)), 15_000, 200);
    await input.press('Enter');
    await this.activeTab(new RegExp(escapeRe(base)));
  }

  /** Editor tabs are `[role=tab].tab` with the editor's title as their ARIA label (1.139 puts `.json` in a suffix). */
  async activeTab(title: RegExp, timeoutMs = 15_000): Promise<string> {
    return waitFor(
      `an editor tab ${title} to be active`,
      async () => {
        const t = (await this.page.locator('.tab[role="tab"].active').first().getAttribute('aria-label').catch(() => null)) ?? '';
        return title.test(t) && t;
      },
      timeoutMs,
      200,
    ).catch(async (e: Error) => {
      throw new Error(`${e.message}; tabs: ${JSON.stringify(await this.tabTitles().catch(() => []))}`);
    });
  }

  async tabTitles(): Promise<string[]> {
    return this.page.locator('.tab[role="tab"]').evaluateAll((els) => els.map((e) => e.getAttribute('aria-label') ?? ''));
  }

  /** Right-click an element, then choose a context-menu entry by its label. */
  async contextMenu(target: Locator, entry: string | RegExp): Promise<void> {
    await this.dismiss();
    await target.click({ button: 'right' });
    const menu = this.page.locator('.context-view .monaco-menu');
    const item = menu.locator('.action-item .action-label', { hasText: entry }).first();
    await item.waitFor({ timeout: 10_000 });
    await item.hover();
    await item.click();
    // A click that lands while the menu is still being laid out is lost; the entry is highlighted by then.
    if (await menu.isVisible().catch(() => false)) {
      await this.page.waitForTimeout(300);
      if (await menu.isVisible().catch(() => false)) await this.page.keyboard.press('Enter');
    }
    await menu.waitFor({ state: 'hidden', timeout: 5000 }).catch(() => {
      throw new Error(`the context menu entry “${entry}” did not run (the menu stayed open)`);
    });
  }

  /** Closes whatever a previous step may have left open: a context menu, a quick pick, the suggest widget. */
  async dismiss(): Promise<void> {
    for (let i = 0; i < 3; i++) {
      const open = (await this.page.locator('.context-view .monaco-menu').isVisible().catch(() => false)) || (await this.quickInput.isVisible().catch(() => false));
      if (!open) return;
      await this.page.keyboard.press('Escape');
      await this.page.waitForTimeout(200);
    }
  }

  /**
   * The document inside a webview panel, found by its <title> (each panel sets one). Webviews are two
   * nested iframes; the inner one holds the panel's HTML.
   */
  async webviewFrame(title: RegExp, timeoutMs = 30_000): Promise<Frame> {
    return waitFor(
      `a webview panel titled ${title}`,
      async () => {
        for (const f of this.page.frames()) {
          if (f === this.page.mainFrame()) continue;
          const t = await f.title().catch(() => '');
          if (title.test(t) && (await f.locator('body').isVisible().catch(() => false))) return f;
        }
        return undefined;
      },
      timeoutMs,
      500,
    );
  }

  /** Widen the side bar (the Runs view's descriptions fit, screenshots are readable). */
  async widenSideBar(width: number): Promise<void> {
    const sidebar = this.page.locator('.part.sidebar').first();
    const box = await sidebar.boundingBox();
    if (!box || box.width >= width) return;
    const sash = this.page.locator('.monaco-sash.vertical').filter({ hasNot: this.page.locator('.disabled') });
    const x = box.x + box.width;
    const handles = await sash.evaluateAll((els) => els.map((e) => e.getBoundingClientRect()).map((r) => ({ x: r.x + r.width / 2, y: r.y + r.height / 2, h: r.height })));
    const h = handles.filter((s) => Math.abs(s.x - x) < 6 && s.h > 100).sort((a, b) => Math.abs(a.x - x) - Math.abs(b.x - x))[0];
    if (!h) return;
    await this.page.mouse.move(h.x, h.y);
    await this.page.mouse.down();
    await this.page.mouse.move(h.x + (width - box.width), h.y, { steps: 5 });
    await this.page.mouse.up();
  }
}

export function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function cssString(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
}
