import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { defaultDatabasePath } from '../src/store/store';
import { configFromText } from '../src/extension/configFiles';
import {
  explainLoadFailure,
  explainNpmFailure,
  installArgs,
  installedNativeBackends,
  installNativeBackend,
  NATIVE_BACKENDS,
  NO_ADAPTER_EXIT,
  NPM_MISSING,
  resolveNpm,
  SOFTWARE_ADAPTER_EXIT,
  TFJS_VERSION,
  verifyScript,
  WEBGPU_VERSION,
} from '../src/extension/gpuInstall';
import { WEBGPU_PACKAGE_VERSION } from '../src/engine/webgpu';
import { applyRunDefaults, cachedDatasets, datasetSpecForFolder, discoverDatasets, keyFields, parseInput, recipeChoices, resolveDatasetPath, setPath, suggestedFileName, validateAnswer } from '../src/extension/newRunModel';
import { readSettings } from '../src/extension/settings';

const root = resolve(__dirname, '..');
const tmp = mkdtempSync(join(tmpdir(), 'clab-ext-model-'));

describe('New Run wizard logic', () => {
  test("asks for epochs, batch size, learning rate, the method's own hyper-parameters and the encoder, prefilled with its defaults", () => {
    const fields = keyFields('simclr');
    assert.deepEqual(
      fields.map((f) => f.path),
      ['epochs', 'batchSize', 'optimizer.lr', 'params.temperature', 'encoder.preset'],
    );
    const byPath = Object.fromEntries(fields.map((f) => [f.path, f.default]));
    assert.deepEqual(byPath, { epochs: 10, batchSize: 64, 'optimizer.lr': 0.001, 'params.temperature': 0.5, 'encoder.preset': 'compact' });
    assert.equal(Object.fromEntries(keyFields('simclr', 'paper').map((f) => [f.path, f.default]))['encoder.preset'], 'small', 'paper recipe defaults');
    assert.deepEqual(keyFields('no-such-method'), []);
  });

  test('the recipe step offers short and paper, each saying what it sets differently', () => {
    const [short, paper] = recipeChoices('byol');
    assert.deepEqual([short.recipe, paper.recipe], ['short', 'paper']);
    assert.match(short.detail, /optimizer\.name adam \(paper: sgd\)/);
    assert.match(paper.detail, /optimizer\.name sgd \(short: adam\)/);
    assert.match(short.detail, /encoder\.preset compact \(paper: small\)/);
    assert.match(short.description, /≤ 20 epochs/);
  });

  test('every registered method gets a wizard whose defaults pass validation', async () => {
    const { METHOD_IDS } = await import('../src/core/methods');
    for (const m of METHOD_IDS) {
      const fields = keyFields(m);
      assert.ok(fields.length >= 4, m);
      for (const f of fields) assert.equal(validateAnswer({ method: m, dataset: 'builtin' }, f, String(f.default)), undefined, `${m} ${f.path}`);
    }
  });

  test('typed values are checked by the same validation as the worker, as the user types', () => {
    const [epochs, batch, lr, temperature] = keyFields('simclr');
    const raw = { method: 'simclr', dataset: 'builtin' };
    assert.equal(validateAnswer(raw, epochs, '20'), undefined);
    assert.equal(validateAnswer(raw, epochs, ''), undefined, 'empty means the default');
    assert.match(validateAnswer(raw, epochs, '0')!, /Epochs must be ≥ 1/);
    assert.match(validateAnswer(raw, epochs, '2.5')!, /whole number/);
    assert.match(validateAnswer(raw, batch, 'lots')!, /must be a number/);
    assert.equal(validateAnswer(raw, lr, '3e-4'), undefined);
    assert.match(validateAnswer(raw, lr, '0')!, /must be > 0/);
    assert.match(validateAnswer(raw, temperature, '0')!, /temperature must be > 0\.001/);
    assert.deepEqual(parseInput(batch, ' 1_024 '), { value: 1024 });
  });

  test('answers become a minimal config; relative dataset folders are taken relative to the config file', () => {
    let raw = setPath({ method: 'simclr' }, 'optimizer.lr', 0.01);
    raw = setPath(raw, 'params.temperature', 0.2);
    assert.deepEqual(raw, { method: 'simclr', optimizer: { lr: 0.01 }, params: { temperature: 0.2 } });
    assert.equal(suggestedFileName({ method: 'simclr', dataset: 'fashion-mnist:/x', epochs: 5 }), 'simclr-fashion-mnist-5ep.clrun.json');
    assert.equal(suggestedFileName({ name: 'My run #2' }), 'my-run-2.clrun.json');
    assert.deepEqual(resolveDatasetPath({ dataset: 'mnist:data/mnist' }, '/proj/configs'), { dataset: `mnist:${resolve('/proj/configs', 'data/mnist')}` });
    assert.deepEqual(resolveDatasetPath({ dataset: 'mnist:/abs/mnist' }, '/proj'), { dataset: 'mnist:/abs/mnist' });
    assert.deepEqual(resolveDatasetPath({ dataset: 'builtin' }, '/proj'), { dataset: 'builtin' });
    assert.deepEqual(applyRunDefaults({ method: 'simclr' }, { backend: 'wasm' }), { method: 'simclr', backend: 'wasm' });
    assert.deepEqual(applyRunDefaults({ method: 'simclr', backend: 'cpu' }, { backend: 'wasm' }), { method: 'simclr', backend: 'cpu' }, 'the file wins');
    assert.deepEqual(applyRunDefaults({ method: 'simclr' }, { backend: 'auto' }), { method: 'simclr' });
  });

  test('config file text: JSON errors and every validation problem are reported with the file name', () => {
    assert.match(configFromText('/p/a.clrun.json', '{ "method": ', {}).message!, /a\.clrun\.json is not valid JSON/);
    const bad = configFromText('/p/a.clrun.json', '{"method":"simclr","epochs":0,"optimizer":{"lr":"fast"}}', {}).message!;
    assert.match(bad, /2 problems/);
    assert.match(bad, /\/p\/a\.clrun\.json: epochs: must be ≥ 1/);
    const ok = configFromText('/p/c/a.clrun.json', '{"$schema":"x","method":"simclr","dataset":"mnist:../data"}', { backend: 'wasm' }).config!;
    assert.equal(ok.dataset, `mnist:${resolve('/p/c', '../data')}`);
    assert.equal(ok.backend, 'wasm');
  });

  test('the dataset folder offers its subfolders that hold a dataset: IDX files, CIFAR binary batches, image folders', () => {
    const folder = join(tmp, 'datasets');
    for (const d of ['fashion-mnist', 'mnist', 'empty', 'cifar/cifar-10-batches-bin', 'c100', 'flowers/train/rose', 'flowers/test/rose', 'notes']) mkdirSync(join(folder, d), { recursive: true });
    writeFileSync(join(folder, 'fashion-mnist', 'train-images-idx3-ubyte.gz'), '');
    writeFileSync(join(folder, 'mnist', 'train-images-idx3-ubyte'), '');
    writeFileSync(join(folder, 'cifar', 'cifar-10-batches-bin', 'data_batch_1.bin'), '');
    writeFileSync(join(folder, 'c100', 'train.bin'), '');
    writeFileSync(join(folder, 'flowers', 'train', 'rose', 'a.JPG'), '');
    writeFileSync(join(folder, 'notes', 'readme.txt'), '');
    assert.deepEqual(
      discoverDatasets(folder)
        .map((d) => d.spec)
        .sort(),
      [`cifar100:${join(folder, 'c100')}`, `cifar10:${join(folder, 'cifar')}`, `fashion-mnist:${join(folder, 'fashion-mnist')}`, `folder:${join(folder, 'flowers')}`, `mnist:${join(folder, 'mnist')}`],
    );
    assert.deepEqual(discoverDatasets(join(tmp, 'missing')), []);
    // A folder of class folders is one dataset: its classes are not offered one by one.
    assert.deepEqual(
      discoverDatasets(join(folder, 'flowers', 'train')).map((d) => d.spec),
      [`folder:${join(folder, 'flowers', 'train')}`],
    );
    assert.equal(datasetSpecForFolder(join(folder, 'notes')), undefined);
    assert.equal(datasetSpecForFolder(join(folder, 'empty')), undefined);
  });

  test('New Run offers the datasets ready in the shared cache folder (downloads), not the partial ones', () => {
    const cache = mkdtempSync(join(tmpdir(), 'clab-cache-'));
    mkdirSync(join(cache, 'fashion-mnist'));
    for (const f of readdirSync('data/builtin').filter((n) => n.endsWith('.gz'))) copyFileSync(join('data/builtin', f), join(cache, 'fashion-mnist', f));
    mkdirSync(join(cache, 'downloads'));
    writeFileSync(join(cache, 'downloads', 'cifar-10-binary.tar.gz.part'), 'x');
    assert.deepEqual(cachedDatasets(cache), [
      { spec: 'fashion-mnist', label: 'fashion-mnist', description: 'Fashion-MNIST', detail: '6,000 train / 1,000 test · 10 classes · 28×28×1 · files put here by hand: not verified by clab data download' },
    ]);
  });

  test('a config file’s relative dataset folder is resolved against the file, for every KIND:DIR', () => {
    for (const kind of ['mnist', 'fashion-mnist', 'cifar10', 'cifar100', 'cifar100-coarse', 'folder'])
      assert.equal(resolveDatasetPath({ dataset: `${kind}:data/x` }, '/ws/configs').dataset, `${kind}:${join('/ws/configs', 'data/x')}`);
    for (const spec of ['builtin', 'cifar10', 'folder:/abs/x']) assert.equal(resolveDatasetPath({ dataset: spec }, '/ws').dataset, spec);
  });
});

