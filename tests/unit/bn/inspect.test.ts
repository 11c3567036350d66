/**
 * BN inspector on a small real run (1 epoch on 1,000 real MNIST digits, batch 50, a BN record
 * every step): precise BN checked against an independent float64 convolution, self-consistency
 * of the sequential recalibration, the batch-size-1 case, and the timeline replayed through the
 * momentum formula.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { rmSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../../src-main/engine/backend';
import { loadDataset } from '../../../src-main/data/dataset';
import { inspectRun, modelForRun, RECALIBRATED_TAG } from '../../../src-main/analysis/bn-inspect';
import { bnOutputWithBatchStats, inputMoments } from '../../../src-main/analysis/bn';
import { bnTimeline } from '../../../src-main/analysis/bn-timeline';
import type { BnReport } from '../../../src-main/contract/bn';
import type { Workspace } from '../../../src-main/store/workspace';
import { trainedRun } from './helpers';

let ws: Workspace;
let id: string;
let root: string;
let report: BnReport;

beforeAll(async () => {
  await initBackend();
  ({ ws, id, root } = await trainedRun({ bnRecordEvery: 1, norm: 'batch', bnConvention: 'pytorch', bnMomentum: 0.1 }));
  report = await inspectRun(ws, { id, recalibrate: true, testLimit: 300 });
}, 300_000);

afterAll(() => rmSync(root, { recursive: true, force: true }));

/** conv1 (3×3, valid, no bias) of the normalized training images, per-channel mean and variance, in float64 loops. */
async function independentNorm1Moments(kernel: Float32Array, outC: number, norm: { mean: number[]; std: number[] }, count: number) {
  const data = await loadDataset('mnist-sample');
  const sum = new Float64Array(outC);
  const sq = new Float64Array(outC);
  const img = new Float64Array(784);
  let n = 0;
  for (let i = 0; i < count; i++) {
    for (let p = 0; p < 784; p++) img[p] = (data.train.images[i * 784 + p] / 255 - norm.mean[0]) / norm.std[0];
    for (let y = 0; y < 26; y++) {
      for (let x = 0; x < 26; x++) {
        for (let co = 0; co < outC; co++) {
          let v = 0;
          for (let ky = 0; ky < 3; ky++) for (let kx = 0; kx < 3; kx++) v += img[(y + ky) * 28 + (x + kx)] * kernel[(ky * 3 + kx) * outC + co];
          sum[co] += v;
          sq[co] += v * v;
        }
        n++;
      }
    }
  }
  const mean = Array.from(sum, (s) => s / n);
  return { mean, var: Array.from(sq, (q, c) => q / n - mean[c] * mean[c]), n };
}

