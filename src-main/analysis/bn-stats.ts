/**
 * Plain-number pieces of the BN inspector (no tfjs): exact per-channel moment accumulation in
 * float64, virtual-batch spreads, the momentum replay of a recorded timeline, and the lag of the
 * running estimates read from the records.
 */
import type { BnRecord } from '../engine/model-types';
import type { BnGhostSpread, BnLagPoint, BnLayerInfo, BnMoments, BnTimelineCheck } from '../contract/bn';

/**
 * Per-channel mean and variance of NHWC data in float64, merged batch by batch (Chan et al.:
 * each batch's mean and sum of squared deviations computed in two passes, then combined), so
 * millions of samples lose no precision. Optionally keeps per-image sums for virtual batches.
 */
export class ChannelMoments {
  private n = 0;
  private readonly mean: Float64Array;
  private readonly m2: Float64Array;
  /** Per image: sum and sum of squares per channel (images × channels), when kept. */
  readonly imageSums: number[][] = [];
  readonly imageSqs: number[][] = [];

  constructor(
    readonly channels: number,
    private readonly keepImages = false,
  ) {
    this.mean = new Float64Array(channels);
    this.m2 = new Float64Array(channels);
  }

  /** Adds `images` images of `data` (NHWC, channel last, `data.length / channels` positions). */
  add(data: ArrayLike<number>, images: number): void {
    const c = this.channels;
    const positions = data.length / c;
    if (!Number.isInteger(positions) || positions < 1) throw new Error(`ChannelMoments: ${data.length} values do not split into ${c} channels`);
    const perImage = positions / images;
    const bm = new Float64Array(c);
    for (let i = 0; i < data.length; i++) bm[i % c] += data[i];
    for (let ch = 0; ch < c; ch++) bm[ch] /= positions;
    const bm2 = new Float64Array(c);
    for (let i = 0; i < data.length; i++) {
      const d = data[i] - bm[i % c];
      bm2[i % c] += d * d;
    }
    if (this.keepImages) {
      for (let img = 0; img < images; img++) {
        const s = new Array<number>(c).fill(0);
        const q = new Array<number>(c).fill(0);
        const base = img * perImage * c;
        for (let p = 0; p < perImage * c; p++) {
          const v = data[base + p];
          s[p % c] += v;
          q[p % c] += v * v;
        }
        this.imageSums.push(s);
        this.imageSqs.push(q);
      }
    }
    const na = this.n;
    const nb = positions;
    const n = na + nb;
    for (let ch = 0; ch < c; ch++) {
      const delta = bm[ch] - this.mean[ch];
      this.mean[ch] += (delta * nb) / n;
      this.m2[ch] += bm2[ch] + (delta * delta * na * nb) / n;
    }
    this.n = n;
  }

  /** Samples per channel so far (images × positions). */
  get count(): number {
    return this.n;
  }

  /** Population mean and variance (divisor N: the variance of the whole population). */
  result(): BnMoments {
    if (this.n === 0) throw new Error('ChannelMoments: no data');
    return { mean: Array.from(this.mean), var: Array.from(this.m2, (m) => m / this.n) };
  }
}

function std(xs: number[]): number {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / xs.length);
}

/**
 * Spread of per-virtual-batch statistics: the images (in the order given) cut into consecutive
 * virtual batches of `size` (a smaller remainder is dropped so every batch has the same size);
 * per channel, the std over batches of the batch mean (in population-std units) and of the batch
 * variance (relative to the population variance).
 */
export function ghostSpreads(
  perLayer: Record<string, { sums: number[][]; sqs: number[][]; positions: number; population: BnMoments }>,
  sizes: number[],
): BnGhostSpread[] {
  const out: BnGhostSpread[] = [];
  for (const size of sizes) {
    const layers: BnGhostSpread['layers'] = {};
    let batches = 0;
    for (const [name, l] of Object.entries(perLayer)) {
      const images = l.sums.length;
      batches = Math.floor(images / size);
      if (batches < 2) continue;
      const c = l.population.mean.length;
      const means: number[][] = Array.from({ length: c }, () => []);
      const vars: number[][] = Array.from({ length: c }, () => []);
      for (let b = 0; b < batches; b++) {
        for (let ch = 0; ch < c; ch++) {
          let s = 0;
          let q = 0;
          for (let i = b * size; i < (b + 1) * size; i++) {
            s += l.sums[i][ch];
            q += l.sqs[i][ch];
          }
          const n = size * l.positions;
          const m = s / n;
          means[ch].push(m);
          vars[ch].push(Math.max(0, q / n - m * m));
        }
      }
      layers[name] = {
        meanSpread: means.map((ms, ch) => std(ms) / Math.sqrt(Math.max(l.population.var[ch], 1e-30))),
        varSpread: vars.map((vs, ch) => std(vs) / Math.max(l.population.var[ch], 1e-30)),
      };
    }
    if (Object.keys(layers).length) out.push({ virtualBatch: size, batches, layers });
  }
  return out;
}

/** Weight on the new batch value of a layer (PyTorch terms); null = cumulative. */
export function newWeight(l: Pick<BnLayerInfo, 'convention' | 'momentum'>): number | null {
  if (l.momentum === null) return null;
  return l.convention === 'pytorch' ? l.momentum : 1 - l.momentum;
}

