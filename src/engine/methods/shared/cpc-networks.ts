import * as tf from '@tensorflow/tfjs-core';
import type { EncoderPreset } from '../../../core/config';
import { CONVNET_PRESETS } from '../../models/encoder';
import { BatchNorm, Conv2d, LayerNorm, ParamSet } from '../../models/layers';

/**
 * The networks of CPC (arXiv 1807.03748) and CPC v2 (arXiv 1905.09272): the patch encoder g_enc and the
 * autoregressive context network g_ar, a PixelCNN-style stack of masked convolutions over the patch grid.
 */

/**
 * g_enc applied to each patch: the 3×3 conv stack of an encoder preset (same widths and strides) with
 * no normalisation (CPC v1: "We did not use Batch-Norm", arXiv 1807.03748 §3.3; the convs then have
 * biases), layer norm (CPC v2) or batch norm (CPC runs recorded before that fix), and ReLU, spatially
 * mean-pooled to one vector per patch (the papers mean-pool the ResNet's last feature map the same way).
 * CPC v2 explains the choice: BN's batch statistics couple the patches of an image (and of the batch), a
 * channel the encoder can use to "see" patches outside its receptive field and so solve CPC trivially.
 */
/** The patch encoder's normalisation after each conv. */
export type PatchNorm = 'none' | 'batch' | 'layer';

export class PatchEncoder {
  readonly dim: number;
  private readonly blocks: { conv: Conv2d; bn?: BatchNorm; ln?: LayerNorm }[] = [];
  constructor(ps: ParamSet, preset: EncoderPreset, inChannels: number, readonly norm: PatchNorm) {
    if (preset === 'resnet18-cifar') throw new Error('CPC’s patch encoder uses the conv presets (tiny, small, medium); a ResNet-18 per patch would be far too slow here');
    let cin = inChannels;
    CONVNET_PRESETS[preset].forEach(([filters, stride], i) => {
      const name = `encoder.conv${i}`;
      const conv = new Conv2d(ps, name, cin, filters, 3, stride, norm === 'none');
      // Without a norm nothing restores the activations' scale: PyTorch's default U(±1/√fan_in) shrinks
      // their variance ~6× per conv + ReLU, so the patch codes would start near 0 and the InfoNCE scores
      // blind. He initialisation, U(±√(6/fan_in)) with zero biases, keeps it (the initialiser of
      // unnormalised ReLU nets; the paper's ResNet v2 keeps it through its residual paths instead).
      if (norm === 'none') {
        conv.w.assign(tf.tidy(() => tf.mul(conv.w, Math.sqrt(6))));
        conv.b!.assign(tf.zerosLike(conv.b!));
      }
      this.blocks.push({
        conv,
        bn: norm === 'batch' ? new BatchNorm(ps, `encoder.bn${i}`, filters) : undefined,
        ln: norm === 'layer' ? new LayerNorm(ps, `encoder.ln${i}`, filters) : undefined,
      });
      cin = filters;
    });
    this.dim = cin;
  }
  /** patches [N, p, p, C] → z [N, D]. */
  apply(patches: tf.Tensor4D, training: boolean): tf.Tensor2D {
    let h = patches;
    for (const { conv, bn, ln } of this.blocks) {
      const y = conv.apply(h);
      h = tf.relu(bn ? bn.apply(y, training) : ln ? ln.apply(y) : y);
    }
    return tf.mean(h, [1, 2]) as tf.Tensor2D;
  }
}

/**
 * A convolution that only looks up: output row i sees input rows i − kh + 1 … i (the top is zero-padded,
 * the bottom not at all) and columns j − (kw−1)/2 … j + (kw−1)/2. kw must be odd.
 */
class UpwardConv {
  private readonly w: tf.Variable; // [kh, kw, cin, cout]
  private readonly b: tf.Variable; // [cout]
  constructor(ps: ParamSet, name: string, cin: number, cout: number, private readonly kh: number, private readonly kw: number) {
    const bound = 1 / Math.sqrt(cin * kh * kw);
    this.w = ps.add(`${name}.weight`, ps.uniform([kh, kw, cin, cout], bound));
    this.b = ps.add(`${name}.bias`, ps.uniform([cout], bound));
  }
  apply(x: tf.Tensor4D): tf.Tensor4D {
    const side = (this.kw - 1) / 2;
    const padded = tf.pad(x, [[0, 0], [this.kh - 1, 0], [side, side], [0, 0]]);
    return tf.add(tf.conv2d(padded, this.w as tf.Tensor4D, 1, 'valid'), this.b) as tf.Tensor4D;
  }
}

/**
 * g_ar: CPC v2's PixelCNN context network, from the paper's pseudocode (arXiv 1905.09272, appendix A):
 *   for each of `blocks` residual blocks:
 *     c = ReLU(Conv1x1(cres)); c = Conv1x3(c); c = Pad(c, 1 row on top); c = ReLU(Conv2x1_valid(c))
 *     cres = cres + Conv1x1(c)
 *   return ReLU(cres)
 * Each block widens the view by one row upwards and one column each side, and never downwards: the
 * context c_{i,j} depends only on patches in rows ≤ i (within `blocks` rows and columns). CPC v1
 * describes the same "PixelCNN-style" model without its exact layers; both use this one.
 */
export class PixelCnnContext {
  private readonly blocks: { in1x1: Conv2d; row: UpwardConv; up: UpwardConv; out1x1: Conv2d }[] = [];
  constructor(ps: ParamSet, name: string, readonly dim: number, hidden: number, blocks: number) {
    for (let i = 0; i < blocks; i++) {
      const n = `${name}.${i}`;
      this.blocks.push({
        in1x1: new Conv2d(ps, `${n}.in`, dim, hidden, 1, 1, true),
        row: new UpwardConv(ps, `${n}.row`, hidden, hidden, 1, 3),
        up: new UpwardConv(ps, `${n}.up`, hidden, hidden, 2, 1),
        out1x1: new Conv2d(ps, `${n}.out`, hidden, dim, 1, 1, true),
      });
    }
  }
  /** z [B, rows, cols, D] → c [B, rows, cols, D]. */
  apply(z: tf.Tensor4D): tf.Tensor4D {
    let cres = z;
    for (const { in1x1, row, up, out1x1 } of this.blocks) {
      const c = tf.relu(up.apply(row.apply(tf.relu(in1x1.apply(cres)))));
      cres = tf.add(cres, out1x1.apply(c as tf.Tensor4D)) as tf.Tensor4D;
    }
    return tf.relu(cres);
  }
}
