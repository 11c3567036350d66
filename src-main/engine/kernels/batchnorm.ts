/**
 * Training-mode batch norm over N·H·W as two fused kernels (one for the forward, one for the
 * gradient), each two passes over the activation. Written as tf ops, the same math is ~10
 * XNNPACK calls per layer and direction (moments, broadcasts, the Tile of broadcast gradients),
 * each a full read and write of the activation; on the S5 net that was as much time as all
 * the convolutions.
 *
 * Kernel 'NormLabBatchNormTrain': inputs x [N,H,W,C] (any rank, channels last), gamma [C],
 * beta [C]; attr eps; outputs y, mean [C], variance [C] (biased, the one used to normalize).
 * Its gradient treats mean and variance as statistics: only y is differentiated (the mean and
 * variance outputs are for running statistics, which must not feed the loss).
 * Registered for 'wasm' (loops on the heap) and 'cpu' (loops on the backend's arrays); on other
 * backends batchNormTrain() falls back to tf ops with a hand-written gradient.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { GradConfig, KernelConfig, KernelFunc, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from '@tensorflow/tfjs-core';
import { f32, input, type WasmHeapBackend } from './heap';

export const BN_TRAIN = 'NormLabBatchNormTrain';
export const BN_TRAIN_GRAD = 'NormLabBatchNormTrainGrad';

/**
 * Per-channel sums over the rows of `x` ([rows, c] flattened), with v = x − k[j]:
 * without `w`: s[j] = Σv, q[j] = Σv²; with `w`: s[j] = Σw, q[j] = Σw·v.
 * Four channels at a time in local double accumulators: ~4× faster than indexing the
 * accumulator arrays per element, and the same summation order (row by row), so the same bits.
 */
function channelSums(x: Float32Array, c: number, k: Float64Array, w: Float32Array | null, s: Float64Array, q: Float64Array): void {
  const n = x.length;
  let j = 0;
  for (; j + 4 <= c; j += 4) {
    const k0 = k[j], k1 = k[j + 1], k2 = k[j + 2], k3 = k[j + 3];
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0, q0 = 0, q1 = 0, q2 = 0, q3 = 0;
    if (w) {
      for (let o = j; o < n; o += c) {
        const g0 = w[o], g1 = w[o + 1], g2 = w[o + 2], g3 = w[o + 3];
        s0 += g0; s1 += g1; s2 += g2; s3 += g3;
        q0 += g0 * (x[o] - k0); q1 += g1 * (x[o + 1] - k1); q2 += g2 * (x[o + 2] - k2); q3 += g3 * (x[o + 3] - k3);
      }
    } else {
      for (let o = j; o < n; o += c) {
        const v0 = x[o] - k0, v1 = x[o + 1] - k1, v2 = x[o + 2] - k2, v3 = x[o + 3] - k3;
        s0 += v0; s1 += v1; s2 += v2; s3 += v3;
        q0 += v0 * v0; q1 += v1 * v1; q2 += v2 * v2; q3 += v3 * v3;
      }
    }
    s[j] = s0; s[j + 1] = s1; s[j + 2] = s2; s[j + 3] = s3;
    q[j] = q0; q[j + 1] = q1; q[j + 2] = q2; q[j + 3] = q3;
  }
  for (; j < c; j++) {
    const kj = k[j];
    let sj = 0, qj = 0;
    if (w) for (let o = j; o < n; o += c) { sj += w[o]; qj += w[o] * (x[o] - kj); }
    else for (let o = j; o < n; o += c) { const v = x[o] - kj; sj += v; qj += v * v; }
    s[j] = sj;
    q[j] = qj;
  }
}

/**
 * out = u·a[j] + b[j] (+ v·e[j] when `v` is given), per channel j of the last axis. Same
 * blocking as channelSums (3× faster than indexing a, b per element); each element is the same
 * double expression rounded once to float32 as in the plain loop, so the bits are unchanged.
 */
