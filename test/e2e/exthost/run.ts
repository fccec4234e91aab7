// The extension-host test suite (mocha inside VS Code, calling the extension's API): suite.ts.
//
//   npm run test:exthost                 # in code-server's VS Code 1.139 (these machines: no VS Code download)
//   npm run test:exthost -- --electron   # with @vscode/test-electron (downloads VS Code; needs the internet)
//
// Both build dist/, load the repository as the extension under development and the bundled suite as
// extensionTestsPath, with CLAB_DB pointing at a fresh database. `npm run test:e2e` runs the code-server
// variant too, as its "exthost" scenario. Results: test-output/exthost/.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { killPids, stopAllServersSync, workerProcesses } from '../server';
import { ensureToolchain } from '../toolchain';
import { bundleSuite, readResults, runInCodeServer } from './harness';

const root = resolve(__dirname, '..', '..', '..');
const outDir = resolve(process.env.CLAB_EXTHOST_OUT ?? join(root, 'test-output', 'exthost'));
const electron = process.argv.includes('--electron');
const log = (m: string) => console.log(`[exthost] ${m}`);
const tmp = mkdtempSync(join(tmpdir(), 'clab-exthost-'));

const dbPath = join(tmp, 'runs.db');

function cleanup(): void {
  stopAllServersSync();
  // Workers of this suite's runs only: other suites run the repository's dist/worker.js too.
  killPids(workerProcesses(root, `CLAB_DB=${dbPath}`).map((p) => p.pid));
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.on(sig, () => {
    cleanup();
    process.exit(130);
  });

async function main(): Promise<number> {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  if (spawnSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' }).status !== 0) throw new Error('npm run build failed');
  const suite = await bundleSuite(outDir);
  const resultsFile = join(outDir, 'results.json');
  const env = { CLAB_DB: dbPath, CLAB_EXTHOST_RESULTS: resultsFile };
  let exitCode: number | undefined;
  if (electron) {
    const { runTests } = await import('@vscode/test-electron');
    const workspace = join(tmp, 'workspace');
    mkdirSync(workspace, { recursive: true });
    exitCode = await runTests({
      extensionDevelopmentPath: root,
      extensionTestsPath: suite,
      extensionTestsEnv: env,
      launchArgs: [workspace, '--disable-extensions', '--disable-workspace-trust', `--user-data-dir=${join(tmp, 'user-data')}`],
    }).catch((e: unknown) => {
      log(`@vscode/test-electron: ${e instanceof Error ? e.message : String(e)}`);
      return 1;
    });
  } else {
    const tc = ensureToolchain(log);
    const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    try {
      ({ exitCode } = await runInCodeServer({ tc, browser, extensionPath: root, suite, tmp, outDir, env, timeoutMin: Number(process.env.CLAB_EXTHOST_TIMEOUT_MIN ?? 20), log }));
    } finally {
      await browser.close().catch(() => undefined);
    }
  }
  const results = readResults(resultsFile);
  for (const r of results) console.log(`${r.status === 'passed' ? '✔' : r.status === 'skipped' ? '⤼' : '✘'} ${r.title}${r.ms ? ` (${(r.ms / 1000).toFixed(1)} s)` : ''}${r.error ? `\n    ${r.error.split('\n').slice(0, 6).join('\n    ')}` : ''}`);
  const failed = results.filter((r) => r.status === 'failed').length;
  log(`${results.length - failed} of ${results.length} passed; extension host exit code ${exitCode ?? 'none'}; output in ${outDir}`);
  return failed || exitCode !== 0 || !results.length ? 1 : 0;
}

void main()
  .then(
    (code) => code,
    (e: unknown) => {
      console.error(e);
      return 1;
    },
  )
  .then((code) => {
    cleanup();
    rmSync(tmp, { recursive: true, force: true });
    process.exit(code);
  });
