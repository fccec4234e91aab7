// Bundles every entry point with esbuild. Native and wasm pieces stay outside the bundle:
// sqlite3 is an N-API addon loaded from node_modules, tfjs-node(-gpu) are optional and loaded at run
// time by the worker, and the tfjs wasm binaries are copied next to the bundles (see engine/backend.ts).
import * as esbuild from 'esbuild';
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
mkdirSync(dist, { recursive: true });

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  logLevel: 'warning',
  // tfjs registers backends, kernels and gradients as import side effects, and its packages'
  // "sideEffects" lists do not cover the Node entry points we use: honouring them drops the cpu backend.
  ignoreAnnotations: true,
  external: ['vscode', 'sqlite3', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'],
};

await esbuild.build({
  ...common,
  entryPoints: {
    cli: join(root, 'src/cli.ts'),
    worker: join(root, 'src/engine/worker.ts'),
    bench: join(root, 'src/bench.ts'),
    // Data-parallel training threads (worker_threads), started by the training process.
    shard: join(root, 'src/engine/parallel/shard-worker.ts'),
  },
  outdir: dist,
  banner: { js: '#!/usr/bin/env node' },
});

// The VS Code extension (host side): loaded by the extension host, so no shebang; `vscode` is provided
// by the host at run time. It never loads tfjs: training happens in dist/worker.js.
await esbuild.build({
  ...common,
  entryPoints: { extension: join(root, 'src/extension/extension.ts') },
  outdir: dist,
});

// Worker threads of the webview panels' host side: t-SNE/UMAP/PCA and neighbours, and the augmentation
// preview (tfjs on wasm). They run in the extension host process but off its event loop.
await esbuild.build({
  ...common,
  entryPoints: {
    'analysis-worker': join(root, 'src/webviews/analysis/worker.ts'),
    'tsne-thread': join(root, 'src/webviews/analysis/tsne-thread.ts'),
    'augment-worker': join(root, 'src/webviews/augment/worker.ts'),
  },
  outdir: dist,
});

// The webviews' front end: one browser bundle (and its CSS) per panel, loaded by the panels' HTML
// through asWebviewUri from dist/webview only (the panels' localResourceRoots).
await esbuild.build({
  bundle: true,
  platform: 'browser',
  format: 'iife',
  target: 'chrome120',
  sourcemap: true,
  minify: true,
  logLevel: 'warning',
  entryPoints: Object.fromEntries(['dashboard', 'embeddings', 'augment', 'compare', 'sweep'].map((p) => [p, join(root, `webview-ui/${p}/main.ts`)])),
  outdir: join(dist, 'webview'),
});

const wasmDir = join(root, 'node_modules/@tensorflow/tfjs-backend-wasm/dist');
for (const f of readdirSync(wasmDir).filter((f) => f.endsWith('.wasm'))) copyFileSync(join(wasmDir, f), join(dist, f));

// The run-config JSON schema, generated from the same spec the CLI validates with, for the editor's
// `jsonValidation` of *.clrun.json files.
const { spawnSync } = await import('node:child_process');
const { writeFileSync } = await import('node:fs');
const schema = spawnSync(process.execPath, [join(dist, 'cli.js'), 'schema'], { encoding: 'utf8' });
if (schema.status !== 0) throw new Error(`could not generate the run-config schema: ${schema.stderr}`);
writeFileSync(join(dist, 'clrun.schema.json'), schema.stdout);
// …and the sweep-file schema (*.clsweep.json), whose `base` refers to the run-config schema beside it.
const sweepSchema = spawnSync(process.execPath, [join(dist, 'cli.js'), 'schema', '--sweep'], { encoding: 'utf8' });
if (sweepSchema.status !== 0) throw new Error(`could not generate the sweep schema: ${sweepSchema.stderr}`);
writeFileSync(join(dist, 'clsweep.schema.json'), sweepSchema.stdout);
