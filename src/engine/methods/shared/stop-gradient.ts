import * as tf from '@tensorflow/tfjs-core';

/**
 * tfjs has no stop-gradient op and no `torch.no_grad()`. Both are built on one engine fact: the forward
 * function of a `tf.customGrad` op runs with the tape off (tfjs records kernels only at kernel depth 0),
 * and the op itself is recorded as a node whose only input is the tensor we pass it. Give it a constant
 * input that no variable leads to and the backward pass prunes the node: nothing computed inside it
 * receives a gradient, and none of its intermediates are kept for backprop.
 */

/**
 * Runs `fn` off the gradient tape, like PyTorch's `with torch.no_grad():` — for target networks, key
 * encoders and anything whose output must be a constant to the loss. The result is an ordinary tensor
 * owned by the caller's scope.
 */
export function noGrad<T extends tf.Tensor>(fn: () => T): T {
  const detached = tf.customGrad((anchor, _save) => ({
    value: fn(),
    // Never called: `anchor` is a fresh constant, so the backward pass never reaches this node.
    gradFunc: () => tf.zerosLike(anchor as tf.Tensor),
  }));
  return tf.tidy(() => detached(tf.scalar(0)) as T);
}

/** `x.detach()`: the same values as a constant, so the loss sends no gradient back through `x`. */
export function stopGradient<T extends tf.Tensor>(x: T): T {
  return noGrad(() => tf.clone(x));
}
