/**
 * The real network's loss landscape (Li et al. 2018, "Visualizing the loss landscape of neural
 * nets"): 1-D interpolation between two weight vectors, a 2-D grid along two filter-normalized
 * random directions around the trained weights, and the training trajectory projected on its two
 * PCA directions.
 *
 * A "direction" holds every trainable tensor of the model. Conv and dense kernels get Gaussian
 * noise whose every filter (output channel: the last axis in tfjs layout) is rescaled to the norm
 * of the matching weight filter; biases and BN γ/β get zero, so BN parameters are held fixed, as
 * in Li et al. Running statistics are no part of a direction: they stay at the trained values, or
 * are recomputed at every point when asked (population statistics of a calibration batch).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Split } from '../data/dataset';
import { gatherBatch } from '../data/normalize';
import type { Model } from '../engine/model';
import type { NamedWeights } from '../engine/model-types';
import { lossFn } from '../engine/regularize';
import { deriveSeed, gaussian, mulberry32, STREAM } from '../engine/rng';
import type { LossKind } from '../contract/settings';

/** Trainable tensors only (kernel, bias, gamma, beta), by weight name. */
export type Direction = NamedWeights;

const isTrainable = (name: string): boolean => /\/(kernel|bias|gamma|beta)$/.test(name);
const isKernel = (name: string): boolean => name.endsWith('/kernel');

/** Stable 32-bit hash of a weight name, so a direction's noise depends on (seed, name) only. */
function nameHash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/**
 * L2 norm of each filter of a kernel: a filter is one output channel, i.e. the values sharing the
 * last index (conv [kh, kw, in, out] and dense [in, out] alike).
 */
export function filterNorms(t: { shape: number[]; data: Float32Array }): Float64Array {
  const out = t.shape[t.shape.length - 1];
  const s = new Float64Array(out);
  for (let i = 0; i < t.data.length; i++) s[i % out] += t.data[i] * t.data[i];
  for (let f = 0; f < out; f++) s[f] = Math.sqrt(s[f]);
  return s;
}

/**
 * A filter-normalized random direction for `weights`: Gaussian kernels, each filter scaled to the
 * norm of the same filter of the weights; zero for biases and BN γ/β. The noise of a tensor comes
 * from (seed, index, tensor name), so two runs of the same architecture get the same raw noise
 * and the same seed gives the same direction on every call.
 */
export function filterNormalizedDirection(weights: NamedWeights, seed: number, index: number): Direction {
  const dir: Direction = {};
  for (const [name, w] of Object.entries(weights)) {
    if (!isTrainable(name)) continue;
    const data = new Float32Array(w.data.length);
    if (isKernel(name)) {
      const rng = mulberry32(deriveSeed(seed, STREAM.analysis, index, nameHash(name)));
      for (let i = 0; i < data.length; i++) data[i] = gaussian(rng);
      const dn = filterNorms({ shape: w.shape, data });
      const wn = filterNorms(w);
      const out = w.shape[w.shape.length - 1];
      for (let i = 0; i < data.length; i++) {
        const f = i % out;
        data[i] = dn[f] > 0 ? (data[i] * wn[f]) / dn[f] : 0;
      }
    }
    dir[name] = { shape: [...w.shape], data };
  }
  return dir;
}

/** The direction `to − from` over the trainable tensors (for the 1-D interpolation and PCA). */
export function differenceDirection(from: NamedWeights, to: NamedWeights): Direction {
  const dir: Direction = {};
  for (const [name, w] of Object.entries(to)) {
    if (!isTrainable(name)) continue;
    const f = from[name];
    if (!f || f.data.length !== w.data.length) throw new Error(`landscape: weights "${name}" differ in shape between the two weight sets`);
    const data = new Float32Array(w.data.length);
    for (let i = 0; i < data.length; i++) data[i] = w.data[i] - f.data[i];
    dir[name] = { shape: [...w.shape], data };
  }
  return dir;
}

/** Trainable tensors flattened in a fixed (sorted-name) order. */
export function flatten(w: NamedWeights, names: string[]): Float64Array {
  const n = names.reduce((s, k) => s + w[k].data.length, 0);
  const out = new Float64Array(n);
  let o = 0;
  for (const k of names) {
    const t = w[k];
    if (!t) throw new Error(`landscape: weights have no "${k}"`);
    for (let i = 0; i < t.data.length; i++) out[o + i] = t.data[i];
    o += t.data.length;
  }
  return out;
}

