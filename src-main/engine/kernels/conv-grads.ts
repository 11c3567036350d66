/**
 * Conv2D gradients for the wasm backend, rebuilt on its fast XNNPACK Conv2D.
 *
 * tfjs-backend-wasm 4.22 has no Conv2DBackpropFilter at all, and its Conv2DBackpropInput is a
 * scalar C++ loop (10–15× slower than a forward conv of the same size). Both gradients are
 * themselves convolutions, so we express them as one tf.conv2d each plus cheap transposes:
 *
 * - filter gradient: dW[kh,kw,ci,co] = Σ_{n,oh,ow} x[n, oh·s+kh−pt, ow·s+kw−pl, ci] · dy[n,oh,ow,co].
 *   Read with the batch as the channel axis, that is conv2d(xᵀ [CI,H,W,N], dyᵀ [OH,OW,N,CO])
 *   with dilation = stride, giving [CI,KH,KW,CO].
 * - input gradient: conv2d of dy (zero-stuffed when stride > 1, padded "fully") with the filter
 *   flipped in space and with its in/out channels swapped.
 *
 * The kernels call tf ops. That is safe inside a kernel: the engine does not record the tape
 * while kernelDepth > 0, and the tidy keeps every intermediate from leaking.
 */
import * as tf from '@tensorflow/tfjs-core';
import { backend_util } from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';
import { input } from './heap';

type Pad = 'valid' | 'same' | number | backend_util.ExplicitPadding;

interface ConvGradAttrs {
  strides: [number, number] | number;
  pad: Pad;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/** The engine passes TensorInfos; wrapping them as Tensors lets us use ops on them. */
function asTensor4d(t: TensorInfo): tf.Tensor4D {
  return (t instanceof tf.Tensor ? t : tf.engine().makeTensorFromTensorInfo(t)) as tf.Tensor4D;
}

/**
 * Filter gradient of a 2-D convolution (NHWC), as one conv2d with the batch as channels.
 * Returns the [KH, KW, CI, CO] gradient.
 */
export function conv2dFilterGrad(x: tf.Tensor4D, dy: tf.Tensor4D, filterShape: [number, number, number, number],
  strides: [number, number] | number, pad: Pad, dimRoundingMode?: 'floor' | 'round' | 'ceil'): tf.Tensor4D {
  const info = backend_util.computeConv2DInfo(x.shape, filterShape, strides, 1, pad, dimRoundingMode);
  const [kh, kw, ci, co] = filterShape;
  const p0 = info.padInfo;
  if (kh === 1 && kw === 1 && info.strideHeight === 1 && info.strideWidth === 1 && p0.top === 0 && p0.left === 0 &&
    info.outHeight === x.shape[1] && info.outWidth === x.shape[2]) {
    // A 1×1 convolution is a matrix product: dW = X[M,CI]ᵀ · dY[M,CO]. One 2-D transpose and
    // an XNNPACK GEMM (matMul with transposeA would leave XNNPACK for a slow loop).
    return tf.tidy(() => {
      const m = x.shape[0] * x.shape[1] * x.shape[2];
      const g = tf.matMul(tf.transpose(tf.reshape(x, [m, ci])) as tf.Tensor2D, tf.reshape(dy, [m, co]) as tf.Tensor2D);
      return tf.reshape(g, [1, 1, ci, co]) as tf.Tensor4D;
    });
  }
  return tf.tidy(() => {
    const xt = tf.transpose(x, [3, 1, 2, 0]);
    const dyt = tf.transpose(dy, [1, 2, 0, 3]);
    const p = info.padInfo;
    // A numeric pad can make tfjs round the output size up, so the last window overhangs the
    // stated padding; pad far enough that every window is inside (the overhang reads zeros).
    const bottom = Math.max(p.bottom, (info.outHeight - 1) * info.strideHeight + kh - x.shape[1] - p.top);
    const right = Math.max(p.right, (info.outWidth - 1) * info.strideWidth + kw - x.shape[2] - p.left);
    const explicit: backend_util.ExplicitPadding = [[0, 0], [p.top, bottom], [p.left, right], [0, 0]];
    let g = tf.conv2d(xt, dyt, 1, explicit, 'NHWC', [info.strideHeight, info.strideWidth]);
    // 'same' padding or a stride that does not tile the input can leave extra rows/cols.
    if (g.shape[1] !== kh || g.shape[2] !== kw) g = tf.slice(g, [0, 0, 0, 0], [ci, kh, kw, co]);
    return tf.transpose(g, [1, 2, 0, 3]);
  });
}

/**
 * Input gradient of a 2-D convolution (NHWC): conv2d of the (zero-stuffed) output gradient with
 * the flipped, channel-swapped filter. Returns null when the geometry needs a negative padding
 * (the caller then falls back to the backend's own kernel).
 */
export function conv2dInputGrad(dy: tf.Tensor4D, filter: tf.Tensor4D, inputShape: [number, number, number, number],
  strides: [number, number] | number, pad: Pad, dimRoundingMode?: 'floor' | 'round' | 'ceil'): tf.Tensor4D | null {
  const info = backend_util.computeConv2DInfo(inputShape, filter.shape, strides, 1, pad, dimRoundingMode);
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw, inHeight: h, inWidth: w } = info;
  const [n, oh, ow, co] = dy.shape;
  const dh = (oh - 1) * sh + 1;
  const dw = (ow - 1) * sw + 1;
  const top = kh - 1 - info.padInfo.top;
  const left = kw - 1 - info.padInfo.left;
  // When the last window overhangs the input (numeric pad rounded up), compute a taller/wider
  // gradient and crop it: the overhanging rows/cols correspond to zero padding.
  const bottom0 = h - dh - top + kh - 1;
  const right0 = w - dw - left + kw - 1;
  const bottom = Math.max(0, bottom0);
  const right = Math.max(0, right0);
  if (top < 0 || left < 0) return null;
  return tf.tidy(() => {
    let d: tf.Tensor4D = dy;
    if (sh > 1 || sw > 1) {
      // Zero-stuff: [n,oh,1,ow,1,c] padded to [n,oh,sh,ow,sw,c], then trimmed to (oh−1)·s+1.
      const six = tf.reshape(dy, [n, oh, 1, ow, 1, co]);
      const padded = tf.pad(six, [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]]);
      d = tf.slice(tf.reshape(padded, [n, oh * sh, ow * sw, co]), [0, 0, 0, 0], [n, dh, dw, co]) as tf.Tensor4D;
    }
    const wf = tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]);
    const g = tf.conv2d(d, wf, 1, [[0, 0], [top, bottom], [left, right], [0, 0]]);
    return bottom0 < 0 || right0 < 0 ? tf.slice(g, [0, 0, 0, 0], [n, h, w, g.shape[3]]) : g;
  });
}