/**
 * Replays the batch means and variances recorded at every step through the layer's momentum
 * formula, starting from (mean 0, var 1), and compares with the recorded running statistics.
 * PyTorch folds in the unbiased batch variance (×n/(n−1), n = images × h × w); Keras the biased
 * one; momentum null is the cumulative average (weight 1/k on the k-th batch).
 * Needs a record at every step from step 1 and plain (not ghost) BN: a ghost layer folds in
 * several virtual batches per step and records only the last.
 */
export function replayTimeline(
  records: BnRecord[],
  layers: BnLayerInfo[],
  batch: number,
  trainCount: number,
): BnTimelineCheck {
  if (!layers.length) return { possible: false, reason: 'no BN layers' };
  if (layers.some((l) => l.kind === 'ghost')) {
    return { possible: false, reason: 'ghost BN folds several virtual batches into the running statistics per step and records only the last one' };
  }
  if (!records.length) return { possible: false, reason: 'no BN records stored' };
  for (let i = 0; i < records.length; i++) {
    if (records[i].step !== i + 1) {
      return { possible: false, reason: `records are not taken at every step (record ${i + 1} is step ${records[i].step}); the formula needs every batch — train with --bn-record-every 1` };
    }
  }
  const stepsPerEpoch = Math.ceil(trainCount / batch);
  let errMean = 0;
  let errVar = 0;
  for (const l of layers) {
    const c = l.channels;
    const w = newWeight(l);
    const rm = new Float64Array(c);
    const rv = new Float64Array(c).fill(1);
    for (let k = 0; k < records.length; k++) {
      const r = records[k].layers[l.name];
      if (!r) return { possible: false, reason: `record of step ${records[k].step} lacks layer ${l.name}` };
      const inEpoch = k % stepsPerEpoch;
      const images = Math.min(batch, trainCount - inEpoch * batch);
      const n = images * l.spatial[0] * l.spatial[1];
      const m = w === null ? 1 / (k + 1) : w;
      for (let ch = 0; ch < c; ch++) {
        const bv = l.convention === 'keras' || n <= 1 ? r.batchVar[ch] : (r.batchVar[ch] * n) / (n - 1);
        rm[ch] = (1 - m) * rm[ch] + m * r.batchMean[ch];
        rv[ch] = (1 - m) * rv[ch] + m * bv;
        errMean = Math.max(errMean, Math.abs(rm[ch] - r.runningMean[ch]));
        errVar = Math.max(errVar, Math.abs(rv[ch] - r.runningVar[ch]));
      }
    }
  }
  return {
    possible: true,
    reason: 'every step recorded: running statistics replayed from the recorded batch statistics',
    maxAbsErrMean: errMean,
    maxAbsErrVar: errVar,
    steps: records.length,
  };
}

/** Mean over channels of |running − ref| / √refVar and |ln(runningVar / refVar)|. */
export function lagOf(running: BnMoments, ref: BnMoments): { meanLag: number; varLogRatio: number } {
  const c = running.mean.length;
  let a = 0;
  let b = 0;
  for (let ch = 0; ch < c; ch++) {
    const rv = Math.max(ref.var[ch], 1e-30);
    a += Math.abs(running.mean[ch] - ref.mean[ch]) / Math.sqrt(rv);
    b += Math.abs(Math.log(Math.max(running.var[ch], 1e-30) / rv));
  }
  return { meanLag: a / c, varLogRatio: b / c };
}

/**
 * Lag per epoch from the records alone (the trainer keeps no per-epoch checkpoints): the
 * reference for epoch e is the pooled batch statistics recorded during e — mean of the batch
 * means, and mean of the batch variances plus the variance of the batch means (law of total
 * variance) — i.e. the network's population statistics averaged over that epoch; the running
 * estimate is the one at the epoch's last record.
 */
export function lagFromRecords(records: BnRecord[], layers: BnLayerInfo[]): BnLagPoint[] {
  const byEpoch = new Map<number, BnRecord[]>();
  for (const r of records) {
    const list = byEpoch.get(r.epoch) ?? [];
    list.push(r);
    byEpoch.set(r.epoch, list);
  }
  const out: BnLagPoint[] = [];
  for (const [epoch, list] of [...byEpoch].sort((a, b) => a[0] - b[0])) {
    const last = list[list.length - 1];
    const point: BnLagPoint = { epoch, step: last.step, source: `records (${list.length} in the epoch)`, layers: {} };
    for (const l of layers) {
      const rs = list.map((r) => r.layers[l.name]).filter(Boolean);
      const at = last.layers[l.name];
      if (!rs.length || !at) continue;
      const c = l.channels;
      const mean: number[] = [];
      const variance: number[] = [];
      for (let ch = 0; ch < c; ch++) {
        const ms = rs.map((r) => r.batchMean[ch]);
        const m = ms.reduce((a, b) => a + b, 0) / ms.length;
        const within = rs.reduce((a, r) => a + r.batchVar[ch], 0) / rs.length;
        const between = ms.reduce((a, b) => a + (b - m) ** 2, 0) / ms.length;
        mean.push(m);
        variance.push(within + between);
      }
      point.layers[l.name] = lagOf({ mean: at.runningMean, var: at.runningVar }, { mean, var: variance });
    }
    out.push(point);
  }
  return out;
}
