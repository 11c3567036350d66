/** Small slices of real MNIST digits shaped as multi-channel NHWC tensors for numerics tests. */
import * as tf from '@tensorflow/tfjs-core';
import { loadDataset } from '../../../src-main/data/dataset';
import type { LossKind } from '../../../src-main/contract/settings';
import type { Model } from '../../../src-main/engine/model';
import { lossFn } from '../../../src-main/engine/regularize';

/**
 * [n, h, w, c] floats in [0, 1]: image k of the sample's training split, cropped at the digit's
 * centre; channel ch of item i comes from image (first + i·c + ch). Values are float64 copies so
 * tests can compute reference formulas in double precision.
 */
export async function realPatches(n: number, h: number, w: number, c: number, first = 0): Promise<{ data: Float64Array; shape: [number, number, number, number] }> {
  const ds = await loadDataset('mnist-sample');
  const out = new Float64Array(n * h * w * c);
  const y0 = 14 - Math.floor(h / 2);
  const x0 = 14 - Math.floor(w / 2);
  for (let i = 0; i < n; i++) {
    for (let ch = 0; ch < c; ch++) {
      const img = first + i * c + ch;
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          out[((i * h + y) * w + x) * c + ch] = ds.train.images[img * 784 + (y0 + y) * 28 + (x0 + x)] / 255;
        }
      }
    }
  }
  return { data: out, shape: [n, h, w, c] };
}

/** Max |a − b| / (|b| + scale): relative error with an absolute floor. */
export function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>, scale = 1e-3): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / (Math.abs(b[i]) + scale));
  return m;
}

/**
 * Double-precision reference normalization: statistics over the elements that share `key(index)`,
 * then y = γ[channel]·x̂ + β[channel] (channel = last axis, size c).
 */
export function refNormalize(x: Float64Array, c: number, key: (i: number) => number, gamma: ArrayLike<number>, beta: ArrayLike<number>, eps: number): { y: Float64Array; mean: Map<number, number>; varB: Map<number, number>; count: Map<number, number> } {
  const sum = new Map<number, number>();
  const count = new Map<number, number>();
  for (let i = 0; i < x.length; i++) {
    const k = key(i);
    sum.set(k, (sum.get(k) ?? 0) + x[i]);
    count.set(k, (count.get(k) ?? 0) + 1);
  }
  const mean = new Map<number, number>();
  for (const [k, s] of sum) mean.set(k, s / count.get(k)!);
  const sq = new Map<number, number>();
  for (let i = 0; i < x.length; i++) {
    const k = key(i);
    sq.set(k, (sq.get(k) ?? 0) + (x[i] - mean.get(k)!) ** 2);
  }
  const varB = new Map<number, number>();
  for (const [k, s] of sq) varB.set(k, s / count.get(k)!);
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const k = key(i);
    const ch = i % c;
    y[i] = (gamma[ch] * (x[i] - mean.get(k)!)) / Math.sqrt(varB.get(k)! + eps) + beta[ch];
  }
  return { y, mean, varB, count };
}

/**
 * The reference side of the engine-parity tests: data loss and every parameter's gradient by tfjs
 * autodiff (on whichever backend is current) for one training-mode forward of `model` on [n, 28, 28, 1].
 */
export function autodiffStep(model: Model, x: Float32Array, labels: Int32Array, n: number, classes: number, loss: LossKind, dropoutSeed: number): { loss: number; grads: Float32Array[] } {
  const pa = model.params();
  return tf.tidy(() => {
    const xt = tf.tensor4d(x, [n, 28, 28, 1]);
    const onehot = tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), classes), 'float32') as tf.Tensor2D;
    const { value, grads } = tf.variableGrads(() => lossFn(loss, model.forward(xt, { training: true, dropoutSeed }), onehot), pa.map((p) => p.variable));
    return { loss: value.dataSync()[0], grads: pa.map((p) => Float32Array.from(grads[p.variable.name].dataSync())) };
  });
}