function stridesOf(a: ConvGradAttrs): [number, number] {
  return typeof a.strides === 'number' ? [a.strides, a.strides] : a.strides;
}

/** Conv2DBackpropFilter for wasm (the backend has none). */
export function backpropFilterConfig(fallback: KernelConfig | undefined): KernelConfig {
  const kernelFunc = (args: { inputs: NamedTensorInfoMap; attrs?: NamedAttrMap; backend: unknown }): TensorInfo => {
    const x = input(args.inputs, 'x', 'Conv2DBackpropFilter');
    const dy = input(args.inputs, 'dy', 'Conv2DBackpropFilter');
    const attrs = args.attrs as unknown as ConvGradAttrs & { filterShape: [number, number, number, number] };
    if (attrs.dataFormat === 'NCHW') {
      if (fallback) return fallback.kernelFunc(args as Parameters<KernelFunc>[0]) as TensorInfo;
      throw new Error('Conv2DBackpropFilter on wasm: dataFormat NCHW is not supported; use NHWC');
    }
    return conv2dFilterGrad(asTensor4d(x), asTensor4d(dy), attrs.filterShape, stridesOf(attrs), attrs.pad, attrs.dimRoundingMode);
  };
  return { kernelName: tf.Conv2DBackpropFilter, backendName: 'wasm', kernelFunc: kernelFunc as KernelFunc, setupFunc: fallback?.setupFunc };
}

/** Conv2DBackpropInput for wasm, replacing the backend's scalar loop. */
export function backpropInputConfig(fallback: KernelConfig | undefined): KernelConfig {
  const kernelFunc = (args: { inputs: NamedTensorInfoMap; attrs?: NamedAttrMap; backend: unknown }): TensorInfo => {
    const dy = input(args.inputs, 'dy', 'Conv2DBackpropInput');
    const filter = input(args.inputs, 'filter', 'Conv2DBackpropInput');
    const attrs = args.attrs as unknown as ConvGradAttrs & { inputShape: [number, number, number, number] };
    const out = attrs.dataFormat === 'NCHW' ? null
      : conv2dInputGrad(asTensor4d(dy), asTensor4d(filter), attrs.inputShape, stridesOf(attrs), attrs.pad, attrs.dimRoundingMode);
    if (out) return out;
    if (fallback) return fallback.kernelFunc(args as Parameters<KernelFunc>[0]) as TensorInfo;
    throw new Error('Conv2DBackpropInput on wasm: unsupported geometry and no native kernel to fall back to');
  };
  // The native kernel's setup (its cwrap) must still run if the backend initializes after us.
  return { kernelName: tf.Conv2DBackpropInput, backendName: 'wasm', kernelFunc: kernelFunc as KernelFunc, setupFunc: fallback?.setupFunc };
}
