// What training needs that tfjs 4.22 lacks.
// Kernels @tensorflow/tfjs-backend-wasm does not register: without them a wasm training step fails in
// the backward pass ("Kernel 'Conv2DBackpropFilter' not registered for backend 'wasm'"), and the
// pure-JS cpu backend is ~300x slower than wasm.
// - Conv2DBackpropFilter: rewritten as a forward Conv2D, so it runs in XNNPACK like the forward pass.
// - UnsortedSegmentSum (the gradient of gather): a scatter-add over the wasm heap.
// - DepthwiseConv2dNativeBackpropFilter/Input, Einsum: borrowed from the cpu backend (copy in, run,
//   copy out); slow but correct, and no model here trains depthwise convs today.
// Gradients tfjs-core registers for no backend: comparisons (see registerComparisonGradients).
import * as tf from '@tensorflow/tfjs-core';
import type {
  Conv2DBackpropFilterAttrs,
  KernelBackend,
  KernelFunc,
  NamedAttrMap,
  NamedTensorInfoMap,
  TensorInfo,
  UnsortedSegmentSumAttrs,
} from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/** Registered where wasm has no kernel of that name (a later tfjs that adds one keeps its own). */
const MISSING: Record<string, KernelFunc> = {
  Conv2DBackpropFilter: conv2DBackpropFilter,
  UnsortedSegmentSum: unsortedSegmentSum,
  DepthwiseConv2dNativeBackpropFilter: borrowFromCpu('DepthwiseConv2dNativeBackpropFilter'),
  DepthwiseConv2dNativeBackpropInput: borrowFromCpu('DepthwiseConv2dNativeBackpropInput'),
  Einsum: borrowFromCpu('Einsum'),
};
/** Registers the kernels above for the 'wasm' backend and returns the names added. Safe to call again. */
export function registerWasmTrainingKernels(): string[] {
  const added: string[] = [];
  for (const [kernelName, kernelFunc] of Object.entries(MISSING)) {
    if (tf.getKernel(kernelName, 'wasm') != null) continue;
    tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc });
    added.push(kernelName);
  }
  fixCropAndResize();
  return added;
}

let cropAndResizeFixed = false;

/**
 * tfjs-backend-wasm 4.22's CropAndResize copies the wrong pixels for a box whose top edge is exactly 0
 * and whose size equals the crop size (its no-resampling path ignores the box's left edge: every such box
 * gets the top-left corner). CPC's patch grid cuts exactly such patches along the image's top row; the
 * webgpu and cpu backends cut them right. Batches with such a box go to the cpu backend's kernel; all
 * others (every random crop of the augmentation) stay on wasm's.
 */
function fixCropAndResize(): void {
  if (cropAndResizeFixed) return;
  const wasmKernel = tf.getKernel('CropAndResize', 'wasm');
  if (wasmKernel == null) return;
  const onCpu = borrowFromCpu('CropAndResize');
  tf.unregisterKernel('CropAndResize', 'wasm');
  tf.registerKernel({
    kernelName: 'CropAndResize',
    backendName: 'wasm',
    setupFunc: wasmKernel.setupFunc,
    kernelFunc: (args) => {
      const boxes = (args.backend as BackendWasm).readSync(args.inputs.boxes!.dataId) as Float32Array;
      for (let i = 0; i < boxes.length; i += 4) if (boxes[i] === 0) return onCpu(args);
      return wasmKernel.kernelFunc(args);
    },
  });
  cropAndResizeFixed = true;
}

/**
 * `tf.where(tf.greater(x, 0), x, y)` inside a loss fails with "gradient function not found for Greater"
 * on every backend: tfjs-core 4.22 gives GreaterEqual a zero gradient but not its siblings. A comparison
 * is piecewise constant, so zero is its gradient (TensorFlow marks them non-differentiable).
 */
export function registerComparisonGradients(): void {
  for (const kernelName of ['Greater', 'Less', 'LessEqual', 'Equal', 'NotEqual']) {
    if (tf.getGradient(kernelName) != null) continue;
    tf.registerGradient({
      kernelName,
      inputsToSave: ['a', 'b'],
      gradFunc: (_dy, saved) => ({ a: () => tf.zerosLike(saved[0]), b: () => tf.zerosLike(saved[1]) }),
    });
  }
}

