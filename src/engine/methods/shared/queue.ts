import * as tf from '@tensorflow/tfjs-core';
import { l2normalize } from '../../losses/ntxent';
import type { Rng } from '../../../core/rng';

/**
 * MoCo's dictionary as a queue (arXiv 1911.05722 §3.2): the K most recent keys, L2-normalised, as a
 * [K, C] state variable plus a write pointer. Keys are enqueued after the optimizer step and the oldest
 * are overwritten (`_dequeue_and_enqueue`). It starts as random unit vectors, as in the official code.
 */
export class KeyQueue {
  /** [K, C] keys; row i was written ((ptr − 1 − i) mod K) enqueues ago. */
  readonly keys: tf.Variable;
  /** Next row to write, a variable so checkpoints keep it (MoCo's `queue_ptr` buffer). */
  readonly ptr: tf.Variable;
  private at = 0;

  constructor(
    readonly size: number,
    readonly dim: number,
    rng: Rng,
  ) {
    const init = new Float32Array(size * dim);
    for (let i = 0; i < init.length; i++) init[i] = rng.normal();
    this.keys = tf.tidy(() => tf.variable(l2normalize(tf.tensor2d(init, [size, dim])), false));
    this.ptr = tf.tidy(() => tf.variable(tf.scalar(0, 'int32'), false)); // tidy: the initial value is not kept
  }

  /**
   * Writes `k` [B, C] at the pointer, wrapping around the end (the official code asserts K % B == 0; we
   * allow any K). With B > K only the last K keys stay.
   */
  enqueue(k: tf.Tensor2D): void {
    const b = k.shape[0];
    const n = Math.min(b, this.size);
    const start = (this.at + b - n) % this.size;
    const rows = new Int32Array(n);
    for (let i = 0; i < n; i++) rows[i] = (start + i) % this.size;
    tf.tidy(() => {
      const fresh = b === n ? k : tf.slice(k, [b - n, 0], [n, -1]); // [n, C]
      this.keys.assign(tf.tensorScatterUpdate(this.keys, tf.tensor2d(rows, [n, 1], 'int32'), fresh));
      this.at = (this.at + b) % this.size;
      this.ptr.assign(tf.scalar(this.at, 'int32'));
    });
  }

  /** Takes the write position from `ptr` again, after the variables were loaded (a resumed run). */
  restorePointer(): void {
    this.at = (this.ptr.dataSync() as Int32Array)[0];
  }

  dispose(): void {
    this.keys.dispose();
    this.ptr.dispose();
  }
}
