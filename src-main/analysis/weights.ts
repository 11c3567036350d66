/**
 * Weight analysis: per-layer histograms of log10|w| (with exact zeros counted apart, so the
 * spike that L1 makes near zero is never merged into a wide linear bin), exact signed quantiles,
 * sparsity at several thresholds, norms, and the effective per-step decay of L1, L2 and
 * decoupled weight decay for a run's settings.
 */
import type { DecayInfo, LayerWeights, LogAbsHistogram } from '../contract/study';
import { effectiveLr, type TrainSettings } from '../contract/settings';
import type { NamedWeights } from '../engine/model-types';

export const SPARSITY_THRESHOLDS = [1e-4, 1e-3, 1e-2] as const;
export const QUANTILE_LEVELS = [0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1] as const;
/** log10|w| from 1e-7 to 10 in quarter decades: fine enough to separate 1e-4 from 1e-3 from 1e-2. */
export const LOG_EDGES = Array.from({ length: 33 }, (_, i) => -7 + i * 0.25);

export function thresholdKey(t: number): string {
  return t.toExponential(0).replace('e-', 'e-').replace('e+', 'e');
}

/** Histogram of log10|w| over LOG_EDGES; |w| below 1e-7 falls in the first bin, exact zeros are counted apart. */
export function logAbsHistogram(values: ArrayLike<number>, edges: readonly number[] = LOG_EDGES): LogAbsHistogram {
  const bins = edges.length - 1;
  const counts = new Array<number>(bins).fill(0);
  const lo = edges[0];
  const step = (edges[bins] - lo) / bins;
  let zeros = 0;
  for (let i = 0; i < values.length; i++) {
    const a = Math.abs(values[i]);
    if (a === 0) {
      zeros++;
      continue;
    }
    const b = Math.floor((Math.log10(a) - lo) / step);
    counts[Math.min(bins - 1, Math.max(0, b))]++;
  }
  return { edges: [...edges], counts, zeros, total: values.length };
}

/** Exact quantiles (linear interpolation between order statistics, numpy's default). */
export function quantiles(values: ArrayLike<number>, levels: readonly number[] = QUANTILE_LEVELS): number[] {
  const sorted = Float64Array.from(values as ArrayLike<number>).sort();
  if (sorted.length === 0) return levels.map(() => NaN);
  return levels.map((q) => {
    const pos = q * (sorted.length - 1);
    const i = Math.floor(pos);
    const frac = pos - i;
    return i + 1 < sorted.length ? sorted[i] + frac * (sorted[i + 1] - sorted[i]) : sorted[i];
  });
}

/** Share of |w| below each threshold, keyed by thresholdKey. */
export function sparsity(values: ArrayLike<number>, thresholds: readonly number[] = SPARSITY_THRESHOLDS): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of thresholds) {
    let c = 0;
    for (let i = 0; i < values.length; i++) if (Math.abs(values[i]) < t) c++;
    out[thresholdKey(t)] = values.length ? c / values.length : 0;
  }
  return out;
}

/** Statistics of every conv/dense kernel in `weights` (names ending in /kernel), in spec order. */
export function layerWeights(weights: NamedWeights): { layers: LayerWeights[]; overall: { count: number; norm: number; sparsity: Record<string, number>; hist: LogAbsHistogram } } {
  const names = Object.keys(weights).filter((n) => n.endsWith('/kernel'));
  const layers: LayerWeights[] = [];
  let total = 0;
  for (const name of names) {
    const { shape, data } = weights[name];
    let ss = 0;
    let sa = 0;
    let mx = 0;
    for (let i = 0; i < data.length; i++) {
      const a = Math.abs(data[i]);
      ss += data[i] * data[i];
      sa += a;
      if (a > mx) mx = a;
    }
    total += data.length;
    layers.push({
      name,
      shape,
      count: data.length,
      norm: Math.sqrt(ss),
      meanAbs: data.length ? sa / data.length : 0,
      maxAbs: mx,
      sparsity: sparsity(data),
      hist: logAbsHistogram(data),
      quantiles: quantiles(data),
    });
  }
  const all = new Float32Array(total);
  let o = 0;
  for (const name of names) {
    all.set(weights[name].data, o);
    o += weights[name].data.length;
  }
  let ss = 0;
  for (let i = 0; i < all.length; i++) ss += all[i] * all[i];
  return { layers, overall: { count: total, norm: Math.sqrt(ss), sparsity: sparsity(all), hist: logAbsHistogram(all) } };
}

/** At most this many epochs get full histograms in the weights result (about 4 KB each for S5). */
export const HIST_EPOCH_CAP = 40;

