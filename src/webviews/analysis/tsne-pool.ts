import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import type { Parallel, ThreadContext, ThreadOp } from '../../core/analysis/tsne';

/**
 * worker_threads for one t-SNE (src/core/analysis/tsne.ts's Parallel): the calling thread is thread 0
 * and blocks while the others work, so a step is a plain synchronous call, as without threads.
 *
 * A step costs a few milliseconds, so threads are not told by messages (each would wait for the
 * event loop) but through shared memory: the caller bumps a sequence number and wakes them with
 * Atomics.notify; each runs its share and counts itself done. Contexts (large arrays, all in shared
 * memory) go by MessagePort and are read with receiveMessageOnPort, synchronously, in the same loop.
 */

export const OPS: readonly (ThreadOp | 'setup' | 'stop')[] = ['setup', 'stop', 'forest', 'refine', 'condp', 'bh', 'fft-convolve', 'fft-gather'];

/** Slots of the control array. */
export const SEQ = 0;
export const DONE = 1;
export const OP = 2;
export const FAILED = 3;
/** Bytes kept for a failing thread's message. */
export const ERROR_BYTES = 2048;

export interface ThreadInit {
  index: number;
  threads: number;
  control: Int32Array;
  args: Float64Array;
  results: Float64Array;
  error: Uint8Array;
  port: MessagePort;
}

/** Threads to use by default: the machine's cores, at most 8 (past that the FFT steps do not split further). */
export function defaultThreads(): number {
  return Math.max(1, Math.min(8, availableParallelism()));
}

/**
 * The thread script: dist/tsne-thread.js next to the bundle; in development (sources run by tsx) the
 * .ts next to this file through tsx's require hook (a worker does not inherit its parent's loader).
 */
function startThread(init: ThreadInit): Worker {
  const transferList = [init.port];
  if (!__filename.endsWith('.ts')) return new Worker(join(__dirname, 'tsne-thread.js'), { workerData: init, transferList });
  const tsx = createRequire(__filename).resolve('tsx/cjs');
  const file = join(__dirname, 'tsne-thread.ts');
  return new Worker(`require(${JSON.stringify(tsx)}); require(${JSON.stringify(file)});`, { eval: true, workerData: init, transferList });
}

export class TsnePool implements Parallel {
  private readonly control = new Int32Array(new SharedArrayBuffer(16 * 4));
  private readonly args = new Float64Array(new SharedArrayBuffer(8 * 4));
  private readonly results: Float64Array;
  private readonly error = new Uint8Array(new SharedArrayBuffer(ERROR_BYTES));
  private readonly workers: Worker[] = [];
  private readonly ports: MessagePort[] = [];
  private closed = false;

  /** `threads` in all, this one included (1: no worker threads, everything here). */
  constructor(
    readonly threads = defaultThreads(),
    /** A thread that has not answered a step in this long is taken as lost. */
    private readonly stallMs = 120_000,
  ) {
    this.results = new Float64Array(new SharedArrayBuffer(8 * Math.max(1, threads)));
    for (let t = 1; t < threads; t++) {
      const { port1, port2 } = new MessageChannel();
      this.ports.push(port1);
      const w = startThread({ index: t, threads, control: this.control, args: this.args, results: this.results, error: this.error, port: port2 });
      // A thread that fails reports through shared memory (run() throws); this only keeps an uncaught
      // worker error from taking the process down.
      w.on('error', () => undefined);
      w.unref();
      this.workers.push(w);
    }
  }

  shared(bytes: number): SharedArrayBuffer {
    return new SharedArrayBuffer(bytes);
  }

  setup(ctx: ThreadContext): void {
    if (this.threads === 1) return;
    for (const p of this.ports) p.postMessage(ctx);
    this.step('setup', 0);
  }

  run(op: ThreadOp, arg: number, own: () => number): number[] {
    if (this.threads === 1) return [own()];
    this.step(op, arg, own);
    return Array.from(this.results);
  }

  private step(op: (typeof OPS)[number], arg: number, own?: () => number): void {
    if (this.closed) throw new Error('the t-SNE threads are closed');
    const c = this.control;
    Atomics.store(c, DONE, 0);
    Atomics.store(c, OP, OPS.indexOf(op));
    this.args[0] = arg;
    Atomics.add(c, SEQ, 1);
    Atomics.notify(c, SEQ);
    let ownError: unknown;
    try {
      if (own) this.results[0] = own();
    } catch (e) {
      ownError = e;
    }
    const others = this.threads - 1;
    const t0 = Date.now();
    for (;;) {
      const done = Atomics.load(c, DONE);
      if (done >= others) break;
      Atomics.wait(c, DONE, done, 1000);
      if (Date.now() - t0 > this.stallMs) {
        this.close();
        throw new Error(`a t-SNE thread did not finish its ${op} step in ${this.stallMs / 1000} s`);
      }
    }
    if (ownError) throw ownError;
    if (Atomics.load(c, FAILED)) {
      const len = this.error.indexOf(0);
      const text = new TextDecoder().decode(this.error.slice(0, len < 0 ? ERROR_BYTES : len));
      this.close();
      throw new Error(`a t-SNE thread failed in its ${op} step: ${text}`);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.control, OP, OPS.indexOf('stop'));
    Atomics.add(this.control, SEQ, 1);
    Atomics.notify(this.control, SEQ);
    for (const w of this.workers) void w.terminate();
    for (const p of this.ports) p.close();
  }
}
