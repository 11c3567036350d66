/**
 * Normalization layers written by hand so their semantics are exact and inspectable:
 * batch norm (PyTorch or Keras momentum convention, or a cumulative average), ghost batch norm,
 * layer norm and group norm.
 *
 * Forward and backward share one custom-gradient core. Its backward pass uses only
 * per-group reductions and forward broadcasts, so no broadcast-gradient (Tile) kernel runs:
 *   dx = (1/σ)·(g − mean_R(g) − x̂·mean_R(g·x̂)),  g = dy·γ,  dγ = Σ dy·x̂,  dβ = Σ dy,
 * where R is the set of elements that share a mean and variance.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ownedVariable } from './layers';
import type { NormSpec } from './spec';
import { newValueMomentum } from '../contract/settings';
import { batchNormTrain, BN_TRAIN } from './kernels/batchnorm';

/** Called with the batch mean and biased variance (keepDims shape) while the forward pass runs. */
type StatsSink = (mean: tf.Tensor, variance: tf.Tensor) => void;

/** Product of dims. */
function prod(dims: number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/**
 * Sum over the first `k` axes, as a matrix product with a ones vector: the backends reduce
 * only over innermost axes and would otherwise transpose the whole tensor first.
 */
function sumLeading(t: tf.Tensor, k: number): tf.Tensor {
  const lead = prod(t.shape.slice(0, k));
  const rest = t.shape.slice(k);
  const flat = tf.reshape(t, [lead, prod(rest)]) as tf.Tensor2D;
  return tf.reshape(tf.matMul(tf.ones([1, lead]) as tf.Tensor2D, flat), rest);
}

/**
 * Mean over `axes` with keepDims. When the axes form one contiguous block that stops before
 * the last (channel) axis — batch norm's [N,H,W] of NHWC, ghost BN's [n,H,W] of [G,n,H,W,C] —
 * it is a batched matrix product with a ones vector instead of a transpose + reduce.
 */
function meanKeep(t: tf.Tensor, axes: number[]): tf.Tensor {
  const r = t.rank;
  const a0 = axes[0];
  const a1 = axes[axes.length - 1];
  const contiguous = axes.every((a, i) => a === a0 + i);
  const keepShape = t.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  if (!contiguous || a1 !== r - 2) return tf.mean(t, axes, true);
  const g = prod(t.shape.slice(0, a0));
  const m = prod(t.shape.slice(a0, a1 + 1));
  const c = t.shape[r - 1];
  const t3 = tf.reshape(t, [g, m, c]) as tf.Tensor3D;
  const s = tf.matMul(tf.fill([g, 1, m], 1 / m) as tf.Tensor3D, t3);
  return tf.reshape(s, keepShape);
}

/**
 * Normalizes `x` over `statAxes` (biased variance, like every framework does for the
 * normalization itself), then applies γ and β, which broadcast against x's trailing axes.
 * Differentiable in x, γ and β through a hand-written gradient.
 */
export function normalizeCore(
  x: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  statAxes: number[],
  eps: number,
  sink?: StatsSink,
): tf.Tensor {
  const lead = x.rank - gamma.rank;
  const f = tf.customGrad(((xi: tf.Tensor, g: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
    const mean = meanKeep(xi, statAxes);
    const centered = tf.sub(xi, mean);
    const variance = meanKeep(tf.square(centered), statAxes);
    const invStd = tf.rsqrt(tf.add(variance, eps));
    const xhat = tf.mul(centered, invStd);
    const value = tf.add(tf.mul(xhat, g), b);
    sink?.(mean, variance);
    save([xhat, invStd, g]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xh, inv, gam] = saved;
        const dgamma = sumLeading(tf.mul(dy, xh), lead);
        const dbeta = sumLeading(dy, lead);
        const gy = tf.mul(dy, gam);
        const m1 = meanKeep(gy, statAxes);
        const m2 = meanKeep(tf.mul(gy, xh), statAxes);
        const dx = tf.mul(inv, tf.sub(tf.sub(gy, m1), tf.mul(xh, m2)));
        return [dx, dgamma, dbeta];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(x, gamma, beta);
}

/**
 * Whether batch norm uses the fused training kernel (kernels/batchnorm.ts). It is registered on
 * wasm and cpu; NORMLAB_FUSED_BN=0 turns it off (for A/B timing and numerics comparisons).
 */
function useFusedBn(): boolean {
  return process.env.NORMLAB_FUSED_BN !== '0' && tf.getKernel(BN_TRAIN, tf.getBackend()) !== undefined;
}

/** Per-channel statistics a BN layer reports. */
export interface BnChannelStats {
  batchMean: number[];
  batchVar: number[];
  runningMean: number[];
  runningVar: number[];
}

/** How a norm layer runs in one forward pass. */
export interface NormMode {
  /** Normalize with the batch's own statistics (training) instead of the running ones. */
  batchStats: boolean;
  /** Update running statistics (only meaningful with batchStats). */
  updateStats: boolean;
}

/** A normalization layer with per-channel γ and β (all kinds share this surface). */
export interface NormLayer {
  readonly name: string;
  readonly spec: NormSpec;
  readonly channels: number;
  readonly gamma: tf.Variable;
  readonly beta: tf.Variable;
  apply(x: tf.Tensor4D, mode: NormMode): tf.Tensor4D;
  dispose(): void;
}

/**
 * Batch norm and ghost batch norm.
 *
 * Running statistics: PyTorch convention `running = (1−m)·running + m·batch` with the
 * unbiased batch variance (n/(n−1)); Keras convention `running = m·running + (1−m)·batch` with
 * the biased batch variance, as Keras' BatchNormalization does (tf.nn.moments); momentum null
 * = cumulative average `running += (batch − running)/k` for the k-th batch (PyTorch's
 * momentum=None).
 *
 * Ghost BN splits the batch, in order, into virtual batches of `virtualBatch` images (the last
 * one may be smaller), normalizes each with its own statistics, and updates the running
 * statistics once per virtual batch in that order — what `x.chunk(...)` + a shared BatchNorm
 * does in common ghost-BN code (e.g. TabNet's GBN). The reported "batch" statistics of a ghost
 * layer are those of the last virtual batch.
 */
export class BatchNorm implements NormLayer {
  readonly gamma: tf.Variable;
  readonly beta: tf.Variable;
  readonly runningMean: tf.Variable;
  readonly runningVar: tf.Variable;
  readonly lastMean: tf.Variable;
  readonly lastVar: tf.Variable;
  /** Batches seen (PyTorch's num_batches_tracked); drives the cumulative average. */
  count = 0;
  private readonly momentumNew: number | null;
  private readonly keras: boolean;
  private readonly eps: number;
  private readonly virtualBatch: number;

  constructor(
    readonly name: string,
    readonly channels: number,
    readonly spec: Extract<NormSpec, { kind: 'batch' | 'ghost' }>,
  ) {
    this.momentumNew = newValueMomentum({ bnConvention: spec.convention, bnMomentum: spec.momentum });
    this.keras = spec.convention === 'keras';
    this.eps = spec.eps;
    this.virtualBatch = spec.kind === 'ghost' ? spec.virtualBatch : 0;
    if (spec.kind === 'ghost' && (!Number.isInteger(spec.virtualBatch) || spec.virtualBatch < 1)) {
      throw new Error(`model spec: layer ${name}: ghost virtualBatch must be a whole number ≥ 1, got ${spec.virtualBatch}`);
    }
    this.gamma = ownedVariable(() => tf.ones([channels]), true);
    this.beta = ownedVariable(() => tf.zeros([channels]), true);
    this.runningMean = ownedVariable(() => tf.zeros([channels]), false);
    this.runningVar = ownedVariable(() => tf.ones([channels]), false);
    this.lastMean = ownedVariable(() => tf.zeros([channels]), false);
    this.lastVar = ownedVariable(() => tf.zeros([channels]), false);
  }

  /** Folds one (virtual) batch's statistics into the running ones. `n` = elements per channel. */
  private update(mean: tf.Tensor1D, biasedVar: tf.Tensor1D, n: number): void {
    this.count += 1;
    const batchVar = this.keras || n <= 1 ? biasedVar : tf.mul(biasedVar, n / (n - 1));
    const m = this.momentumNew === null ? 1 / this.count : this.momentumNew;
    this.runningMean.assign(tf.add(tf.mul(this.runningMean, 1 - m), tf.mul(mean, m)));
    this.runningVar.assign(tf.add(tf.mul(this.runningVar, 1 - m), tf.mul(batchVar, m)));
  }

  /**
   * Takes one batch's statistics computed elsewhere (the ONNX Runtime training step): records
   * them as the last batch and folds them into the running statistics, exactly as a training
   * forward pass of this layer does. `elements` = values per channel (N·H·W). Ghost BN: call it
   * once per virtual batch, in batch order (n·H·W with n that virtual batch's images).
   */
  recordBatch(mean: Float32Array, biasedVar: Float32Array, elements: number): void {
    if (mean.length !== this.channels || biasedVar.length !== this.channels) {
      throw new Error(`layer ${this.name}: batch statistics for ${mean.length} and ${biasedVar.length} channels, expected ${this.channels}`);
    }
    tf.tidy(() => {
      const m = tf.tensor1d(mean);
      const v = tf.tensor1d(biasedVar);
      this.update(m, v, elements);
      this.lastMean.assign(m);
      this.lastVar.assign(v);
    });
  }

  apply(x: tf.Tensor4D, mode: NormMode): tf.Tensor4D {
    const c = this.channels;
    if (x.shape[3] !== c) throw new Error(`layer ${this.name}: expects ${c} channels, got ${x.shape[3]}`);
    if (!mode.batchStats) {
      return tf.tidy(() => {
        const scale = tf.mul(this.gamma, tf.rsqrt(tf.add(this.runningVar, this.eps)));
        const shift = tf.sub(this.beta, tf.mul(this.runningMean, scale));
        return tf.add(tf.mul(x, scale), shift);
      });
    }
    const [n, h, w] = x.shape;
    const vb = this.virtualBatch > 0 ? Math.min(this.virtualBatch, n) : n;
    const groups = Math.floor(n / vb);
    const rest = n - groups * vb;
    // Statistics come out of the custom-gradient forward pass; they are recorded and folded
    // into the running ones there, in virtual-batch order.
    const sink = (size: number) => (mean: tf.Tensor, variance: tf.Tensor) => {
      const g = mean.size / c;
      const means = tf.reshape(mean, [g, c]);
      const vars = tf.reshape(variance, [g, c]);
      for (let i = 0; i < g; i++) {
        const mi = tf.reshape(tf.slice(means, [i, 0], [1, c]), [c]) as tf.Tensor1D;
        const vi = tf.reshape(tf.slice(vars, [i, 0], [1, c]), [c]) as tf.Tensor1D;
        if (mode.updateStats) this.update(mi, vi, size * h * w);
        this.lastMean.assign(mi);
        this.lastVar.assign(vi);
      }
    };
    const main = groups * vb === n ? x : tf.slice(x, [0, 0, 0, 0], [groups * vb, h, w, c]);
    let y: tf.Tensor;
    if (groups === 1) {
      y = this.whole(main, sink(vb));
    } else {
      const x5 = tf.reshape(main, [groups, vb, h, w, c]);
      y = tf.reshape(normalizeCore(x5, this.gamma, this.beta, [1, 2, 3], this.eps, sink(vb)), [groups * vb, h, w, c]);
    }
    if (rest > 0) {
      const tail = tf.slice(x, [groups * vb, 0, 0, 0], [rest, h, w, c]);
      const yt = this.whole(tail, sink(rest));
      y = tf.concat([y, yt], 0);
    }
    return y as tf.Tensor4D;
  }

  /**
   * Batch statistics over all of N·H·W: the fused kernel (one pass forward, one backward, with
   * double accumulators) where the backend has it, the generic core elsewhere. Same formula and
   * gradient; only float rounding differs.
   */
  private whole(x: tf.Tensor4D, sinkFn: StatsSink): tf.Tensor {
    if (!useFusedBn()) return normalizeCore(x, this.gamma, this.beta, [0, 1, 2], this.eps, sinkFn);
    const { y, mean, variance } = batchNormTrain(x, this.gamma as tf.Tensor1D, this.beta as tf.Tensor1D, this.eps);
    sinkFn(mean, variance);
    return y;
  }

  /** Last batch and running statistics per channel (reads back from the backend). */
  stats(): BnChannelStats {
    return {
      batchMean: Array.from(this.lastMean.dataSync()),
      batchVar: Array.from(this.lastVar.dataSync()),
      runningMean: Array.from(this.runningMean.dataSync()),
      runningVar: Array.from(this.runningVar.dataSync()),
    };
  }

  dispose(): void {
    for (const v of [this.gamma, this.beta, this.runningMean, this.runningVar, this.lastMean, this.lastVar]) v.dispose();
  }
}

/**
 * Layer norm: each image normalized over (H, W, C) with per-channel γ/β
 * (PyTorch's nn.LayerNorm([C, H, W]) normalization, with a per-channel affine like GroupNorm(1, C)).
 */
export class LayerNorm implements NormLayer {
  readonly gamma: tf.Variable;
  readonly beta: tf.Variable;
  constructor(
    readonly name: string,
    readonly channels: number,
    readonly spec: Extract<NormSpec, { kind: 'layer' }>,
  ) {
    this.gamma = ownedVariable(() => tf.ones([channels]), true);
    this.beta = ownedVariable(() => tf.zeros([channels]), true);
  }
  apply(x: tf.Tensor4D): tf.Tensor4D {
    if (x.shape[3] !== this.channels) throw new Error(`layer ${this.name}: expects ${this.channels} channels, got ${x.shape[3]}`);
    return normalizeCore(x, this.gamma, this.beta, [1, 2, 3], this.spec.eps) as tf.Tensor4D;
  }
  dispose(): void {
    this.gamma.dispose();
    this.beta.dispose();
  }
}

/** Group norm (Wu & He 2018): channels split into `groups` contiguous groups, each normalized per image. */
export class GroupNorm implements NormLayer {
  readonly gamma: tf.Variable;
  readonly beta: tf.Variable;
  constructor(
    readonly name: string,
    readonly channels: number,
    readonly spec: Extract<NormSpec, { kind: 'group' }>,
  ) {
    if (!Number.isInteger(spec.groups) || spec.groups < 1 || channels % spec.groups !== 0) {
      throw new Error(`model spec: layer ${name}: groups = ${spec.groups} does not divide ${channels} channels`);
    }
    this.gamma = ownedVariable(() => tf.ones([channels]), true);
    this.beta = ownedVariable(() => tf.zeros([channels]), true);
  }
  apply(x: tf.Tensor4D): tf.Tensor4D {
    const [n, h, w, c] = x.shape;
    if (c !== this.channels) throw new Error(`layer ${this.name}: expects ${this.channels} channels, got ${c}`);
    const g = this.spec.groups;
    return tf.tidy(() => {
      const x5 = tf.reshape(x, [n, h, w, g, c / g]);
      const y = normalizeCore(x5, tf.reshape(this.gamma, [g, c / g]), tf.reshape(this.beta, [g, c / g]), [1, 2, 4], this.spec.eps);
      return tf.reshape(y, [n, h, w, c]) as tf.Tensor4D;
    });
  }
  dispose(): void {
    this.gamma.dispose();
    this.beta.dispose();
  }
}

/** Builds the norm layer a spec describes. */
export function makeNorm(name: string, channels: number, spec: NormSpec): NormLayer {
  switch (spec.kind) {
    case 'batch':
    case 'ghost':
      return new BatchNorm(name, channels, spec);
    case 'layer':
      return new LayerNorm(name, channels, spec);
    case 'group':
      return new GroupNorm(name, channels, spec);
    default:
      throw new Error(`model spec: layer ${name}: unknown norm kind ${JSON.stringify((spec as { kind: unknown }).kind)}`);
  }
}
