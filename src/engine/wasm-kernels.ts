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
  return added;
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
 * is a stride-1 convolution of x with its batch and channel axes swapped ([Cin,H,W,B] as a batch of
 * Cin images with B channels) by dy used as the filter ([outH,outW,B,Cout]) dilated by the stride.
 * Its output [Cin,fh,fw,Cout] is transposed back to the filter layout [fh,fw,Cin,Cout].
 */
function conv2DBackpropFilter(args: { inputs: NamedTensorInfoMap; attrs?: NamedAttrMap; backend: unknown }): TensorInfo {
  const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = args.attrs as unknown as Conv2DBackpropFilterAttrs;
  const run = kernelRunner(args.backend as KernelBackend);
  const nhwc = dataFormat !== 'NCHW';
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number], filterShape, strides, 1, pad, dimRoundingMode, false,
    tf.backend_util.convertConv2DDataFormat(dataFormat),
  );
  const [fh, fw, inChannels, outChannels] = filterShape;
  const { strideHeight: sh, strideWidth: sw, padInfo } = info;
  const [outH, outW] = nhwc ? [dy.shape[1], dy.shape[2]] : [dy.shape[2], dy.shape[3]];
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
