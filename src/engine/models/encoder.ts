import * as tf from '@tensorflow/tfjs-core';
import type { EncoderPreset } from '../../core/config';
import { BatchNorm, Conv2d, ParamSet } from './layers';

/** An image encoder: [B,H,W,C] → feature map [B,h,w,D] → global average pool → features [B,D]. */
export interface Encoder {
  readonly featureDim: number;
  readonly params: ParamSet;
  /** The last feature map before pooling (PixPro, DIM and CPC use it). */
  featureMap(x: tf.Tensor4D, training: boolean): tf.Tensor4D;
  /** Pooled features: the representation every evaluation protocol uses. */
  features(x: tf.Tensor4D, training: boolean): tf.Tensor2D;
}

/** [filters, stride] of each 3×3 conv (+BN+ReLU) of the plain convnet presets. */
export const CONVNET_PRESETS: Record<Exclude<EncoderPreset, 'resnet18-cifar'>, [number, number][]> = {
  tiny: [
    [16, 1],
    [32, 2],
    [64, 2],
  ],
  // The architecture ../shared/bench/torch_peer.py trains by default, so the benchmark compares like with like.
  small: [
    [32, 1],
    [64, 2],
    [128, 2],
  ],
  medium: [
    [32, 1],
    [64, 1],
    [128, 2],
    [256, 2],
  ],
  // Narrower and one stride-2 stage deeper than small (28 → 28, 14, 7, 4 px): about a third of its
  // multiply-adds per image, so a short budget takes more steps; the short recipes use it.
  compact: [
    [16, 1],
    [32, 2],
    [64, 2],
    [64, 2],
  ],
};

class ConvNet implements Encoder {
  readonly featureDim: number;
  private readonly blocks: { conv: Conv2d; bn: BatchNorm }[] = [];
  constructor(
    readonly params: ParamSet,
    inChannels: number,
    convs: [number, number][],
  ) {
    let cin = inChannels;
    convs.forEach(([filters, stride], i) => {
      // No conv bias: BN's shift makes it redundant.
      this.blocks.push({ conv: new Conv2d(params, `encoder.conv${i}`, cin, filters, 3, stride, false), bn: new BatchNorm(params, `encoder.bn${i}`, filters) });
      cin = filters;
    });
    this.featureDim = cin;
  }
  featureMap(x: tf.Tensor4D, training: boolean): tf.Tensor4D {
    let h = x;
    for (const { conv, bn } of this.blocks) h = tf.relu(bn.apply(conv.apply(h), training));
    return h;
  }
  features(x: tf.Tensor4D, training: boolean): tf.Tensor2D {
    return tf.mean(this.featureMap(x, training), [1, 2]) as tf.Tensor2D;
  }
}

/** ResNet-18 basic block (He et al. 2016): two 3×3 convs with BN, identity or 1×1-conv shortcut. */
class BasicBlock {
  private readonly c1: Conv2d;
  private readonly b1: BatchNorm;
  private readonly c2: Conv2d;
  private readonly b2: BatchNorm;
  private readonly shortcut?: { conv: Conv2d; bn: BatchNorm };
  constructor(ps: ParamSet, name: string, cin: number, cout: number, stride: number) {
    this.c1 = new Conv2d(ps, `${name}.conv1`, cin, cout, 3, stride, false);
    this.b1 = new BatchNorm(ps, `${name}.bn1`, cout);
    this.c2 = new Conv2d(ps, `${name}.conv2`, cout, cout, 3, 1, false);
    this.b2 = new BatchNorm(ps, `${name}.bn2`, cout);
    if (stride !== 1 || cin !== cout) this.shortcut = { conv: new Conv2d(ps, `${name}.shortcut.conv`, cin, cout, 1, stride, false), bn: new BatchNorm(ps, `${name}.shortcut.bn`, cout) };
  }
  apply(x: tf.Tensor4D, training: boolean): tf.Tensor4D {
    const h = tf.relu(this.b1.apply(this.c1.apply(x), training));
    const y = this.b2.apply(this.c2.apply(h), training);
    const s = this.shortcut ? this.shortcut.bn.apply(this.shortcut.conv.apply(x), training) : x;
    return tf.relu(tf.add(y, s)) as tf.Tensor4D;
  }
}

/** ResNet-18 with the CIFAR stem used by SimCLR/MoCo small-image experiments: 3×3 stem conv, no max-pool. */
class ResNet18Cifar implements Encoder {
  readonly featureDim = 512;
  private readonly stem: Conv2d;
  private readonly stemBn: BatchNorm;
  private readonly blocks: BasicBlock[] = [];
  constructor(
    readonly params: ParamSet,
    inChannels: number,
  ) {
    this.stem = new Conv2d(params, 'encoder.stem', inChannels, 64, 3, 1, false);
    this.stemBn = new BatchNorm(params, 'encoder.stem_bn', 64);
    let cin = 64;
    [64, 128, 256, 512].forEach((cout, stage) => {
      for (let j = 0; j < 2; j++) {
        this.blocks.push(new BasicBlock(params, `encoder.layer${stage + 1}.${j}`, cin, cout, j === 0 && stage > 0 ? 2 : 1));
        cin = cout;
      }
    });
  }
  featureMap(x: tf.Tensor4D, training: boolean): tf.Tensor4D {
    let h = tf.relu(this.stemBn.apply(this.stem.apply(x), training));
    for (const b of this.blocks) h = b.apply(h, training);
    return h;
  }
  features(x: tf.Tensor4D, training: boolean): tf.Tensor2D {
    return tf.mean(this.featureMap(x, training), [1, 2]) as tf.Tensor2D;
  }
}

export function createEncoder(preset: EncoderPreset, inChannels: number, params: ParamSet): Encoder {
  if (preset === 'resnet18-cifar') return new ResNet18Cifar(params, inChannels);
  return new ConvNet(params, inChannels, CONVNET_PRESETS[preset]);
}
