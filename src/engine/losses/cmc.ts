import * as tf from '@tensorflow/tfjs-core';
import { softmaxCrossEntropy } from './softmax';

/** CMC's two ways of combining M views (arXiv 1906.05849 §3.3, Fig. 2). */
export type CmcObjective = 'core-view' | 'full-graph';

/**
 * The view pairs (i, j), i < j, each contributing L(V_i, V_j) = L_contrast^{V_i,V_j} + L_contrast^{V_j,V_i}
 * (eq. 5). Core view: view 1 against each other view, L_C = Σ_{j>1} L(V_1, V_j) (eq. 6). Full graph:
 * every pair, L_F = Σ_{1≤i<j≤M} L(V_i, V_j) (eq. 7). With two views they coincide. Views are 0-based.
 */
export function viewPairs(views: number, objective: CmcObjective): [number, number][] {
  const pairs: [number, number][] = [];
  for (let i = 0; i < views; i++) for (let j = i + 1; j < views; j++) if (objective === 'full-graph' || i === 0) pairs.push([i, j]);
  return pairs;
}

/** Σ over the objective's pairs of the symmetric pair loss: `direction(i, j)` is L_contrast^{V_i,V_j}, anchors from view i. */
export function cmcLoss(views: number, objective: CmcObjective, direction: (i: number, j: number) => tf.Scalar): tf.Scalar {
  return tf.addN(viewPairs(views, objective).flatMap(([i, j]) => [direction(i, j), direction(j, i)])) as tf.Scalar;
}

/**
 * L_contrast^{V_i,V_j} with in-batch negatives: the anchor z_i of image a must pick z_j of image a out of
 * the batch's z_j (eq. 2 with k = N − 1 negatives from the other images), i.e. cross-entropy over
 * z_i·z_jᵀ/τ [N, N] with the diagonal as the answer. z_i and z_j must be L2-normalised.
 */
export function crossViewInfoNce(zi: tf.Tensor2D, zj: tf.Tensor2D, temperature: number): tf.Scalar {
  return tf.tidy(() => {
    const logits = tf.div(tf.matMul(zi, zj, false, true), temperature) as tf.Tensor2D; // [N, N]
    return softmaxCrossEntropy(logits, Int32Array.from({ length: zi.shape[0] }, (_, a) => a)); // the diagonal
  });
}
