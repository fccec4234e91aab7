import * as tf from '@tensorflow/tfjs-core';

/** The smallest positive normal float32, 2⁻¹²⁶. */
export const MIN_NORMAL_F32 = 2 ** -126;

/**
 * `t` with its subnormal entries (0 < |x| < 2⁻¹²⁶) set to 0. WebAssembly must compute with IEEE
 * subnormals (it cannot flush them to zero as native code can), and on x86 arithmetic that touches one is
 * tens of times slower (a product with an all-subnormal operand: ~70×). 18% of DIM's [256, 12544] score
 * gradient was subnormal (sigmoid of scores below −72 times a 1/(N²P) mean), and each product with it
 * took 1.25 s instead of 0.15 s. Values below 1.2e-38 change no float32 parameter update, so dropping
 * them changes nothing else.
 */
export function flushSubnormals<T extends tf.Tensor>(t: T): T {
  return tf.tidy(() => tf.where(tf.less(tf.abs(t), MIN_NORMAL_F32), tf.zerosLike(t), t));
}

/**
 * The identity, whose gradient has its subnormals flushed: put on a score tensor whose loss can
 * underflow (unbounded scores through sigmoid or exp), before the products its gradient flows into.
 */
export function withFlushedGradient<T extends tf.Tensor>(x: T): T {
  const identity = tf.customGrad((input) => ({ value: tf.clone(input as tf.Tensor), gradFunc: (dy: tf.Tensor) => flushSubnormals(dy) }));
  return identity(x) as T;
}