function channelAffine(out: Float32Array, u: Float32Array, a: Float32Array, b: Float32Array, v: Float32Array | null, e: Float32Array | null): void {
  const c = a.length;
  const n = u.length;
  let j = 0;
  for (; j + 4 <= c; j += 4) {
    const a0 = a[j], a1 = a[j + 1], a2 = a[j + 2], a3 = a[j + 3];
    const b0 = b[j], b1 = b[j + 1], b2 = b[j + 2], b3 = b[j + 3];
    if (v && e) {
      const e0 = e[j], e1 = e[j + 1], e2 = e[j + 2], e3 = e[j + 3];
      for (let o = j; o < n; o += c) {
        out[o] = u[o] * a0 + v[o] * e0 + b0;
        out[o + 1] = u[o + 1] * a1 + v[o + 1] * e1 + b1;
        out[o + 2] = u[o + 2] * a2 + v[o + 2] * e2 + b2;
        out[o + 3] = u[o + 3] * a3 + v[o + 3] * e3 + b3;
      }
    } else {
      for (let o = j; o < n; o += c) {
        out[o] = u[o] * a0 + b0;
        out[o + 1] = u[o + 1] * a1 + b1;
        out[o + 2] = u[o + 2] * a2 + b2;
        out[o + 3] = u[o + 3] * a3 + b3;
      }
    }
  }
  for (; j < c; j++) {
    const aj = a[j], bj = b[j];
    if (v && e) { const ej = e[j]; for (let o = j; o < n; o += c) out[o] = u[o] * aj + v[o] * ej + bj; }
    else for (let o = j; o < n; o += c) out[o] = u[o] * aj + bj;
  }
}

/** Forward: per-channel mean and biased variance (double accumulators), then y = x·a + b. */
export function bnForwardInto(y: Float32Array, mean: Float32Array, variance: Float32Array,
  x: Float32Array, gamma: Float32Array, beta: Float32Array, eps: number): void {
  const c = gamma.length;
  const m = x.length / c;
  const s = new Float64Array(c);
  const q = new Float64Array(c);
  // Shift by the first row so the one-pass variance does not cancel catastrophically.
  const k = Float64Array.from(x.subarray(0, c));
  channelSums(x, c, k, null, s, q);
  const a = new Float32Array(c);
  const b = new Float32Array(c);
  for (let j = 0; j < c; j++) {
    const d = s[j] / m;
    const mu = k[j] + d;
    const va = Math.max(0, q[j] / m - d * d);
    mean[j] = mu;
    variance[j] = va;
    const sc = gamma[j] / Math.sqrt(va + eps);
    a[j] = sc;
    b[j] = beta[j] - mu * sc;
  }
  channelAffine(y, x, a, b, null, null);
}

/**
 * Gradient: with s = 1/√(σ²+ε), a = γ·s, x̂ = (x − μ)·s, M = N·H·W:
 * dβ = Σdy, dγ = Σdy·x̂, dx = a·(dy − dβ/M − x̂·dγ/M) = dy·a + x·b + k per channel.
 */
export function bnBackwardInto(dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array,
  dy: Float32Array, x: Float32Array, mean: Float32Array, variance: Float32Array, gamma: Float32Array, eps: number): void {
  const c = gamma.length;
  const m = x.length / c;
  const sd = new Float64Array(c);
  const sdx = new Float64Array(c);
  channelSums(x, c, Float64Array.from(mean), dy, sd, sdx);
  const a = new Float32Array(c);
  const b = new Float32Array(c);
  const k = new Float32Array(c);
  for (let j = 0; j < c; j++) {
    const s = 1 / Math.sqrt(variance[j] + eps);
    const dg = sdx[j] * s;
    dgamma[j] = dg;
    dbeta[j] = sd[j];
    const aj = gamma[j] * s;
    const t = (s * dg) / m;
    a[j] = aj;
    b[j] = -aj * t;
    k[j] = aj * (t * mean[j] - sd[j] / m);
  }
  channelAffine(dx, dy, a, k, x, b);
}

type Args = { inputs: NamedTensorInfoMap; attrs?: NamedAttrMap; backend: unknown };

/** How a backend hands out and receives plain Float32Arrays. */
interface ArrayIO {
  out(shape: number[]): TensorInfo;
  view(t: TensorInfo): Float32Array;
}

function wasmIO(backend: unknown): ArrayIO {
  const b = backend as WasmHeapBackend;
  return { out: (shape) => b.makeOutput(shape, 'float32'), view: (t) => f32(b, t) };
}

interface CpuLike {
  data: { get(id: object): { values: unknown } };
  makeTensorInfo(shape: number[], dtype: 'float32', values?: Float32Array): TensorInfo;
}

function cpuIO(backend: unknown): ArrayIO {
  const b = backend as CpuLike;
  return {
    out: (shape) => b.makeTensorInfo(shape, 'float32', new Float32Array(shape.reduce((p, q) => p * q, 1))),
    view: (t) => {
      const v = b.data.get(t.dataId).values;
      if (!(v instanceof Float32Array)) throw new Error(`${BN_TRAIN}: expected float32 data`);
      return v;
    },
  };
}

