/**
 * Fused inverted dropout: y = x · mask, with the mask drawn inside the kernel from
 * mulberry32(seed) exactly as engine/layers.ts dropoutMask draws it (same element order, same
 * comparison, same float32 scale), so results are bit-identical to tf.mul(x, dropoutMask(...)).
 *
 * Why: building the mask as a JS array, uploading it and multiplying cost ~11% of an S5
 * training step on wasm (2.3M mask elements per step at batch 128). Here the forward is one
 * pass that writes y and the mask; the gradient multiplies dy by the saved mask.
 *
 * Kernel 'NormLabDropout': input x (float32, any shape); attrs rate (0 ≤ rate < 1), seed (uint32);
 * outputs y and mask (both x's shape).
 * Registered for 'wasm' (loops on the heap) and 'cpu'.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { GradConfig, KernelConfig, KernelFunc, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';
import { f32, input, type WasmHeapBackend } from './heap';

export const DROPOUT = 'NormLabDropout';

/**
 * y[i] = x[i] · m[i], m[i] = (u_i ≥ rate ? 1/(1−rate) : 0), u_i the i-th draw of mulberry32(seed);
 * the mask m is written to `mask` when given.
 */
export function dropoutInto(y: Float32Array, x: Float32Array, rate: number, seed: number, mask?: Float32Array): void {
  // The float32 value the mask tensor would hold.
  const scale = Math.fround(1 / (1 - rate));
  // u = v / 2³² ≥ rate  ⟺  v ≥ rate·2³² exactly (scaling by a power of two is exact): no division.
  const threshold = rate * 4294967296;
  let a = seed >>> 0;
  const n = x.length;
  for (let i = 0; i < n; i++) {
    // mulberry32, inlined (engine/rng.ts); keep the two in step.
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    // A float32 × float32 product is exact in double, so the store rounds it like f32 multiply.
    const m = (t ^ (t >>> 14)) >>> 0 >= threshold ? scale : 0;
    y[i] = x[i] * m;
    if (mask) mask[i] = m;
  }
}

type Args = { inputs: NamedTensorInfoMap; attrs?: NamedAttrMap; backend: unknown };

function attrsOf(args: Args): { rate: number; seed: number } {
  const rate = Number(args.attrs?.rate);
  const seed = Number(args.attrs?.seed);
  if (!(rate >= 0 && rate < 1)) throw new Error(`${DROPOUT}: rate must be in [0, 1), got ${args.attrs?.rate}`);
  if (!Number.isFinite(seed)) throw new Error(`${DROPOUT}: seed must be a number, got ${args.attrs?.seed}`);
  return { rate, seed };
}

function wasmKernel(args: Args): TensorInfo[] {
  const x = input(args.inputs, 'x', DROPOUT);
  const { rate, seed } = attrsOf(args);
  const b = args.backend as WasmHeapBackend;
  const y = b.makeOutput(x.shape, 'float32');
  const mask = b.makeOutput(x.shape, 'float32');
  dropoutInto(f32(b, y), f32(b, x), rate, seed, f32(b, mask));
  return [y, mask];
}

interface CpuLike {
  data: { get(id: object): { values: unknown } };
  makeTensorInfo(shape: number[], dtype: 'float32', values?: Float32Array): TensorInfo;
}

function cpuKernel(args: Args): TensorInfo[] {
  const x = input(args.inputs, 'x', DROPOUT);
  const { rate, seed } = attrsOf(args);
  const b = args.backend as CpuLike;
  const xv = b.data.get(x.dataId).values;
  if (!(xv instanceof Float32Array)) throw new Error(`${DROPOUT}: expected float32 data`);
  const y = new Float32Array(xv.length);
  const mask = new Float32Array(xv.length);
  dropoutInto(y, xv, rate, seed, mask);
  return [b.makeTensorInfo(x.shape, 'float32', y), b.makeTensorInfo(x.shape, 'float32', mask)];
}

/** Kernel configs for 'wasm' and 'cpu'. */
export function dropoutKernelConfigs(): KernelConfig[] {
  return [
    { kernelName: DROPOUT, backendName: 'wasm', kernelFunc: wasmKernel as unknown as KernelFunc },
    { kernelName: DROPOUT, backendName: 'cpu', kernelFunc: cpuKernel as unknown as KernelFunc },
  ];
}

/**
 * d/dx of x·mask is dy·mask, one XNNPACK multiply with the saved mask (drawing the mask again
 * from the seed measured slower: the generator, not the multiply, is the cost).
 */
export const dropoutGradConfig: GradConfig = {
  kernelName: DROPOUT,
  outputsToSave: [false, true],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
    const g = Array.isArray(dy) ? dy[0]! : dy;
    const mask = saved[0]!;
    return { x: () => tf.mul(g, mask) };
  },
};

/** Registers the kernel (wasm, cpu) and its gradient. Idempotent. */
export function registerDropoutKernels(): void {
  if (!tf.getGradient(DROPOUT)) tf.registerGradient(dropoutGradConfig);
  for (const c of dropoutKernelConfigs()) if (!tf.getKernel(c.kernelName, c.backendName)) tf.registerKernel(c);
}

/**
 * Inverted dropout of float32 `x` with the mask of mulberry32(seed) (bit-identical to
 * tf.mul(x, dropoutMask(x.shape, rate, seed))), through the fused kernel. Returns null when the
 * active backend has no fused kernel (the caller then multiplies by the mask itself), or when
 * NORMLAB_FUSED_DROPOUT=0 (for A/B timing).
 */
export function fusedDropout(x: tf.Tensor, rate: number, seed: number): tf.Tensor | null {
  if (process.env.NORMLAB_FUSED_DROPOUT === '0' || x.dtype !== 'float32' || !tf.getKernel(DROPOUT, tf.getBackend())) return null;
  const [y, mask] = tf.engine().runKernel(DROPOUT, { x }, { rate, seed }) as tf.Tensor[];
  // A tape keeps its own clone of the saved mask, so this handle can go now.
  mask!.dispose();
  return y!;
}
