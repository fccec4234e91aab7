import * as tf from '@tensorflow/tfjs-core';
import { logSumExpRows } from './softmax';
import { withFlushedGradient } from './subnormal';

/**
 * Deep InfoMax's mutual-information estimators (arXiv 1808.06670 §3.1), on discriminator scores
 * T(x, y) between the global vector of image a and a feature of image b: `scores` [N, N, P], entry
 * [a, b, p] = T(y_a, m_{b,p}) for the P local features of image b (P = 1 for the global objective, where
 * m_b is the whole feature map). Pairs a = b are drawn from the joint (positives); pairs a ≠ b from the
 * product of marginals (negatives: other images of the batch).
 */

/**
 * The Jensen-Shannon MI estimator (eq. 4), the Fenchel dual of the JS divergence in the softplus form of
 * the official code (`fenchel_dual_loss`, measure 'JSD'):
 *   Î_JSD = E_P[log 2 − sp(−T)] − E_{P×P̃}[sp(T) − log 2]
 * At the optimal critic T* = log(p/q) it equals 2·JSD(P‖Q) (= KL(P‖M) + KL(Q‖M), M the mixture); it is 0
 * for T ≡ 0. `positive` and `negative` are score samples from P and from the product of marginals.
 */
export function jsdEstimate(positive: tf.Tensor, negative: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const ePos = tf.mean(tf.sub(Math.LN2, tf.softplus(tf.neg(positive))));
    const eNeg = tf.mean(tf.sub(tf.softplus(negative), Math.LN2));
    return tf.sub(ePos, eNeg) as tf.Scalar;
  });
}

/** [N, N, 1] with ones on a = b: which score entries are positives. */
function samePairs(n: number): tf.Tensor3D {
  return tf.reshape(tf.eye(n), [n, n, 1]) as tf.Tensor3D;
}

/**
 * −Î_JSD over the score tensor: E_P averages the N·P entries a = b, E_{P×P̃} the N(N−1)·P entries a ≠ b,
 * as the official code's masked means do.
 */
export function dimJsdLoss(raw: tf.Tensor3D): tf.Scalar {
  return tf.tidy(() => {
    const scores = withFlushedGradient(raw); // unbounded scores: sigmoid(T) · 1/(N²P) underflows
    const [n, , p] = scores.shape;
    const same = samePairs(n); // [N, N, 1]
    const ePos = tf.div(tf.sum(tf.mul(same, tf.sub(Math.LN2, tf.softplus(tf.neg(scores))))), n * p);
    const eNeg = tf.div(tf.sum(tf.mul(tf.sub(1, same), tf.sub(tf.softplus(scores), Math.LN2))), n * (n - 1) * p);
    return tf.sub(eNeg, ePos) as tf.Scalar;
  });
}

/**
 * The InfoNCE estimator (eq. 5; the official `infonce_loss`): for each local feature m_{a,p}, the global
 * vector y_a must pick it out of the batch's local features of other images,
 *   L = −E_{a,p} log( e^{T(y_a, m_{a,p})} / (e^{T(y_a, m_{a,p})} + Σ_{b≠a, q} e^{T(y_a, m_{b,q})}) ).
 * The negatives of y_a are the same for all its p, so their log-sum-exp is taken once per a:
 * each term is softplus(lse_a − T(y_a, m_{a,p})).
 */
export function dimInfoNceLoss(raw: tf.Tensor3D): tf.Scalar {
  return tf.tidy(() => {
    const scores = withFlushedGradient(raw); // unbounded scores: softmax · 1/(NP) underflows
    const [n, , p] = scores.shape;
    const same = samePairs(n); // [N, N, 1]
    const positive = tf.sum(tf.mul(scores, same), 1); // [N, P]: T(y_a, m_{a,p})
    const negatives = tf.reshape(tf.sub(scores, tf.mul(same, 1e9)), [n, n * p]); // own image masked out
    const lse = logSumExpRows(negatives as tf.Tensor2D); // [N, 1]
    return tf.mean(tf.softplus(tf.sub(lse, positive))) as tf.Scalar;
  });
}

/**
 * DIM's prior matching (§3.4, eq. 7), the discriminator's side: D tells samples v of the prior (logits
 * `priorLogits`) from encoder outputs (logits `encodedLogits`),
 *   L = −E_V[log D(v)] − E_P[log(1 − D(E(x)))] = E[sp(−d_v)] + E[sp(d_y)]
 * (the official code's 'GAN' measure: E_Q[sp(−q) + q] − E_P[−sp(−p)]). D minimises L.
 */
export function priorMatchingLoss(priorLogits: tf.Tensor, encodedLogits: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.add(tf.mean(tf.softplus(tf.neg(priorLogits))), tf.mean(tf.softplus(encodedLogits))) as tf.Scalar);
}

/**
 * The encoder's side of prior matching in the official code: `generator_loss(Q_samples, 'GAN',
 * 'non-saturating')` = −E_P[−sp(−d_y)] = −E[log D(E(x))]. Its gradient is large where D rejects the
 * encoder's outputs (D(E(x)) → 0), where the minimax −E[log(1 − D(E(x)))] saturates.
 */
export function nonSaturatingGeneratorLoss(encodedLogits: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.softplus(tf.neg(encodedLogits))) as tf.Scalar);
}
