import { spawn as nodeSpawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

/**
 * Enable GPU Training: installs `webgpu` (Dawn's Node binding: any GPU, no CUDA), `@tensorflow/tfjs-node-gpu`
 * (NVIDIA with CUDA 11.2) or `@tensorflow/tfjs-node` with the user's npm into a folder of the extension's
 * global storage. An extension is installed from a VSIX and never runs npm itself; the tfjs-node packages
 * download libtensorflow in their install script, and `webgpu` carries dawn.node for every platform
 * (132 MB unpacked), too much for the VSIX of one platform to carry for all — so this is the one place
 * where npm runs. The run manager passes the folder to every worker (`extraModuleDirs`), and the worker's
 * backend picker finds the package there. Always an argument array, never a shell.
 */

export type NativeBackend = 'webgpu' | 'tfjs-node-gpu' | 'tfjs-node';

/** In the order Enable GPU Training offers them. */
export const NATIVE_BACKENDS: readonly NativeBackend[] = ['webgpu', 'tfjs-node-gpu', 'tfjs-node'];

/** Must equal the @tensorflow/tfjs-core the worker bundles (a test checks package.json). */
export const TFJS_VERSION = '4.22.0';

/** Must equal the `webgpu` devDependency the tests run against (a test checks package.json). */
export const WEBGPU_VERSION = '0.6.2';

const packageName = (b: NativeBackend) => (b === 'webgpu' ? 'webgpu' : `@tensorflow/${b}`);

export const nativePackage = (b: NativeBackend) => `${packageName(b)}@${b === 'webgpu' ? WEBGPU_VERSION : TFJS_VERSION}`;

/** The folder under global storage whose node_modules holds the native backends. */
export const nativeModuleDir = (globalStorageDir: string) => path.join(globalStorageDir, 'native-backends');

/** Which native backends are installed in `dir` (by their package.json). */
export function installedNativeBackends(dir: string): NativeBackend[] {
  return NATIVE_BACKENDS.filter((b) => existsSync(path.join(dir, 'node_modules', ...packageName(b).split('/'), 'package.json')));
}

export interface NpmInvocation {
  command: string;
  /** Arguments before npm's own (e.g. npm-cli.js when npm is run through node). */
  args: string[];
}

export interface ResolveNpmOptions {
  /** The `contrastiveLab.npmPath` setting; empty = npm on PATH. */
  npmPath?: string;
  platform: NodeJS.Platform;
  env: NodeJS.ProcessEnv;
  exists(p: string): boolean;
}

/**
 * How to start npm without a shell. On Windows npm is `npm.cmd`, which spawn refuses to run without a
 * shell (CVE-2024-27980), so we run `node npm-cli.js` from the same installation instead.
 */
export function resolveNpm(o: ResolveNpmOptions): NpmInvocation | undefined {
  const win = o.platform === 'win32';
  const p = win ? path.win32 : path.posix;
  let npm = o.npmPath?.trim() || undefined;
  if (!npm) {
    const dirs = (o.env.PATH ?? o.env.Path ?? '').split(win ? ';' : ':').filter(Boolean);
    const names = win ? ['npm.cmd', 'npm.exe', 'npm'] : ['npm'];
    npm = dirs.flatMap((d) => names.map((n) => p.join(d, n))).find((f) => o.exists(f));
  }
  if (!npm) return undefined;
  if (/\.c?js$/i.test(npm)) return { command: nodeBeside(p, npm, win, o.exists), args: [npm] };
  if (win && /\.(cmd|bat)$/i.test(npm)) {
    const cli = p.join(p.dirname(npm), 'node_modules', 'npm', 'bin', 'npm-cli.js');
    if (!o.exists(cli)) return undefined;
    return { command: nodeBeside(p, npm, win, o.exists), args: [cli] };
  }
  return { command: npm, args: [] };
}

function nodeBeside(p: typeof path.posix, file: string, win: boolean, exists: (f: string) => boolean): string {
  const node = p.join(p.dirname(file), win ? 'node.exe' : 'node');
  return exists(node) ? node : 'node';
}

/** npm's arguments: a pinned version, the install script's download progress visible, nothing else. */
export function installArgs(prefix: string, backend: NativeBackend): string[] {
  return ['install', '--prefix', prefix, '--save-exact', '--no-audit', '--no-fund', '--foreground-scripts', nativePackage(backend)];
}

const NETWORK = /ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|getaddrinfo|network|socket hang up|proxy|self.signed certificate|UNABLE_TO_GET_ISSUER_CERT/i;

/** A failed npm run, explained in terms the user can act on. */
export function explainNpmFailure(backend: NativeBackend, exitCode: number | null, output: string): string {
  const pkg = nativePackage(backend);
  if (/libtensorflow|storage\.googleapis\.com|node-pre-gyp|install-from-source|deps\/lib/i.test(output) && NETWORK.test(output))
    return `npm installed ${pkg}, but its install script could not download the TensorFlow C library from storage.googleapis.com. Check the network or proxy (npm config get https-proxy), then try again.`;
  if (NETWORK.test(output))
    return `npm could not reach the package registry to install ${pkg}. Check the network connection or proxy settings (npm config get registry / https-proxy), then try again.`;
  if (/E404|ETARGET|notarget/i.test(output)) return `the registry npm uses has no ${pkg} (npm config get registry).`;
  if (/EACCES|EPERM/i.test(output)) return `npm was not allowed to write the extension's storage folder: ${firstErrorLine(output)}`;
  return `npm exited with code ${exitCode} while installing ${pkg}${firstErrorLine(output) ? `: ${firstErrorLine(output)}` : ''}. See the output for details.`;
}

function firstErrorLine(output: string): string {
  return (
    output
      .split('\n')
      .find((l) => /npm (ERR!|error)/.test(l) && !/A complete log|verbose/.test(l))
      ?.replace(/^npm (ERR!|error)\s*/, '')
      .trim() ?? ''
  );
}

export const NPM_MISSING =
  'npm was not found. Enable GPU Training installs the GPU and native packages with npm: install Node.js (it includes npm) from https://nodejs.org, ' +
  'or set "contrastiveLab.npmPath" to your npm, then try again.';

export type SpawnFn = (command: string, args: readonly string[], options: SpawnOptions) => ChildProcess;

export interface InstallOptions {
  backend: NativeBackend;
  /** The folder whose node_modules receives the package (nativeModuleDir). */
  dir: string;
  npm: NpmInvocation | undefined;
  onOutput(text: string): void;
  signal?: AbortSignal;
  spawn?: SpawnFn;
  env?: NodeJS.ProcessEnv;
}

export type InstallResult = { ok: true } | { ok: false; message: string; cancelled?: boolean };

/** Runs `npm install` into `dir`, streaming npm's output; resolves with a message fit for the user on failure. */
export async function installNativeBackend(o: InstallOptions): Promise<InstallResult> {
  if (!o.npm) return { ok: false, message: NPM_MISSING };
  mkdirSync(o.dir, { recursive: true });
  // Without a package.json here npm would walk up and install into some enclosing project.
  const pkgJson = path.join(o.dir, 'package.json');
  if (!existsSync(pkgJson))
    writeFileSync(pkgJson, `${JSON.stringify({ name: 'contrastive-lab-native-backends', private: true, description: 'TensorFlow.js native backends installed by Contrastive Lab (Enable GPU Training).' }, null, 2)}\n`);
  const args = [...o.npm.args, ...installArgs(o.dir, o.backend)];
  o.onOutput(`> ${[o.npm.command, ...args].map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' ')}\n`);
  let output = '';
  return new Promise<InstallResult>((resolve) => {
    let child: ChildProcess;
    try {
      child = (o.spawn ?? nodeSpawn)(o.npm!.command, args, { cwd: o.dir, env: o.env ?? process.env, shell: false, windowsHide: true, stdio: ['ignore', 'pipe', 'pipe'], signal: o.signal });
    } catch (e) {
      resolve({ ok: false, message: `could not start npm (${o.npm!.command}): ${(e as Error).message}` });
      return;
    }
    const collect = (b: Buffer) => {
      const text = b.toString();
      output = (output + text).slice(-20_000);
      o.onOutput(text);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    let failed = false;
    child.on('error', (e: NodeJS.ErrnoException) => {
      failed = true;
      if (e.name === 'AbortError') resolve({ ok: false, cancelled: true, message: 'the installation was cancelled' });
      else if (e.code === 'ENOENT') resolve({ ok: false, message: `${NPM_MISSING} (tried ${o.npm!.command})` });
      else resolve({ ok: false, message: `could not run npm (${o.npm!.command}): ${e.message}` });
    });
    child.on('close', (code) => {
      if (failed) return;
      if (o.signal?.aborted) return resolve({ ok: false, cancelled: true, message: 'the installation was cancelled' });
      if (code !== 0) return resolve({ ok: false, message: explainNpmFailure(o.backend, code, output) });
      if (!installedNativeBackends(o.dir).includes(o.backend)) return resolve({ ok: false, message: `npm finished, but ${nativePackage(o.backend)} is not in ${o.dir}/node_modules` });
      resolve({ ok: true });
    });
  });
}

/** Exit code of the webgpu check when the only adapter is a software one. */
export const SOFTWARE_ADAPTER_EXIT = 4;
/** Exit code of the webgpu check when Dawn finds no adapter at all. */
export const NO_ADAPTER_EXIT = 3;

/**
 * A one-line script that loads the installed package the way the worker will, so a GPU package whose
 * CUDA libraries are missing, or a machine where Dawn sees no GPU, is reported now rather than at the
 * next run. For webgpu it asks Dawn for the adapter a run would get and prints it; it exits by itself
 * (Dawn's instance would keep the process alive).
 */
export function verifyScript(dir: string, backend: NativeBackend): string {
  const paths = JSON.stringify(dir);
  if (backend === 'webgpu')
    return (
      `(async()=>{const p=require.resolve('webgpu',{paths:[${paths}]});const m=await import(require('url').pathToFileURL(p).href);` +
      `const a=await m.create([]).requestAdapter({powerPreference:'high-performance'});` +
      `if(!a){console.log('Error: Dawn found no GPU adapter');process.exit(${NO_ADAPTER_EXIT});}` +
      `const i=a.info;const name=[i.vendor,i.architecture,i.description||i.device].filter(Boolean).join(' ');` +
      `const soft=i.isFallbackAdapter||/swiftshader|llvmpipe|lavapipe|softpipe|basic render|\\bwarp\\b/i.test(name);` +
      `console.log('loaded webgpu ${WEBGPU_VERSION}: adapter',name||'(unnamed)',soft?'(software)':'');process.exit(soft?${SOFTWARE_ADAPTER_EXIT}:0);` +
      `})().catch((e)=>{console.log('Error: '+e.message);process.exit(1);});`
    );
  return `const tf=require(require.resolve('@tensorflow/${backend}',{paths:[${paths}]}));console.log('loaded @tensorflow/${backend}', tf.version_core||'', 'backend', tf.getBackend());`;
}

export function explainLoadFailure(backend: NativeBackend, output: string, exitCode?: number | null): string {
  if (backend === 'webgpu') {
    if (exitCode === SOFTWARE_ADAPTER_EXIT)
      return `${nativePackage(backend)} is installed, but the only GPU adapter Dawn finds is a software one (${output.replace(/^.*adapter\s*/s, '').replace(/\(software\)\s*$/, '').trim()}): runs with backend “auto” do not use it (it is slower than the CPU); backend “webgpu” does, for checks. Install the GPU's driver (on Linux with its Vulkan ICD) to train on the GPU.`;
    if (exitCode === NO_ADAPTER_EXIT)
      return `${nativePackage(backend)} is installed, but Dawn finds no GPU adapter. On Linux it needs the Vulkan loader (libvulkan1) and the GPU driver's Vulkan ICD (\`vulkaninfo --summary\` lists them); on Windows a D3D12 or Vulkan driver; on macOS Metal. Runs fall back to the next backend until then.`;
  }
  if (backend === 'tfjs-node-gpu' && /libcud|cudnn|CUDA|libnvinfer/i.test(output))
    return `${nativePackage(backend)} is installed but cannot load its CUDA libraries: it needs an NVIDIA GPU with CUDA 11.2 and cuDNN 8.1 on the library path. Runs fall back to the next backend until then.`;
  const line = output.split('\n').find((l) => /Error/.test(l))?.trim();
  return `${nativePackage(backend)} is installed but does not load${line ? `: ${line}` : ''}. Runs fall back to the next backend.`;
}
