import * as tf from '@tensorflow/tfjs-core';
import { softmaxCrossEntropy } from './softmax';

/**
 * InstDisc's NCE loss (arXiv 1805.01978 §3.2, eq. 6–7). With P(i|v) = exp(vᵀf_i/τ)/Z_i the
 * non-parametric softmax, noise P_n = 1/n and m noise samples per data sample, the posterior that
 * (i, v) came from the data is h(i, v) = P(i|v) / (P(i|v) + m·P_n), and
 *   J_NCE = −E_{P_d}[log h(i, v)] − m·E_{P_n}[log(1 − h(i, v′))],
 * the second expectation estimated by summing over the m noise samples (lemniscate `NCECriterion`).
 *
 * Inputs are log P: `logP` [B, 1+m], column 0 the positive (log P(i|v_i)), columns 1..m the noise rows.
 * With a = log P and c = log(m·P_n): log h = −softplus(c − a) and log(1 − h) = −softplus(a − c), which
 * is the official code's log(P/(P + m·P_n + ε)) without its ε and without overflow.
 */
export function nceLoss(logP: tf.Tensor2D, n: number): tf.Scalar {
  return tf.tidy(() => {
    const [b, cols] = logP.shape;
    const m = cols - 1;
    const c = Math.log(m / n); // log(m·P_n)
    const aPos = tf.slice(logP, [0, 0], [b, 1]); // [B, 1]
    const aNoise = tf.slice(logP, [0, 1], [b, m]); // [B, m]
    const dataTerm = tf.sum(tf.softplus(tf.sub(c, aPos))); // −Σ log h(i, v)
    const noiseTerm = tf.sum(tf.softplus(tf.sub(aNoise, c))); // −Σ log(1 − h(i, v′))
    return tf.div(tf.add(dataTerm, noiseTerm), b) as tf.Scalar;
  });
}

/**
 * The paper's estimate of the normalisation constant, log Z ≈ log(n·E_j[exp(vⱼᵀf/τ)]) (eq. 8), from sampled
 * scores s/τ [B, 1+m]. A tensor, not a number: reading it back would wait for the GPU in the middle of the
 * step (and a synchronous read is impossible on webgpu). The caller stores it in a variable, whose value
 * is then a constant of later steps' losses.
 */
export function estimateLogZ(scores: tf.Tensor2D, n: number): tf.Scalar {
  return tf.tidy(() => tf.add(tf.sub(tf.logSumExp(scores), Math.log(scores.size)), Math.log(n))); // log n + log mean exp
}

/**
 * The exact non-parametric softmax objective (arXiv 1805.01978 eq. 2–3): cross-entropy of
 * P(i|v) = exp(vᵢᵀf/τ) / Σⱼ exp(vⱼᵀf/τ) over all n memory entries, the right answer being the image's own
 * entry. `scores` = vᵀf/τ [B, n]; `rows` [B] the bank row of each image (lemniscate `LinearAverage`).
 */
export function nonParametricSoftmaxLoss(scores: tf.Tensor2D, rows: Int32Array): tf.Scalar {
  return softmaxCrossEntropy(scores, rows);
}
