import * as tf from '@tensorflow/tfjs-core';
import { METHOD_INFO } from '../../core/methods';
import type { Rng } from '../../core/rng';
import { mocoInfoNce } from '../losses/moco';
import { l2normalize } from '../losses/ntxent';
import { createEncoder, type Encoder } from '../models/encoder';
import { ParamSet } from '../models/layers';
import { Mlp, type MlpBlock } from '../models/mlp';
import { emaUpdate, momentumCopy, type MomentumCopy } from './shared/ema';
import { KeyQueue } from './shared/queue';
import { perSubBatch, shuffledPerSubBatch } from './shared/split-bn';
import { noGrad } from './shared/stop-gradient';
import { stateNumber } from './shared/state';
import type { Method, MethodContext, MethodDefinition, MethodState, TrainBatch } from './types';

/** MoCo v1's head is the encoder's fc layer to 128-d; v2's is fc → ReLU → fc with no BN (`--mlp`). */
function headBlocks(version: 1 | 2, inDim: number, hidden: number, out: number): MlpBlock[] {
  if (version === 1) return [{ in: inDim, out, batchNorm: false, relu: false }];
  return [
    { in: inDim, out: hidden, batchNorm: false, relu: true },
    { in: hidden, out, batchNorm: false, relu: false },
  ];
}

interface Network {
  encoder: Encoder;
  head: Mlp;
}

/**
 * MoCo — "Momentum Contrast for Unsupervised Visual Representation Learning", He et al. 2019,
 * https://arxiv.org/abs/1911.05722 (v1), and "Improved Baselines with Momentum Contrastive Learning",
 * Chen et al. 2020, https://arxiv.org/abs/2003.04297 (v2: MLP head, τ = 0.2, blur). Algorithm 1:
 *   f_k.params = f_q.params                      # initialise
 *   for x in loader:
 *     x_q, x_k = aug(x), aug(x)
 *     q = f_q.forward(x_q)                       # N×C
 *     k = f_k.forward(x_k).detach()              # N×C, no gradient to keys
 *     l_pos = bmm(q.view(N,1,C), k.view(N,C,1))  # N×1
 *     l_neg = mm(q.view(N,C), queue.view(C,K))   # N×K
 *     logits = cat([l_pos, l_neg], dim=1)        # N×(1+K)
 *     loss = CrossEntropyLoss(logits/t, labels=0)
 *     SGD update: f_q;  f_k.params = m·f_k.params + (1−m)·f_q.params
 *     enqueue(queue, k); dequeue(queue)
 * The last two lines run in afterStep, after the optimizer. As in the official CIFAR demo, `symmetric`
 * adds the loss with the views swapped, and "Shuffling BN" is simulated by per-sub-batch BN.
 */
class MoCo implements Method {
  readonly encoder: Encoder;
  private readonly params: ParamSet;
  private readonly query: Network; // f_q
  private readonly key: MomentumCopy<Network>; // f_k
  private readonly queue: KeyQueue;
  private readonly t: number;
  private readonly m: number;
  private readonly symmetric: boolean;
  private readonly splits: number;
  private readonly shuffleRng: Rng;
  /** Keys of the last loss() call, enqueued by afterStep. */
  private pendingKeys?: tf.Tensor2D;

  constructor(ctx: MethodContext, version: 1 | 2) {
    const { config } = ctx;
    const p = config.params;
    this.t = Number(p.temperature);
    this.m = Number(p.momentum);
    this.symmetric = Boolean(p.symmetric);
    this.splits = Number(p.shuffleBnSplits);
    const build = (ps: ParamSet): Network => {
      const encoder = createEncoder(config.encoder.preset, ctx.inputShape[2], ps);
      return { encoder, head: new Mlp(ps, 'projector', headBlocks(version, encoder.featureDim, config.projector.hidden, config.projector.out)) };
    };
    this.params = new ParamSet(config.seed);
    this.query = build(this.params);
    this.encoder = this.query.encoder;
    this.key = momentumCopy(this.params, build); // f_k.params = f_q.params
    this.queue = new KeyQueue(Number(p.queueSize), config.projector.out, ctx.rng.fork(1));
    this.shuffleRng = ctx.rng.fork(2);
  }

  trainableVariables(): tf.Variable[] {
    return this.params.trainable();
  }

  loss({ views: [x1, x2] }: TrainBatch): tf.Scalar {
    const [loss12, k2] = this.contrast(x1, x2);
    if (!this.symmetric) return this.keep(k2, loss12);
    const [loss21, k1] = this.contrast(x2, x1);
    return this.keep(tf.concat([k1, k2], 0) as tf.Tensor2D, tf.add(loss12, loss21) as tf.Scalar);
  }

  /** One direction: x_q is the query, x_k the key. Returns the loss and the (normalised, constant) keys. */
  private contrast(xq: tf.Tensor4D, xk: tf.Tensor4D): [tf.Scalar, tf.Tensor2D] {
    const q = l2normalize(this.query.head.apply(perSubBatch(xq, this.splits, (x) => this.query.encoder.features(x, true)), true)); // N×C
    const k = noGrad(() => {
      const { encoder, head } = this.key.net;
      return l2normalize(head.apply(shuffledPerSubBatch(xk, this.splits, this.shuffleRng, (x) => encoder.features(x, true)), true)); // N×C
    });
    return [mocoInfoNce(q, k, this.queue.keys as tf.Tensor2D, this.t), k];
  }

  /** Holds on to this step's keys for the queue (outside the gradient tidy) and returns the loss. */
  private keep(k: tf.Tensor2D, loss: tf.Scalar): tf.Scalar {
    this.pendingKeys?.dispose();
    this.pendingKeys = tf.keep(k);
    return loss;
  }

  afterStep(): void {
    emaUpdate(this.key.pairs, this.m); // momentum update of the key encoder, with the updated f_q
    if (this.pendingKeys) {
      this.queue.enqueue(this.pendingKeys);
      this.pendingKeys.dispose();
      this.pendingKeys = undefined;
    }
  }

  projection(x: tf.Tensor4D): tf.Tensor2D {
    return this.query.head.apply(this.query.encoder.features(x, false), false);
  }

  namedVariables(): Map<string, tf.Variable> {
    const out = new Map(this.params.vars);
    for (const [name, v] of this.key.params.vars) out.set(`key.${name}`, v);
    out.set('queue', this.queue.keys);
    out.set('queue_ptr', this.queue.ptr);
    return out;
  }

  saveState(): MethodState {
    return { shuffleRng: this.shuffleRng.getState() };
  }

  restoreState(state: MethodState): void {
    this.shuffleRng.setState(stateNumber(state, 'shuffleRng'));
    this.queue.restorePointer();
  }

  /** For tests: the key encoder's variables and the queue. */
  get internals() {
    return { key: this.key, queue: this.queue };
  }

  dispose(): void {
    this.pendingKeys?.dispose();
    this.params.dispose();
    this.key.params.dispose();
    this.queue.dispose();
  }
}

export const mocov1: MethodDefinition = { info: METHOD_INFO.mocov1, create: (ctx) => new MoCo(ctx, 1) };
export const mocov2: MethodDefinition = { info: METHOD_INFO.mocov2, create: (ctx) => new MoCo(ctx, 2) };