/**
 * dW[i,j,ci,co] = Σ_{b,oh,ow} xPad[b, oh·s+i, ow·s+j, ci] · dy[b,oh,ow,co]
 *
 * NHWC (what training uses) runs as a GEMM: with the transposed im2col matrix
 *   Pᵀ[(i,j,ci), n] = xPad[b, oh·s+i, ow·s+j, ci]        n = (b, oh, ow)
 * dW (flattened [fh·fw·Cin, Cout], already the filter layout) = Pᵀ · dy[n, co], a plain product that
 * wasm gives to XNNPACK. The reduction axis n = B·outH·outW is huge (10⁵–10⁶) and the other two are small,
 * so it is cut into chunks of whole images whose dy slice (packed by XNNPACK as the GEMM's weights) stays
 * in the L2 cache, and the chunks' products are summed. Pᵀ is written by a JS loop straight from x: no
 * transposing x or dy with wasm's Transpose (the batch-to-last permutes of the conv formulation below
 * cost more than the conv itself on a 512-image batch).
 *
 * NCHW (nothing here trains it) keeps the older formulation: a stride-1 convolution of x with its batch
 * and channel axes swapped ([Cin,H,W,B] as a batch of Cin images with B channels) by dy used as the
 * filter ([outH,outW,B,Cout]) dilated by the stride, transposed back to [fh,fw,Cin,Cout].
 */
function conv2DBackpropFilter(args: { inputs: NamedTensorInfoMap; attrs?: NamedAttrMap; backend: unknown }): TensorInfo {
  const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = args.attrs as unknown as Conv2DBackpropFilterAttrs;
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number], filterShape, strides, 1, pad, dimRoundingMode, false,
    tf.backend_util.convertConv2DDataFormat(dataFormat),
  );
  if (info.dataFormat === 'channelsLast') return filterGradGemm(x, dy, info, args.backend as BackendWasm);
  return filterGradSwappedConv(x, dy, info, args.backend as KernelBackend);
}

/**
 * Images per GEMM chunk: dy's chunk (XNNPACK's packed weights, reused by every row tile) about this many
 * floats, i.e. ≤ 0.5 MB, well inside L2. Measured on the 'small' encoder's layers: 128K–256K best, 2M
 * (no chunking) up to 25% slower on the deepest layer. Exported for tests (many chunks on tiny inputs).
 */
export const FILTER_GRAD_CHUNK_FLOATS = { value: 1 << 17 };

function filterGradGemm(x: TensorInfo, dy: TensorInfo, info: tf.backend_util.Conv2DInfo, backend: BackendWasm): TensorInfo {
  const { batchSize, inHeight: inH, inWidth: inW, inChannels: cin, outChannels: cout } = info;
  const [outH, outW] = [dy.shape[1], dy.shape[2]]; // dy's own size, as the cpu kernel reads it
  const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw, padInfo } = info;
  const taps = fh * fw;
  const rows = taps * cin; // GEMM M
  const pixels = outH * outW;
  const perChunk = Math.max(1, Math.min(batchSize, Math.floor(FILTER_GRAD_CHUNK_FLOATS.value / Math.max(1, pixels * cout))));
  const matMul = tf.getKernel('BatchMatMul', 'wasm')!.kernelFunc;
  const out = backend.makeOutput([fh, fw, cin, cout], 'float32');
  const acc = new Float32Array(rows * cout);
  const pT = backend.makeOutput([1, rows, perChunk * pixels], 'float32'); // reused: it is the GEMM's streamed operand
  // Per filter column j: the ow range whose input column is inside x (outside it, Pᵀ is the zero padding).
  const owRange = Array.from({ length: fw }, (_, j) => validRange(j * dw - padInfo.left, sw, inW, outW));
  const ohRange = Array.from({ length: fh }, (_, i) => validRange(i * dh - padInfo.top, sh, inH, outH));
  for (let b0 = 0; b0 < batchSize; b0 += perChunk) {
    const nb = Math.min(perChunk, batchSize - b0);
    const k = nb * pixels; // GEMM K of this chunk
    // A fresh dy chunk each time: wasm caches the XNNPACK operator (and its packed weights) by b's id.
    const dyChunk = backend.makeOutput([1, k, cout], 'float32');
    const a = nb === perChunk ? pT : backend.makeOutput([1, rows, k], 'float32');
    // Views after every allocation: a heap growth detaches older ones.
    const xv = backend.typedArrayFromHeap(x) as Float32Array;
    const dyv = backend.typedArrayFromHeap(dy) as Float32Array;
    (backend.typedArrayFromHeap(dyChunk) as Float32Array).set(dyv.subarray(b0 * pixels * cout, (b0 + nb) * pixels * cout));
    fillPatchesT(backend.typedArrayFromHeap(a) as Float32Array, xv, b0, nb, k, { inH, inW, cin, outH, outW, fh, fw, sh, sw, dh, dw, top: padInfo.top, left: padInfo.left, ohRange, owRange });
    const prod = matMul({ inputs: { a, b: dyChunk }, attrs: { transposeA: false, transposeB: false }, backend }) as TensorInfo; // [1, rows, Cout]
    const pv = backend.typedArrayFromHeap(prod) as Float32Array;
    for (let i = 0; i < acc.length; i++) acc[i] += pv[i];
    backend.disposeData(prod.dataId);
    backend.disposeData(dyChunk.dataId);
    if (a !== pT) backend.disposeData(a.dataId);
  }
  backend.disposeData(pT.dataId);
  (backend.typedArrayFromHeap(out) as Float32Array).set(acc);
  return out;
}

