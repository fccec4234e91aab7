import { parentPort } from 'node:worker_threads';
import type { ProjectionParams } from '../protocol/projection';
import { agreement, project, UnitVectors } from './jobs';

/**
 * The analysis worker thread (dist/analysis-worker.js): t-SNE, UMAP and PCA maps, cosine neighbours and
 * kNN agreement, so none of it runs on the extension host's event loop. A projection runs to completion
 * once started; the host cancels one by terminating the thread that runs it.
 */
export type AnalysisRequest =
  | { type: 'project'; id: number; vectors: Float32Array; n: number; d: number; params: ProjectionParams }
  | { type: 'load'; id: number; key: string; vectors: Float32Array; n: number; d: number }
  | { type: 'neighbours'; id: number; key: string; row: number; k: number }
  | { type: 'agreement'; id: number; a: { vectors: Float32Array; d: number; indices: Int32Array }; b: { vectors: Float32Array; d: number; indices: Int32Array }; k: number };

export type AnalysisReply =
  | { type: 'progress'; id: number; coords: Float32Array; iteration: number; total: number; kl: number | null }
  | { type: 'projected'; id: number; coords: Float32Array; iteration: number; total: number; kl: number | null; seconds: number }
  | { type: 'loaded'; id: number }
  | { type: 'neighbours'; id: number; ids: number[]; similarities: number[] }
  | { type: 'agreement'; id: number; value: number | null; common: number; queries: number }
  | { type: 'error'; id: number; message: string };

const port = parentPort;
if (port) {
  const unit = new UnitVectors();
  const reply = (r: AnalysisReply, transfer: ArrayBuffer[] = []) => port.postMessage(r, transfer);
  port.on('message', (m: AnalysisRequest) => {
    try {
      switch (m.type) {
        case 'project': {
          const t0 = Date.now();
          const r = project(m.vectors, m.n, m.d, m.params, (p) => reply({ type: 'progress', id: m.id, ...p }, [p.coords.buffer as ArrayBuffer]));
          reply({ type: 'projected', id: m.id, coords: r.coords, iteration: r.iteration, total: r.total, kl: r.kl, seconds: (Date.now() - t0) / 1000 });
          break;
        }
        case 'load':
          unit.put(m.key, m.vectors, m.n, m.d);
          reply({ type: 'loaded', id: m.id });
          break;
        case 'neighbours':
          reply({ type: 'neighbours', id: m.id, ...unit.neighbours(m.key, m.row, m.k) });
          break;
        case 'agreement':
          reply({ type: 'agreement', id: m.id, ...agreement(m.a, m.b, m.k) });
          break;
      }
    } catch (e) {
      reply({ type: 'error', id: m.id, message: e instanceof Error ? e.message : String(e) });
    }
  });
}
