// Faster replacements for wasm kernels that dominate a training step (@tensorflow/tfjs-backend-wasm 4.22).
// - Conv2DBackpropInput: wasm runs it as a naive C++ loop (~1.5 s for one layer of a 512-image batch);
//   here it is rewritten as forward Conv2Ds, which run in XNNPACK.
// - BatchMatMul with transposeA/B: wasm leaves XNNPACK for a naive loop (10x slower for the 512×128
//   products of a contrastive loss and its gradients); here the operand is transposed first. Batched
//   products (batch > 1) always take that loop, transposed or not (PixPro's [B, 49, 49] similarities:
//   0.85 GMAC/s); here each batch entry is its own XNNPACK product.
// - Identity: wasm copies the data; tfjs-core clones every tensor a gradient saves for the backward pass,
//   so each training step copied every saved activation. Here it shares the data, as cpu and webgl do.
import * as tf from '@tensorflow/tfjs-core';
import type { BatchMatMulAttrs, Conv2DBackpropInputAttrs, KernelConfig, KernelFunc, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
// Loads wasm's own kernels first: registered after ours, they would silently replace them.
import '@tensorflow/tfjs-backend-wasm';

/** wasm's own kernels that were replaced: the rewrites hand them the cases they do not handle. */
const originals = new Map<string, KernelConfig>();

/** Replaces wasm kernels with the faster versions in this file. Safe to call more than once. */
export function registerFastKernels(): void {
  const fast: Record<string, KernelFunc> = {
    Conv2DBackpropInput: conv2DBackpropInput as KernelFunc,
    BatchMatMul: batchMatMul as KernelFunc,
    Identity: identity as KernelFunc,
  };
  for (const [kernelName, kernelFunc] of Object.entries(fast)) {
    const current = tf.getKernel(kernelName, 'wasm');
    if (current?.kernelFunc === kernelFunc) continue;
    if (current != null) {
      originals.set(kernelName, current);
      tf.unregisterKernel(kernelName, 'wasm');
    }
    // The original's setup binds its C++ function; it must still run at backend init for the fallback.
    tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc, setupFunc: current?.setupFunc });
  }
}

type KernelArgs = { inputs: NamedTensorInfoMap; attrs?: NamedAttrMap; backend: unknown };

/** A new reference to x's data: tensors are immutable, so sharing is safe (wasm's Reshape does the same). */
function identity(args: KernelArgs): TensorInfo {
  const { x } = args.inputs as { x: TensorInfo };
  (args.backend as BackendWasm).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

/**
 * A product with a transposed operand runs as an explicit Transpose (C++, one pass) and the untransposed
 * product, which wasm gives to XNNPACK. Matrix-vector shapes (an outer size < 16, e.g. the per-channel
 * sums xᵀ·1 of BatchNorm) stay on the original: its loop streams them well, while XNNPACK would first
 * repack the large operand as weights.
 */
function batchMatMul(args: KernelArgs): TensorInfo {
  const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
  const { transposeA, transposeB } = args.attrs as unknown as BatchMatMulAttrs;
  const original = originalKernel('BatchMatMul');
  const rank = a.shape.length;
  const batch = tf.util.sizeFromShape(a.shape.slice(0, -2)) * tf.util.sizeFromShape(b.shape.slice(0, -2));
  const m = transposeA ? a.shape[rank - 1] : a.shape[rank - 2];
  const n = transposeB ? b.shape[b.shape.length - 2] : b.shape[b.shape.length - 1];
  if (Math.min(m, n) < 16) return original(args);
  if (batch > 1) return perBatchEntry(args, m, n) ?? original(args);
  if (!(transposeA || transposeB)) return original(args);
  const backend = args.backend as BackendWasm;
  const a2 = transposeA ? swapLastTwo(a, backend) : a; // [1…, M, K]
  const b2 = transposeB ? swapLastTwo(b, backend) : b; // [1…, K, N]
  const out = original({ inputs: { a: a2, b: b2 }, attrs: { ...args.attrs, transposeA: false, transposeB: false }, backend });
  for (const t of [a2, b2]) if (t !== a && t !== b) backend.disposeData(t.dataId);
  return out;
}

/**
 * A batched product [B…, M, K]·[B…, K, N] as B single products, each through batchMatMul above (so on
 * XNNPACK, transposes included), written into one output. Only for float32 operands with the same batch
 * dimensions (no broadcasting); undefined otherwise, for the original to handle. Each entry's operands are
 * fresh tensors: wasm caches the XNNPACK operator (and its packed weights) by b's id.
 */
function perBatchEntry(args: KernelArgs, m: number, n: number): TensorInfo | undefined {
  const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
  const { transposeA, transposeB } = args.attrs as unknown as BatchMatMulAttrs;
  const batchShape = a.shape.slice(0, -2);
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || b.shape.length !== a.shape.length || batchShape.some((d, i) => d !== b.shape[i])) return undefined;
  const backend = args.backend as BackendWasm;
  const original = originalKernel('BatchMatMul');
  // Transposed operands are transposed once, for the whole batch (one C++ pass), not per entry.
  const a2 = transposeA ? swapLastTwo(a, backend) : a; // [B…, M, K]
  const b2 = transposeB ? swapLastTwo(b, backend) : b; // [B…, K, N]
  const batch = tf.util.sizeFromShape(batchShape);
  const [aSize, bSize] = [a2, b2].map((t) => t.shape[t.shape.length - 2] * t.shape[t.shape.length - 1]);
  const out = backend.makeOutput([...batchShape, m, n], 'float32');
  const entry = (t: TensorInfo, size: number, i: number) => {
    const one = backend.makeOutput([1, ...t.shape.slice(-2)], 'float32');
    // Views after every allocation: a heap growth detaches older ones.
    (backend.typedArrayFromHeap(one) as Float32Array).set((backend.typedArrayFromHeap(t) as Float32Array).subarray(i * size, (i + 1) * size));
    return one;
  };
  for (let i = 0; i < batch; i++) {
    const ai = entry(a2, aSize, i);
    const bi = entry(b2, bSize, i);
    const prod = original({ inputs: { a: ai, b: bi }, attrs: { ...args.attrs, transposeA: false, transposeB: false }, backend }); // [1, M, N]
    (backend.typedArrayFromHeap(out) as Float32Array).set(backend.typedArrayFromHeap(prod) as Float32Array, i * m * n);
    for (const t of [ai, bi, prod]) backend.disposeData(t.dataId);
  }
  for (const t of [a2, b2]) if (t !== a && t !== b) backend.disposeData(t.dataId);
  return out;
}

