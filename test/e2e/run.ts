// The end-to-end suite: packages the VSIX, installs it into a real VS Code (1.139, from code-server, in a
// cache folder outside the clone) and drives it through the web UI with Playwright and Debian's
// chromium, as a user would. Screenshots, a report and the server logs go to test-output/e2e/.
//
//   npm run test:e2e [-- --vsix FILE] [--only main|restricted|exthost] [--steps a,b] [--keep]
//
// Environment: CLAB_E2E_CACHE (default ~/.cache/contrastive-lab-e2e), CLAB_E2E_OUT (default
// test-output/e2e), CHROMIUM (default /usr/bin/chromium), CLAB_E2E_EPOCH_MIN (minutes one epoch on the
// whole built-in dataset may take; default 20), CLAB_E2E_TIMEOUT_MIN (all scenarios; default 60).
import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { RunStore } from '../../src/store/store';
import { mainScenario, WORKSPACE_FILES } from './scenario-main';
import { restrictedScenario, UNTRUSTED_FILES } from './scenario-restricted';
import { freePort, installExtension, killPids, stopAllServersSync, VsCodeServer, workerProcesses, writeSettings } from './server';
import { bundleSuite, readResults, runInCodeServer } from './exthost/harness';
import { Steps } from './steps';
import { ensureToolchain } from './toolchain';

const root = resolve(__dirname, '..', '..');
const args = process.argv.slice(2);
const option = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const outDir = resolve(process.env.CLAB_E2E_OUT ?? join(root, 'test-output', 'e2e'));
const only = option('--only');
const keep = args.includes('--keep');
const t0 = Date.now();

rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
const logFile = join(outDir, 'e2e.log');
function log(m: string): void {
  const line = `[${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${m}`;
  console.log(line);
  appendFileSync(logFile, `${line}\n`);
}

const tmp = mkdtempSync(join(tmpdir(), 'clab-e2e-'));
const dataDir = join(tmp, 'server-data');
const dbPath = join(tmp, 'runs.db');
const guardDb = join(tmp, 'default-database-must-stay-unused.db');
const extensionsDir = join(dataDir, 'extensions');
let browser: Browser | undefined;
const stepFilter = option('--steps');
const steps = new Steps(outDir, log, async () => undefined, stepFilter ? new Set(stepFilter.split(',')) : undefined);

/** Training workers are detached (they outlive window reloads): stop those of this suite by pid. */
function stopWorkers(): void {
  const left = workerProcesses(extensionsDir);
  if (left.length) log(`stopping ${left.length} training worker(s) left running: ${left.map((p) => p.pid).join(', ')}`);
  killPids(left.map((p) => p.pid));
}

function cleanupSync(): void {
  stopAllServersSync();
  stopWorkers();
}
process.on('exit', cleanupSync);
for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.on(sig, () => {
    log(`${sig}: stopping the VS Code server and workers`);
    cleanupSync();
    process.exit(130);
  });

function packageVsix(): string {
  const given = option('--vsix');
  if (given) return resolve(given);
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; version: string };
  const out = join(outDir, `${pkg.name}-${pkg.version}.vsix`);
  log('packaging the extension (npm run package)…');
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'package.mjs'), '--out', out], { cwd: root, encoding: 'utf8', timeout: 10 * 60_000 });
  writeFileSync(join(outDir, 'package.log'), `${r.stdout ?? ''}${r.stderr ?? ''}`);
  if (r.status !== 0) throw new Error(`npm run package failed (see ${join(outDir, 'package.log')}):\n${(r.stderr || r.stdout || '').slice(-2000)}`);
  log((r.stdout ?? '').trim().split('\n').slice(-1)[0]);
  return out;
}

function writeFiles(dir: string, files: Record<string, object>): void {
  mkdirSync(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), `${JSON.stringify(content, null, 2)}\n`);
}

async function runCount(): Promise<number> {
  if (!existsSync(dbPath)) return 0;
  const store = await RunStore.open(dbPath);
  try {
    return (await store.listRuns()).length;
  } finally {
    await store.close();
  }
}

