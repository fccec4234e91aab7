// The webgpu backend: tfjs' WebGPU kernels (@tensorflow/tfjs-backend-webgpu, bundled) on a GPU reached
// through Dawn's Node binding (the `webgpu` npm package, its dawn.node native; loaded at run time, like
// tfjs-node, from node_modules or the folder Enable GPU Training installs into). Dawn drives Vulkan on
// Linux and Windows (NVIDIA, AMD, Intel), Metal on macOS and D3D12 on Windows: no CUDA install.
//
// Node has no OffscreenCanvas, and tfjs-backend-webgpu's synchronous read (dataSync, arraySync) is built
// on one: copy into a canvas texture, then read the canvas. There is no synchronous way to wait for a GPU
// buffer in Node at all, so the training code reads back with `await data()` only, and a synchronous read
// of a tensor still on the GPU fails with a message naming the cause instead of "OffscreenCanvas is not
// defined". Tensors whose values are on the CPU already (uploads, values read once) still read
// synchronously, as on every backend.
import * as tf from '@tensorflow/tfjs-core';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

/** The version Enable GPU Training installs and `npm install --save-exact` pins (a test checks package.json). */
export const WEBGPU_PACKAGE_VERSION = '0.6.2';

/** What Dawn says about the adapter tfjs runs on (GPUAdapterInfo). */
export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A fallback adapter: a CPU implementation of the GPU API (SwiftShader, llvmpipe/lavapipe, WARP). */
  software: boolean;
}

/** Names Dawn reports for CPU implementations when a driver does not flag itself as a fallback adapter. */
const SOFTWARE_ADAPTER = /swiftshader|llvmpipe|lavapipe|softpipe|microsoft basic render|\bwarp\b/i;

export function isSoftwareAdapter(info: Omit<AdapterDescription, 'software'> & { isFallbackAdapter?: boolean }): boolean {
  return info.isFallbackAdapter === true || SOFTWARE_ADAPTER.test(`${info.vendor} ${info.architecture} ${info.device} ${info.description}`);
}

/** "GPU (WebGPU: <vendor> <architecture>, <device>, <description>)" as Dawn names them; a software adapter says so first. */
export function describeAdapter(a: AdapterDescription): string {
  const name = [a.vendor, a.architecture].filter(Boolean).join(' ');
  const parts = [name, a.device, a.description].filter((p, i, all) => p && all.indexOf(p) === i);
  const text = `WebGPU: ${parts.join(', ') || 'unnamed adapter'}`;
  return a.software ? `software GPU (${text}; a CPU implementation, for correctness checks only)` : `GPU (${text})`;
}

interface DawnModule {
  create(flags: string[]): GpuLike;
  globals: Record<string, unknown>;
}
interface AdapterInfoLike {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}
interface AdapterLike {
  info?: AdapterInfoLike;
  isFallbackAdapter?: boolean;
  features: { has(f: string): boolean };
  limits: Record<string, number>;
  requestDevice(d: unknown): Promise<DeviceLike>;
}
interface DeviceLike {
  destroy(): void;
  lost?: Promise<{ reason?: string; message?: string }>;
}
interface GpuLike {
  requestAdapter(o: unknown): Promise<AdapterLike | null>;
}

/** A place the `webgpu` package may be installed: our node_modules or an extra folder. */
export interface WebgpuLocation {
  where: string;
  resolve: (id: string) => string;
}

export interface WebgpuOptions {
  locations: WebgpuLocation[];
  /** Accept a fallback (software) adapter: only when the webgpu backend is asked for by name. */
  allowSoftware: boolean;
  log?: (msg: string) => void;
}

/** The adapter the running webgpu backend was started on (one per process: tfjs keeps one backend of a name). */
let started: AdapterDescription | undefined;
let startedDevice: DeviceLike | undefined;

