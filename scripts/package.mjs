// npm run package → contrastive-lab-<platform>-<version>.vsix, with what the extension needs at run time
// and nothing else.
//
// esbuild bundles all JavaScript (tfjs included) into dist/, so the only node_modules the extension
// needs is the sqlite3 N-API addon (external to the bundles) and what its lib/ requires: bindings →
// file-uri-to-path. vsce either leaves node_modules out entirely (--no-dependencies) or takes the
// production tree from `npm ls`, which at the root would pull tfjs, tar, … and fail on any stray package.
// So the VSIX is packed from a staging folder whose package.json depends on sqlite3 only, holding copies
// of the built files and of sqlite3's installed production closure; .vscodeignore (an allow-list, also
// right for a `vsce package` run at the root) then picks the files that ship. The addon is built for this
// machine, so the VSIX is marked with this platform as its target.
//
// Flags: --no-build (package dist/ as it is), --out FILE.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inflateRawSync } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const option = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);

const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const target = vsceTarget();
const out = option('--out') ?? join(root, `${manifest.name}-${target}-${manifest.version}.vsix`);

function run(cmd, argv, opts = {}) {
  const r = spawnSync(cmd, argv, { stdio: 'inherit', ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`})`);
}

function vsceTarget() {
  const arch = { x64: 'x64', arm64: 'arm64', arm: 'armhf' }[process.arch];
  const os = { linux: 'linux', darwin: 'darwin', win32: 'win32' }[process.platform];
  if (!arch || !os) throw new Error(`no VS Code target platform for ${process.platform}-${process.arch}`);
  return `${os}-${arch}`;
}

/** The folder of package `name` as Node resolves it from `fromDir` (nearest node_modules upward). */
function packageDir(name, fromDir) {
  for (let d = fromDir; ; d = dirname(d)) {
    const candidate = join(d, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dirname(d) === d) return undefined;
  }
}

/** sqlite3 and its installed production dependencies, copied at the same paths under `stage`. */
function copyProductionClosure(name, fromDir, stage, seen = new Set()) {
  const dir = packageDir(name, fromDir);
  if (!dir) throw new Error(`${name} is not installed (needed from ${relative(root, fromDir) || '.'}); run npm ci`);
  if (seen.has(dir)) return;
  seen.add(dir);
  cpSync(dir, join(stage, relative(root, dir)), { recursive: true, filter: (src) => !relative(dir, src).split(/[\\/]/).includes('node_modules') });
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  for (const dep of Object.keys(pkg.dependencies ?? {})) copyProductionClosure(dep, dir, stage, seen);
  for (const dep of Object.keys(pkg.optionalDependencies ?? {})) if (packageDir(dep, dir)) copyProductionClosure(dep, dir, stage, seen);
}

function stageExtension(stage) {
  const shipped = JSON.parse(JSON.stringify(manifest));
  // The only package the bundles load from node_modules; the rest of `dependencies` is inside dist/.
  shipped.dependencies = { sqlite3: manifest.dependencies.sqlite3 };
  delete shipped.devDependencies;
  delete shipped.scripts; // nothing to build inside an installed extension
  writeFileSync(join(stage, 'package.json'), `${JSON.stringify(shipped, null, 2)}\n`);
  for (const p of ['README.md', 'dist', 'data/builtin', 'media']) {
    if (!existsSync(join(root, p))) throw new Error(`${p} is missing`);
    cpSync(join(root, p), join(stage, p), { recursive: true, filter: (src) => !src.endsWith('.map') });
  }
  copyProductionClosure('sqlite3', root, stage);
}

/** Entries of a zip file, read from its central directory. */
function zipEntries(file) {
  const buf = readFileSync(file);
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 65557); i--) if (buf.readUInt32LE(i) === 0x06054b50) { eocd = i; break; }
  if (eocd < 0) throw new Error(`${file} is not a zip file`);
  const entries = [];
  let p = buf.readUInt32LE(eocd + 16);
  for (let n = buf.readUInt16LE(eocd + 10); n > 0; n--) {
    if (buf.readUInt32LE(p) !== 0x02014b50) throw new Error(`${file}: bad central directory`);
    const [method, compressed, size, nameLen, extraLen, commentLen, local] = [buf.readUInt16LE(p + 10), buf.readUInt32LE(p + 20), buf.readUInt32LE(p + 24), buf.readUInt16LE(p + 28), buf.readUInt16LE(p + 30), buf.readUInt16LE(p + 32), buf.readUInt32LE(p + 42)];
    const name = buf.toString('utf8', p + 46, p + 46 + nameLen);
    entries.push({
      name,
      size,
      data: () => {
        const start = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
        const raw = buf.subarray(start, start + compressed);
        return method === 8 ? inflateRawSync(raw) : raw;
      },
    });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

/** What must be in the VSIX, what must not, and that the shipped addon loads with only the shipped files. */
function verify(file) {
  const entries = zipEntries(file);
  const names = entries.map((e) => e.name.replace(/^extension\//, ''));
  const required = [
    'package.json',
    'dist/extension.js',
    'dist/worker.js',
    'dist/cli.js',
    'dist/clrun.schema.json',
    'dist/clsweep.schema.json',
    'dist/tfjs-backend-wasm.wasm',
    'dist/tfjs-backend-wasm-simd.wasm',
    'data/builtin/train-images-idx3-ubyte.gz',
    'data/builtin/t10k-labels-idx1-ubyte.gz',
    'node_modules/sqlite3/lib/sqlite3.js',
    'node_modules/sqlite3/build/Release/node_sqlite3.node',
    'node_modules/bindings/bindings.js',
    'node_modules/file-uri-to-path/index.js',
  ];
  // Every bundle the build made (the panels' worker threads, webview scripts and styles), bench aside.
  required.push(...readdirSync(join(root, 'dist')).filter((f) => f.endsWith('.js') && f !== 'bench.js').map((f) => `dist/${f}`));
  if (existsSync(join(root, 'dist/webview'))) required.push(...readdirSync(join(root, 'dist/webview')).filter((f) => !f.endsWith('.map')).map((f) => `dist/webview/${f}`));
  const missing = required.filter((r) => !names.includes(r));
  const forbidden = names.filter((n) => /^(src|test|scratch|scripts|webview-ui|docs|\.ci)\/|^dist\/bench\.js$|\.map$|\.ts$|^node_modules\/(?!sqlite3\/|bindings\/|file-uri-to-path\/)|^node_modules\/sqlite3\/(deps|src)\/|\/obj(\.target)?\//.test(n));
  if (missing.length || forbidden.length) throw new Error(`${file}:${missing.length ? `\n  missing: ${missing.join(', ')}` : ''}${forbidden.length ? `\n  must not ship: ${forbidden.slice(0, 20).join(', ')}` : ''}`);

  // Unpack and load sqlite3 from the unpacked tree alone: proves its JS runtime deps are all shipped.
  const dir = mkdtempSync(join(tmpdir(), 'clab-vsix-check-'));
  try {
    for (const e of entries) {
      if (e.name.endsWith('/')) continue;
      mkdirSync(dirname(join(dir, e.name)), { recursive: true });
      writeFileSync(join(dir, e.name), e.data());
    }
    const load = `new (require(${JSON.stringify(join(dir, 'extension/node_modules/sqlite3'))}).Database)(':memory:').close((e) => process.exit(e ? 1 : 0))`;
    run(process.execPath, ['-e', load], { cwd: dir, env: { ...process.env, NODE_PATH: '' } });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return entries;
}

function summary(entries) {
  const groups = new Map();
  for (const e of entries) {
    const n = e.name.replace(/^extension\//, '');
    const key = n.startsWith('node_modules/') ? n.split('/').slice(0, 2).join('/') : n.startsWith('dist/webview/') ? 'dist/webview' : n.startsWith('dist/') && n.endsWith('.wasm') ? 'dist/*.wasm' : n.split('/').slice(0, n.startsWith('data/') ? 2 : 1).join('/');
    const g = groups.get(key) ?? { files: 0, bytes: 0 };
    g.files++;
    g.bytes += e.size;
    groups.set(key, g);
  }
  const mb = (b) => `${(b / 1e6).toFixed(2)} MB`;
  for (const [k, g] of [...groups].sort((a, b) => b[1].bytes - a[1].bytes)) console.log(`  ${k.padEnd(34)} ${String(g.files).padStart(4)} files  ${mb(g.bytes).padStart(10)} unpacked`);
  console.log(`${relative(process.cwd(), out) || out}: ${mb(statSync(out).size)} (${entries.length} entries)`);
}

if (!flag('--no-build')) run('npm', ['run', '--silent', 'build'], { cwd: root, shell: process.platform === 'win32' });
const stage = mkdtempSync(join(tmpdir(), 'clab-vsix-stage-'));
try {
  stageExtension(stage);
  const vsce = createRequire(join(root, 'package.json')).resolve('@vscode/vsce/vsce');
  run(
    process.execPath,
    [
      vsce, 'package',
      '--target', target,
      '--ignoreFile', join(root, '.vscodeignore'),
      '--out', out,
      // No repository, licence file or changelog yet: package anyway, leave README links as they are.
      '--allow-missing-repository', '--skip-license', '--no-rewrite-relative-links',
    ],
    { cwd: stage },
  );
} finally {
  rmSync(stage, { recursive: true, force: true });
}
summary(verify(out));
