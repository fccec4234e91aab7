import * as tf from '@tensorflow/tfjs-core';
import { l2normalize } from '../../losses/ntxent';
import type { Rng } from '../../../core/rng';

/**
 * InstDisc's memory bank (arXiv 1805.01978 §3.2): one d-dimensional feature v_i per training image,
 * updated after each step with momentum, v_i ← normalise(m·v_i + (1 − m)·f_i), and read as the
 * non-parametric classifier's weights. Initialised like the official code (lemniscate `NCEAverage`):
 * U(−s, s) with s = 1/√(d/3), so rows have unit norm in expectation.
 *
 * Rows are keyed by the image's index in the training set. With `trainLimit` the run uses only `rows`
 * images out of a larger set, so each image gets the next free row the first time it is seen: the bank
 * holds exactly the images being trained on, and noise samples come only from them.
 */
export class MemoryBank {
  /** [N, d] features. */
  readonly bank: tf.Variable;
  private readonly rowOf: Int32Array;
  private used = 0;

  constructor(
    readonly rows: number,
    readonly dim: number,
    datasetSize: number,
    rng: Rng,
  ) {
    const s = 1 / Math.sqrt(dim / 3);
    const init = new Float32Array(rows * dim);
    for (let i = 0; i < init.length; i++) init[i] = rng.uniform(-s, s);
    this.bank = tf.tidy(() => tf.variable(tf.tensor2d(init, [rows, dim]), false)); // tidy: the initial value is not kept
    this.rowOf = new Int32Array(datasetSize).fill(-1);
    // Identity when every image is used: row i is image i.
    if (rows === datasetSize) {
      for (let i = 0; i < rows; i++) this.rowOf[i] = i;
      this.used = rows;
    }
  }

  /** Bank rows of these training-set indices (assigning rows to images seen for the first time). */
  rowsFor(indices: Int32Array): Int32Array {
    return Int32Array.from(indices, (i) => {
      if (this.rowOf[i] < 0) {
        if (this.used >= this.rows) throw new Error(`memory bank is full (${this.rows} rows); image ${i} has no row`);
        this.rowOf[i] = this.used++;
      }
      return this.rowOf[i];
    });
  }

  /**
   * The image of each row assigned so far, in row order (empty when row i is always image i), and its
   * inverse: a resumed run must give each image the row it had.
   */
  assignments(): number[] {
    if (this.rows === this.rowOf.length) return [];
    const images = new Array<number>(this.used);
    this.rowOf.forEach((row, image) => {
      if (row >= 0) images[row] = image;
    });
    return images;
  }

  restoreAssignments(images: number[]): void {
    if (this.rows === this.rowOf.length) return;
    if (images.length > this.rows) throw new Error(`memory bank: ${images.length} assigned rows saved, the bank has ${this.rows}`);
    this.rowOf.fill(-1);
    images.forEach((image, row) => (this.rowOf[image] = row));
    this.used = images.length;
  }

  /** Sets the rows of these training-set indices (assigning rows as rowsFor does) to `f`: [indices.length, d], normalised. */
  fill(indices: Int32Array, f: Float32Array): void {
    if (f.length !== indices.length * this.dim) throw new Error(`memory bank fill: ${f.length} values for ${indices.length} rows of ${this.dim}`);
    const rows = this.rowsFor(indices);
    tf.tidy(() => this.bank.assign(tf.tensorScatterUpdate(this.bank, tf.tensor2d(rows, [rows.length, 1], 'int32'), tf.tensor2d(f, [rows.length, this.dim]))));
  }

  /** v_i ← normalise(m·v_i + (1 − m)·f_i) for the given rows; f: [B, d], already normalised. */
  update(rows: Int32Array, f: tf.Tensor2D, momentum: number): void {
    tf.tidy(() => {
      const idx = tf.tensor2d(rows, [rows.length, 1], 'int32');
      const v = tf.gather(this.bank, tf.tensor1d(rows, 'int32')) as tf.Tensor2D; // [B, d]
      const updated = l2normalize(tf.add(tf.mul(v, momentum), tf.mul(f, 1 - momentum)) as tf.Tensor2D); // [B, d]
      this.bank.assign(tf.tensorScatterUpdate(this.bank, idx, updated));
    });
  }

  /**
   * m noise rows per anchor, uniform over the other n − 1 rows: [B, m] (the official code draws over all n
   * with an alias table, so an anchor's own row comes up m/n times on average). On ImageNet m/n is 0.003;
   * on a small training set m can exceed n, and each copy of the positive among the noise would then be
   * pushed away from the feature the momentum update just pulled it towards, so the loss climbs from the
   * second epoch on. Excluding it keeps the estimator's intent: noise is the other instances.
   */
  sampleNoise(rng: Rng, anchorRows: Int32Array, m: number): Int32Array {
    const out = new Int32Array(anchorRows.length * m);
    for (let a = 0; a < anchorRows.length; a++) {
      for (let j = 0; j < m; j++) {
        const r = rng.int(this.rows - 1);
        out[a * m + j] = r >= anchorRows[a] ? r + 1 : r;
      }
    }
    return out;
  }

  dispose(): void {
    this.bank.dispose();
  }
}
