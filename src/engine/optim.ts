import * as tf from '@tensorflow/tfjs-core';
import type { RunConfig } from '../core/config';
import type { Method } from './methods/types';

/**
 * SGD with momentum, Adam (decoupled weight decay, i.e. AdamW) and LARS, over plain tfjs variables.
 * tf.train's optimizers have no weight decay and no LARS, and their learning rate is fixed at
 * construction, so we keep our own (~100 lines). Weight decay and LARS adaptation apply to weights
 * (rank ≥ 2) only, never to biases or BN parameters — the convention of SimCLR's and BYOL's code.
 */
export interface Optimizer {
  /** Applies `grads` (keyed by variable name) with learning rate `lr`, then disposes nothing it does not own. */
  apply(grads: tf.NamedTensorMap, lr: number): void;
  /**
   * Everything a resumed run needs to continue exactly: the slots by `<slot>/<name>` (`m/…` and `v/…`
   * for Adam, `velocity/…` for SGD and LARS), `name` being `nameOf(variable)` — a stable name such as
   * the method's, since tfjs's own variable names depend on creation order — and the updates applied.
   * The slot tensors are the optimizer's own: read them, do not dispose them.
   */
  exportState(nameOf: (v: tf.Variable) => string): OptimizerState;
  /** Sets the slots and update count from `exportState`'s names; throws if a slot is missing or shaped differently. */
  importState(state: { step: number; slots: tf.NamedTensorMap }, nameOf: (v: tf.Variable) => string): void;
  dispose(): void;
}

export interface OptimizerState {
  /** Updates applied so far (Adam's bias correction depends on it). */
  step: number;
  slots: Map<string, tf.Tensor>;
}

type OptimizerConfig = RunConfig['optimizer'];

/** For exportState/importState: each variable's name in the method (tfjs's own depend on the order variables were created in). */
export function stableNames(method: Method): (v: tf.Variable) => string {
  const names = new Map<tf.Variable, string>();
  for (const [name, v] of method.namedVariables()) names.set(v, name);
  return (v) => {
    const name = names.get(v);
    if (name === undefined) throw new Error(`variable ${v.name} is not among the method's named variables`);
    return name;
  };
}

const decays = (v: tf.Variable) => v.rank >= 2;

/** A zero-filled, non-trainable slot variable shaped like `v` (the temporary zeros tensor is freed). */
function slot(v: tf.Variable): tf.Variable {
  return tf.tidy(() => tf.variable(tf.zerosLike(v), false));
}

/** The slots of every variable (by slot, then by tfjs variable name) and the update count, exported and imported by name. */
abstract class SlottedOptimizer implements Optimizer {
  protected readonly slots: Record<string, Map<string, tf.Variable>> = {};
  protected updates = 0;
  /** Names of the variables that ignore the schedule's `lr` and always get the base rate. */
  private readonly constant: Set<string>;
  constructor(
    protected readonly vars: tf.Variable[],
    protected readonly cfg: OptimizerConfig,
    slotNames: string[],
    constantLr: tf.Variable[],
  ) {
    for (const s of slotNames) this.slots[s] = new Map(vars.map((v) => [v.name, slot(v)]));
    this.constant = new Set(constantLr.map((v) => v.name));
  }
  /** The learning rate of `v` at a step whose scheduled rate is `lr`. */
  protected rate(v: tf.Variable, lr: number): number {
    return this.constant.has(v.name) ? this.cfg.lr : lr;
  }
  abstract apply(grads: tf.NamedTensorMap, lr: number): void;
  exportState(nameOf: (v: tf.Variable) => string): OptimizerState {
    const slots = new Map<string, tf.Tensor>();
    for (const [s, byVar] of Object.entries(this.slots)) for (const v of this.vars) slots.set(`${s}/${nameOf(v)}`, byVar.get(v.name)!);
    return { step: this.updates, slots };
  }
  importState(state: { step: number; slots: tf.NamedTensorMap }, nameOf: (v: tf.Variable) => string): void {
    for (const [s, byVar] of Object.entries(this.slots))
      for (const v of this.vars) {
        const key = `${s}/${nameOf(v)}`;
        const value = state.slots[key];
        if (!value) throw new Error(`the optimizer state has no ${key}`);
        if (!tf.util.arraysEqual(value.shape, v.shape)) throw new Error(`the optimizer state's ${key} is shaped [${value.shape}], the variable [${v.shape}]`);
        byVar.get(v.name)!.assign(value);
      }
    this.updates = state.step;
  }
  dispose(): void {
    for (const byVar of Object.values(this.slots)) for (const b of byVar.values()) b.dispose();
  }
}