/** On failure: the extension host's and the workers' logs next to the screenshots. */
function collectLogs(): void {
  const dest = join(outDir, 'logs');
  const logsRoot = join(dataDir, 'data', 'logs');
  if (existsSync(logsRoot)) cpSync(logsRoot, join(dest, 'vscode'), { recursive: true });
  const artifacts = `${dbPath.replace(/\.db$/, '')}.artifacts`;
  if (existsSync(artifacts))
    for (const run of readdirSync(artifacts)) {
      const f = join(artifacts, run, 'worker.log');
      if (existsSync(f)) cpSync(f, join(dest, `worker-run-${run}.log`));
    }
}

async function withServer(name: string, trustDisabled: boolean, fn: (url: string) => Promise<void>): Promise<void> {
  const env = { ...process.env };
  // The extension must find everything by itself inside its installed folder.
  for (const k of ['CLAB_BUILTIN_DIR', 'NODE_OPTIONS', 'ELECTRON_RUN_AS_NODE']) delete env[k];
  // Were the databasePath setting ignored, runs would go to the default database: here, not the user's.
  env.CLAB_DB = guardDb;
  const server = new VsCodeServer(tc, { port: await freePort(), dataDir, logFile: join(outDir, `server-${name}.log`), trustDisabled, env });
  log(`starting the VS Code server for “${name}” (${trustDisabled ? '--disable-workspace-trust' : 'workspace trust on'}) on ${server.url}`);
  await server.start();
  log(`server pid ${server.pid}`);
  try {
    await fn(server.url);
  } finally {
    await server.stop();
    log(`server pid ${server.pid} stopped`);
  }
}

let tc: ReturnType<typeof ensureToolchain>;

async function main(): Promise<number> {
  const vsix = packageVsix();
  tc = ensureToolchain(log);
  log(`VS Code ${tc.vscodeVersion} (code-server) on ${tc.node}; cache ${tc.cacheDir}`);

  log(`installing ${relative(root, vsix) || vsix} into ${dataDir}`);
  installExtension(tc, dataDir, vsix, join(outDir, 'install-extension.log'));
  const extDir = readdirSync(extensionsDir).find((d) => d.startsWith('contrastive-lab.contrastive-lab-'));
  if (!extDir) throw new Error(`the extension is not in ${extensionsDir} after installing it`);
  const extensionDir = join(extensionsDir, extDir);
  const installed = JSON.parse(readFileSync(join(extensionDir, 'package.json'), 'utf8')) as { contributes?: { commands?: { command: string }[] } };
  for (const f of ['dist/extension.js', 'dist/worker.js', 'data/builtin/train-images-idx3-ubyte.gz', 'node_modules/sqlite3/build/Release/node_sqlite3.node'])
    if (!existsSync(join(extensionDir, f))) throw new Error(`the installed extension lacks ${f}`);
  const contributedCommands = new Set((installed.contributes?.commands ?? []).map((c) => c.command));
  log(`installed ${extDir}: ${contributedCommands.size} commands`);

  writeSettings(dataDir, { 'contrastiveLab.databasePath': dbPath });
  const workspace = join(tmp, 'lab-workspace');
  const untrusted = join(tmp, 'untrusted-workspace');
  writeFiles(workspace, WORKSPACE_FILES);
  writeFiles(untrusted, UNTRUSTED_FILES);

  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic', '--disable-dev-shm-usage'],
    timeout: 60_000,
  });
  browser.on('disconnected', () => log('the browser disconnected'));
  const budgetMin = Number(process.env.CLAB_E2E_TIMEOUT_MIN ?? 60);
  const watchdog = setTimeout(() => {
    log(`the scenarios did not finish within ${budgetMin} minutes: stopping`);
    steps.record({ scenario: '-', name: 'watchdog', title: `All scenarios within ${budgetMin} min`, status: 'failed', seconds: budgetMin * 60, detail: 'the suite was stopped by its watchdog' });
    finish();
    process.exit(2);
  }, budgetMin * 60_000);
  watchdog.unref();

  if (!only || only === 'main')
    await withServer('main', true, (url) =>
      mainScenario({ steps, browser: browser!, url, workspace, extensionDir, extensionsDir, contributedCommands, fullEpochMinutes: Number(process.env.CLAB_E2E_EPOCH_MIN ?? 20), log }),
    );
  stopWorkers();
  if (!only || only === 'restricted') await withServer('restricted', false, (url) => restrictedScenario({ steps, browser: browser!, url, workspace: untrusted, extensionsDir, runCount }));
  if (!only || only === 'exthost') await extensionHostSuite(extensionDir);
  clearTimeout(watchdog);
  if (existsSync(guardDb))
    steps.record({ scenario: '-', name: 'settings', title: 'Runs went to the configured database', status: 'failed', seconds: 0, detail: `the extension wrote to its default database (${guardDb}): the contrastiveLab.databasePath setting was not applied` });
  return steps.failed ? 1 : 0;
}

