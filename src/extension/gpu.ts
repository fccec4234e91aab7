import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as vscode from 'vscode';
import {
  explainLoadFailure,
  installedNativeBackends,
  installNativeBackend,
  NATIVE_BACKENDS,
  nativePackage,
  resolveNpm,
  verifyScript,
  type NativeBackend,
} from './gpuInstall';
import { workerLaunch } from './launch';
import type { Services } from './services';

/**
 * Enable GPU Training: asks which native backend, installs it with the user's npm into global storage
 * (progress notification with Cancel, npm's output in the Contrastive Lab log), then loads it once the
 * way a worker will, so missing CUDA libraries are reported now. Resolves true when it is usable.
 */
export async function enableGpuTraining(s: Services, choice?: NativeBackend): Promise<boolean> {
  const installed = installedNativeBackends(s.nativeDir);
  // A command argument (another extension, a keybinding) is used only when it names a known package.
  if (choice !== undefined && !NATIVE_BACKENDS.includes(choice)) choice = undefined;
  if (!choice) {
    const gpuPlatform = process.platform === 'linux' || process.platform === 'win32';
    type Item = vscode.QuickPickItem & { b: NativeBackend };
    const options: Item[] = [
      {
        label: 'GPU (WebGPU)',
        description: nativePackage('webgpu'),
        detail: 'Any GPU, no CUDA needed: NVIDIA, AMD and Intel through Vulkan (Linux, Windows), Apple through Metal, D3D12 on Windows; ~50 MB download',
        b: 'webgpu',
      },
      ...(gpuPlatform
        ? [{ label: 'GPU (CUDA)', description: nativePackage('tfjs-node-gpu'), detail: 'NVIDIA GPU with CUDA 11.2 and cuDNN 8.1 on the library path; Linux or Windows, x64; ~300 MB download', b: 'tfjs-node-gpu' as const }]
        : []),
      { label: 'Native CPU', description: nativePackage('tfjs-node'), detail: 'TensorFlow C library on the CPU: much faster than the built-in WebAssembly backend', b: 'tfjs-node' },
    ];
    const items = options.map((it) => (installed.includes(it.b) ? { ...it, description: `${it.description} · installed` } : it));
    const picked = await vscode.window.showQuickPick(items, {
      title: 'Enable GPU Training',
      placeHolder: 'Which backend to install (with npm, into the extension storage)',
    });
    if (!picked) return false;
    choice = picked.b;
  }
  const backend = choice;
  const npm = resolveNpm({ npmPath: s.settings().npmPath, platform: process.platform, env: process.env, exists: existsSync });
  s.log.show(true);
  s.log.info(`Enable GPU Training: installing ${nativePackage(backend)} into ${s.nativeDir}`);
  const result = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Installing ${nativePackage(backend)}`, cancellable: true },
    async (progress, token) => {
      const abort = new AbortController();
      token.onCancellationRequested(() => abort.abort());
      progress.report({ message: backend === 'webgpu' ? 'running npm install (Dawn, the WebGPU library, for every platform)…' : 'running npm install (the package downloads the TensorFlow C library)…' });
      return installNativeBackend({
        backend,
        dir: s.nativeDir,
        npm,
        signal: abort.signal,
        onOutput: (text) => {
          for (const line of text.split('\n').filter((l) => l.trim())) s.log.info(`npm: ${line}`);
        },
      });
    },
  );
  if (!result.ok) {
    s.log.error(result.message);
    if (result.cancelled) return false;
    const openSettings = 'Set npm Path';
    const showLog = 'Show Log';
    const pick = await vscode.window.showErrorMessage(`Contrastive Lab: ${result.message}`, showLog, openSettings);
    if (pick === openSettings) await vscode.commands.executeCommand('workbench.action.openSettings', 'contrastiveLab.npmPath');
    if (pick === showLog) s.log.show(true);
    return false;
  }
  const check = await verify(s, backend);
  if (!check.ok) {
    s.log.warn(check.message);
    void vscode.window.showWarningMessage(`Contrastive Lab: ${check.message}`);
    return false;
  }
  s.log.info(check.message);
  void vscode.window.showInformationMessage(
    `Contrastive Lab: ${nativePackage(backend)} is installed. New runs with backend “auto” (or “${backend}”) use it; the backend and device are recorded on each run.`,
  );
  return true;
}

/** Loads the package in a child Node, exactly as the worker will (same executable and folder). */
function verify(s: Services, backend: NativeBackend): Promise<{ ok: boolean; message: string }> {
  const launch = workerLaunch(s);
  return new Promise((resolve) => {
    const child = spawn(launch.nodePath, ['-e', verifyScript(s.nativeDir, backend)], { env: launch.env, shell: false, windowsHide: true, timeout: 120_000 });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    child.on('error', (e) => resolve({ ok: false, message: `could not start ${launch.nodePath} to check the installation: ${e.message}` }));
    child.on('close', (code) => resolve(code === 0 ? { ok: true, message: out.trim() } : { ok: false, message: explainLoadFailure(backend, out, code) }));
  });
}