function forwardKernel(io: (backend: unknown) => ArrayIO) {
  return (args: Args): TensorInfo[] => {
    const x = input(args.inputs, 'x', BN_TRAIN);
    const gamma = input(args.inputs, 'gamma', BN_TRAIN);
    const beta = input(args.inputs, 'beta', BN_TRAIN);
    const eps = Number(args.attrs?.eps);
    const c = x.shape[x.shape.length - 1]!;
    const d = io(args.backend);
    // Allocate every output before taking views: an allocation may grow (and detach) the heap.
    const y = d.out(x.shape);
    const mean = d.out([c]);
    const variance = d.out([c]);
    bnForwardInto(d.view(y), d.view(mean), d.view(variance), d.view(x), d.view(gamma), d.view(beta), eps);
    return [y, mean, variance];
  };
}

function backwardKernel(io: (backend: unknown) => ArrayIO) {
  return (args: Args): TensorInfo[] => {
    const need = (n: string) => input(args.inputs, n, BN_TRAIN_GRAD);
    const [dy, x, mean, variance, gamma] = ['dy', 'x', 'mean', 'variance', 'gamma'].map(need) as [TensorInfo, TensorInfo, TensorInfo, TensorInfo, TensorInfo];
    const eps = Number(args.attrs?.eps);
    const c = x.shape[x.shape.length - 1]!;
    const d = io(args.backend);
    const dx = d.out(x.shape);
    const dgamma = d.out([c]);
    const dbeta = d.out([c]);
    bnBackwardInto(d.view(dx), d.view(dgamma), d.view(dbeta), d.view(dy), d.view(x), d.view(mean), d.view(variance), d.view(gamma), eps);
    return [dx, dgamma, dbeta];
  };
}

const asT = (t: TensorInfo): tf.Tensor => (t instanceof tf.Tensor ? t : tf.engine().makeTensorFromTensorInfo(t));

/**
 * The wasm forward as 4 XNNPACK passes: Σx, (x−μ)², Σ, then the backend's FusedBatchNorm.
 * An alternative to the fused JS loop (bnForwardInto): on the 2-core dev machine under load the
 * two measured within noise of each other (the JS loop slightly ahead, and it allocates less).
 */
function forwardOps(args: Args): tf.Tensor[] {
  const x = asT(input(args.inputs, 'x', BN_TRAIN));
  const gamma = asT(input(args.inputs, 'gamma', BN_TRAIN)) as tf.Tensor1D;
  const beta = asT(input(args.inputs, 'beta', BN_TRAIN)) as tf.Tensor1D;
  const eps = Number(args.attrs?.eps);
  const axes = x.shape.slice(0, -1).map((_, i) => i);
  return tf.tidy(() => {
    const mean = tf.mean(x, axes) as tf.Tensor1D;
    const variance = tf.mean(tf.squaredDifference(x, mean), axes) as tf.Tensor1D;
    return [tf.batchNorm(x, mean, variance, beta, gamma, eps), mean, variance];
  });
}

/** The wasm gradient as 5 XNNPACK passes: Σdy, dy·x, Σ, then dx = dy·a + FusedBatchNorm(x → x·b + k). */
function backwardOps(args: Args): tf.Tensor[] {
  const need = (n: string) => asT(input(args.inputs, n, BN_TRAIN_GRAD));
  const [dy, x, mean, variance, gamma] = ['dy', 'x', 'mean', 'variance', 'gamma'].map(need) as [tf.Tensor, tf.Tensor, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D];
  const eps = Number(args.attrs?.eps);
  const axes = x.shape.slice(0, -1).map((_, i) => i);
  const m = x.size / x.shape[x.shape.length - 1]!;
  return tf.tidy(() => {
    const sumDy = tf.sum(dy, axes) as tf.Tensor1D;
    const s = tf.rsqrt(tf.add(variance, eps));
    const dgamma = tf.mul(s, tf.sub(tf.sum(tf.mul(dy, x), axes), tf.mul(mean, sumDy))) as tf.Tensor1D;
    const a = tf.mul(gamma, s) as tf.Tensor1D;
    const t = tf.div(tf.mul(s, dgamma), m);
    const b = tf.neg(tf.mul(a, t)) as tf.Tensor1D;
    const k = tf.mul(a, tf.sub(tf.mul(t, mean), tf.div(sumDy, m))) as tf.Tensor1D;
    // batchNorm(x, mean 0, variance 1−ε, offset k, scale b) = x·b + k in one pass.
    const xbk = tf.batchNorm(x, tf.zerosLike(k), tf.fill([k.shape[0]], 1 - eps), k, b, eps);
    return [tf.add(tf.mul(dy, a), xbk), dgamma, sumDy];
  });
}