describe('precise BN on a real run', () => {
  test('the recalibrated running mean of the first BN layer equals the mean of its input over the training split', async () => {
    const state = ws.readCheckpoint(id, RECALIBRATED_TAG)!;
    expect(state).not.toBeNull();
    const k = state.weights['conv1/kernel'];
    expect(k.shape).toEqual([3, 3, 1, 8]);
    const ref = await independentNorm1Moments(k.data, 8, state.normalization, 1000);
    expect(ref.n).toBe(1000 * 26 * 26);
    const rm = state.weights['norm1/running_mean'].data;
    const rv = state.weights['norm1/running_var'].data;
    for (let c = 0; c < 8; c++) {
      expect(Math.abs(rm[c] - ref.mean[c]) / Math.abs(ref.mean[c])).toBeLessThan(1e-4);
      expect(Math.abs(rv[c] - ref.var[c]) / ref.var[c]).toBeLessThan(1e-4);
    }
    // The report says the same, and differs from what training left behind.
    report.stats.norm1.population.mean.forEach((m, c) => expect(m).toBeCloseTo(rm[c], 6));

    expect(report.populationImages).toBe(1000);
    const last = ws.readCheckpoint(id, 'last')!;
    const moved = Array.from(rm).map((v, c) => Math.abs(v - last.weights['norm1/running_mean'].data[c]));
    expect(Math.max(...moved)).toBeGreaterThan(1e-4);
    // Every other weight is untouched.
    expect(Array.from(state.weights['conv2/kernel'].data)).toEqual(Array.from(last.weights['conv2/kernel'].data));
  });

  test('sequential recalibration is self-consistent: every layer\'s running stats are the statistics of its input in the recalibrated net', async () => {
    const data = await loadDataset('mnist-sample');
    const run = ws.getRun(id);
    const state = ws.readCheckpoint(id, RECALIBRATED_TAG)!;
    const model = modelForRun(run.settings, data, state);
    try {
      const names = model.bnLayers().map((b) => b.name);
      expect(names).toEqual(['norm1', 'norm2', 'norm3', 'norm4', 'norm5', 'norm6']);
      const train = { images: data.train.images.subarray(0, 1000 * 784), labels: data.train.labels.subarray(0, 1000), count: 1000 };
      const again = await inputMoments(model, train, state.normalization, names);
      for (const n of names) {
        const rm = state.weights[`${n}/running_mean`].data;
        const rv = state.weights[`${n}/running_var`].data;
        again.stats[n].mean.forEach((m, c) => expect(Math.abs(m - rm[c])).toBeLessThan(1e-4 * Math.sqrt(rv[c])));
        again.stats[n].var.forEach((v, c) => expect(Math.abs(v - rv[c]) / rv[c]).toBeLessThan(1e-4));
      }
      // The one-pass statistics (old running stats upstream) differ downstream of norm1 — why sequential matters.
      const d = report.stats.norm6.populationOnePass.mean.map((m, c) => Math.abs(m - report.stats.norm6.population.mean[c]));
      expect(Math.max(...d)).toBeGreaterThan(1e-6);
      expect(report.stats.norm1.populationOnePass.mean).toEqual(report.stats.norm1.population.mean);
    } finally {
      model.dispose();
    }
  });

  test('accuracy table: running, population, and batch statistics at 1, 8, 32, 128, 512 (batch of 1 shown, finite)', () => {
    const rows = report.accuracy;
    expect(rows.map((r) => r.mode)).toEqual(['running', 'population', 'population-one-pass', 'batch', 'batch', 'batch', 'batch', 'batch']);
    expect(rows.filter((r) => r.mode === 'batch').map((r) => r.batchSize)).toEqual([1, 8, 32, 128, 512]);
    for (const r of rows) {
      expect(r.images).toBe(300);
      expect(Number.isFinite(r.loss)).toBe(true);
      expect(r.acc).toBeGreaterThanOrEqual(0);
      expect(r.acc).toBeLessThanOrEqual(1);
    }
    const one = rows.find((r) => r.batchSize === 1)!;
    expect(one.note).toMatch(/batch of 1/);
    expect(one.zeroVarChannels).toBeGreaterThanOrEqual(0);
    expect(report.recalibrated!.accBefore).toBe(rows[0].acc);
    expect(report.recalibrated!.accAfter).toBe(rows[1].acc);
    // After 20 steps at momentum 0.1 the running estimates still hold 0.9^20 ≈ 12% of their (0, 1)
    // start: eval mode is far off, and precise BN recovers what batch statistics already show.
    expect(rows[1].acc).toBeGreaterThan(0.5);
    expect(rows[1].acc).toBeGreaterThan(rows[0].acc + 0.2);
    expect(rows.find((r) => r.batchSize === 512)!.acc).toBeGreaterThan(0.5);
    // Train/eval gap rows are over real training images.
    expect(report.gap.evalMode.images).toBe(1000);
    expect(report.gap.lossGap).toBeCloseTo(report.gap.evalMode.loss - report.gap.trainMode.loss, 12);
  });

  test('batch of 1: a constant image has variance 0 in every first-layer channel and comes out as β', async () => {
    const data = await loadDataset('mnist-sample');
    const run = ws.getRun(id);
    const state = ws.readCheckpoint(id, 'last')!;
    const model = modelForRun(run.settings, data, state);
    try {
      const beta = state.weights['norm1/beta'].data;
      const gamma = state.weights['norm1/gamma'].data;
      // An all-zero (normalized) image: conv output exactly 0, batch variance exactly 0, output exactly β.
      const zero = tf.zeros([1, 28, 28, 1]) as tf.Tensor4D;
      const y0 = bnOutputWithBatchStats(model, zero, 'norm1');
      zero.dispose();
      expect(y0.length).toBe(26 * 26 * 8);
      for (let i = 0; i < y0.length; i++) expect(y0[i]).toBe(beta[i % 8]);
      // A constant non-zero image: variance 0 up to float32 rounding of the mean, which √ε ≈ 3e-3
      // magnifies; the output is β to within 1% of γ, the normalized value x̂ ≈ 0.
      const x = tf.fill([1, 28, 28, 1], -0.42) as tf.Tensor4D;
      const y = bnOutputWithBatchStats(model, x, 'norm1');
      x.dispose();
      for (const v of model.bnLayers()[0].lastVar.dataSync()) expect(v).toBeLessThan(1e-10);
      for (let i = 0; i < y.length; i++) expect(Math.abs(y[i] - beta[i % 8])).toBeLessThan(1e-2 * Math.abs(gamma[i % 8]) + 1e-6);
    } finally {
      model.dispose();
    }
  });

  test('the recorded timeline matches the PyTorch formula (replayed here from the recorded batch statistics)', () => {
    const records = ws.readBnRecords(id);
    expect(records.length).toBe(20);
    expect(records.map((r) => r.step)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    const n = 50 * 26 * 26;
    let rm = new Array(8).fill(0);
    let rv = new Array(8).fill(1);
    let worst = 0;
    for (const r of records) {
      const l = r.layers.norm1;
      rm = rm.map((v, c) => 0.9 * v + 0.1 * l.batchMean[c]);
      rv = rv.map((v, c) => 0.9 * v + 0.1 * l.batchVar[c] * (n / (n - 1)));
      for (let c = 0; c < 8; c++) worst = Math.max(worst, Math.abs(rm[c] - l.runningMean[c]), Math.abs(rv[c] - l.runningVar[c]));
    }
    expect(worst).toBeLessThan(1e-5);
    // The inspector's own replay (all six layers) agrees.
    expect(report.timelineCheck.possible).toBe(true);
    expect(report.timelineCheck.maxAbsErrMean!).toBeLessThan(1e-5);
    expect(report.timelineCheck.maxAbsErrVar!).toBeLessThan(1e-4);
    // The final running mean is the checkpoint's.
    const last = ws.readCheckpoint(id, 'last')!;
    for (let c = 0; c < 8; c++) expect(records[19].layers.norm1.runningMean[c]).toBeCloseTo(last.weights['norm1/running_mean'].data[c], 6);
  });

  test('lag per epoch from the records and exactly from the checkpoint; ghost spreads shrink with the virtual batch', () => {
    expect(report.lag.map((p) => p.source)).toEqual(['records (20 in the epoch)', 'checkpoint:best']);
    for (const p of report.lag) for (const l of Object.values(p.layers)) expect(Number.isFinite(l.meanLag)).toBe(true);
    // The exact point is |running − population| / σ averaged over channels, from the report's own numbers.
    const st = report.stats.norm1;
    const want = st.running.mean.reduce((acc, m, c) => acc + Math.abs(m - st.populationOnePass.mean[c]) / Math.sqrt(st.populationOnePass.var[c]), 0) / 8;
    expect(report.lag[1].layers.norm1.meanLag).toBeCloseTo(want, 10);
    expect(report.lag[1].step).toBe(20);
    const sizes = report.ghost.map((g) => g.virtualBatch);
    expect(sizes).toContain(50);
    const s2 = report.ghost.find((g) => g.virtualBatch === 2)!.layers.norm1.meanSpread;
    const s128 = report.ghost.find((g) => g.virtualBatch === 128)!.layers.norm1.meanSpread;
    for (let c = 0; c < 8; c++) expect(s128[c]).toBeLessThan(s2[c]);
  });

  test('timeline for the view: per layer and channel series, thinned on request', () => {
    const t = bnTimeline(ws, id);
    expect(t.hasBn).toBe(true);
    expect(t.interval).toBe(1);
    expect(t.series.norm1.runningMean.length).toBe(20);
    expect(t.series.norm3.runningMean[0].length).toBe(12);
    const thin = bnTimeline(ws, id, 5);
    expect(thin.kept).toBe(5);
    expect(thin.steps.at(-1)).toBe(20);
  });
});
