// Picks and starts the tfjs backend a training worker runs on.
//
// tfjs-node(-gpu) cannot ship in the VSIX (their install downloads libtensorflow), so they are loaded at
// run time from node_modules (CLI users, optional peer dependencies) or from directories the extension
// installs them into on demand ('Contrastive Lab: Enable GPU Training'). wasm is bundled and is the
// real fallback; pure-JS cpu is ~300x slower and only there so something always runs.
//
// Two copies of @tensorflow/tfjs-core. A native package installed elsewhere brings its own tfjs-core
// (via @tensorflow/tfjs), and in the bundle ours is inlined, so no module-resolution trick can make
// the package load ours. It does not need to: tfjs-core 4.x keeps its engine, kernel registry,
// gradient registry and Tensor class on globalThis (`_tfengine`, `getGlobal('kernelRegistry')`), so
// every copy in the process registers into the one engine the first copy created — ours. What can go
// wrong is version skew between the copies (they share the engine object but not its code), so the
// package's tfjs-core version is checked against ours *before* it is required, and after loading we
// check that our engine really sees the 'tensorflow' backend.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-backend-cpu';
import { getThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import type { BackendChoice } from '../core/config';
import { registerFastKernels } from './fast-kernels';
import { registerComparisonGradients, registerWasmTrainingKernels } from './wasm-kernels';
import { startWebgpu, stopWebgpu, webgpuLocations, WEBGPU_PACKAGE_VERSION } from './webgpu';

export type { BackendChoice };
type BackendName = Exclude<BackendChoice, 'auto'>;
type NativeName = Exclude<BackendName, 'wasm' | 'cpu' | 'webgpu'>;

export interface BackendOptions {
  /** Directories holding `node_modules/@tensorflow/tfjs-node(-gpu)` or `node_modules/webgpu`, tried after our own node_modules. */
  extraModuleDirs?: string[];
  /** Directory with the tfjs-backend-wasm*.wasm files; defaults to next to the bundle, then node_modules. */
  wasmDir?: string;
  log?: (msg: string) => void;
  /**
   * Loads a native package from our own node_modules; tests replace it (and then `webgpu` is not looked
   * for in our node_modules either). Default: require from this file.
   */
  requireFn?: (id: string) => unknown;
}

export interface BackendInfo {
  /** The choice that was started: 'tfjs-node-gpu' | 'webgpu' | 'tfjs-node' | 'wasm' | 'cpu' (never 'auto'). */
  backend: string;
  /**
   * For people: "GPU (…)", "GPU (WebGPU: vendor architecture, description)", "software GPU (WebGPU: …)",
   * "CPU (libtensorflow)", "CPU (wasm, SIMD, 1 thread)", "CPU (pure JS)".
   */
  device: string;
  tfjsVersion: string;
  /** Every candidate in the order tried; `error` says why a candidate was passed over. */
  tried: { name: string; error?: string }[];
}

/** webgpu under `auto` only on a hardware adapter: a software one (SwiftShader, llvmpipe) is slower than wasm. */
const AUTO_ORDER: BackendName[] = ['tfjs-node-gpu', 'webgpu', 'tfjs-node', 'wasm', 'cpu'];
const NATIVE_PACKAGES: Record<NativeName, string> = { 'tfjs-node-gpu': '@tensorflow/tfjs-node-gpu', 'tfjs-node': '@tensorflow/tfjs-node' };

/**
 * Starts the chosen backend, or with 'auto' the first of tfjs-node-gpu, webgpu (hardware adapter only),
 * tfjs-node, wasm, cpu that loads. A forced choice that cannot load throws, saying which and why.
 */
export async function initBackend(choice: BackendChoice, opts: BackendOptions = {}): Promise<BackendInfo> {
  registerComparisonGradients();
  const log = opts.log ?? (() => undefined);
  const tried: BackendInfo['tried'] = [];
  for (const name of choice === 'auto' ? AUTO_ORDER : [choice]) {
    try {
      const device =
        name === 'wasm'
          ? await startWasm(opts)
          : name === 'cpu'
            ? await startCpu()
            : name === 'webgpu'
              ? await startWebgpu({ locations: webgpuLocations(opts.extraModuleDirs, !opts.requireFn), allowSoftware: choice === 'webgpu', log })
              : await startNative(name, opts);
      tried.push({ name });
      log(`tfjs backend ${name}: ${device}`);
      return { backend: name, device, tfjsVersion: tf.version_core, tried };
    } catch (e) {
      const error = (e as Error).message;
      tried.push({ name, error });
      if (choice !== 'auto') throw new Error(`backend ${name} is not available: ${error}${installHint(name)}`);
      log(`tfjs backend ${name} not used: ${error}`);
    }
  }
  throw new Error(`no tfjs backend could start: ${tried.map((t) => `${t.name}: ${t.error}`).join('; ')}`);
}

/**
 * Releases what keeps the process alive after a run: Dawn's GPU device (webgpu). The worker and
 * `clab train` call it when the run has ended, so that they exit by themselves.
 */
export function releaseBackend(): void {
  stopWebgpu();
}

function installHint(name: BackendName): string {
  if (name === 'tfjs-node-gpu') return ` — run 'Contrastive Lab: Enable GPU Training' or npm install @tensorflow/tfjs-node-gpu@${tf.version_core}`;
  if (name === 'tfjs-node') return ` — npm install @tensorflow/tfjs-node@${tf.version_core}`;
  if (name === 'webgpu') return ` — run 'Contrastive Lab: Enable GPU Training' (WebGPU) or npm install webgpu@${WEBGPU_PACKAGE_VERSION}`;
  return '';
}

async function startCpu(): Promise<string> {
  if (!(await tf.setBackend('cpu'))) throw new Error('the cpu backend failed to initialise');
  return 'CPU (pure JS)';
}

async function startWasm(opts: BackendOptions): Promise<string> {
  const simd = (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) as boolean;
  const binary = simd ? 'tfjs-backend-wasm-simd.wasm' : 'tfjs-backend-wasm.wasm';
  const dirs = [opts.wasmDir, __dirname, wasmPackageDist()].filter((d): d is string => d != null);
  const dir = dirs.find((d) => existsSync(path.join(d, binary)));
  if (dir == null) throw new Error(`${binary} not found in ${dirs.join(', ')}`);
  // tfjs appends the file name to this prefix, so it must end with a separator. Once the wasm backend
  // has started, the path no longer matters (and setWasmPaths throws only after a failed start).
  if (tf.findBackend('wasm') == null) setWasmPaths(dir + path.sep);
  opts.log?.(`tfjs wasm binaries from ${dir}`);
  registerWasmTrainingKernels(); // kernels wasm lacks for training
  registerFastKernels(); // faster replacements for wasm kernels that training leans on
  if (!(await tf.setBackend('wasm'))) throw new Error(`the wasm backend failed to initialise from ${path.join(dir, binary)}`);
  const threads = getThreadsCount();
  return `CPU (wasm, ${simd ? 'SIMD' : 'no SIMD'}, ${threads} thread${threads === 1 ? '' : 's'})`;
}

function wasmPackageDist(): string | undefined {
  try {
    return path.join(path.dirname(createRequire(__filename).resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
  } catch {
    return undefined; // bundled without node_modules: the .wasm files sit next to the bundle
  }
}

/** One place a native package may be installed. `resolve` is absent for an injected requireFn. */
interface ModuleLocation {
  where: string;
  load: (id: string) => unknown;
  resolve?: (id: string) => string;
}

function moduleLocations(opts: BackendOptions): ModuleLocation[] {
  const own = createRequire(__filename);
  const first: ModuleLocation = opts.requireFn ? { where: 'node_modules', load: opts.requireFn } : { where: 'node_modules', load: own, resolve: own.resolve };
  return [first, ...(opts.extraModuleDirs ?? []).map((dir) => {
    // createRequire wants a file path; the file need not exist.
    const req = createRequire(path.join(dir, 'noop.js'));
    return { where: dir, load: req, resolve: req.resolve };
  })];
}

/**
 * Loads @tensorflow/tfjs-node(-gpu) from the first location that has it. A copy that is found but fails
 * (no libtensorflow, wrong CUDA, other tfjs-core version) does not stop the search: the next
 * location may hold a working one.
 */
async function startNative(name: NativeName, opts: BackendOptions): Promise<string> {
  const pkg = NATIVE_PACKAGES[name];
  const notFound: string[] = [];
  const failures: string[] = [];
  const hadFactory = 'tensorflow' in tf.engine().registryFactory;
  for (const loc of moduleLocations(opts)) {
    try {
      if (loc.resolve) {
        try {
          loc.resolve(pkg);
        } catch {
          notFound.push(loc.where);
          continue;
        }
        checkCoreVersion(pkg, loc.resolve);
      }
      loadQuietly(() => loc.load(pkg));
      return await useTensorflowBackend(name, pkg, loc.where);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (!loc.resolve && err.code === 'MODULE_NOT_FOUND' && err.message.includes(pkg)) notFound.push(loc.where);
      else failures.push(`${loc.where}: ${err.message.split('\n')[0]}`);
      // A half-loaded package may have registered (and selected) a backend that does not work: drop
      // it, so that neither a later candidate nor tfjs' priority order picks it up.
      if (!hadFactory && 'tensorflow' in tf.engine().registryFactory) tf.removeBackend('tensorflow');
    }
  }
  if (failures.length > 0) throw new Error(`${pkg} failed to load: ${failures.join('; ')}`);
  throw new Error(`Cannot find module '${pkg}' (looked in ${notFound.join(', ')})`);
}

/** Refuses a package whose tfjs-core differs in major.minor from ours: they would share one engine. */
function checkCoreVersion(pkg: string, resolve: (id: string) => string): void {
  const pkgDir = path.dirname(resolve(`${pkg}/package.json`));
  const theirs = packageVersion(pkgDir, '@tensorflow/tfjs-core') ?? packageVersion(pkgDir, '@tensorflow/tfjs', '@tensorflow/tfjs-core');
  if (theirs == null) return; // resolved at load time then; the engine check after loading still applies
  const minor = (v: string) => v.split('.').slice(0, 2).join('.');
  if (minor(theirs) !== minor(tf.version_core)) {
    throw new Error(`${pkg} in ${pkgDir} uses @tensorflow/tfjs-core ${theirs}, but this build uses ${tf.version_core}: install ${pkg}@${tf.version_core}`);
  }
}

/** Version of `id` as seen from `fromDir` (through `via` when given: tfjs-core may sit under @tensorflow/tfjs). */
function packageVersion(fromDir: string, via: string, id?: string): string | undefined {
  try {
    let req = createRequire(path.join(fromDir, 'noop.js'));
    if (id != null) req = createRequire(req.resolve(`${via}/package.json`));
    return (JSON.parse(readFileSync(req.resolve(`${id ?? via}/package.json`), 'utf8')) as { version: string }).version;
  } catch {
    return undefined;
  }
}

/**
 * A package with its own tfjs-core (and tfjs-backend-cpu) registers every kernel and gradient a
 * second time, and tfjs warns once per kernel: hundreds of lines in the run's log. tfjs' `PROD` flag
 * silences its warnings; it is restored right after.
 */
function loadQuietly(load: () => unknown): void {
  const prod = tf.env().getBool('PROD');
  tf.env().set('PROD', true);
  try {
    load();
  } finally {
    tf.env().set('PROD', prod);
  }
}

interface NodeKernelBackendLike {
  isGPUPackage?: boolean;
  isUsingGpuDevice?: boolean;
}

async function useTensorflowBackend(name: NativeName, pkg: string, where: string): Promise<string> {
  if (tf.findBackend('tensorflow') == null) {
    throw new Error(
      `${pkg} from ${where} loaded, but this process's tfjs-core ${tf.version_core} has no 'tensorflow' backend: ` +
        `the package registered it into another tfjs-core engine`,
    );
  }
  if (!(await tf.setBackend('tensorflow'))) throw new Error(`${pkg} from ${where}: the 'tensorflow' backend failed to initialise`);
  const be = tf.backend() as unknown as NodeKernelBackendLike;
  if (name === 'tfjs-node') return 'CPU (libtensorflow)';
  // A 'tensorflow' backend registered earlier by @tensorflow/tfjs-node is not the GPU build.
  if (be.isGPUPackage === false) throw new Error(`the 'tensorflow' backend in this process comes from @tensorflow/tfjs-node, not ${pkg}`);
  // The GPU build of libtensorflow quietly runs on the CPU when CUDA or cuDNN cannot be loaded.
  if (be.isUsingGpuDevice === false) return 'CPU (libtensorflow GPU build: no usable CUDA device)';
  const gpu = gpuName();
  return gpu ? `GPU (${gpu})` : 'GPU';
}

/** Best effort: libtensorflow does not report the device name through tfjs. */
function gpuName(): string | undefined {
  try {
    const out = execFileSync('nvidia-smi', ['--query-gpu=name', '--format=csv,noheader'], { encoding: 'utf8', timeout: 3000, stdio: ['ignore', 'pipe', 'ignore'] });
    return out.split('\n')[0].trim() || undefined;
  } catch {
    return undefined;
  }
}
