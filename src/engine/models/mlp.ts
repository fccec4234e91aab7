import * as tf from '@tensorflow/tfjs-core';
import { BatchNorm, Linear, ParamSet } from './layers';

/** One block of an MLP head, declared as data (lightly's style): Linear(in→out) [→ BN] [→ ReLU]. */
export interface MlpBlock {
  in: number;
  out: number;
  batchNorm: boolean;
  relu: boolean;
}

/**
 * SimCLR's projection head g(·): "a MLP with one hidden layer … z = W2 σ(W1 h)" (arXiv 2002.05709 §2.1),
 * with BN after the hidden layer as in the paper's appendix and the PyTorch peer.
 */
export function projectorBlocks(inDim: number, hidden: number, out: number): MlpBlock[] {
  return [
    { in: inDim, out: hidden, batchNorm: true, relu: true },
    { in: hidden, out, batchNorm: false, relu: false },
  ];
}

export class Mlp {
  private readonly layers: { linear: Linear; bn?: BatchNorm; relu: boolean }[];
  constructor(ps: ParamSet, name: string, readonly blocks: MlpBlock[]) {
    this.layers = blocks.map((b, i) => ({
      // A linear layer followed by BN needs no bias (BN's shift replaces it).
      linear: new Linear(ps, `${name}.${i}.linear`, b.in, b.out, !b.batchNorm),
      bn: b.batchNorm ? new BatchNorm(ps, `${name}.${i}.bn`, b.out) : undefined,
      relu: b.relu,
    }));
  }
  get outDim(): number {
    return this.blocks[this.blocks.length - 1].out;
  }
  apply(x: tf.Tensor2D, training: boolean): tf.Tensor2D {
    let h = x;
    for (const l of this.layers) {
      h = l.linear.apply(h);
      if (l.bn) h = l.bn.apply(h, training);
      if (l.relu) h = tf.relu(h);
    }
    return h;
  }
}
