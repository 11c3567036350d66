/**
 * BN inspector, the tfjs side: population ("precise BN") statistics of every BN layer's input,
 * evaluation with running, population or batch statistics at any test batch size, and the
 * train-mode vs eval-mode gap. Uses only the model's public pieces (forwardWithTaps, bnLayers,
 * getWeights/setWeights); nothing here changes the engine.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LossKind } from '../contract/settings';
import type { BnAccuracyRow, BnLayerInfo, BnMoments } from '../contract/bn';
import type { Split } from '../data/dataset';
import { gatherBatch } from '../data/normalize';
import type { Model } from '../engine/model';
import type { NamedWeights } from '../engine/model-types';
import { lossFn } from '../engine/regularize';
import { ChannelMoments } from './bn-stats';
import { bnLayerInfosFromSpec } from './bn-timeline';

export interface Normalization {
  mean: number[];
  std: number[];
}

/** Cooperative progress and cancellation for long passes. */
export interface PassControl {
  onProgress?(fraction: number, message: string): void;
  cancelled?(): boolean;
}

export class CancelledError extends Error {
  constructor() {
    super('cancelled');
    this.name = 'CancelledError';
  }
}

const tick = () => new Promise<void>((r) => setImmediate(r));

/** The batch/ghost norm layers of a model with their settings and input spatial size. */
export function bnLayerInfos(model: Model): BnLayerInfo[] {
  return bnLayerInfosFromSpec(model.spec);
}

/** Running mean/var of every BN layer as the model holds them now. */
export function runningStats(model: Model): Record<string, BnMoments> {
  const out: Record<string, BnMoments> = {};
  for (const bn of model.bnLayers()) {
    out[bn.name] = { mean: Array.from(bn.runningMean.dataSync()), var: Array.from(bn.runningVar.dataSync()) };
  }
  return out;
}

/** Overwrites running statistics of the named layers (returns nothing; the model is mutated). */
export function setRunningStats(model: Model, stats: Record<string, BnMoments>): void {
  for (const bn of model.bnLayers()) {
    const s = stats[bn.name];
    if (!s) continue;
    if (s.mean.length !== bn.channels || s.var.length !== bn.channels) {
      throw new Error(`BN layer ${bn.name}: statistics have ${s.mean.length} channels, the layer has ${bn.channels}`);
    }
    tf.tidy(() => {
      bn.runningMean.assign(tf.tensor1d(s.mean, 'float32'));
      bn.runningVar.assign(tf.tensor1d(s.var, 'float32'));
    });
  }
}

/** Weights with the running statistics replaced (what checkpoint 'recalibrated' holds). */
export function withRunningStats(weights: NamedWeights, stats: Record<string, BnMoments>): NamedWeights {
  const out: NamedWeights = { ...weights };
  for (const [name, s] of Object.entries(stats)) {
    const m = out[`${name}/running_mean`];
    const v = out[`${name}/running_var`];
    if (!m || !v) throw new Error(`weights: no running statistics for BN layer ${name}`);
    out[`${name}/running_mean`] = { shape: [...m.shape], data: Float32Array.from(s.mean) };
    out[`${name}/running_var`] = { shape: [...v.shape], data: Float32Array.from(s.var) };
  }
  return out;
}

export interface PopulationOptions extends PassControl {
  /** Images of the split to use (0/absent = all). */
  limit?: number;
  /** Images per forward pass (default 250). */
  batch?: number;
  /** Keep per-image sums (for the virtual-batch spreads). */
  keepImages?: boolean;
}

export interface PopulationResult {
  stats: Record<string, BnMoments>;
  /** Samples per channel (images × h × w). */
  counts: Record<string, number>;
  images: number;
  perImage?: Record<string, { sums: number[][]; sqs: number[][]; positions: number }>;
}

/**
 * One eval-mode pass (running statistics upstream, dropout off) that accumulates, for each named
 * BN layer, the exact mean and variance of its input over the images, every spatial position
 * counted as a sample.
 */
