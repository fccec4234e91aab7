import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * Path of a bundle in dist/ (a worker-thread script, the webview assets): next to this code when it is
 * itself bundled into dist/extension.js, else in the nearest dist/ above it (tests run the sources).
 */
export function bundledFile(name: string): string {
  const start = typeof __dirname === 'string' ? __dirname : process.cwd();
  if (existsSync(join(start, name))) return join(start, name);
  for (let d = start; ; d = dirname(d)) {
    if (existsSync(join(d, 'dist', name))) return join(d, 'dist', name);
    if (dirname(d) === d) break;
  }
  throw new Error(`${name} not found next to ${start} or in a dist/ folder above it: run npm run build`);
}
