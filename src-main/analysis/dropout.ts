/**
 * Dropout ensemble: K Monte Carlo dropout masks against the weight-scaling rule.
 *
 * Inverted dropout trains 2^N thinned subnetworks; at test time the usual shortcut is the
 * "expected network" (every unit kept, no rescaling needed). Averaging the softmax of K sampled
 * masks is the Monte Carlo estimate of the true ensemble. Norm layers use their running
 * statistics in both, so the only difference between the two is the masks.
 *
 * Pure engine functions (tfjs, no Node): the worker job and the tests call them directly.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Split } from '../data/dataset';
import { gatherBatch } from '../data/normalize';
import type { Model } from '../engine/model';
import { deriveSeed, STREAM } from '../engine/rng';
import type { ModelSpec } from '../engine/spec';
import type { DropoutCurvePoint, DropoutDecile, DropoutImage } from '../contract/dropout';

/** Tag mixed into mask seeds so MC-dropout masks never coincide with another analysis' stream. */
const MC_TAG = 0x6d63_6470; // "mcdp"
/** Probabilities are clamped here before a log, so one confident wrong image cannot make the loss infinite. */
const P_FLOOR = 1e-7;

/** The dropout layers of a spec with their rates (rate 0 layers included). */
export function dropoutLayers(spec: ModelSpec): { name: string; rate: number }[] {
  return spec.nodes.flatMap((l) => (l.op === 'dropout' || l.op === 'dropout2d' ? [{ name: l.name, rate: l.rate }] : []));
}

/** True when at least one dropout layer has a non-zero rate (otherwise every mask is the identity). */
export function hasActiveDropout(spec: ModelSpec): boolean {
  return dropoutLayers(spec).some((l) => l.rate > 0);
}

/** Seed of mask `k` for test batch `batch`: depends only on (seed, k, batch), never on the backend. */
export function maskSeed(seed: number, k: number, batch: number): number {
  return deriveSeed(seed, STREAM.analysis, MC_TAG, k, batch);
}

/**
 * Logits of one MC-dropout pass: dropout ON with the given mask seed, norm layers in eval mode
 * (running statistics, nothing updated). `training: true` would also switch BN to batch
 * statistics and move the running averages, which is not MC dropout.
 */
export function mcLogits(model: Model, x: tf.Tensor4D, seed: number): tf.Tensor2D {
  return model.forward(x, { training: false, dropout: true, batchStats: false, updateStats: false, dropoutSeed: seed });
}

/** Shannon entropy (nats) of one distribution stored at p[off..off+classes). */
export function entropyAt(p: ArrayLike<number>, off: number, classes: number): number {
  let h = 0;
  for (let c = 0; c < classes; c++) {
    const v = p[off + c];
    if (v > 0) h -= v * Math.log(v);
  }
  return h;
}

function argmaxAt(p: ArrayLike<number>, off: number, classes: number): number {
  let arg = 0;
  for (let c = 1; c < classes; c++) if (p[off + c] > p[off + arg]) arg = c;
  return arg;
}

/**
 * Running statistics of K masks' softmax outputs over N images: the ensemble curve as masks are
 * added, and per image the mean, spread, entropy, mutual information and disagreement.
 */
export class EnsembleAccumulator {
  readonly sum: Float64Array;
  readonly sumSq: Float64Array;
  /** Σ over masks of each mask's own predictive entropy (for the mutual information). */
  readonly sumEntropy: Float64Array;
  /** argmax of each mask, mask-major: preds[k·N + i]. */
  private readonly preds: Uint16Array;
  readonly curve: DropoutCurvePoint[] = [];
  k = 0;

  constructor(
    readonly n: number,
    readonly classes: number,
    readonly labels: ArrayLike<number>,
    readonly maxMasks: number,
  ) {
    if (labels.length < n) throw new RangeError(`EnsembleAccumulator: ${labels.length} labels for ${n} images`);
    this.sum = new Float64Array(n * classes);
    this.sumSq = new Float64Array(n * classes);
    this.sumEntropy = new Float64Array(n);
    this.preds = new Uint16Array(n * maxMasks);
  }

  /** Adds one mask's probabilities (N × classes, rows summing to 1) and appends a curve point. */
  add(probs: ArrayLike<number>): DropoutCurvePoint {
    const { n, classes } = this;
    if (probs.length !== n * classes) throw new RangeError(`EnsembleAccumulator.add: got ${probs.length} values, need ${n}×${classes}`);
    if (this.k >= this.maxMasks) throw new RangeError(`EnsembleAccumulator: already holds ${this.maxMasks} masks`);
    const k = this.k + 1;
    let memberCorrect = 0;
    let correct = 0;
    let lossSum = 0;
    for (let i = 0; i < n; i++) {
      const off = i * classes;
      for (let c = 0; c < classes; c++) {
        const v = probs[off + c];
        this.sum[off + c] += v;
        this.sumSq[off + c] += v * v;
      }
      this.sumEntropy[i] += entropyAt(probs, off, classes);
      const member = argmaxAt(probs, off, classes);
      this.preds[this.k * n + i] = member;
      if (member === this.labels[i]) memberCorrect++;
      if (argmaxAt(this.sum, off, classes) === this.labels[i]) correct++;
      lossSum -= Math.log(Math.max(P_FLOOR, this.sum[off + this.labels[i]] / k));
    }
    this.k = k;
    const point = { k, acc: correct / n, loss: lossSum / n, memberAcc: memberCorrect / n };
    this.curve.push(point);
    return point;
  }

