import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const root = resolve(__dirname, '..', '..');

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/** Rebuilds dist/ when a source of the webviews or their workers is newer than the bundles the tests load. */
export function ensureWebviewBuild(): void {
  const outputs = ['dist/webview/dashboard.js', 'dist/webview/embeddings.js', 'dist/webview/augment.js', 'dist/webview/compare.js', 'dist/webview/sweep.js', 'dist/analysis-worker.js', 'dist/tsne-thread.js', 'dist/augment-worker.js'].map((f) => join(root, f));
  const oldest = Math.min(...outputs.map((f) => (existsSync(f) ? statSync(f).mtimeMs : 0)));
  if (oldest > Math.max(newest(join(root, 'src')), newest(join(root, 'webview-ui')))) return;
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('the build failed');
}
