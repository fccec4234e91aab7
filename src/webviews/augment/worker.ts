import { parentPort } from 'node:worker_threads';
import { initBackend } from '../../engine/backend';
import { loadDataset } from '../../data/datasets';
import type { Thumb } from '../protocol/common';
import type { ViewParams } from '../protocol/augment';
import { renderAugmentations } from './render';

/**
 * The augmentation preview's worker thread (dist/augment-worker.js): tfjs on the wasm backend, never
 * tfjs-node (a native addon must not load into the extension host process), off the host's event loop.
 */
/** `imageSize`: the side image folders are resized to (the run's `imageSize`; other datasets ignore it). */
export type AugmentRequest = { id: number; dataset: string; imageSize: number; params: ViewParams; seed: number; perImage: number; count: number };
export type AugmentReply =
  | { id: number; type: 'samples'; originals: Thumb[]; views: [Thumb[], Thumb[]]; milliseconds: number; backend: string }
  | { id: number; type: 'error'; message: string };

const port = parentPort;
if (port) {
  let backend: Promise<string> | undefined;
  port.on('message', (m: AugmentRequest) => {
    void (async () => {
      try {
        backend ??= initBackend('wasm').then((b) => b.device);
        const device = await backend;
        const t0 = Date.now();
        const ds = loadDataset(m.dataset, { imageSize: m.imageSize });
        const r = renderAugmentations(ds.test, m.params, m.seed, m.perImage, m.count);
        const reply: AugmentReply = { id: m.id, type: 'samples', ...r, milliseconds: Date.now() - t0, backend: device };
        port.postMessage(reply);
      } catch (e) {
        port.postMessage({ id: m.id, type: 'error', message: e instanceof Error ? e.message : String(e) } satisfies AugmentReply);
      }
    })();
  });
}