class Sgd extends SlottedOptimizer {
  constructor(
    vars: tf.Variable[],
    cfg: OptimizerConfig,
    private readonly lars: boolean,
    constantLr: tf.Variable[],
  ) {
    super(vars, cfg, ['velocity'], constantLr);
  }
  apply(grads: tf.NamedTensorMap, lr: number): void {
    this.updates++;
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
        const buf = this.slots.velocity.get(v.name)!;
        buf.assign(tf.add(tf.mul(buf, this.cfg.momentum), g));
        v.assign(tf.sub(v, tf.mul(buf, this.rate(v, lr))));
      }
    });
  }
}

class AdamW extends SlottedOptimizer {
  private readonly beta1 = 0.9;
  private readonly beta2 = 0.999;
  private readonly eps = 1e-8;
  constructor(vars: tf.Variable[], cfg: OptimizerConfig, constantLr: tf.Variable[]) {
    super(vars, cfg, ['m', 'v'], constantLr);
  }
  apply(grads: tf.NamedTensorMap, lr: number): void {
    const t = ++this.updates;
    const c1 = 1 - this.beta1 ** t;
    const c2 = 1 - this.beta2 ** t;
    tf.tidy(() => {
      for (const p of this.vars) {
        const g = grads[p.name];
        if (!g) continue;
        const m = this.slots.m.get(p.name)!;
        const v = this.slots.v.get(p.name)!;
        m.assign(tf.add(tf.mul(m, this.beta1), tf.mul(g, 1 - this.beta1)));
        v.assign(tf.add(tf.mul(v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2)));
        let update = tf.div(tf.div(m, c1), tf.add(tf.sqrt(tf.div(v, c2)), this.eps));
        if (decays(p) && this.cfg.weightDecay > 0) update = tf.add(update, tf.mul(p, this.cfg.weightDecay));
        p.assign(tf.sub(p, tf.mul(update, this.rate(p, lr))));
      }
    });
  }
}

/**
 * The optimizer over `vars`. Those in `constantLr` (a subset) are updated with the base rate `cfg.lr` at
 * every step, whatever rate the schedule passes to apply() (SimSiam's fixed predictor lr).
 */
export function createOptimizer(cfg: OptimizerConfig, vars: tf.Variable[], constantLr: tf.Variable[] = []): Optimizer {
  switch (cfg.name) {
    case 'sgd':
      return new Sgd(vars, cfg, false, constantLr);
    case 'lars':
      return new Sgd(vars, cfg, true, constantLr);
    case 'adam':
      return new AdamW(vars, cfg, constantLr);
  }
}

/** The optimizer of a method's trainable variables, with the ones it keeps at a constant rate. */
export function methodOptimizer(cfg: OptimizerConfig, method: Method): Optimizer {
  return createOptimizer(cfg, method.trainableVariables(), method.constantLrVariables?.() ?? []);
}

/** Learning rate at `step` (0-based): linear warmup to the peak, then cosine decay to 0 or constant. */
export function learningRate(cfg: OptimizerConfig, step: number, totalSteps: number, stepsPerEpoch: number): number {
  const warmup = Math.round(cfg.warmupEpochs * stepsPerEpoch);
  if (step < warmup) return (cfg.lr * (step + 1)) / warmup;
  if (cfg.schedule === 'constant') return cfg.lr;
  const t = (step - warmup) / Math.max(1, totalSteps - warmup);
  return cfg.lr * 0.5 * (1 + Math.cos(Math.PI * Math.min(1, t)));
}