/** Inverse of flatten, shaped like `like`. */
export function unflatten(v: ArrayLike<number>, like: NamedWeights, names: string[]): Direction {
  const dir: Direction = {};
  let o = 0;
  for (const k of names) {
    const t = like[k];
    const data = new Float32Array(t.data.length);
    for (let i = 0; i < data.length; i++) data[i] = v[o + i];
    o += data.length;
    dir[k] = { shape: [...t.shape], data };
  }
  return dir;
}

export function trainableNames(w: NamedWeights): string[] {
  return Object.keys(w).filter(isTrainable).sort();
}

/** Eigen-decomposition of a small symmetric matrix (cyclic Jacobi); eigenvalues descending. */
export function symmetricEigen(m: number[][]): { values: number[]; vectors: number[][] } {
  const n = m.length;
  const a = m.map((r) => [...r]);
  const v: number[][] = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) off += a[i][j] * a[i][j];
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        if (Math.abs(a[p][q]) < 1e-300) continue;
        const theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k][p], akq = a[k][q];
          a[k][p] = c * akp - s * akq;
          a[k][q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p][k], aqk = a[q][k];
          a[p][k] = c * apk - s * aqk;
          a[q][k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k][p], vkq = v[k][q];
          v[k][p] = c * vkp - s * vkq;
          v[k][q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => a[y][y] - a[x][x]);
  return { values: order.map((i) => a[i][i]), vectors: order.map((i) => v.map((row) => row[i])) };
}

export interface TrajectoryPca {
  /** Unit-norm principal directions in flattened weight space. */
  directions: [Float64Array, Float64Array];
  /** Share of the variance of the (centred) rows each direction explains. */
  explained: [number, number];
  /** Coordinates of each trajectory point (w_i − w_final) on the two directions. */
  coords: [number, number][];
}

/**
 * PCA of the matrix whose rows are w_i − w_final (centred per column, as sklearn's PCA that Li
 * et al. use). D is large and the rows few, so the eigenvectors come from the small Gram matrix:
 * v_k = Mcᵀu_k / √λ_k. Explained shares are λ_k / Σλ, so their sum is at most 1.
 */
export function trajectoryPca(points: Float64Array[], final: Float64Array): TrajectoryPca {
  const m = points.length;
  if (m < 2) throw new Error(`landscape: the trajectory needs at least 2 saved epochs, got ${m}`);
  const dim = final.length;
  const rows = points.map((p) => {
    if (p.length !== dim) throw new Error('landscape: trajectory weights differ in size from the final weights');
    const r = new Float64Array(dim);
    for (let i = 0; i < dim; i++) r[i] = p[i] - final[i];
    return r;
  });
  const mean = new Float64Array(dim);
  for (const r of rows) for (let i = 0; i < dim; i++) mean[i] += r[i] / m;
  const centred = rows.map((r) => r.map((x, i) => x - mean[i]));
  const gram = centred.map((a) => centred.map((b) => { let s = 0; for (let i = 0; i < dim; i++) s += a[i] * b[i]; return s; }));
  const { values, vectors } = symmetricEigen(gram);
  const total = values.reduce((s, x) => s + Math.max(0, x), 0);
  const dirs: Float64Array[] = [];
  for (let k = 0; k < 2; k++) {
    const d = new Float64Array(dim);
    const lam = Math.max(0, values[k] ?? 0);
    if (lam > 0) {
      for (let r = 0; r < m; r++) { const u = vectors[k][r]; for (let i = 0; i < dim; i++) d[i] += u * centred[r][i]; }
      const norm = Math.sqrt(d.reduce((s, x) => s + x * x, 0));
      for (let i = 0; i < dim; i++) d[i] /= norm;
    }
    dirs.push(d);
  }
  const dot = (a: Float64Array, b: Float64Array) => { let s = 0; for (let i = 0; i < dim; i++) s += a[i] * b[i]; return s; };
  return {
    directions: [dirs[0], dirs[1]],
    explained: [total > 0 ? Math.max(0, values[0]) / total : 0, total > 0 ? Math.max(0, values[1] ?? 0) / total : 0],
    coords: rows.map((r) => [dot(r, dirs[0]), dot(r, dirs[1])]),
  };
}