/** Output positions o in [0, outSize) whose input coordinate o·stride + offset lies in [0, inSize): [lo, hi). */
function validRange(offset: number, stride: number, inSize: number, outSize: number): [number, number] {
  const lo = Math.min(outSize, Math.max(0, Math.ceil(-offset / stride)));
  const hi = Math.max(lo, Math.min(outSize, Math.floor((inSize - 1 - offset) / stride) + 1));
  return [lo, hi];
}

interface PatchGeometry {
  inH: number; inW: number; cin: number; outH: number; outW: number;
  fh: number; fw: number; sh: number; sw: number; dh: number; dw: number; top: number; left: number;
  ohRange: [number, number][]; owRange: [number, number][];
}

/** Pᵀ[(i·fw + j)·Cin + ci, n] for the images b0 … b0+nb−1, n = ((b−b0)·outH + oh)·outW + ow; `k` is Pᵀ's row length. */
function fillPatchesT(pT: Float32Array, x: Float32Array, b0: number, nb: number, k: number, g: PatchGeometry): void {
  const { inH, inW, cin, outH, outW, fw, sh, sw, dh, dw, top, left } = g;
  for (let i = 0; i < g.fh; i++) {
    const [oh0, oh1] = g.ohRange[i];
    for (let j = 0; j < fw; j++) {
      const [ow0, ow1] = g.owRange[j];
      const rowBase = (i * fw + j) * cin * k;
      for (let bl = 0; bl < nb; bl++) {
        const xImage = (b0 + bl) * inH * inW * cin;
        for (let oh = 0; oh < outH; oh++) {
          const n0 = (bl * outH + oh) * outW;
          if (oh < oh0 || oh >= oh1) {
            for (let ci = 0; ci < cin; ci++) pT.fill(0, rowBase + ci * k + n0, rowBase + ci * k + n0 + outW);
            continue;
          }
          if (ow0 > 0 || ow1 < outW) {
            for (let ci = 0; ci < cin; ci++) {
              const r = rowBase + ci * k + n0;
              if (ow0 > 0) pT.fill(0, r, r + ow0);
              if (ow1 < outW) pT.fill(0, r + ow1, r + outW);
            }
          }
          const xRow = xImage + (oh * sh + i * dh - top) * inW * cin;
          if (cin === 1) {
            let src = xRow + ow0 * sw + j * dw - left;
            for (let ow = ow0, d = rowBase + n0 + ow0; ow < ow1; ow++, d++, src += sw) pT[d] = x[src];
            continue;
          }
          for (let ow = ow0; ow < ow1; ow++) {
            const src = xRow + (ow * sw + j * dw - left) * cin;
            let d = rowBase + n0 + ow;
            for (let ci = 0; ci < cin; ci++, d += k) pT[d] = x[src + ci];
          }
        }
      }
    }
  }
}

/** The conv formulation described above conv2DBackpropFilter, for NCHW. */
function filterGradSwappedConv(x: TensorInfo, dy: TensorInfo, info: tf.backend_util.Conv2DInfo, backend: KernelBackend): TensorInfo {
  const run = kernelRunner(backend);
  const nhwc = info.dataFormat === 'channelsLast';
  const { filterHeight: fh, filterWidth: fw, inChannels, outChannels } = info;
  const { strideHeight: sh, strideWidth: sw, padInfo } = info;
  const [outH, outW] = [info.outHeight, info.outWidth];
  const [inH, inW] = [info.inHeight, info.inWidth];

  const xT = run('Transpose', { x }, { perm: nhwc ? [3, 1, 2, 0] : [1, 2, 3, 0] }); // [Cin, H, W, B]
  const dyT = run('Transpose', { x: dy }, { perm: nhwc ? [1, 2, 0, 3] : [2, 3, 0, 1] }); // [outH, outW, B, Cout]
  // Pad only as far as the last window reads, so the output is exactly fh×fw when it can be
  // ('valid' with a stride may leave trailing rows unread: then the output is cropped below).
  const bottom = Math.max(0, (outH - 1) * sh + fh - inH - padInfo.top);
  const right = Math.max(0, (outW - 1) * sw + fw - inW - padInfo.left);
  const explicitPad: tf.backend_util.ExplicitPadding = [[0, 0], [padInfo.top, bottom], [padInfo.left, right], [0, 0]];
  const corr = run('Conv2D', { x: xT, filter: dyT }, {
    strides: [1, 1], pad: explicitPad, dataFormat: 'NHWC', dilations: [sh, sw],
  }); // [Cin, ≥fh, ≥fw, Cout]
  const cropped = corr.shape[1] === fh && corr.shape[2] === fw
    ? corr
    : run('Slice', { x: corr }, { begin: [0, 0, 0, 0], size: [inChannels, fh, fw, outChannels] });
  const dW = run('Transpose', { x: cropped }, { perm: [1, 2, 0, 3] }); // [fh, fw, Cin, Cout]
  run.dispose(xT, dyT, corr, cropped);
  return dW;
}