/** Starts the webgpu backend and returns the device text recorded with the run. Throws, saying why, when it cannot. */
export async function startWebgpu(o: WebgpuOptions): Promise<string> {
  if (started && tf.findBackend('webgpu') != null) {
    if (started.software && !o.allowSoftware) throw new Error(softwareRefusal(started));
    if (!(await tf.setBackend('webgpu'))) throw new Error('the webgpu backend failed to initialise');
    return describeAdapter(started);
  }
  const dawn = await loadDawn(o.locations);
  // The GPU* constants (GPUBufferUsage, GPUMapMode, …) tfjs' kernels use are globals in a browser.
  for (const [k, v] of Object.entries(dawn.globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  const gpu = dawn.create([]);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (adapter == null)
    throw new Error(
      'Dawn found no GPU adapter (no Vulkan, Metal or D3D12 device): on Linux this needs the Vulkan loader (libvulkan1) and the GPU driver\'s Vulkan ICD (for NVIDIA, the driver\'s own; `vulkaninfo --summary` lists them)',
    );
  const info = adapter.info ?? {};
  const desc = { vendor: info.vendor ?? '', architecture: info.architecture ?? '', device: info.device ?? '', description: info.description ?? '' };
  const adapterInfo: AdapterDescription = { ...desc, software: isSoftwareAdapter({ ...desc, isFallbackAdapter: info.isFallbackAdapter ?? adapter.isFallbackAdapter }) };
  if (adapterInfo.software && !o.allowSoftware) throw new Error(softwareRefusal(adapterInfo));
  const { WebGPUBackend } = await import('@tensorflow/tfjs-backend-webgpu');
  // tfjs-backend-webgpu checks navigator.gpu when a backend is constructed (Node ≥ 21 has a navigator without gpu).
  const nav = ((globalThis as { navigator?: object }).navigator ??= {}) as { gpu?: unknown };
  if (nav.gpu == null) Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true, enumerable: true });
  // The limits and features tfjs' own registration asks for: the adapter's, not WebGPU's small defaults
  // (a 128 MB storage binding would fail a large memory bank).
  const l = adapter.limits;
  const device = await adapter.requestDevice({
    requiredFeatures: ['timestamp-query'].filter((f) => adapter.features.has(f)),
    requiredLimits: {
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
    },
  });
  void device.lost?.then((e) => {
    if (started) o.log?.(`the WebGPU device was lost: ${e.message || e.reason || 'no reason given'}`);
  });
  const ok = tf.registerBackend('webgpu', () => {
    const be = new WebGPUBackend(device as never, adapter.info as never);
    refuseGpuSyncReads(be as unknown as SyncReadable);
    return be;
  });
  if (!ok) throw new Error("a 'webgpu' backend was registered already in this process");
  if (!(await tf.setBackend('webgpu'))) {
    tf.removeBackend('webgpu');
    throw new Error('the webgpu backend failed to initialise');
  }
  started = adapterInfo;
  startedDevice = device;
  if (adapterInfo.software) o.log?.(`webgpu runs on a software adapter (${adapterInfo.description || adapterInfo.device}): correct but far slower than wasm`);
  return describeAdapter(adapterInfo);
}

function softwareRefusal(a: AdapterDescription): string {
  return `the only WebGPU adapter is a software one (${a.description || a.device || a.vendor}), slower than wasm: 'auto' does not use it (backend "webgpu" does)`;
}

/** Imports the `webgpu` package (ES module) from the first location that has it. */
async function loadDawn(locations: WebgpuLocation[]): Promise<DawnModule> {
  const notFound: string[] = [];
  const failures: string[] = [];
  for (const loc of locations) {
    let entry: string;
    try {
      entry = loc.resolve('webgpu');
    } catch {
      notFound.push(loc.where);
      continue;
    }
    try {
      const m = (await import(pathToFileURL(entry).href)) as DawnModule & { default?: DawnModule };
      const dawn = typeof m.create === 'function' ? m : m.default;
      if (!dawn || typeof dawn.create !== 'function') throw new Error(`${entry} does not export create()`);
      return dawn;
    } catch (e) {
      // dawn.node missing for this platform, or built for another Node ABI.
      failures.push(`${loc.where}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  if (failures.length > 0) throw new Error(`webgpu (Dawn) failed to load: ${failures.join('; ')}`);
  throw new Error(`Cannot find module 'webgpu' (looked in ${notFound.join(', ')})`);
}

export function webgpuLocations(extraModuleDirs: string[] = [], ownNodeModules = true): WebgpuLocation[] {
  const own = createRequire(__filename);
  return [
    ...(ownNodeModules ? [{ where: 'node_modules', resolve: own.resolve }] : []),
    // The package itself in DIR/node_modules: Node's resolution would also walk up DIR's parents.
    ...extraModuleDirs.map((dir) => ({
      where: dir,
      resolve: (id: string) => {
        if (!existsSync(path.join(dir, 'node_modules', id, 'package.json'))) throw new Error(`Cannot find module '${id}' in ${dir}`);
        return createRequire(path.join(dir, 'noop.js')).resolve(id);
      },
    })),
  ];
}

interface SyncReadable {
  readSync(dataId: object): unknown;
  tensorMap: { get(dataId: object): { values?: unknown; dtype: string } | undefined };
}

/** How many synchronous reads of GPU-resident data were refused (tests check it stays 0). */
export const syncReadStats = { refused: 0 };

/**
 * A synchronous read of data that lives on the GPU throws a clear error. Values already on the CPU
 * (freshly uploaded, or read once) read as on any backend.
 */
function refuseGpuSyncReads(be: SyncReadable): void {
  const readSync = be.readSync.bind(be);
  be.readSync = (dataId: object) => {
    const d = be.tensorMap.get(dataId);
    if (d && d.values == null && d.dtype !== 'string' && d.dtype !== 'complex64') {
      syncReadStats.refused++;
      throw new Error('a synchronous read (dataSync/arraySync) of a tensor on the GPU is not possible on the webgpu backend in Node: read it with `await tensor.data()`');
    }
    return readSync(dataId);
  };
}

/** Releases the GPU device, so that the process can exit (Dawn keeps it open otherwise). */
export function stopWebgpu(): void {
  if (tf.findBackend('webgpu') == null) return;
  started = undefined;
  tf.removeBackend('webgpu');
  startedDevice?.destroy();
  startedDevice = undefined;
}