/**
 * The mocha suite inside the extension host (exthost/suite.ts), against the installed (unpacked VSIX)
 * extension as the extension under development; each of its tests becomes a line of the report.
 */
async function extensionHostSuite(extensionDir: string): Promise<void> {
  const resultsFile = join(outDir, 'exthost-results.json');
  const sc = { name: 'exthost' };
  let screenshot: string | undefined;
  await steps.step(sc, 'run', 'The extension-host suite runs in the code-server extension host (payload + codeAutomationExit)', async () => {
    const suite = await bundleSuite(outDir);
    const r = await runInCodeServer({ tc, browser: browser!, extensionPath: extensionDir, suite, tmp, outDir, env: { CLAB_DB: join(tmp, 'exthost-runs.db'), CLAB_EXTHOST_RESULTS: resultsFile }, timeoutMin: 20, log });
    screenshot = r.screenshot;
    const results = readResults(resultsFile);
    if (!results.length) throw new Error(`no results from the extension host (exit code ${r.exitCode ?? 'none'}); see server-exthost.log and exthost-browser-console.log`);
    if (r.exitCode !== 0 && !results.some((t) => t.status === 'failed')) throw new Error(`the extension host exited with ${r.exitCode ?? 'no code'} though no test failed`);
    return `extension host exit code ${r.exitCode ?? 'none'}; ${results.length} tests`;
  }, { timeoutMs: 25 * 60_000 });
  for (const r of readResults(resultsFile))
    steps.record({
      scenario: 'exthost',
      name: r.title,
      title: r.title.replace(/^Contrastive Lab in the extension host /, ''),
      status: r.status === 'failed' ? 'failed' : r.status === 'skipped' ? 'skipped' : 'passed',
      seconds: (r.ms ?? 0) / 1000,
      detail: r.error?.split('\n').slice(0, 4).join('\n') ?? '',
      screenshot,
    });
  stopWorkers();
}

function finish(): void {
  cleanupSync();
  if (steps.failed) collectLogs();
  const vsix = readdirSync(outDir).find((f) => f.endsWith('.vsix'));
  steps.write({
    date: new Date().toISOString(),
    seconds: Math.round((Date.now() - t0) / 1000),
    vscode: tc?.vscodeVersion ?? '?',
    vsix: vsix ? `${vsix} (${(statSync(join(outDir, vsix)).size / 1e6).toFixed(2)} MB)` : 'given with --vsix',
  });
  const count = (s: string) => steps.results.filter((r) => r.status === s).length;
  log(`${count('passed')} passed, ${count('failed')} failed, ${count('skipped')} skipped, ${count('not run')} not run in ${((Date.now() - t0) / 60_000).toFixed(1)} min`);
  if (steps.failed) log(`server, extension host and worker logs: ${outDir}/server-*.log, ${outDir}/logs/; VS Code data kept in ${tmp}`);
  else if (!keep) rmSync(tmp, { recursive: true, force: true });
  log(`Screenshots and report: ${outDir}/ (report.md)`);
}

main()
  .then(
    async (code) => {
      await browser?.close().catch(() => undefined);
      finish();
      process.exit(code);
    },
    async (e: unknown) => {
      log(`e2e suite stopped: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      steps.record({ scenario: '-', name: 'setup', title: 'Set up (package, install, start)', status: 'failed', seconds: 0, detail: e instanceof Error ? e.message : String(e) });
      await browser?.close().catch(() => undefined);
      finish();
      process.exit(1);
    },
  );