  /** Per-image summaries of the masks added so far. */
  finish(): EnsembleStats {
    const { n, classes, k } = this;
    if (k === 0) throw new Error('EnsembleAccumulator: no masks were added');
    const mean = new Float32Array(n * classes);
    const std = new Float32Array(n * classes);
    const entropy = new Float32Array(n);
    const mutualInfo = new Float32Array(n);
    const disagreement = new Float32Array(n);
    const pred = new Uint16Array(n);
    for (let i = 0; i < n; i++) {
      const off = i * classes;
      for (let c = 0; c < classes; c++) {
        const m = this.sum[off + c] / k;
        mean[off + c] = m;
        std[off + c] = Math.sqrt(Math.max(0, this.sumSq[off + c] / k - m * m));
      }
      const h = entropyAt(this.sum.subarray(off, off + classes).map((v) => v / k), 0, classes);
      // From the float64 sums, like the curve, so the last curve point equals the final accuracy.
      const p = argmaxAt(this.sum, off, classes);
      entropy[i] = h;
      // Rounding can make H(mean) − mean(H) a hair negative when every mask agrees exactly.
      mutualInfo[i] = Math.max(0, h - this.sumEntropy[i] / k);
      pred[i] = p;
      let differ = 0;
      for (let j = 0; j < k; j++) if (this.preds[j * n + i] !== p) differ++;
      disagreement[i] = differ / k;
    }
    return { n, classes, samples: k, mean, std, entropy, mutualInfo, disagreement, pred, curve: this.curve.slice() };
  }
}

export interface EnsembleStats {
  n: number;
  classes: number;
  samples: number;
  mean: Float32Array;
  std: Float32Array;
  entropy: Float32Array;
  mutualInfo: Float32Array;
  disagreement: Float32Array;
  pred: Uint16Array;
  curve: DropoutCurvePoint[];
}

export interface EnsembleOptions {
  /** Masks K (≥ 1). */
  samples: number;
  seed: number;
  /** Images per forward pass (default 250). Masks are drawn per batch, so the batch size is part of the seed. */
  batch?: number;
}

export interface EnsembleHooks {
  /** After every batch of every mask; fraction in 0..1. */
  progress?(fraction: number, mask: number, point?: DropoutCurvePoint): void;
  /** Polled between batches; true stops the analysis (the function then returns null). */
  cancelled?(): boolean;
}

export interface EnsembleOutcome {
  stats: EnsembleStats;
  /** The expected network (no dropout), one pass. */
  weightScaled: { acc: number; loss: number; probs: Float32Array; pred: Uint16Array };
  seconds: number;
}

const yieldToEventLoop = () => new Promise<void>((r) => setImmediate(r));

/** Softmax probabilities of a batch of logits, read back to the CPU. */
function softmaxData(logits: tf.Tensor2D): Float32Array {
  const p = tf.softmax(logits);
  const d = p.dataSync() as Float32Array;
  p.dispose();
  return d;
}

/**
 * Runs the weight-scaled network once and K MC-dropout passes over `split` (already limited),
 * with inputs normalized as in training. Yields to the event loop after each batch so a worker
 * can receive a cancel; returns null when cancelled.
 */