/** t with its last two axes swapped (wasm's Transpose kernel). */
function swapLastTwo(t: TensorInfo, backend: BackendWasm): TensorInfo {
  const perm = t.shape.map((_, i) => i);
  [perm[perm.length - 2], perm[perm.length - 1]] = [perm[perm.length - 1], perm[perm.length - 2]];
  return tf.getKernel('Transpose', 'wasm')!.kernelFunc({ inputs: { x: t }, attrs: { perm }, backend }) as TensorInfo;
}

/** The replaced wasm kernel, to fall back on. */
function originalKernel(kernelName: string): (args: KernelArgs) => TensorInfo {
  const original = originals.get(kernelName);
  if (original == null) throw new Error(`${kernelName}: a case the fast kernel does not handle, and no original wasm kernel`);
  return original.kernelFunc as (args: KernelArgs) => TensorInfo;
}

/**
 * The input gradient of a conv with stride s and leading padding pt is, along each spatial axis,
 *   dx[h] = Σ_{oh,i : oh·s + i = h + pt} dy[oh] · W[i]ᵀ                    (W[i] is [Cin, Cout])
 * Split the rows by phase p = (h + pt) mod s and write m = ⌊(h + pt)/s⌋: then i = p + s·k, oh = m − k, so
 *   dx[m·s + p − pt] = Σ_k dy[m − k] · W[p + s·k]ᵀ
 * — a stride-1 convolution of dy with phase p's sub-filter, flipped and channel-swapped. The s×s phases
 * are s² small forward Conv2Ds (XNNPACK) doing exactly the FLOPs of the gradient (a zero-dilated dy would
 * cost s² times more), interleaved into dx in JS. For stride 1 it is the textbook single conv of dy with
 * the rotated filter. (One conv with all phases as output channels costs 16/9 the FLOPs for 3×3/2, and
 * wasm's DepthToSpace and Concat are slow per-element loops: both measured slower.)
 */
function conv2DBackpropInput(args: KernelArgs): TensorInfo {
  const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = args.attrs as unknown as Conv2DBackpropInputAttrs;
  const backend = args.backend as BackendWasm;
  const info = tf.backend_util.computeConv2DInfo(
    inputShape, filter.shape as [number, number, number, number], strides, 1, pad, dimRoundingMode, false,
    tf.backend_util.convertConv2DDataFormat(dataFormat),
  );
  if (info.dataFormat !== 'channelsLast') return originalKernel('Conv2DBackpropInput')(args);
  const { batchSize, inHeight, inWidth, inChannels, outChannels, strideHeight: sh, strideWidth: sw, padInfo } = info;
  const conv = tf.getKernel('Conv2D', 'wasm');
  if (conv == null) throw new Error('wasm backend has no Conv2D kernel');
  // Copied out of the heap: allocations below may grow it and detach a view.
  const w = (backend.typedArrayFromHeap(filter) as Float32Array).slice(); // [fh, fw, Cin, Cout]

  const phases: { rows: PhaseSpan; cols: PhaseSpan; z: TensorInfo }[] = [];
  let covered = true;
  for (let p = 0; p < sh; p++) {
    for (let q = 0; q < sw; q++) {
      const rows = phaseSpan(p, sh, info.filterHeight, padInfo.top, inHeight, info.outHeight);
      const cols = phaseSpan(q, sw, info.filterWidth, padInfo.left, inWidth, info.outWidth);
      if (rows == null || cols == null) {
        covered = false; // this phase's dx is zero (no taps), or it has no rows/columns
        continue;
      }
      const subFilter = backend.makeOutput([rows.taps, cols.taps, outChannels, inChannels], 'float32', undefined,
        subFilterValues(w, info.filterWidth, inChannels, outChannels, rows, cols)); // [Kp, Kq, Cout, Cin]
      const z = conv.kernelFunc({
        inputs: { x: dy, filter: subFilter },
        attrs: { strides: [1, 1], pad: [[0, 0], [rows.before, rows.after], [cols.before, cols.after], [0, 0]], dataFormat: 'NHWC', dilations: [1, 1] },
        backend,
      }) as TensorInfo; // [B, ≥rows of phase p, ≥cols of phase q, Cin]
      backend.disposeData(subFilter.dataId);
      phases.push({ rows, cols, z });
    }
  }
  // Stride 1 with no cropping: the single phase is dx itself.
  const only = phases.length === 1 ? phases[0] : undefined;
  if (only && covered && only.rows.start === only.rows.first && only.cols.start === only.cols.first && only.z.shape[1] === inHeight && only.z.shape[2] === inWidth) return only.z;

  const dx = backend.makeOutput([batchSize, inHeight, inWidth, inChannels], 'float32'); // [B, inH, inW, Cin]
  const out = backend.typedArrayFromHeap(dx) as Float32Array;
  if (!covered) out.fill(0);
  for (const { rows, cols, z } of phases) {
    interleave(out, backend.typedArrayFromHeap(z) as Float32Array, z.shape as number[], rows, cols, [batchSize, inHeight, inWidth, inChannels]);
    backend.disposeData(z.dataId);
  }
  return dx;
}

