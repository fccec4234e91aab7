import { test } from 'node:test';
import assert from 'node:assert/strict';
import { builtinModules } from 'node:module';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, sep } from 'node:path';
import ts from 'typescript';

/**
 * The architecture as a rule on import arrows (src/README.md draws it). Each source file belongs to one
 * layer; a layer may import only the layers listed for it, and `types` lists layers it may import types
 * from (`import type`, erased at build time) but no code. A new folder under src/ must be given a layer
 * here: the test fails on a file in none.
 */
export const LAYERS = {
  core: { code: ['core'] },
  data: { code: ['core', 'data'] },
  store: { code: ['core', 'store'] },
  engine: { code: ['core', 'data', 'store', 'engine'] },
  // The run queue: starts queued runs on a target (workers by path, or a cluster's scheduler); no tfjs.
  queue: { code: ['core', 'data', 'store', 'queue'] },
  cli: { code: ['core', 'data', 'store', 'engine', 'queue', 'cli'] },
  // The extension host starts workers by path and never loads training code (tfjs) itself.
  extension: { code: ['core', 'data', 'store', 'queue', 'webviews', 'extension'] },
  // Panels, host side: they get what they need from the extension through PanelHost, not by import.
  webviews: { code: ['core', 'data', 'store', 'protocol', 'webviews'], types: ['panel-worker'] },
  // Worker threads the panels start for heavy work (t-SNE, UMAP, augmentation previews).
  'panel-worker': { code: ['core', 'data', 'store', 'engine', 'protocol', 'panel-worker'] },
  // Message types shared by a panel's host side and its webview: bundled for the browser too.
  protocol: { code: ['core', 'protocol'] },
  'webview-ui': { code: ['core', 'protocol', 'webview-ui'] },
} as const satisfies Record<string, { code: readonly string[]; types?: readonly string[] }>;
type Layer = keyof typeof LAYERS;

/** Packages only some layers may load: the editor API, and TensorFlow.js (heavy, native in places). */
const PACKAGES: { test: (name: string) => boolean; what: string; layers: Layer[] }[] = [
  { test: (n) => n === 'vscode', what: 'the vscode API', layers: ['extension', 'webviews'] },
  { test: (n) => n.startsWith('@tensorflow/') || n === 'webgpu', what: 'TensorFlow.js', layers: ['engine', 'cli', 'panel-worker'] },
  { test: (n) => n.startsWith('node:') || builtinModules.includes(n), what: 'Node built-ins (it runs in the browser)', layers: ['core', 'data', 'store', 'engine', 'queue', 'cli', 'extension', 'webviews', 'panel-worker'] },
];

const PANEL_WORKER_FILES = ['src/webviews/analysis/worker.ts', 'src/webviews/analysis/jobs.ts', 'src/webviews/analysis/tsne-pool.ts', 'src/webviews/analysis/tsne-thread.ts', 'src/webviews/augment/worker.ts', 'src/webviews/augment/render.ts'];

/** The layer of a repository path (forward slashes), or undefined for a file in none. */
export function layerOf(path: string): Layer | undefined {
  if (path.startsWith('webview-ui/')) return 'webview-ui';
  if (path.startsWith('src/webviews/protocol/')) return 'protocol';
  if (PANEL_WORKER_FILES.includes(path)) return 'panel-worker';
  if (path === 'src/cli.ts' || path === 'src/bench.ts') return 'cli';
  const top = /^src\/([^/]+)\//.exec(path)?.[1];
  return top && top in LAYERS && top !== 'protocol' && top !== 'panel-worker' && top !== 'webview-ui' ? (top as Layer) : undefined;
}

export interface Import {
  /** As written. */
  specifier: string;
  typeOnly: boolean;
  line: number;
}

/** Static imports and re-exports, `import()` and `require()` with a string literal, from the syntax tree. */
export function importsOf(file: string, text: string): Import[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const out: Import[] = [];
  const add = (spec: ts.Expression | undefined, typeOnly: boolean, node: ts.Node) => {
    if (spec && ts.isStringLiteral(spec)) out.push({ specifier: spec.text, typeOnly, line: sf.getLineAndCharacterOfPosition(node.getStart()).line + 1 });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      const c = node.importClause;
      const named = c?.namedBindings && ts.isNamedImports(c.namedBindings) ? c.namedBindings.elements : undefined;
      const allTypes = !!c && (c.isTypeOnly || (!c.name && !!named && named.length > 0 && named.every((e) => e.isTypeOnly)));
      add(node.moduleSpecifier, allTypes, node);
    } else if (ts.isExportDeclaration(node)) add(node.moduleSpecifier, node.isTypeOnly, node);
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) add(node.moduleReference.expression, node.isTypeOnly, node);
    else if (ts.isCallExpression(node) && (node.expression.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(node.expression) && node.expression.text === 'require'))) add(node.arguments[0], false, node);
    else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) add(node.argument.literal as ts.Expression, true, node);
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

