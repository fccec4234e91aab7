import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { Toolchain } from './toolchain';

/**
 * The VS Code server (server-main.js from code-server) for one scenario: started on 127.0.0.1 on a free
 * port in its own process group, stopped by its pid (the group: the extension host and file watchers
 * are its children). Training workers are detached from it on purpose (they outlive a window reload),
 * so they are found by their command line and stopped by pid too.
 */

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export function installExtension(tc: Toolchain, dataDir: string, vsix: string, logFile: string): string {
  const r = spawnSync(tc.node, [tc.serverMain, '--server-data-dir', dataDir, '--install-extension', vsix, '--force'], { encoding: 'utf8', timeout: 120_000 });
  writeFileSync(logFile, `${r.stdout ?? ''}${r.stderr ?? ''}`);
  if (r.status !== 0 || !/successfully installed/i.test(r.stdout ?? '')) throw new Error(`installing ${vsix} failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout.trim();
}

/**
 * Settings for every scenario. The web client keeps user settings in `<data>/data/User`; settings of
 * machine scope (contrastiveLab.databasePath is machine-overridable) are taken from the remote machine's
 * settings in a remote window — `<data>/data/Machine` — as a user of a remote VS Code sets them.
 */
export function writeSettings(dataDir: string, machine: Record<string, unknown>): void {
  const user = {
    'workbench.startupEditor': 'none',
    'workbench.tips.enabled': false,
    'workbench.enableExperiments': false,
    'workbench.secondarySideBar.defaultVisibility': 'hidden',
    'chat.disableAIFeatures': true,
    'telemetry.telemetryLevel': 'off',
    'update.mode': 'none',
    'extensions.autoCheckUpdates': false,
    'extensions.autoUpdate': false,
    'extensions.ignoreRecommendations': true,
    'git.enabled': false,
  };
  for (const [dir, settings] of [['User', user], ['Machine', machine]] as const) {
    mkdirSync(join(dataDir, 'data', dir), { recursive: true });
    writeFileSync(join(dataDir, 'data', dir, 'settings.json'), JSON.stringify(settings, null, 2));
  }
}

export class VsCodeServer {
  private child?: ChildProcess;
  private exited?: { code: number | null; signal: NodeJS.Signals | null };
  readonly url: string;

  constructor(
    private readonly tc: Toolchain,
    readonly opts: { port: number; dataDir: string; logFile: string; trustDisabled: boolean; env?: NodeJS.ProcessEnv; extraArgs?: string[] },
  ) {
    this.url = `http://127.0.0.1:${opts.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(timeoutMs = 90_000): Promise<void> {
    const out = openSync(this.opts.logFile, 'a');
    const args = [
      this.tc.serverMain,
      '--host', '127.0.0.1',
      '--port', String(this.opts.port),
      '--without-connection-token',
      '--accept-server-license-terms',
      '--telemetry-level', 'off',
      '--server-data-dir', this.opts.dataDir,
      ...(this.opts.trustDisabled ? ['--disable-workspace-trust'] : []),
      ...(this.opts.extraArgs ?? []),
    ];
    this.child = spawn(this.tc.node, args, { detached: true, stdio: ['ignore', out, out], env: this.opts.env ?? process.env });
    closeSync(out);
    this.child.once('exit', (code, signal) => (this.exited = { code, signal }));
    liveServers.add(this);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.exited) throw new Error(`the VS Code server exited at start (${this.exited.code ?? this.exited.signal}); its log:\n${tail(this.opts.logFile)}`);
      try {
        const res = await fetch(`${this.url}/`, { signal: AbortSignal.timeout(5000) });
        if (res.status < 500) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`the VS Code server did not answer on ${this.url} within ${timeoutMs / 1000} s; its log:\n${tail(this.opts.logFile)}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  /** SIGTERM to the server's process group, SIGKILL after 5 s if anything is left. */
  async stop(): Promise<void> {
    const pid = this.child?.pid;
    liveServers.delete(this);
    if (!pid || this.exited) return;
    killGroup(pid, 'SIGTERM');
    const deadline = Date.now() + 5000;
    while (!this.exited && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    killGroup(pid, 'SIGKILL'); // its children too, even if the server itself is gone
  }

  stopSync(): void {
    const pid = this.child?.pid;
    liveServers.delete(this);
    if (pid) killGroup(pid, 'SIGKILL');
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

const liveServers = new Set<VsCodeServer>();
/** Whatever happens to the suite (an exception, Ctrl-C, a timeout), no server is left running. */
export function stopAllServersSync(): void {
  for (const s of [...liveServers]) s.stopSync();
}

export function tail(file: string, lines = 40): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Processes whose command line contains `needle`, from ps (pid and command line). */
export function processesMatching(needle: string): { pid: number; args: string }[] {
  const r = spawnSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  return (r.stdout ?? '')
    .split('\n')
    .map((l) => /^\s*(\d+)\s+(.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => !!m && m[2].includes(needle) && Number(m[1]) !== process.pid)
    .map((m) => ({ pid: Number(m[1]), args: m[2] }));
}

/**
 * Training workers of the extension installed in `extensionsDir` (their path names the worker bundle
 * there). With `env` (e.g. `CLAB_DB=/tmp/…/runs.db`), only those whose environment holds it: workers of
 * the repository's own dist/ are also run by other test suites, which must be left alone.
 */
export function workerProcesses(extensionsDir: string, env?: string): { pid: number; args: string }[] {
  return processesMatching(extensionsDir).filter((p) => /[\\/]dist[\\/]worker\.js\b/.test(p.args) && (!env || environ(p.pid).includes(env)));
}

function environ(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

export function killPids(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
