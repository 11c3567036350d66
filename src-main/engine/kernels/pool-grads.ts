/**
 * MaxPoolGrad for wasm as one JavaScript pass on the heap. The backend's own kernel takes ~30 ms
 * for the S5 pool at batch 128 (as long as the layer's forward and backward convolutions
 * together); this loop takes ~1–2 ms. Semantics follow the cpu backend exactly: within each
 * window the first strictly largest input (row-major) receives the output gradient, and
 * overlapping windows accumulate.
 */
import { backend_util, MaxPoolGrad } from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';
import { f32, input as need, type WasmHeapBackend } from './heap';

interface MaxPoolGradAttrs {
  filterSize: [number, number] | number;
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/** dx for a max pool over NHWC `x` with output gradient `dy` (plain arrays; exported for tests). */
export function maxPoolGradInto(dx: Float32Array, x: Float32Array, dy: Float32Array, info: backend_util.Conv2DInfo): void {
  const { batchSize: nB, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow } = info;
  const { strideHeight: sh, strideWidth: sw, filterHeight: fh, filterWidth: fw } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  dx.fill(0);
  for (let n = 0; n < nB; n++) {
    const xb = n * h * w * c;
    for (let r = 0; r < oh; r++) {
      const r0 = r * sh - top;
      const rs = Math.max(0, r0);
      const re = Math.min(h, r0 + fh);
      for (let q = 0; q < ow; q++) {
        const q0 = q * sw - left;
        const qs = Math.max(0, q0);
        const qe = Math.min(w, q0 + fw);
        const dyo = ((n * oh + r) * ow + q) * c;
        for (let ch = 0; ch < c; ch++) {
          let best = -Infinity;
          let at = -1;
          for (let i = rs; i < re; i++) {
            let o = xb + (i * w + qs) * c + ch;
            for (let j = qs; j < qe; j++, o += c) {
              const v = x[o];
              if (v > best) { best = v; at = o; }
            }
          }
          if (at >= 0) dx[at] += dy[dyo + ch];
        }
      }
    }
  }
}

function maxPoolGrad(args: { inputs: NamedTensorInfoMap; attrs?: NamedAttrMap; backend: unknown }): TensorInfo {
  const dy = need(args.inputs, 'dy', 'MaxPoolGrad');
  const input = need(args.inputs, 'input', 'MaxPoolGrad');
  const a = args.attrs as unknown as MaxPoolGradAttrs;
  const backend = args.backend as WasmHeapBackend;
  const info = backend_util.computePool2DInfo(input.shape as [number, number, number, number], a.filterSize, a.strides, 1, a.pad, a.dimRoundingMode);
  const out = backend.makeOutput(input.shape, 'float32');
  maxPoolGradInto(f32(backend, out), f32(backend, input), f32(backend, dy), info);
  return out;
}

/** MaxPoolGrad for wasm. */
export const maxPoolGradConfig: KernelConfig = { kernelName: MaxPoolGrad, backendName: 'wasm', kernelFunc: maxPoolGrad as unknown as KernelFunc };
