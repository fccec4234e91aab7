import { Worker } from 'node:worker_threads';
import { bundledFile } from '../bundled';
import type { ViewParams } from '../protocol/augment';
import type { AugmentReply, AugmentRequest } from './worker';

export type Rendered = Extract<AugmentReply, { type: 'samples' }>;

/**
 * The host side of the augmentation worker thread: one thread, started on first use and kept (the wasm
 * backend takes a moment to start). While a render runs, newer requests replace older waiting ones —
 * a slider being dragged asks for many renders and only the last one matters.
 */
export class AugmentClient {
  private w?: Worker;
  private nextId = 1;
  private busy = false;
  private waiting?: { req: Omit<AugmentRequest, 'id'>; resolve: (r: Rendered | undefined) => void; reject: (e: Error) => void };
  private current?: { id: number; resolve: (r: Rendered) => void; reject: (e: Error) => void };

  constructor(private readonly script: string = bundledFile('augment-worker.js')) {}

  private worker(): Worker {
    if (this.w) return this.w;
    const w = new Worker(this.script);
    w.unref();
    w.on('message', (r: AugmentReply) => {
      const c = this.current;
      if (!c || c.id !== r.id) return;
      this.current = undefined;
      if (r.type === 'error') c.reject(new Error(r.message));
      else c.resolve(r);
    });
    const fail = (e: Error) => {
      if (this.w === w) this.w = undefined;
      this.current?.reject(e);
      this.current = undefined;
    };
    w.on('error', fail);
    w.on('exit', () => fail(new Error('the augmentation worker stopped')));
    return (this.w = w);
  }

  /** Resolves with the pictures, or with undefined when a newer request replaced this one before it started. */
  render(req: Omit<AugmentRequest, 'id'>): Promise<Rendered | undefined> {
    return new Promise((resolve, reject) => {
      if (this.busy) {
        this.waiting?.resolve(undefined);
        this.waiting = { req, resolve, reject };
        return;
      }
      this.start(req, resolve, reject);
    });
  }

  private start(req: Omit<AugmentRequest, 'id'>, resolve: (r: Rendered | undefined) => void, reject: (e: Error) => void): void {
    this.busy = true;
    const id = this.nextId++;
    const done = () => {
      this.busy = false;
      const next = this.waiting;
      this.waiting = undefined;
      if (next) this.start(next.req, next.resolve, next.reject);
    };
    this.current = {
      id,
      resolve: (r) => {
        resolve(r);
        done();
      },
      reject: (e) => {
        reject(e);
        done();
      },
    };
    this.worker().postMessage({ ...req, id } satisfies AugmentRequest);
  }

  dispose(): void {
    void this.w?.terminate();
    this.w = undefined;
  }
}

export type { ViewParams };