/**
 * out[segmentIds[i], ...] += x[i, ...]; segmentIds' shape is a prefix of x's. Ids outside
 * [0, numSegments) are dropped, as in TensorFlow. The cpu backend's version loops over segments
 * (O(numSegments·N)), which is hopeless for a gather from a memory bank.
 */
function unsortedSegmentSum(args: { inputs: NamedTensorInfoMap; attrs?: NamedAttrMap; backend: unknown }): TensorInfo {
  const { x, segmentIds } = args.inputs as { x: TensorInfo; segmentIds: TensorInfo };
  const { numSegments } = args.attrs as unknown as UnsortedSegmentSumAttrs;
  const backend = args.backend as BackendWasm;
  const inner = tf.util.sizeFromShape(x.shape.slice(segmentIds.shape.length));
  const out = backend.makeOutput([numSegments, ...x.shape.slice(segmentIds.shape.length)], x.dtype);
  // Views are taken after makeOutput: an allocation may grow the heap and detach older views.
  const outVals = backend.typedArrayFromHeap(out);
  const xVals = backend.typedArrayFromHeap(x);
  const ids = backend.typedArrayFromHeap(segmentIds);
  outVals.fill(0);
  for (let i = 0; i < ids.length; i++) {
    const seg = ids[i];
    if (seg < 0 || seg >= numSegments) continue;
    const from = i * inner;
    const to = seg * inner;
    for (let k = 0; k < inner; k++) outVals[to + k] += xVals[from + k];
  }
  return out;
}

/** Runs the cpu backend's kernel on copies of the inputs and copies the result back to wasm. */
function borrowFromCpu(kernelName: string): KernelFunc {
  return ({ inputs, attrs, backend }) => {
    const cpuKernel = tf.getKernel(kernelName, 'cpu');
    const cpu = tf.findBackend('cpu');
    if (cpuKernel == null || cpu == null) throw new Error(`${kernelName} on wasm needs the cpu backend's kernel`);
    const wasm = backend as BackendWasm;
    const copies: TensorInfo[] = [];
    const toCpu = (t: TensorInfo) => {
      const values = wasm.readSync(t.dataId) as tf.backend_util.BackendValues;
      copies.push({ dataId: cpu.write(values, t.shape, t.dtype), shape: t.shape, dtype: t.dtype });
      return copies[copies.length - 1];
    };
    // Most kernels take named inputs; a few (Einsum) take an array.
    const cpuInputs = Array.isArray(inputs)
      ? (inputs as TensorInfo[]).map(toCpu)
      : Object.fromEntries(Object.entries(inputs).map(([name, t]) => [name, t && toCpu(t)]));
    const cpuOut = cpuKernel.kernelFunc({ inputs: cpuInputs as NamedTensorInfoMap, attrs, backend: cpu });
    const cpuOuts = Array.isArray(cpuOut) ? cpuOut : [cpuOut];
    const outs = cpuOuts.map((o) => wasm.makeOutput(o.shape, o.dtype, undefined, cpu.readSync(o.dataId) as tf.backend_util.TypedArray));
    for (const t of [...copies, ...cpuOuts]) cpu.disposeData(t.dataId);
    return Array.isArray(cpuOut) ? outs : outs[0];
  };
}

/** Calls the wasm backend's own kernels directly (no engine bookkeeping, no tape); the caller disposes. */
function kernelRunner(backend: KernelBackend) {
  const run = (kernelName: string, inputs: NamedTensorInfoMap, attrs: NamedAttrMap): TensorInfo => {
    const kernel = tf.getKernel(kernelName, 'wasm');
    if (kernel == null) throw new Error(`wasm backend has no ${kernelName} kernel`);
    return kernel.kernelFunc({ inputs, attrs, backend }) as TensorInfo;
  };
  /** Each distinct tensor once: `cropped` may be `corr` itself. */
  run.dispose = (...infos: TensorInfo[]) => {
    for (const t of new Set(infos)) backend.disposeData(t.dataId);
  };
  return run;
}