/**
 * At most `cap` of the sorted `epochs`, evenly spaced by index; the first and last are always kept,
 * so the start and the end of training are both shown.
 */
export function subsampleEpochs(epochs: readonly number[], cap: number = HIST_EPOCH_CAP): number[] {
  if (epochs.length <= cap) return [...epochs];
  if (cap <= 1) return epochs.length ? [epochs[epochs.length - 1]] : [];
  const out: number[] = [];
  for (let k = 0; k < cap; k++) out.push(epochs[Math.round((k * (epochs.length - 1)) / (cap - 1))]);
  return [...new Set(out)];
}

/** The log10|w| histogram of every conv/dense kernel (names ending in /kernel), keyed by name. */
export function kernelHistograms(weights: NamedWeights): Record<string, LogAbsHistogram> {
  const out: Record<string, LogAbsHistogram> = {};
  for (const name of Object.keys(weights)) if (name.endsWith('/kernel')) out[name] = logAbsHistogram(weights[name].data);
  return out;
}

/**
 * The per-step effect of the run's regularizers on a weight with no data gradient.
 * L2 in the loss adds 2λw to the gradient: one SGD step is w ← w − lr·2λ·w, and heavy-ball
 * momentum β sums the same push over past steps, amplifying it by 1/(1−β) in steady state.
 * Decoupled decay multiplies by (1 − lr·wd) once per step, untouched by momentum. L1 adds
 * λ·sign(w): a constant pull of lr·λ/(1−β) toward zero, whatever the weight's size.
 * With Adam the L2 gradient is divided by √v, so no fixed factor exists (reported as null).
 */
export function decayInfo(s: TrainSettings, trainCount: number): DecayInfo {
  const lr = effectiveLr(s);
  const n = s.trainLimit > 0 ? Math.min(s.trainLimit, trainCount) : trainCount;
  const stepsPerEpoch = Math.max(1, Math.ceil(n / s.batch));
  const sgd = s.optimizer === 'sgd';
  const beta = sgd ? s.momentum : 0;
  const l2Factor = s.l2 > 0 && sgd ? 1 - (lr * 2 * s.l2) / (1 - beta) : null;
  const l2FactorNoMomentum = s.l2 > 0 && sgd ? 1 - lr * 2 * s.l2 : null;
  const decoupledFactor = s.weightDecay > 0 ? 1 - lr * s.weightDecay : null;
  const l1Shrink = s.l1 > 0 && sgd ? (lr * s.l1) / (1 - beta) : null;
  const perStep = (l2Factor ?? 1) * (decoupledFactor ?? 1);
  const epochFactor = perStep ** stepsPerEpoch;
  const halfLifeSteps = perStep < 1 && perStep > 0 ? Math.log(0.5) / Math.log(perStep) : null;
  const parts: string[] = [];
  if (l2Factor !== null) {
    parts.push(
      `L2 (λ=${s.l2}) in the loss: each SGD step multiplies w by 1 − lr·2λ = ${l2FactorNoMomentum!.toFixed(6)}, ` +
        `and momentum ${beta} amplifies it to 1 − lr·2λ/(1−β) = ${l2Factor.toFixed(6)} per step`,
    );
  } else if (s.l2 > 0) {
    parts.push(`L2 (λ=${s.l2}) with ${s.optimizer}: the penalty gradient 2λw is rescaled by Adam's √v, so its decay has no fixed per-step factor`);
  }
  if (decoupledFactor !== null) parts.push(`decoupled weight decay (wd=${s.weightDecay}): w ← w·(1 − lr·wd) = w·${decoupledFactor.toFixed(6)} per step, not amplified by momentum`);
  if (l1Shrink !== null) parts.push(`L1 (λ=${s.l1}): a constant pull of lr·λ/(1−β) = ${l1Shrink.toExponential(2)} toward zero per step, the same for small and large weights, so small ones reach zero`);
  if (!parts.length) parts.push('no L1, L2 or weight decay: weights change only through the data gradient');
  if (halfLifeSteps !== null) parts.push(`without data gradient a weight would halve in ${Math.round(halfLifeSteps)} steps (${(halfLifeSteps / stepsPerEpoch).toFixed(1)} epochs of ${stepsPerEpoch} steps)`);
  return {
    l2Factor, l2FactorNoMomentum, decoupledFactor, l1Shrink, stepsPerEpoch, epochFactor, halfLifeSteps,
    lr, momentum: beta, optimizer: s.optimizer, note: parts.join('; ') + '.',
  };
}