/** Where phase p of one spatial axis reads and writes (see conv2DBackpropInput for m, k, s). */
interface PhaseSpan {
  phase: number;
  stride: number;
  padBefore: number; // the forward conv's leading padding pt
  taps: number; // filter taps of this phase: i = phase + stride·k, k < taps
  first: number; // m range that lands inside dx: 0 ≤ m·s + p − pt < inSize
  last: number;
  start: number; // m of the sub-conv's output row 0
  before: number; // the sub-conv's explicit padding
  after: number;
}

function phaseSpan(phase: number, stride: number, filterSize: number, padBefore: number, inSize: number, outSize: number): PhaseSpan | undefined {
  const taps = Math.ceil((filterSize - phase) / stride);
  const first = Math.ceil((padBefore - phase) / stride);
  const last = Math.floor((padBefore + inSize - 1 - phase) / stride);
  if (taps <= 0 || last < first) return undefined;
  // Output row r reads dy[r − before … r − before + taps − 1], i.e. m = r + taps − 1 − before.
  // A padding too large to express this way (before < 0) computes a few extra rows instead.
  const before = Math.max(0, taps - 1 - first);
  return { phase, stride, padBefore, taps, first, last, start: taps - 1 - before, before, after: Math.max(0, last + 1 - outSize) };
}

/** Phase (p, q)'s sub-filter, flipped and channel-swapped: F[t, u, co, ci] = W[p + s·(Kp−1−t), q + s·(Kq−1−u), ci, co]. */
function subFilterValues(w: Float32Array, fw: number, cin: number, cout: number, rows: PhaseSpan, cols: PhaseSpan): Float32Array {
  const f = new Float32Array(rows.taps * cols.taps * cout * cin);
  for (let t = 0; t < rows.taps; t++) {
    const i = rows.phase + rows.stride * (rows.taps - 1 - t);
    for (let u = 0; u < cols.taps; u++) {
      const j = cols.phase + cols.stride * (cols.taps - 1 - u);
      for (let ci = 0; ci < cin; ci++) {
        const from = ((i * fw + j) * cin + ci) * cout;
        const to = (t * cols.taps + u) * cout * cin + ci;
        for (let co = 0; co < cout; co++) f[to + co * cin] = w[from + co];
      }
    }
  }
  return f;
}

/** dx[b, m·sh + p − pt, n·sw + q − pl, :] = z[b, m − start, n − start, :] for the m, n of the phase. */
function interleave(out: Float32Array, z: Float32Array, zShape: number[], rows: PhaseSpan, cols: PhaseSpan, dxShape: number[]): void {
  const [batch, inH, inW, c] = dxShape;
  const [, zH, zW] = zShape;
  const { first: m0, last: m1, start: ms, stride: sh } = rows;
  const { first: n0, last: n1, start: ns, stride: sw } = cols;
  const hOffset = rows.phase - rows.padBefore;
  const wOffset = cols.phase - cols.padBefore;
  const span = (n1 - n0 + 1) * c;
  const skip = (sw - 1) * c; // the other column phases' pixels
  for (let b = 0; b < batch; b++) {
    for (let m = m0; m <= m1; m++) {
      let from = ((b * zH + m - ms) * zW + n0 - ns) * c;
      let to = ((b * inH + m * sh + hOffset) * inW + n0 * sw + wOffset) * c;
      const end = from + span;
      while (from < end) {
        for (let k = 0; k < c; k++) out[to++] = z[from++];
        to += skip;
      }
    }
  }
}