export async function inputMoments(
  model: Model,
  split: Split,
  norm: Normalization,
  layerNames: string[],
  opts: PopulationOptions & { progressBase?: number; progressSpan?: number; label?: string } = {},
): Promise<PopulationResult> {
  const [h, w, c] = model.spec.input;
  const pixels = h * w * c;
  const count = opts.limit && opts.limit > 0 ? Math.min(opts.limit, split.count) : split.count;
  if (count < 1) throw new Error('population statistics: no images');
  const batch = Math.max(1, opts.batch ?? 250);
  const bns = new Map(model.bnLayers().map((b) => [b.name, b]));
  const acc = new Map(layerNames.map((n) => {
    const bn = bns.get(n);
    if (!bn) throw new Error(`population statistics: no BN layer named "${n}"`);
    return [n, new ChannelMoments(bn.channels, opts.keepImages)];
  }));
  const identity = Uint32Array.from({ length: count }, (_, i) => i);
  const buf = new Float32Array(Math.min(batch, count) * pixels);
  const positions: Record<string, number> = {};
  for (let start = 0; start < count; start += batch) {
    if (opts.cancelled?.()) throw new CancelledError();
    const n = Math.min(batch, count - start);
    const x = gatherBatch(split.images, identity, start, n, pixels, norm.mean, norm.std, buf);
    const xt = tf.tensor4d(x.subarray(0, n * pixels), [n, h, w, c]);
    const { logits, inputs } = model.forwardWithTaps(xt, layerNames, { training: false });
    logits.dispose();
    xt.dispose();
    for (const name of layerNames) {
      const t = inputs[name];
      // After a dense layer (BatchNorm1d) the input is [N, C]: one position per image.
      positions[name] = t.rank === 4 ? t.shape[1]! * t.shape[2]! : 1;
      acc.get(name)!.add(t.dataSync() as Float32Array, n);
      t.dispose();
    }
    opts.onProgress?.((opts.progressBase ?? 0) + (opts.progressSpan ?? 1) * ((start + n) / count), `${opts.label ?? 'population statistics'}: ${start + n}/${count} images`);
    await tick();
  }
  const stats: Record<string, BnMoments> = {};
  const counts: Record<string, number> = {};
  for (const [name, m] of acc) {
    stats[name] = m.result();
    counts[name] = m.count;
  }
  const perImage = opts.keepImages
    ? Object.fromEntries([...acc].map(([name, m]) => [name, { sums: m.imageSums, sqs: m.imageSqs, positions: positions[name] }]))
    : undefined;
  return { stats, counts, images: count, ...(perImage ? { perImage } : {}) };
}

/**
 * Precise BN, sequential: for each BN layer in order, the mean and variance of its input over
 * the images with the network in eval mode, where every UPSTREAM BN layer already uses its newly
 * computed population statistics. After the call the model's running statistics ARE the
 * population statistics, and each one is exactly the statistics of its layer's input in the
 * recalibrated network (a one-pass computation with the old running statistics upstream would not
 * be: changing an upstream layer changes what flows downstream).
 * Mutates the model; keep getWeights() beforehand to restore it.
 */
export async function recalibrate(model: Model, split: Split, norm: Normalization, opts: PopulationOptions = {}): Promise<PopulationResult> {
  const names = model.bnLayers().map((b) => b.name);
  const stats: Record<string, BnMoments> = {};
  const counts: Record<string, number> = {};
  let images = 0;
  for (let k = 0; k < names.length; k++) {
    const r = await inputMoments(model, split, norm, [names[k]], {
      ...opts,
      keepImages: false,
      progressBase: k / names.length,
      progressSpan: 1 / names.length,
      label: `precise BN, layer ${names[k]} (${k + 1}/${names.length})`,
    });
    stats[names[k]] = r.stats[names[k]];
    counts[names[k]] = r.counts[names[k]];
    images = r.images;
    setRunningStats(model, { [names[k]]: stats[names[k]] });
  }
  return { stats, counts, images };
}

