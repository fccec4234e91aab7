import { Worker } from 'node:worker_threads';
import { bundledFile } from '../bundled';
import type { ProjectionParams } from '../protocol/projection';
import type { AnalysisReply, AnalysisRequest } from './worker';
import type { ProjectionProgress } from './jobs';

export interface Projected extends ProjectionProgress {
  seconds: number;
}

export class CancelledError extends Error {
  constructor() {
    super('cancelled');
  }
}

type Pending = { resolve: (r: AnalysisReply) => void; reject: (e: Error) => void };

/**
 * The host side of the analysis worker thread. Each projection gets its own thread (cancel = terminate,
 * so a t-SNE that is no longer wanted stops at once); neighbour and agreement queries share one
 * long-lived thread that keeps the normalised vectors of recently used embeddings.
 */
export class AnalysisClient {
  private shared?: Worker;
  private readonly pending = new Map<number, Pending>();
  private readonly loaded = new Set<string>();
  private readonly running = new Set<Worker>();
  private nextId = 1;
  private disposed = false;

  constructor(private readonly script: string = bundledFile('analysis-worker.js')) {}

  project(vectors: Float32Array, n: number, d: number, params: ProjectionParams, onProgress: (p: ProjectionProgress) => void): { result: Promise<Projected>; cancel(): void } {
    if (this.disposed) return { result: Promise.reject(new Error('analysis is shut down')), cancel: () => undefined };
    const w = new Worker(this.script);
    this.running.add(w);
    let settled = false;
    const result = new Promise<Projected>((resolve, reject) => {
      w.on('message', (r: AnalysisReply) => {
        if (r.type === 'progress') onProgress({ coords: r.coords, iteration: r.iteration, total: r.total, kl: r.kl });
        else if (r.type === 'projected') {
          settled = true;
          resolve({ coords: r.coords, iteration: r.iteration, total: r.total, kl: r.kl, seconds: r.seconds });
          void w.terminate();
        } else if (r.type === 'error') {
          settled = true;
          reject(new Error(r.message));
          void w.terminate();
        }
      });
      w.on('error', (e) => {
        settled = true;
        reject(e);
      });
      w.on('exit', () => {
        this.running.delete(w);
        if (!settled) reject(new CancelledError());
      });
    });
    const req: AnalysisRequest = { type: 'project', id: 0, vectors, n, d, params };
    w.postMessage(req);
    return { result, cancel: () => void w.terminate() };
  }

  private worker(): Worker {
    if (this.shared) return this.shared;
    const w = new Worker(this.script);
    w.unref();
    w.on('message', (r: AnalysisReply) => {
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      if (r.type === 'error') p.reject(new Error(r.message));
      else p.resolve(r);
    });
    const fail = (e: Error) => {
      if (this.shared === w) this.shared = undefined;
      this.loaded.clear();
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
    };
    w.on('error', fail);
    w.on('exit', () => fail(new Error('the analysis worker stopped')));
    return (this.shared = w);
  }

  private call(req: AnalysisRequest): Promise<AnalysisReply> {
    if (this.disposed) return Promise.reject(new Error('analysis is shut down'));
    const w = this.worker();
    return new Promise((resolve, reject) => {
      this.pending.set(req.id, { resolve, reject });
      w.postMessage(req);
    });
  }

  /** Cosine neighbours of one row; `load` supplies the vectors the first time an embedding is queried. */
  async neighbours(key: string, load: () => Promise<{ vectors: Float32Array; n: number; d: number }>, row: number, k: number): Promise<{ ids: number[]; similarities: number[] }> {
    if (!this.loaded.has(key)) {
      const v = await load();
      await this.call({ type: 'load', id: this.nextId++, key, vectors: v.vectors, n: v.n, d: v.d });
      this.loaded.add(key);
    }
    const r = await this.call({ type: 'neighbours', id: this.nextId++, key, row, k });
    if (r.type !== 'neighbours') throw new Error(`unexpected reply ${r.type}`);
    return { ids: r.ids, similarities: r.similarities };
  }

  async agreement(
    a: { vectors: Float32Array; d: number; indices: Int32Array },
    b: { vectors: Float32Array; d: number; indices: Int32Array },
    k: number,
  ): Promise<{ value: number | null; common: number; queries: number }> {
    const r = await this.call({ type: 'agreement', id: this.nextId++, a, b, k });
    if (r.type !== 'agreement') throw new Error(`unexpected reply ${r.type}`);
    return { value: r.value, common: r.common, queries: r.queries };
  }

  dispose(): void {
    this.disposed = true;
    for (const w of this.running) void w.terminate();
    void this.shared?.terminate();
    this.shared = undefined;
  }
}
