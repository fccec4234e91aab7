import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import type { Browser } from 'playwright-core';
import { freePort, VsCodeServer, writeSettings } from '../server';
import type { Toolchain } from '../toolchain';

/**
 * Runs the extension-host suite (suite.ts, bundled) inside code-server's VS Code. A built VS Code only
 * takes extensionDevelopmentPath / extensionTestsPath from the web client's `payload` URL parameter when
 * its server runs with --enable-smoke-test-driver (the web environment service ignores the payload's
 * development options otherwise: `if (payload && (!isBuilt || enableSmokeTestDriver))`). The remote
 * extension host then loads the repository as the extension under development, runs the suite, and
 * exits; the workbench reports its exit code through window.codeAutomationExit.
 */

export interface TestResult {
  title: string;
  status: 'passed' | 'failed' | 'skipped';
  ms?: number;
  error?: string;
}

/** The suite as one CommonJS file under `outDir` (inside the clone: its require('mocha') finds node_modules). */
export async function bundleSuite(outDir: string): Promise<string> {
  const out = join(outDir, 'exthost-suite', 'index.js');
  await esbuild.build({
    entryPoints: [join(__dirname, 'index.ts')],
    outfile: out,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['vscode', 'mocha'],
    logLevel: 'warning',
  });
  return out;
}

export function readResults(file: string): TestResult[] {
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as TestResult[]) : [];
}

export async function runInCodeServer(o: {
  tc: Toolchain;
  browser: Browser;
  /** The extension under development (a folder with package.json and dist/). */
  extensionPath: string;
  suite: string;
  tmp: string;
  outDir: string;
  env: Record<string, string>;
  timeoutMin: number;
  log(m: string): void;
}): Promise<{ exitCode?: number; screenshot?: string }> {
  const dataDir = join(o.tmp, 'exthost-server-data');
  const workspace = join(o.tmp, 'exthost-workspace');
  mkdirSync(workspace, { recursive: true });
  writeSettings(dataDir, {});
  const port = await freePort();
  const server = new VsCodeServer(o.tc, {
    port,
    dataDir,
    logFile: join(o.outDir, 'server-exthost.log'),
    trustDisabled: true,
    extraArgs: ['--enable-smoke-test-driver'],
    env: { ...process.env, ...o.env },
  });
  await server.start();
  o.log(`extension-host suite: VS Code ${o.tc.vscodeVersion} server pid ${server.pid} on ${server.url}`);
  const page = await o.browser.newPage({ viewport: { width: 1400, height: 900 } });
  const consoleLines: string[] = [];
  page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  try {
    let exited: (code: number) => void = () => undefined;
    const exit = new Promise<number>((r) => (exited = r));
    await page.exposeFunction('codeAutomationExit', (code: number) => exited(code));
    const remote = (p: string) => `vscode-remote://127.0.0.1:${port}${p}`;
    const payload = JSON.stringify([
      ['extensionDevelopmentPath', remote(o.extensionPath)],
      ['extensionTestsPath', remote(o.suite)],
    ]);
    await page.goto(`${server.url}/?folder=${encodeURIComponent(workspace)}&payload=${encodeURIComponent(payload)}`, { timeout: 120_000 });
    let timer: NodeJS.Timeout | undefined;
    const exitCode = await Promise.race([
      exit,
      new Promise<undefined>((r) => {
        timer = setTimeout(() => r(undefined), o.timeoutMin * 60_000);
      }),
    ]);
    clearTimeout(timer);
    if (exitCode === undefined) o.log(`extension-host suite: no end reported within ${o.timeoutMin} minutes`);
    const screenshot = 'exthost-workbench.png';
    await page.screenshot({ path: join(o.outDir, screenshot), timeout: 20_000 }).catch(() => undefined);
    return { exitCode, screenshot };
  } finally {
    writeFileSync(join(o.outDir, 'exthost-browser-console.log'), consoleLines.join('\n'));
    await page.close().catch(() => undefined);
    await server.stop();
  }
}