export interface EvalOptions extends PassControl {
  /** 'running' = eval mode; 'batch' = every BN layer normalizes with the test batch's own statistics. */
  mode: 'running' | 'batch';
  batchSize: number;
  limit?: number;
  loss?: LossKind;
  /** Dropout on (train mode); masks seeded by `dropoutSeed` + batch index. */
  dropout?: boolean;
  dropoutSeed?: number;
  label?: string;
}

/**
 * Accuracy and mean loss over the first `limit` images of a split, in batches of `batchSize`
 * (the last batch may be smaller). Running statistics are never updated. In batch mode the
 * number of (layer, channel, batch) triples whose batch variance is ≤ 1e-10 is counted: those
 * channels output β (x̂ = 0), e.g. every channel of a constant image at batch size 1.
 */
export async function evaluateWith(model: Model, split: Split, norm: Normalization, opts: EvalOptions): Promise<Omit<BnAccuracyRow, 'mode' | 'label' | 'batchSize'>> {
  const [h, w, c] = model.spec.input;
  const pixels = h * w * c;
  const classes = model.spec.classes;
  const count = opts.limit && opts.limit > 0 ? Math.min(opts.limit, split.count) : split.count;
  const bs = Math.max(1, Math.floor(opts.batchSize));
  const identity = Uint32Array.from({ length: count }, (_, i) => i);
  const buf = new Float32Array(Math.min(bs, count) * pixels);
  const bns = model.bnLayers();
  const batchMode = opts.mode === 'batch';
  let correct = 0;
  let lossSum = 0;
  let zeroVar = 0;
  let batches = 0;
  for (let start = 0; start < count; start += bs) {
    if (opts.cancelled?.()) throw new CancelledError();
    const n = Math.min(bs, count - start);
    const x = gatherBatch(split.images, identity, start, n, pixels, norm.mean, norm.std, buf);
    const labels = split.labels.subarray(start, start + n);
    const [pred, loss] = tf.tidy(() => {
      const logits = model.forward(tf.tensor4d(x.subarray(0, n * pixels), [n, h, w, c]), {
        training: false,
        batchStats: batchMode,
        updateStats: false,
        dropout: opts.dropout ?? false,
        dropoutSeed: (opts.dropoutSeed ?? 0) + batches,
      });
      const onehot = tf.cast(tf.oneHot(tf.tensor1d(Int32Array.from(labels), 'int32'), classes), 'float32') as tf.Tensor2D;
      return [tf.argMax(logits, 1), tf.mul(lossFn(opts.loss ?? 'ce', logits, onehot), n)];
    });
    const p = pred.dataSync();
    lossSum += loss.dataSync()[0];
    pred.dispose();
    loss.dispose();
    for (let i = 0; i < n; i++) if (p[i] === labels[i]) correct++;
    if (batchMode) {
      // A plain BN layer's lastVar is this batch's variance (a ghost layer's: its last virtual batch).
      for (const bn of bns) for (const v of bn.lastVar.dataSync()) if (v <= 1e-10) zeroVar++;
    }
    batches++;
    if (batches % 8 === 0 || start + n >= count) {
      opts.onProgress?.((start + n) / count, `${opts.label ?? 'evaluating'}: ${start + n}/${count} images`);
      await tick();
    }
  }
  return { acc: correct / count, loss: lossSum / count, images: count, ...(batchMode ? { zeroVarChannels: zeroVar } : {}) };
}

/**
 * The output of BN layer `normName` (the input of the next layer) for one batch, with batch
 * statistics — used to show that a constant image at batch size 1 comes out as β.
 */
export function bnOutputWithBatchStats(model: Model, x: tf.Tensor4D, normName: string): Float32Array {
  const next = model.spec.nodes.find((l) => l.inputs.includes(normName));
  if (!next) throw new Error(`no layer after "${normName}" to tap`);
  const { logits, inputs } = model.forwardWithTaps(x, [next.name], { training: false, batchStats: true, updateStats: false, dropout: false });
  logits.dispose();
  const out = inputs[next.name].dataSync() as Float32Array;
  inputs[next.name].dispose();
  return out;
}
