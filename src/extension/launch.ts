import { existsSync } from 'node:fs';
import * as path from 'node:path';
import type { WorkerLaunch } from '../queue/runManager';
import type { Services } from './services';

/**
 * The worker is the bundled dist/worker.js, run by VS Code's own Node (the extension host's executable:
 * Electron, made to act as Node by ELECTRON_RUN_AS_NODE) unless contrastiveLab.nodePath names another.
 */
export function workerLaunch(s: Pick<Services, 'context' | 'settings'>): WorkerLaunch {
  const nodePath = s.settings().nodePath || process.execPath;
  return {
    nodePath,
    workerPath: path.join(s.context.extensionPath, 'dist', 'worker.js'),
    execArgv: [],
    env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
  };
}

export function extraModuleDirs(nativeDir: string): string[] {
  return existsSync(path.join(nativeDir, 'node_modules')) ? [nativeDir] : [];
}