export async function dropoutEnsemble(
  model: Model,
  split: Split,
  normalization: { mean: number[]; std: number[] },
  opts: EnsembleOptions,
  hooks: EnsembleHooks = {},
): Promise<EnsembleOutcome | null> {
  const started = performance.now();
  const [h, w, c] = model.spec.input;
  const classes = model.spec.classes;
  const pixels = h * w * c;
  const n = split.count;
  if (!(Number.isInteger(opts.samples) && opts.samples >= 1)) throw new RangeError(`dropout ensemble: samples must be a positive integer, got ${opts.samples}`);
  if (n < 1) throw new RangeError('dropout ensemble: the test slice is empty');
  const batch = Math.max(1, Math.floor(opts.batch ?? 250));
  const batches = Math.ceil(n / batch);
  const identity = Uint32Array.from({ length: n }, (_, i) => i);
  const inputs: tf.Tensor4D[] = [];
  try {
    for (let b = 0; b < batches; b++) {
      const start = b * batch;
      const m = Math.min(batch, n - start);
      const x = gatherBatch(split.images, identity, start, m, pixels, normalization.mean, normalization.std);
      inputs.push(tf.tensor4d(x, [m, h, w, c]));
    }
    const labels = split.labels.subarray(0, n);
    const wsProbs = new Float32Array(n * classes);
    for (let b = 0; b < batches; b++) {
      const logits = model.predict(inputs[b]);
      wsProbs.set(softmaxData(logits), b * batch * classes);
      logits.dispose();
    }
    const wsPred = new Uint16Array(n);
    let wsCorrect = 0;
    let wsLoss = 0;
    for (let i = 0; i < n; i++) {
      wsPred[i] = argmaxAt(wsProbs, i * classes, classes);
      if (wsPred[i] === labels[i]) wsCorrect++;
      wsLoss -= Math.log(Math.max(P_FLOOR, wsProbs[i * classes + labels[i]]));
    }

    const acc = new EnsembleAccumulator(n, classes, labels, opts.samples);
    const maskProbs = new Float32Array(n * classes);
    const total = opts.samples * batches;
    for (let k = 0; k < opts.samples; k++) {
      for (let b = 0; b < batches; b++) {
        const logits = mcLogits(model, inputs[b], maskSeed(opts.seed, k, b));
        maskProbs.set(softmaxData(logits), b * batch * classes);
        logits.dispose();
        const point = b === batches - 1 ? acc.add(maskProbs) : undefined;
        hooks.progress?.((k * batches + b + 1) / total, k + 1, point);
        await yieldToEventLoop();
        if (hooks.cancelled?.()) return null;
      }
    }
    return {
      stats: acc.finish(),
      weightScaled: { acc: wsCorrect / n, loss: wsLoss / n, probs: wsProbs, pred: wsPred },
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    for (const t of inputs) t.dispose();
  }
}

/**
 * Accuracy per tenth of the images ranked by predictive entropy, most certain first
 * (fewer groups when there are fewer than 10 images).
 */
export function entropyDeciles(entropy: ArrayLike<number>, correct: ArrayLike<boolean>): DropoutDecile[] {
  const n = entropy.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => entropy[a] - entropy[b] || a - b);
  const groups = Math.min(10, n);
  const out: DropoutDecile[] = [];
  for (let g = 0; g < groups; g++) {
    const from = Math.floor((g * n) / groups);
    const to = Math.floor(((g + 1) * n) / groups);
    let right = 0;
    for (let j = from; j < to; j++) if (correct[order[j]]) right++;
    out.push({ decile: g + 1, count: to - from, acc: right / (to - from), entropyFrom: entropy[order[from]], entropyTo: entropy[order[to - 1]] });
  }
  return out;
}

/** Histogram of entropies over [0, ln classes] in `bins` equal bins, split by correct vs wrong. */
export function entropyHistogram(entropy: ArrayLike<number>, correct: ArrayLike<boolean>, classes: number, bins = 20): { edges: number[]; correct: number[]; wrong: number[] } {
  const max = Math.log(classes);
  const edges = Array.from({ length: bins + 1 }, (_, i) => (i * max) / bins);
  const right = new Array<number>(bins).fill(0);
  const wrong = new Array<number>(bins).fill(0);
  for (let i = 0; i < entropy.length; i++) {
    const b = Math.min(bins - 1, Math.max(0, Math.floor((entropy[i] / max) * bins)));
    if (correct[i]) right[b]++;
    else wrong[b]++;
  }
  return { edges, correct: right, wrong };
}

/**
 * The images for the grid: the `uncertain` highest-entropy images (most uncertain first), then
 * the `certain` lowest-entropy ones for contrast, never repeating an image.
 */
export function galleryImages(
  outcome: EnsembleOutcome,
  split: Split,
  pixels: number,
  uncertain: number,
  certain: number,
): DropoutImage[] {
  const { stats, weightScaled } = outcome;
  const n = stats.n;
  const byEntropy = Array.from({ length: n }, (_, i) => i).sort((a, b) => stats.entropy[b] - stats.entropy[a] || a - b);
  const top = byEntropy.slice(0, Math.min(uncertain, n));
  const taken = new Set(top);
  const bottom = byEntropy.slice().reverse().filter((i) => !taken.has(i)).slice(0, Math.max(0, certain)).reverse();
  const round = (v: number) => Math.round(v * 1e5) / 1e5;
  const c = stats.classes;
  return [...top, ...bottom].map((i) => ({
    index: i,
    label: split.labels[i],
    pred: stats.pred[i],
    weightScaledPred: weightScaled.pred[i],
    entropy: round(stats.entropy[i]),
    mutualInfo: round(stats.mutualInfo[i]),
    disagreement: round(stats.disagreement[i]),
    mean: Array.from(stats.mean.subarray(i * c, (i + 1) * c), round),
    std: Array.from(stats.std.subarray(i * c, (i + 1) * c), round),
    weightScaled: Array.from(weightScaled.probs.subarray(i * c, (i + 1) * c), round),
    pixels: Array.from(split.images.subarray(i * pixels, (i + 1) * pixels)),
  }));
}

/** Mean of a typed array (0 for an empty one). */
export function meanOf(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return a.length ? s / a.length : 0;
}