describe('settings', () => {
  const src = (values: Record<string, unknown>) => ({ get: <T>(k: string) => values[k] as T | undefined });

  test('by default the database is the CLI’s default file, so terminal runs show up in the editor', () => {
    const s = readSettings(src({}), '/ws', {});
    assert.equal(s.dbPath, defaultDatabasePath({}));
    assert.deepEqual([s.backend, s.defaultDataset, s.maxConcurrentRuns, s.nodePath, s.npmPath], ['auto', 'builtin', 1, '', '']);
    assert.equal(readSettings(src({}), undefined, { CLAB_DB: '/x/runs.db' }).dbPath, '/x/runs.db', 'CLAB_DB is honoured like the CLI does');
  });

  test('a workspace-local database: ${workspaceFolder}, relative paths and ~ are expanded', () => {
    assert.equal(readSettings(src({ databasePath: '${workspaceFolder}/.clab/runs.db' }), '/ws').dbPath, '/ws/.clab/runs.db');
    assert.equal(readSettings(src({ databasePath: '.clab/runs.db' }), '/ws').dbPath, resolve('/ws', '.clab/runs.db'));
    assert.equal(readSettings(src({ databasePath: '~/runs.db' }), '/ws').dbPath, join(homedir(), 'runs.db'));
  });

  test('bad values fall back to safe defaults', () => {
    const s = readSettings(src({ backend: 'tpu', maxConcurrentRuns: 0 }), undefined);
    assert.equal(s.backend, 'auto');
    assert.equal(s.maxConcurrentRuns, 1);
    assert.equal(readSettings(src({ maxConcurrentRuns: 3.7 }), undefined).maxConcurrentRuns, 3);
  });
});