/** Every arrow from `file` (a repository path) that the layers forbid, as one line each. */
export function violations(file: string, text: string): string[] {
  const from = layerOf(file);
  if (!from) return [`${file}: in no layer (give its folder one in LAYERS, test/layers.test.ts)`];
  const rule: { code: readonly string[]; types?: readonly string[] } = LAYERS[from];
  const problems: string[] = [];
  for (const imp of importsOf(file, text)) {
    const at = `${file}:${imp.line}`;
    if (imp.specifier.startsWith('.')) {
      const target = normalize(join(dirname(file), imp.specifier)).split(sep).join('/');
      // A bare folder or file: './x' may be './x.ts', './x/index.ts'; the layer is the same either way.
      if (target === 'package.json') continue; // the version and the dependencies, for the record of a run
      const to = layerOf(/\.\w+$/.test(target) ? target : `${target}.ts`);
      if (!to) {
        problems.push(`${at}: imports ${imp.specifier}, outside src/ and webview-ui/`);
        continue;
      }
      const ok = rule.code.includes(to) || (imp.typeOnly && rule.types?.includes(to));
      if (!ok) problems.push(`${at}: ${from} must not import ${to} (${imp.specifier})${rule.types?.includes(to) ? ' except with `import type`' : ''}`);
    } else {
      const pkg = PACKAGES.find((p) => p.test(imp.specifier));
      if (pkg && !pkg.layers.includes(from) && !imp.typeOnly) problems.push(`${at}: ${from} must not load ${pkg.what} (${imp.specifier})`);
    }
  }
  return problems;
}

const root = join(__dirname, '..');

function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) => {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory()) return sources(p);
    return /\.(ts|mts|cts)$/.test(e.name) && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

void test('every import in src/ and webview-ui/ follows the layers (core ← data, store ← engine, cli, extension; webviews by protocol)', () => {
  const files = [...sources('src'), ...sources('webview-ui')];
  assert.ok(files.length > 100, `only ${files.length} source files found`);
  const problems = files.flatMap((f) => violations(f, readFileSync(join(root, f), 'utf8')));
  assert.deepEqual(problems, [], `forbidden import arrows:\n${problems.join('\n')}`);
});

void test('the layer check catches the arrows the architecture forbids', () => {
  assert.deepEqual(violations('src/core/analysis/tsne.ts', "import { Rng } from '../../engine/data/rng';"), ["src/core/analysis/tsne.ts:1: core must not import engine (../../engine/data/rng)"]);
  assert.deepEqual(violations('src/webviews/panels.ts', "import type { Services } from '../extension/services';\nconst x = 1;"), ['src/webviews/panels.ts:1: webviews must not import extension (../extension/services)']);
  assert.match(violations('src/extension/runCommands.ts', "import { exportRun } from '../cli/export';")[0], /extension must not import cli/);
  assert.match(violations('src/extension/x.ts', "const tf = await import('@tensorflow/tfjs-core');")[0], /extension must not load TensorFlow\.js/);
  assert.match(violations('src/store/x.ts', "import {\n  a,\n  b,\n} from '../engine/train';")[0], /^src\/store\/x\.ts:1: store must not import engine/);
  assert.match(violations('src/core/x.ts', "export * from '../store/store';")[0], /core must not import store/);
  assert.match(violations('webview-ui/dashboard/main.ts', "import { RunStore } from '../../src/store/store';")[0], /webview-ui must not import store/);
  assert.match(violations('webview-ui/x.ts', "import { readFileSync } from 'node:fs';")[0], /webview-ui must not load Node built-ins/);
  assert.match(violations('src/webviews/protocol/x.ts', "import * as vscode from 'vscode';")[0], /protocol must not load the vscode API/);
  assert.match(violations('src/queue-of-things/x.ts', '')[0], /in no layer/);
  // Allowed: message types of a panel's worker thread, imported as types only.
  assert.deepEqual(violations('src/webviews/augment/client.ts', "import type { AugmentReply } from './worker';"), []);
  assert.match(violations('src/webviews/augment/client.ts', "import { renderAugmentations } from './render';")[0], /webviews must not import panel-worker .* except with `import type`/);
  assert.deepEqual(violations('src/cli.ts', "const { runTraining } = await import('./engine/train');"), []);
});
