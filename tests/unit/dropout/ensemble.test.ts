/**
 * MC dropout numerics: p = 0 gives the weight-scaled network exactly; on a linear layer the mean
 * over masks converges to the expected network like σ/√K; BN stays in eval mode; seeds reproduce;
 * the accumulator's statistics match hand-computed values.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../../src-main/engine/backend';
import { buildModel } from '../../../src-main/engine/model';
import {
  dropoutEnsemble, EnsembleAccumulator, entropyDeciles, entropyHistogram, hasActiveDropout, maskSeed, mcLogits,
} from '../../../src-main/analysis/dropout';
import { linearSpec, perturbedModel, s5WithDropout, testSlice, testTensor } from './helpers';

const IDENTITY = { mean: [0], std: [1] };

beforeAll(async () => {
  await initBackend();
});

describe('EnsembleAccumulator (hand-computed)', () => {
  // 2 images × 3 classes, labels [0, 2], two masks.
  const m1 = [0.7, 0.2, 0.1, 0.5, 0.3, 0.2];
  const m2 = [0.5, 0.4, 0.1, 0.1, 0.3, 0.6];
  const H = (p: number[]) => -p.reduce((s, v) => s + (v > 0 ? v * Math.log(v) : 0), 0);

  test('curve: ensemble accuracy and loss after each mask, single-mask accuracy', () => {
    const a = new EnsembleAccumulator(2, 3, [0, 2], 2);
    const p1 = a.add(m1);
    expect(p1.k).toBe(1);
    expect(p1.acc).toBe(0.5); // image 1 → class 0, label 2
    expect(p1.memberAcc).toBe(0.5);
    expect(p1.loss).toBeCloseTo(-(Math.log(0.7) + Math.log(0.2)) / 2, 12);
    const p2 = a.add(m2);
    expect(p2.acc).toBe(1); // mean of image 1 = [0.3, 0.3, 0.4] → class 2
    expect(p2.memberAcc).toBe(1);
    expect(p2.loss).toBeCloseTo(-(Math.log(0.6) + Math.log(0.4)) / 2, 12);
    expect(() => a.add(m1)).toThrow(/already holds 2 masks/);
  });

  test('per image: mean, spread, entropy, mutual information, disagreement', () => {
    const a = new EnsembleAccumulator(2, 3, [0, 2], 2);
    a.add(m1);
    a.add(m2);
    const s = a.finish();
    expect(Array.from(s.mean)).toEqual([0.6, 0.3, 0.1, 0.3, 0.3, 0.4].map((v) => Math.fround(v)));
    const std = Array.from(s.std);
    [0.1, 0.1, 0, 0.2, 0, 0.2].forEach((v, i) => expect(std[i]).toBeCloseTo(v, 6));
    expect(s.entropy[0]).toBeCloseTo(H([0.6, 0.3, 0.1]), 6);
    expect(s.entropy[1]).toBeCloseTo(H([0.3, 0.3, 0.4]), 6);
    expect(s.mutualInfo[0]).toBeCloseTo(H([0.6, 0.3, 0.1]) - (H([0.7, 0.2, 0.1]) + H([0.5, 0.4, 0.1])) / 2, 6);
    expect(s.mutualInfo[1]).toBeCloseTo(H([0.3, 0.3, 0.4]) - (H([0.5, 0.3, 0.2]) + H([0.1, 0.3, 0.6])) / 2, 6);
    expect(Array.from(s.pred)).toEqual([0, 2]);
    expect(Array.from(s.disagreement)).toEqual([0, 0.5]);
  });

  test('deciles rank by entropy, most certain first; histogram splits correct and wrong', () => {
    const entropy = [0.9, 0.1, 0.5, 0.3, 0.7, 0.2, 0.8, 0.4, 0.6, 1.0, 0.05, 2.2];
    const correct = entropy.map((e) => e < 0.55);
    const d = entropyDeciles(entropy, correct);
    expect(d).toHaveLength(10);
    expect(d.reduce((s, x) => s + x.count, 0)).toBe(12);
    expect(d[0]).toMatchObject({ decile: 1, count: 1, acc: 1, entropyFrom: 0.05, entropyTo: 0.05 });
    expect(d[9]).toMatchObject({ decile: 10, count: 2, acc: 0, entropyFrom: 1.0, entropyTo: 2.2 });
    const h = entropyHistogram(entropy, correct, 10, 4);
    const step = Math.log(10) / 4; // 0.5756
    expect(h.edges[4]).toBeCloseTo(Math.log(10), 12);
    expect(h.edges[1]).toBeCloseTo(step, 12);
    expect(h.correct).toEqual([6, 0, 0, 0]); // 0.05 … 0.5 all fall below 0.5756
    expect(h.wrong).toEqual([0, 5, 0, 1]); // 0.6 … 1.0 in [0.5756, 1.151); 2.2 in [1.727, 2.303]
  });
});

describe('MC dropout on real MNIST test images', () => {
  test('p = 0: every mask gives the weight-scaled output exactly (S5 net with BN running statistics)', async () => {
    const spec = s5WithDropout(0);
    expect(hasActiveDropout(spec)).toBe(false);
    const model = perturbedModel(spec);
    const x = await testTensor(64);
    const ws = model.predict(x);
    const expected = ws.dataSync();
    for (const seed of [1, 2, 99]) {
      const y = mcLogits(model, x, seed);
      expect(Array.from(y.dataSync())).toEqual(Array.from(expected));
      y.dispose();
    }
    const out = (await dropoutEnsemble(model, await testSlice(120), IDENTITY, { samples: 5, seed: 3, batch: 50 }))!;
    expect(out.stats.curve.map((c) => c.acc)).toEqual(new Array(5).fill(out.weightScaled.acc));
    expect(out.stats.curve.map((c) => c.memberAcc)).toEqual(new Array(5).fill(out.weightScaled.acc));
    expect(Array.from(out.stats.mean)).toEqual(Array.from(out.weightScaled.probs));
    expect(Math.max(...out.stats.std)).toBe(0);
    expect(Math.max(...out.stats.disagreement)).toBe(0);
    expect(Math.max(...out.stats.mutualInfo)).toBeLessThan(1e-6);
    ws.dispose();
    x.dispose();
    model.dispose();
  });

  test('MC passes keep BN in eval mode: running statistics unchanged, output independent of batch company', async () => {
    const model = perturbedModel(s5WithDropout(0.2));
    const before = model.getWeights();
    const x = await testTensor(16);
    const a = mcLogits(model, x, 5);
    const after = model.getWeights();
    for (const name of Object.keys(before)) expect(Array.from(after[name].data)).toEqual(Array.from(before[name].data));
    // With p = 0 and eval-mode BN an image's output does not depend on the rest of its batch;
    // with batch statistics it would.
    const m0 = perturbedModel(s5WithDropout(0));
    const full = mcLogits(m0, x, 1).arraySync();
    const single = mcLogits(m0, tf.slice(x, [3, 0, 0, 0], [1, 28, 28, 1]), 1).arraySync();
    single[0].forEach((v, j) => expect(v).toBeCloseTo(full[3][j], 4));
    // And the masks do act when p > 0.
    const b = mcLogits(model, x, 6);
    expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]).toBeGreaterThan(1e-3);
    [a, b, x].forEach((t) => t.dispose());
    model.dispose();
    m0.dispose();
  });

  test('linear layer: mean logits over K masks → weight-scaled logits, error variance = σ²/K (1/√K shrink)', async () => {
    const p = 0.3;
    const n = 300;
    const model = buildModel(linearSpec(p), 11);
    const x = await testTensor(n);
    const expected = model.predict(x).dataSync() as Float32Array;
    // Var of one mask's logit j: Σ_d x_d² W_dj² · p/(1−p) (inverted dropout: mask ∈ {0, 1/(1−p)}).
    const W = model.getWeights()['fc/kernel'].data;
    const xd = x.dataSync();
    let meanVar = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < 10; j++) {
        let v = 0;
        for (let d = 0; d < 784; d++) v += xd[i * 784 + d] ** 2 * W[d * 10 + j] ** 2;
        meanVar += (v * p) / (1 - p);
      }
    }
    meanVar /= n * 10;
    const sum = new Float64Array(n * 10);
    const mse: Record<number, number> = {};
    for (let k = 0; k < 256; k++) {
      const y = mcLogits(model, x, maskSeed(42, k, 0));
      const d = y.dataSync();
      y.dispose();
      for (let i = 0; i < d.length; i++) sum[i] += d[i];
      const K = k + 1;
      if (K === 4 || K === 16 || K === 64 || K === 256) {
        let s = 0;
        for (let i = 0; i < d.length; i++) s += (sum[i] / K - expected[i]) ** 2;
        mse[K] = s / d.length;
      }
    }
    for (const K of [4, 16, 64, 256]) {
      // Measured error variance of the K-mask mean against the formula σ²/K.
      expect(mse[K] / (meanVar / K)).toBeGreaterThan(0.8);
      expect(mse[K] / (meanVar / K)).toBeLessThan(1.25);
    }
    // RMS error shrinks like 1/√K: ×16 masks → ÷4.
    expect(Math.sqrt(mse[16] / mse[256])).toBeGreaterThan(3.3);
    expect(Math.sqrt(mse[16] / mse[256])).toBeLessThan(4.8);
    x.dispose();
    model.dispose();
  });

  test('seeded: same seed → identical results; another seed → different masks, same weight-scaled network', async () => {
    const model = perturbedModel(s5WithDropout(0.15), 3);
    const slice = await testSlice(60);
    const run = (seed: number) => dropoutEnsemble(model, slice, IDENTITY, { samples: 6, seed, batch: 25 });
    const a = (await run(7))!;
    const b = (await run(7))!;
    const c = (await run(8))!;
    expect(b.stats.curve).toEqual(a.stats.curve);
    expect(Array.from(b.stats.mean)).toEqual(Array.from(a.stats.mean));
    expect(Array.from(b.stats.disagreement)).toEqual(Array.from(a.stats.disagreement));
    expect(Array.from(c.stats.mean)).not.toEqual(Array.from(a.stats.mean));
    expect(Array.from(c.weightScaled.probs)).toEqual(Array.from(a.weightScaled.probs));
    expect(a.stats.curve).toHaveLength(6);
    expect(Math.max(...a.stats.std)).toBeGreaterThan(0);
    model.dispose();
  });

  test('progress reaches 1 in order; cancel stops between batches and returns null', async () => {
    const model = perturbedModel(s5WithDropout(0.1), 4);
    const slice = await testSlice(40);
    const fractions: number[] = [];
    const full = await dropoutEnsemble(model, slice, IDENTITY, { samples: 3, seed: 1, batch: 20 }, { progress: (f) => fractions.push(f) });
    expect(full).not.toBeNull();
    expect(fractions).toHaveLength(6);
    expect(fractions.at(-1)).toBe(1);
    expect(fractions.every((f, i) => i === 0 || f > fractions[i - 1])).toBe(true);
    let calls = 0;
    const cancelled = await dropoutEnsemble(model, slice, IDENTITY, { samples: 50, seed: 1, batch: 20 }, {
      progress: () => calls++,
      cancelled: () => calls >= 3,
    });
    expect(cancelled).toBeNull();
    expect(calls).toBe(3);
    model.dispose();
  });
});