describe('Enable GPU Training', () => {
  test('installs the tfjs-node version that matches the tfjs-core the worker bundles', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    assert.equal(TFJS_VERSION, pkg.dependencies['@tensorflow/tfjs-core']);
    assert.deepEqual(installArgs('/s/native', 'tfjs-node-gpu'), ['install', '--prefix', '/s/native', '--save-exact', '--no-audit', '--no-fund', '--foreground-scripts', `@tensorflow/tfjs-node-gpu@${TFJS_VERSION}`]);
  });

  test('offers WebGPU first, at the webgpu version the tests run against, and finds each installed package', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
    assert.equal(WEBGPU_VERSION, pkg.devDependencies.webgpu);
    assert.equal(WEBGPU_PACKAGE_VERSION, WEBGPU_VERSION, 'the worker names another webgpu version in its install hint');
    assert.deepEqual(NATIVE_BACKENDS, ['webgpu', 'tfjs-node-gpu', 'tfjs-node']);
    assert.deepEqual(installArgs('/s/native', 'webgpu'), ['install', '--prefix', '/s/native', '--save-exact', '--no-audit', '--no-fund', '--foreground-scripts', `webgpu@${WEBGPU_VERSION}`]);
    const dir = join(tmp, 'native-detect');
    for (const p of ['webgpu', '@tensorflow/tfjs-node-gpu']) {
      mkdirSync(join(dir, 'node_modules', p), { recursive: true });
      writeFileSync(join(dir, 'node_modules', p, 'package.json'), '{}');
    }
    assert.deepEqual(installedNativeBackends(dir), ['webgpu', 'tfjs-node-gpu']);
  });

  test('the WebGPU check tells a software adapter and a missing GPU apart', () => {
    const soft = explainLoadFailure('webgpu', 'loaded webgpu 0.6.2: adapter google swiftshader SwiftShader driver 5.0.0 (software)\n', SOFTWARE_ADAPTER_EXIT);
    assert.match(soft, /only GPU adapter Dawn finds is a software one \(google swiftshader SwiftShader driver 5\.0\.0\)/);
    assert.match(soft, /“auto” do not use it/);
    assert.match(explainLoadFailure('webgpu', 'Error: Dawn found no GPU adapter\n', NO_ADAPTER_EXIT), /Vulkan loader \(libvulkan1\)/);
    assert.match(explainLoadFailure('webgpu', "Error: Cannot find module 'webgpu'\n", 1), /does not load: Error: Cannot find module/);
    // The script the extension runs is valid JavaScript that looks for the package in the given folder only.
    const script = verifyScript('/no/such/dir', 'webgpu');
    assert.doesNotThrow(() => new Function(script));
    assert.match(script, /paths:\["\/no\/such\/dir"\]/);
  });

  test('finds npm without a shell: on PATH, from the setting, and on Windows as node + npm-cli.js', () => {
    const files = new Set(['/usr/local/bin/npm', 'C:\\Program Files\\nodejs\\npm.cmd', 'C:\\Program Files\\nodejs\\node.exe', 'C:\\Program Files\\nodejs\\node_modules\\npm\\bin\\npm-cli.js']);
    const exists = (f: string) => files.has(f);
    assert.deepEqual(resolveNpm({ platform: 'linux', env: { PATH: '/usr/bin:/usr/local/bin' }, exists }), { command: '/usr/local/bin/npm', args: [] });
    assert.equal(resolveNpm({ platform: 'linux', env: { PATH: '/usr/bin' }, exists }), undefined);
    assert.deepEqual(resolveNpm({ platform: 'linux', npmPath: '/opt/npm', env: {}, exists }), { command: '/opt/npm', args: [] });
    assert.deepEqual(resolveNpm({ platform: 'win32', env: { Path: 'C:\\Windows;C:\\Program Files\\nodejs' }, exists }), {
      command: 'C:\\Program Files\\nodejs\\node.exe',
      args: ['C:\\Program Files\\nodejs\\node_modules\\npm\\bin\\npm-cli.js'],
    });
  });

  test('a network failure, a missing package and a missing GPU library are explained', () => {
    assert.match(explainNpmFailure('tfjs-node', 1, 'npm error code ENOTFOUND\nnpm error network request to https://registry.npmjs.org failed'), /could not reach the package registry/);
    assert.match(explainNpmFailure('tfjs-node-gpu', 1, 'Downloading libtensorflow\n* Downloading libtensorflow\nError: getaddrinfo ENOTFOUND storage.googleapis.com'), /could not download the TensorFlow C library/);
    assert.match(explainNpmFailure('tfjs-node', 1, 'npm error code E404\nnpm error 404 Not Found'), /has no @tensorflow\/tfjs-node@/);
    assert.match(explainNpmFailure('tfjs-node', 7, 'npm error something odd'), /code 7[\s\S]*something odd/);
    assert.match(explainLoadFailure('tfjs-node-gpu', 'Error: libcudart.so.11.0: cannot open shared object file'), /CUDA 11\.2 and cuDNN 8\.1/);
  });

  const fakeNpm = (name: string, body: string) => {
    const file = join(tmp, `${name}.js`);
    writeFileSync(file, body);
    chmodSync(file, 0o755);
    return { command: process.execPath, args: [file] };
  };

  test('runs npm with an argument array into the storage folder and checks the package landed', async () => {
    const dir = join(tmp, 'native-ok');
    // A stand-in npm: records its arguments and installs a package.json where npm would.
    const npm = fakeNpm(
      'npm-ok',
      `const fs=require('fs'),p=require('path');const a=process.argv.slice(2);const prefix=a[a.indexOf('--prefix')+1];
       const dir=p.join(prefix,'node_modules','@tensorflow','tfjs-node');fs.mkdirSync(dir,{recursive:true});fs.writeFileSync(p.join(dir,'package.json'),'{}');
       fs.writeFileSync(p.join(prefix,'args.json'),JSON.stringify({a,cwd:process.cwd()}));console.log('added 1 package');`,
    );
    let output = '';
    const r = await installNativeBackend({ backend: 'tfjs-node', dir, npm, onOutput: (t) => (output += t) });
    assert.deepEqual(r, { ok: true });
    const rec = JSON.parse(readFileSync(join(dir, 'args.json'), 'utf8')) as { a: string[]; cwd: string };
    assert.deepEqual(rec.a, installArgs(dir, 'tfjs-node'));
    assert.equal(rec.cwd, dir);
    assert.match(output, /added 1 package/);
    assert.deepEqual(installedNativeBackends(dir), ['tfjs-node']);
    assert.equal((JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { private: boolean }).private, true, 'npm would have walked up to an enclosing project');
  });

  test('installs webgpu the same way, and reports a package that did not land', async () => {
    const npm = fakeNpm(
      'npm-webgpu',
      `const fs=require('fs'),p=require('path');const a=process.argv.slice(2);const prefix=a[a.indexOf('--prefix')+1];
       const dir=p.join(prefix,'node_modules','webgpu');fs.mkdirSync(dir,{recursive:true});fs.writeFileSync(p.join(dir,'package.json'),'{}');
       fs.writeFileSync(p.join(prefix,'args.json'),JSON.stringify(a));`,
    );
    const dir = join(tmp, 'native-webgpu');
    assert.deepEqual(await installNativeBackend({ backend: 'webgpu', dir, npm, onOutput: () => undefined }), { ok: true });
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'args.json'), 'utf8')), installArgs(dir, 'webgpu'));
    assert.deepEqual(installedNativeBackends(dir), ['webgpu']);
    const nothing = fakeNpm('npm-nothing', "console.log('up to date');");
    const r = await installNativeBackend({ backend: 'webgpu', dir: join(tmp, 'native-webgpu-none'), npm: nothing, onOutput: () => undefined });
    assert.deepEqual(r, { ok: false, message: `npm finished, but webgpu@${WEBGPU_VERSION} is not in ${join(tmp, 'native-webgpu-none')}/node_modules` });
  });

  test('no network and no npm end with a message saying so', async () => {
    const offline = fakeNpm('npm-offline', "console.error('npm error code ENOTFOUND'); console.error('npm error network request failed, reason: getaddrinfo ENOTFOUND registry.npmjs.org'); process.exit(1);");
    const r = await installNativeBackend({ backend: 'tfjs-node-gpu', dir: join(tmp, 'native-offline'), npm: offline, onOutput: () => undefined });
    assert.equal(r.ok, false);
    assert.match(!r.ok ? r.message : '', /could not reach the package registry/);
    const missing = await installNativeBackend({ backend: 'tfjs-node', dir: join(tmp, 'native-missing'), npm: { command: join(tmp, 'no-npm'), args: [] }, onOutput: () => undefined });
    assert.equal(missing.ok, false);
    assert.match(!missing.ok ? missing.message : '', /npm was not found/);
    const none = await installNativeBackend({ backend: 'tfjs-node', dir: join(tmp, 'native-none'), npm: undefined, onOutput: () => undefined });
    assert.deepEqual(none, { ok: false, message: NPM_MISSING });
  });
});
