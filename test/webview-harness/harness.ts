import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { Controller, PanelDeps } from '../../src/webviews/controllers/types';
import { webviewHtml, PANEL_BUNDLES, type PanelKind } from '../../src/webviews/html';
import { root } from './build';

/**
 * Renders a panel's real front end (dist/webview/<panel>.js, in the HTML and under the CSP the extension
 * uses) in headless Chromium, wired to its real host-side controller through the panel's message
 * protocol: `acquireVsCodeApi` is a stub whose postMessage goes to controller.handle, and the
 * controller's posts arrive as window `message` events, as in VS Code. Typed arrays are sent as plain
 * arrays (the guards accept both).
 */

/** The page's window, in code passed to page.evaluate (this file is compiled without the DOM lib). */
declare const window: { postMessage(message: unknown, targetOrigin: string): void };

export const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: CHROMIUM_FLAGS, headless: true });
}

/** Serves the panels' HTML and dist/webview; each CSS file gets the test theme's variables in front. */
export async function startServer(): Promise<{ origin: string; close(): Promise<void> }> {
  const theme = readFileSync(join(__dirname, 'theme.css'), 'utf8');
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const page = /^\/panel\/(\w+)$/.exec(url.pathname);
    const origin = `http://${req.headers.host}`;
    if (page && page[1] in PANEL_BUNDLES) {
      const bundle = PANEL_BUNDLES[page[1] as PanelKind];
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(webviewHtml({ cspSource: origin, nonce: 'harness-nonce-1234', scriptUri: `${origin}/webview/${bundle}.js`, styleUri: `${origin}/webview/${bundle}.css`, title: page[1] }));
      return;
    }
    const file = /^\/webview\/([\w.-]+\.(js|css))$/.exec(url.pathname);
    if (file) {
      try {
        const body = readFileSync(join(root, 'dist', 'webview', file[1]), 'utf8');
        res.writeHead(200, { 'content-type': file[2] === 'js' ? 'text/javascript' : 'text/css' });
        res.end(file[2] === 'css' ? theme + body : body);
        return;
      } catch {
        /* 404 below */
      }
    }
    res.writeHead(url.pathname === '/favicon.ico' ? 204 : 404);
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return { origin: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(() => r())) };
}

/** Typed arrays → plain arrays, for page.evaluate. */
export function plain(m: unknown): unknown {
  return JSON.parse(JSON.stringify(m, (_k, v: unknown) => (ArrayBuffer.isView(v) ? Array.from(v as unknown as ArrayLike<number>) : v)));
}

export interface OpenPanel<C extends Controller> {
  page: Page;
  controller: C;
  /** Messages the webview sent, in order. */
  fromWebview: unknown[];
  /** Messages the controller sent, in order. */
  toWebview: unknown[];
  /** Console errors, page errors and CSP violations. */
  problems: string[];
  close(): Promise<void>;
}

export async function openPanel<C extends Controller>(
  browser: Browser,
  origin: string,
  kind: PanelKind,
  deps: Omit<PanelDeps, 'post'>,
  make: (deps: PanelDeps) => C,
  opts: { state?: unknown; viewport?: { width: number; height: number } } = {},
): Promise<OpenPanel<C>> {
  const page = await browser.newPage({ viewport: opts.viewport ?? { width: 1280, height: 900 } });
  const fromWebview: unknown[] = [];
  const toWebview: unknown[] = [];
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || (m.type() === 'warning' && /invalid message/.test(m.text()))) problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  let chain = Promise.resolve();
  const controller = make({
    ...deps,
    post: (m) => {
      toWebview.push(m);
      // As JSON text, parsed in the page: playwright serializes a string argument in one piece, where an
      // object argument is walked value by value (seconds for a summary of a few hundred runs on a busy machine).
      const msg = JSON.stringify(plain(m));
      // In order, like VS Code's message channel.
      chain = chain.then(() => page.evaluate((x) => window.postMessage(JSON.parse(x), '*'), msg).catch(() => undefined));
    },
  });
  await page.exposeBinding('__toHost', (_source, m: unknown) => {
    fromWebview.push(m);
    controller.handle(m);
  });
  // A string, not a function: tsx compiles test code with esbuild's keepNames, whose `__name` helper does
  // not exist in the page (the shim also covers functions passed to page.evaluate).
  await page.addInitScript(`(() => {
    window.__name = (f) => f;
    let state = ${JSON.stringify(opts.state ?? null)};
    const csp = [];
    window.__csp = csp;
    document.addEventListener('securitypolicyviolation', (e) => csp.push(e.violatedDirective + ' ' + e.blockedURI));
    window.__getState = () => state;
    window.acquireVsCodeApi = () => ({
      postMessage: (m) => window.__toHost(m),
      getState: () => state,
      setState: (s) => { state = s; },
    });
    document.addEventListener('DOMContentLoaded', () => document.body.classList.add('vscode-dark'));
  })();`);
  await page.goto(`${origin}/panel/${kind}`);
  return {
    page,
    controller,
    fromWebview,
    toWebview,
    problems,
    close: async () => {
      const csp = await page.evaluate(() => (window as unknown as { __csp: string[] }).__csp).catch((): string[] => []);
      problems.push(...csp.map((c) => `CSP violation: ${c}`));
      controller.dispose();
      await page.close();
    },
  };
}
