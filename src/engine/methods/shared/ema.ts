import * as tf from '@tensorflow/tfjs-core';
import { ParamSet } from '../../models/layers';

/** One (online, target) pair of the same parameter: the target follows the online value by EMA. */
export interface MomentumPair {
  online: tf.Variable;
  target: tf.Variable;
}

/** A momentum (target / key) network: a second copy of some online modules that no gradient reaches. */
export interface MomentumCopy<T> {
  /** The copied modules, e.g. `{ encoder, projector }`. */
  net: T;
  /** Its variables; all non-trainable, so no optimizer ever sees them. */
  params: ParamSet;
  /** Parameters to EMA-update (the online set's trainable ones); BN running statistics are not among them. */
  pairs: MomentumPair[];
}

/**
 * Builds the target network of MoCo / BYOL: `build` is called again over a fresh ParamSet, so the copy has
 * the online modules' architecture and parameter names; every value is then copied from `online`
 * (MoCo: `param_k.data.copy_(param_q.data)`; BYOL: ξ ← θ at initialisation). `build` must create
 * modules with the same names as the online ones (e.g. `createEncoder` + `new Mlp(ps, 'projector', …)`).
 */
export function momentumCopy<T>(online: ParamSet, build: (ps: ParamSet) => T): MomentumCopy<T> {
  const params = new ParamSet(0); // initial values are overwritten below
  const net = build(params);
  const pairs: MomentumPair[] = [];
  for (const [name, target] of params.vars) {
    const source = online.vars.get(name);
    if (!source) throw new Error(`momentumCopy: online parameters have no '${name}'`);
    target.assign(source);
    if (source.trainable) pairs.push({ online: source, target });
    target.trainable = false;
  }
  return { net, params, pairs };
}

/**
 * ξ ← m·ξ + (1 − m)·θ for every pair, in one tidy (MoCo eq. 2, `_momentum_update_key_encoder`;
 * BYOL eq. 1 with m = τ).
 */
export function emaUpdate(pairs: MomentumPair[], m: number): void {
  tf.tidy(() => {
    for (const { online, target } of pairs) target.assign(tf.add(tf.mul(target, m), tf.mul(online, 1 - m)));
  });
}

/**
 * BYOL's target decay rate (arXiv 2006.07733 §3.2): τ = 1 − (1 − τ_base)·(cos(πk/K) + 1)/2, rising from
 * τ_base at the first step to 1 at the last. `progress` = k/K.
 */
export function byolTau(tauBase: number, progress: number): number {
  return 1 - ((1 - tauBase) * (Math.cos(Math.PI * progress) + 1)) / 2;
}
