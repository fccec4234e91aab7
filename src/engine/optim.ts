import * as tf from '@tensorflow/tfjs-core';
import type { RunConfig } from '../core/config';

/**
 * SGD with momentum, Adam (decoupled weight decay, i.e. AdamW) and LARS, over plain tfjs variables.
 * tf.train's optimizers have no weight decay and no LARS, and their learning rate is fixed at
 * construction, so we keep our own (~100 lines). Weight decay and LARS adaptation apply to weights
 * (rank ≥ 2) only, never to biases or BN parameters — the convention of SimCLR's and BYOL's code.
 */
export interface Optimizer {
  /** Applies `grads` (keyed by variable name) with learning rate `lr`, then disposes nothing it does not own. */
  apply(grads: tf.NamedTensorMap, lr: number): void;
  dispose(): void;
}

type OptimizerConfig = RunConfig['optimizer'];

const decays = (v: tf.Variable) => v.rank >= 2;

/** A zero-filled, non-trainable slot variable shaped like `v` (the temporary zeros tensor is freed). */
function slot(v: tf.Variable): tf.Variable {
  return tf.tidy(() => tf.variable(tf.zerosLike(v), false));
}

class Sgd implements Optimizer {
  private readonly velocity = new Map<string, tf.Variable>();
  constructor(
    private readonly vars: tf.Variable[],
    private readonly cfg: OptimizerConfig,
    private readonly lars: boolean,
  ) {
    for (const v of vars) this.velocity.set(v.name, slot(v));
  }
  apply(grads: tf.NamedTensorMap, lr: number): void {
    tf.tidy(() => {
      for (const v of this.vars) {
        const g0 = grads[v.name];
        if (!g0) continue;
        let g = decays(v) && this.cfg.weightDecay > 0 ? tf.add(g0, tf.mul(v, this.cfg.weightDecay)) : g0;
        if (this.lars && decays(v)) {
          // LARS trust ratio η·‖w‖/‖g‖ (You et al. 2017), η = 0.001, as in SimCLR's implementation.
          const wn = tf.norm(v);
          const gn = tf.norm(g);
          const trust = tf.where(tf.logicalAnd(tf.greater(wn, 0), tf.greater(gn, 0)), tf.div(tf.mul(wn, 0.001), gn), tf.onesLike(wn));
          g = tf.mul(g, trust);
        }
        const buf = this.velocity.get(v.name)!;
        buf.assign(tf.add(tf.mul(buf, this.cfg.momentum), g));
        v.assign(tf.sub(v, tf.mul(buf, lr)));
      }
    });
  }
  dispose(): void {
    for (const b of this.velocity.values()) b.dispose();
  }
}

class AdamW implements Optimizer {
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();
  private t = 0;
  constructor(
    private readonly vars: tf.Variable[],
    private readonly cfg: OptimizerConfig,
    private readonly beta1 = 0.9,
    private readonly beta2 = 0.999,
    private readonly eps = 1e-8,
  ) {
    for (const p of vars) {
      this.m.set(p.name, slot(p));
      this.v.set(p.name, slot(p));
    }
  }
  apply(grads: tf.NamedTensorMap, lr: number): void {
    this.t++;
    const c1 = 1 - this.beta1 ** this.t;
    const c2 = 1 - this.beta2 ** this.t;
    tf.tidy(() => {
      for (const p of this.vars) {
        const g = grads[p.name];
        if (!g) continue;
        const m = this.m.get(p.name)!;
        const v = this.v.get(p.name)!;
        m.assign(tf.add(tf.mul(m, this.beta1), tf.mul(g, 1 - this.beta1)));
        v.assign(tf.add(tf.mul(v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2)));
        let update = tf.div(tf.div(m, c1), tf.add(tf.sqrt(tf.div(v, c2)), this.eps));
        if (decays(p) && this.cfg.weightDecay > 0) update = tf.add(update, tf.mul(p, this.cfg.weightDecay));
        p.assign(tf.sub(p, tf.mul(update, lr)));
      }
    });
  }
  dispose(): void {
    for (const b of [...this.m.values(), ...this.v.values()]) b.dispose();
  }
}

export function createOptimizer(cfg: OptimizerConfig, vars: tf.Variable[]): Optimizer {
  switch (cfg.name) {
    case 'sgd':
      return new Sgd(vars, cfg, false);
    case 'lars':
      return new Sgd(vars, cfg, true);
    case 'adam':
      return new AdamW(vars, cfg);
  }
}

/** Learning rate at `step` (0-based): linear warmup to the peak, then cosine decay to 0 or constant. */
export function learningRate(cfg: OptimizerConfig, step: number, totalSteps: number, stepsPerEpoch: number): number {
  const warmup = Math.round(cfg.warmupEpochs * stepsPerEpoch);
  if (step < warmup) return (cfg.lr * (step + 1)) / warmup;
  if (cfg.schedule === 'constant') return cfg.lr;
  const t = (step - warmup) / Math.max(1, totalSteps - warmup);
  return cfg.lr * 0.5 * (1 + Math.cos(Math.PI * Math.min(1, t)));
}
