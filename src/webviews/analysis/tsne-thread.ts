import { receiveMessageOnPort, workerData } from 'node:worker_threads';
import { threadOp, type ThreadContext, type ThreadOp } from '../../core/analysis/tsne';
import { DONE, ERROR_BYTES, FAILED, OP, OPS, SEQ, type ThreadInit } from './tsne-pool';

/**
 * One t-SNE worker thread (dist/tsne-thread.js; tsne-pool.ts starts them): waits on the shared
 * sequence number, runs its share of the step named in the control array, counts itself done.
 */
const init = workerData as ThreadInit | undefined;
if (init) {
  const { control, args, results, error, port, index, threads } = init;
  let seen = 0;
  let ctx: ThreadContext | undefined;
  for (;;) {
    Atomics.wait(control, SEQ, seen);
    seen = Atomics.load(control, SEQ);
    const op = OPS[Atomics.load(control, OP)];
    if (op === 'stop') break;
    try {
      if (op === 'setup') {
        // Posted just before the sequence was bumped; the loop covers a message still in flight.
        let m = receiveMessageOnPort(port);
        while (!m) m = receiveMessageOnPort(port);
        ctx = m.message as ThreadContext;
        results[index] = 0;
      } else {
        if (!ctx) throw new Error(`step ${op} before any setup`);
        results[index] = threadOp(ctx, op as ThreadOp, args[0], index, threads);
      }
    } catch (e) {
      const text = new TextEncoder().encode(`thread ${index}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`).slice(0, ERROR_BYTES - 1);
      error.fill(0);
      error.set(text);
      Atomics.store(control, FAILED, 1);
    }
    Atomics.add(control, DONE, 1);
    Atomics.notify(control, DONE);
  }
  port.close();
}