/** Loss and accuracy of one weight point. */
export interface PointValue {
  loss: number;
  acc: number;
}

/**
 * What evaluateGrid and the job need of an evaluator: the tfjs LandscapeEvaluator (synchronous)
 * and the ONNX Runtime one (analysis/landscape-ort.ts, asynchronous) both fit.
 */
export interface PointEvaluator {
  /** Images in the evaluation slice. */
  readonly count: number;
  /** Which engine evaluates the points ('tfjs' or 'onnxruntime'), for the report's notes. */
  readonly engine: string;
  at(coeffs: number[]): PointValue | Promise<PointValue>;
  dispose(): void;
}

export interface EvaluatorOptions {
  loss?: LossKind;
  /** Images per predict call (default: the whole slice in one call, at most 1000). */
  batch?: number;
  /** Recompute BN running statistics at every point from this calibration split. */
  calibration?: Split;
  /** Images of the calibration split used (default 256). */
  calibrationLimit?: number;
}

/**
 * Evaluates a model at base + a·d1 + b·d2 on a fixed evaluation slice. The slice is turned into
 * tensors once; each point assigns the variables with tensor ops (no copies through JS) and runs
 * one predict per batch. The model's own variables are overwritten: dispose the model after.
 */
export class LandscapeEvaluator implements PointEvaluator {
  readonly engine = 'tfjs';
  private readonly vars: { name: string; variable: tf.Variable; base: tf.Tensor; d: tf.Tensor[] }[] = [];
  private readonly batches: { x: tf.Tensor4D; onehot: tf.Tensor2D; labels: tf.Tensor1D; n: number }[] = [];
  private readonly calib: tf.Tensor4D | null = null;
  private readonly baseStats: Map<string, { mean: tf.Tensor; variance: tf.Tensor }> = new Map();
  readonly count: number;

  constructor(
    private readonly model: Model,
    base: NamedWeights,
    directions: Direction[],
    slice: Split,
    normalization: { mean: number[]; std: number[] },
    private readonly opts: EvaluatorOptions = {},
  ) {
    model.setWeights(base);
    const [h, w, c] = model.spec.input;
    const pixels = h * w * c;
    for (const p of model.params()) {
      const b = base[p.name];
      this.vars.push({
        name: p.name,
        variable: p.variable,
        base: tf.tensor(b.data, b.shape, 'float32'),
        d: directions.map((dir) => {
          const t = dir[p.name];
          if (!t) throw new Error(`landscape: the direction has no "${p.name}"`);
          return tf.tensor(t.data, t.shape, 'float32');
        }),
      });
    }
    this.count = slice.count;
    if (slice.count < 1) throw new Error('landscape: the evaluation slice is empty');
    const batch = Math.max(1, opts.batch ?? Math.min(1000, slice.count));
    const identity = Uint32Array.from({ length: slice.count }, (_, i) => i);
    const classes = model.spec.classes;
    for (let start = 0; start < slice.count; start += batch) {
      const n = Math.min(batch, slice.count - start);
      const x = gatherBatch(slice.images, identity, start, n, pixels, normalization.mean, normalization.std);
      const labels = tf.tensor1d(Int32Array.from(slice.labels.subarray(start, start + n)), 'int32');
      this.batches.push({
        x: tf.tensor4d(x, [n, h, w, c]),
        labels,
        onehot: tf.tidy(() => tf.cast(tf.oneHot(labels, classes), 'float32') as tf.Tensor2D),
        n,
      });
    }
    if (opts.calibration && model.bnLayers().length > 0) {
      const cal = opts.calibration;
      const n = Math.min(cal.count, opts.calibrationLimit ?? 256);
      const x = gatherBatch(cal.images, Uint32Array.from({ length: n }, (_, i) => i), 0, n, pixels, normalization.mean, normalization.std);
      this.calib = tf.tensor4d(x, [n, h, w, c]);
    }
    for (const bn of model.bnLayers()) {
      this.baseStats.set(bn.name, { mean: bn.runningMean.clone(), variance: bn.runningVar.clone() });
    }
  }