/**
 * Kernel configs for one backend ('wasm' or 'cpu'): fused JS loops on the backend's memory;
 * NORMLAB_BN_OPS=1 selects the XNNPACK-ops variant on wasm (for profiling on other machines).
 */
export function batchNormKernelConfigs(backendName: 'wasm' | 'cpu'): KernelConfig[] {
  if (backendName === 'wasm' && process.env.NORMLAB_BN_OPS === '1') {
    return [
      { kernelName: BN_TRAIN, backendName, kernelFunc: forwardOps as unknown as KernelFunc },
      { kernelName: BN_TRAIN_GRAD, backendName, kernelFunc: backwardOps as unknown as KernelFunc },
    ];
  }
  const io = backendName === 'wasm' ? wasmIO : cpuIO;
  return [
    { kernelName: BN_TRAIN, backendName, kernelFunc: forwardKernel(io) as unknown as KernelFunc },
    { kernelName: BN_TRAIN_GRAD, backendName, kernelFunc: backwardKernel(io) as unknown as KernelFunc },
  ];
}

/** Gradient of BN_TRAIN: one BN_TRAIN_GRAD call; mean/variance outputs are not differentiated. */
export const batchNormGradConfig: GradConfig = {
  kernelName: BN_TRAIN,
  inputsToSave: ['x', 'gamma'],
  outputsToSave: [false, true, true],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: NamedAttrMap) => {
    const dys = Array.isArray(dy) ? dy : [dy];
    const [x, gamma, mean, variance] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
    // Eager, not lazy: the tape calls each input's thunk inside its own tidy, which would
    // dispose the other two outputs of a shared lazy call.
    const [dx, dgamma, dbeta] = tf.engine().runKernel(BN_TRAIN_GRAD, { dy: dys[0]!, x, mean, variance, gamma }, attrs) as tf.Tensor[];
    return { x: () => dx!, gamma: () => dgamma!, beta: () => dbeta! };
  },
};

/** tf-ops BN for backends without the fused kernels (same math, same gradient). */
function batchNormOps(x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number): { y: tf.Tensor; mean: tf.Tensor1D; variance: tf.Tensor1D } {
  const axes = x.shape.slice(0, -1).map((_, i) => i);
  const { mean, variance } = tf.moments(x, axes);
  const y = tf.customGrad((...args: unknown[]) => {
    const [xx, g, b] = args as [tf.Tensor, tf.Tensor1D, tf.Tensor1D];
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const { mean: mu, variance: va } = tf.moments(xx, axes);
    const s = tf.rsqrt(tf.add(va, eps));
    const a = tf.mul(g, s);
    save([xx, mu, s, a]);
    return {
      value: tf.add(tf.mul(xx, a), tf.sub(b, tf.mul(mu, a))),
      gradFunc: (dyv: tf.Tensor, sv: tf.Tensor[]) => {
        const [x0, mu0, s0, a0] = sv as [tf.Tensor, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D];
        const m = x0.size / x0.shape[x0.shape.length - 1]!;
        const sumDy = tf.sum(dyv, axes);
        const dg = tf.mul(s0, tf.sub(tf.sum(tf.mul(dyv, x0), axes), tf.mul(mu0, sumDy)));
        const t = tf.div(tf.mul(s0, dg), m);
        const dx = tf.add(tf.add(tf.mul(dyv, a0), tf.mul(x0, tf.neg(tf.mul(a0, t)))), tf.mul(a0, tf.sub(tf.mul(t, mu0), tf.div(sumDy, m))));
        return [dx, dg, sumDy];
      },
    };
  })(x, gamma, beta);
  return { y, mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D };
}

/**
 * Batch norm with batch statistics (training mode), channels last. Returns the normalized
 * output and the batch mean and biased variance (for running statistics: PyTorch's running
 * variance uses the unbiased one, variance·M/(M−1)). Differentiable in x, gamma, beta.
 */
export function batchNormTrain(x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D, eps: number): { y: tf.Tensor; mean: tf.Tensor1D; variance: tf.Tensor1D } {
  const c = x.shape[x.shape.length - 1];
  if (gamma.shape[0] !== c || beta.shape[0] !== c) {
    throw new Error(`batchNormTrain: gamma/beta have ${gamma.shape[0]}/${beta.shape[0]} channels, input has ${c}`);
  }
  if (!tf.getKernel(BN_TRAIN, tf.getBackend())) return batchNormOps(x, gamma, beta, eps);
  const [y, mean, variance] = tf.engine().runKernel(BN_TRAIN, { x, gamma, beta }, { eps }) as tf.Tensor[];
  return { y: y!, mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D };
}