  /** Sets the variables to base + Σ coeffs[k]·d_k. */
  private moveTo(coeffs: number[]): void {
    for (const v of this.vars) {
      tf.tidy(() => {
        let t: tf.Tensor = v.base;
        coeffs.forEach((a, k) => { if (a !== 0) t = tf.add(t, tf.mul(v.d[k], a)); });
        v.variable.assign(t);
      });
    }
    if (this.calib) this.recomputeBn();
    else for (const bn of this.model.bnLayers()) {
      const s = this.baseStats.get(bn.name)!;
      bn.runningMean.assign(s.mean);
      bn.runningVar.assign(s.variance);
    }
  }

  /**
   * Population BN statistics at the current weights: one pass over the calibration batch in
   * batch-statistics mode normalizes every layer by that whole batch's statistics, so the input
   * each BN layer sees is exactly what it would see with the new running statistics — one pass
   * gives all layers' population mean and (unbiased) variance.
   */
  private recomputeBn(): void {
    const bns = this.model.bnLayers();
    const { logits, inputs } = this.model.forwardWithTaps(this.calib!, bns.map((b) => b.name), { training: false, batchStats: true, updateStats: false });
    logits.dispose();
    for (const bn of bns) {
      const x = inputs[bn.name];
      tf.tidy(() => {
        // Every axis but the channels: [N, H, W, C] after a conv, [N, C] after a dense layer.
        const { mean, variance } = tf.moments(x, x.shape.slice(0, -1).map((_, i) => i));
        const count = x.size / x.shape[x.shape.length - 1];
        bn.runningMean.assign(mean);
        bn.runningVar.assign(tf.mul(variance, count / Math.max(1, count - 1)));
      });
      x.dispose();
    }
  }

  /**
   * Loss and accuracy at base + Σ coeffs[k]·d_k. The loss is Σ_batches lossFn·n / count, the
   * same arithmetic as engine/train.ts evaluate(), so the centre equals evaluate()'s loss with the
   * same batch size.
   */
  at(coeffs: number[]): PointValue {
    this.moveTo(coeffs);
    let lossSum = 0;
    let correct = 0;
    const kind = this.opts.loss ?? 'ce';
    for (const b of this.batches) {
      const r = tf.tidy(() => {
        const logits = this.model.predict(b.x);
        const l = tf.mul(lossFn(kind, logits, b.onehot), b.n);
        const c = tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), b.labels), 'float32'));
        return tf.stack([l, c]);
      });
      const [l, c] = r.dataSync();
      r.dispose();
      lossSum += l;
      correct += c;
    }
    return { loss: lossSum / this.count, acc: correct / this.count };
  }

  dispose(): void {
    for (const v of this.vars) { v.base.dispose(); for (const d of v.d) d.dispose(); }
    for (const b of this.batches) { b.x.dispose(); b.onehot.dispose(); b.labels.dispose(); }
    this.calib?.dispose();
    for (const s of this.baseStats.values()) { s.mean.dispose(); s.variance.dispose(); }
  }
}

/** Evenly spaced values from lo to hi, n of them (n ≥ 2). */
export function linspace(lo: number, hi: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => (n === 1 ? lo : lo + ((hi - lo) * i) / (n - 1)));
}

export interface GridHooks {
  /** After each row: rows done and all rows. */
  onRow?(done: number, rows: number): void | Promise<void>;
  /** After each point (e.g. yield to the event loop so a cancel message can arrive). */
  onPoint?(): void | Promise<void>;
  cancelled?(): boolean;
}

/**
 * Loss/accuracy on the grid xs × ys (row-major: row j is ys[j]) with either evaluator. Resolves
 * null if cancelled.
 */
export async function evaluateGrid(ev: PointEvaluator, xs: number[], ys: number[], hooks: GridHooks = {}): Promise<{ loss: Float64Array; acc: Float64Array } | null> {
  const loss = new Float64Array(xs.length * ys.length);
  const acc = new Float64Array(xs.length * ys.length);
  for (let j = 0; j < ys.length; j++) {
    for (let i = 0; i < xs.length; i++) {
      const v = await ev.at([xs[i], ys[j]]);
      loss[j * xs.length + i] = v.loss;
      acc[j * xs.length + i] = v.acc;
      await hooks.onPoint?.();
      if (hooks.cancelled?.()) return null;
    }
    await hooks.onRow?.(j + 1, ys.length);
    if (hooks.cancelled?.()) return null;
  }
  return { loss, acc };
}
