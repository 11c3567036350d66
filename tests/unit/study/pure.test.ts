/** Presets, smoothing, config diff, grouping and weight statistics against hand-computed values. */
import { describe, expect, it } from 'vitest';
import type { EpochMetrics, RunRecord } from '../../../src-main/contract/api';
import { DEFAULT_SETTINGS, type TrainSettings } from '../../../src-main/contract/settings';
import { expandPreset, listPresets, S6_DEFAULTS } from '../../../src-main/analysis/presets';
import { aggregate, compareRow, configDiff, debiasedEma, groupRuns } from '../../../src-main/analysis/study';
import { decayInfo, logAbsHistogram, quantiles, sparsity } from '../../../src-main/analysis/weights';
import { smoothEma } from '../../../src-renderer/src/lib/charts/math';

function run(id: string, s: Partial<TrainSettings>, name = id): RunRecord {
  return {
    id, name, status: 'done', settings: { ...DEFAULT_SETTINGS, ...s }, backend: 'wasm', versions: {},
    created: '2026-01-01T00:00:00Z', updated: '2026-01-01T00:00:00Z', epochsDone: 2,
  };
}
const m = (epoch: number, test_acc: number, test_loss: number, extra: Partial<EpochMetrics> = {}): EpochMetrics => ({
  epoch, train_loss: 1, train_acc: 0.5, test_loss, test_acc, lr: 0.05, grad_norm: 1, clipped_steps: 0,
  weight_norms: { 'conv1/kernel': 3, 'fc/kernel': 4, 'norm1/gamma': 100 }, sparsity: 0.1, seconds: 1, ...extra,
});

describe('presets', () => {
  it('s6 expands to none, L1, L2, L1+L2 at 40 epochs with the documented λ', () => {
    const runs = expandPreset('s6');
    expect(runs.map((r) => r.variant)).toEqual(['none', 'l1', 'l2', 'l1l2']);
    expect(runs.map((r) => [r.settings.l1, r.settings.l2])).toEqual([[0, 0], [S6_DEFAULTS.l1, 0], [0, S6_DEFAULTS.l2], [S6_DEFAULTS.l1, S6_DEFAULTS.l2]]);
    expect(runs.every((r) => r.settings.epochs === 40)).toBe(true);
  });
  it('user λ, overrides and seeds', () => {
    const runs = expandPreset('s6', { params: { l1: 1e-4 }, overrides: { epochs: 3, data: 'fashion-mnist' }, seeds: 3 });
    expect(runs).toHaveLength(12);
    expect(runs.filter((r) => r.variant === 'l1').map((r) => [r.seed, r.settings.l1, r.settings.name])).toEqual([
      [1, 1e-4, 'L1 (λ=0.0001) · seed 1'], [2, 1e-4, 'L1 (λ=0.0001) · seed 2'], [3, 1e-4, 'L1 (λ=0.0001) · seed 3'],
    ]);
    expect(runs.every((r) => r.settings.epochs === 3 && r.settings.data === 'fashion-mnist')).toBe(true);
  });
  it('the other presets expand to their documented variants', () => {
    const keys = (id: string) => expandPreset(id).map((r) => r.variant);
    expect(keys('norms')).toEqual(['batch', 'ghost', 'layer', 'group', 'none']);
    expect(expandPreset('norms').map((r) => r.settings.norm)).toEqual(['batch', 'ghost', 'layer', 'group', 'none']);
    const bs = expandPreset('batch-size');
    expect(bs.map((r) => [r.settings.batch, r.settings.linearScaling])).toEqual([
      [32, false], [32, true], [128, false], [128, true], [512, false], [512, true], [1024, false], [1024, true],
    ]);
    expect(expandPreset('bn-position').map((r) => [r.settings.bnPosition, r.settings.convBias])).toEqual([
      ['before', false], ['before', true], ['after', false], ['after', true],
    ]);
    const d = expandPreset('dropout');
    expect(d.map((r) => [r.settings.norm, r.settings.dropout])).toEqual([
      ['batch', 0], ['batch', 0.05], ['batch', 0.1], ['batch', 0.25], ['none', 0], ['none', 0.05], ['none', 0.1], ['none', 0.25],
    ]);
    expect(listPresets().map((p) => p.id)).toEqual(['s6', 'norms', 'batch-size', 'bn-position', 'dropout']);
  });
  it('bad input is named', () => {
    expect(() => expandPreset('s7')).toThrow('unknown study preset "s7"; use one of s6, norms, batch-size, bn-position, dropout');
    expect(() => expandPreset('s6', { params: { l3: 1 } })).toThrow('preset s6 has no parameter "l3" (it has l1, l2)');
    expect(() => expandPreset('s6', { params: { l1: -1 } })).toThrow('L1 λ (l1) must be a number between 0 and 1, got -1');
    expect(() => expandPreset('s6', { overrides: { l1: 0.1 } })).toThrow('study setting "l1" cannot be overridden');
    expect(() => expandPreset('s6', { seeds: 0 })).toThrow('seeds must be a whole number from 1 to 20, got 0');
    expect(() => expandPreset('norms', { variants: ['bogus'] })).toThrow('preset norms has no variant bogus');
  });
});

describe('debiased EMA', () => {
  it('matches hand-computed values (β = 0.5)', () => {
    // s1 = 0.5·0 + 0.5·1 = 0.5 → /(1−0.5) = 1; s2 = 0.25 + 0.5·3 = 1.75 → /0.75 = 2.3333;
    // s3 = 0.875 + 0.5·2 = 1.875 → /0.875 = 2.142857
    const want = [1, 7 / 3, 15 / 7];
    const got = debiasedEma([1, 3, 2], 0.5);
    got.forEach((v, i) => expect(v).toBeCloseTo(want[i], 12));
    const chart = smoothEma([{ x: 1, y: 1 }, { x: 2, y: 3 }, { x: 3, y: 2 }], 0.5).map((p) => p.y);
    chart.forEach((v, i) => expect(v).toBeCloseTo(want[i], 12));
  });
  it('β = 0 is the identity, the first point is never pulled to zero, NaN passes through', () => {
    expect(debiasedEma([0.9, 0.2], 0)).toEqual([0.9, 0.2]);
    expect(debiasedEma([0.9], 0.99)[0]).toBeCloseTo(0.9, 12);
    const r = debiasedEma([1, NaN, 3], 0.5);
    expect(r[1]).toBeNaN();
    expect(r[2]).toBeCloseTo(7 / 3, 12);
    expect(() => debiasedEma([1], 1)).toThrow('smoothing must be in [0, 1)');
  });
});

describe('config diff, groups, table', () => {
  const a = run('a', { l1: 0, seed: 1 }, 'none');
  const b = run('b', { l1: 1e-4, seed: 1 }, 'L1');
  const c = run('c', { l1: 1e-4, seed: 2 }, 'L1 · seed 2');
  it('lists only the settings that differ', () => {
    const d = configDiff([a, b, c]);
    expect(d.map((r) => r.key)).toEqual(['l1', 'seed']);
    expect(d[0].values).toEqual({ a: 0, b: 1e-4, c: 1e-4 });
    expect(configDiff([a, run('a2', { l1: 0 })])).toEqual([]);
  });
  it('groups seeds of one configuration', () => {
    const g = groupRuns([a, b, c]);
    expect(g.map((x) => [x.label, x.runIds])).toEqual([['none', ['a']], ['L1', ['b', 'c']]]);
  });
  it('table: final, best accuracy and epoch, sparsity, kernel norm (kernels only)', () => {
    const row = compareRow(b, [m(1, 0.9, 0.3), m(2, 0.95, 0.25), m(3, 0.94, 0.2, { sparsity: 0.3 })]);
    expect(row).toMatchObject({ finalTestAcc: 0.94, bestTestAcc: 0.95, bestAccEpoch: 2, bestLossEpoch: 3, sparsity: 0.3, kernelNorm: 5, epochs: 3 });
  });
  it('aggregates seeds to mean, min, max per epoch', () => {
    const agg = aggregate([[m(1, 0.8, 1), m(2, 0.9, 1)], [m(1, 0.6, 1)]], 'test_acc');
    expect(agg[0]).toMatchObject({ epoch: 1, min: 0.6, max: 0.8, n: 2 });
    expect(agg[0].mean).toBeCloseTo(0.7, 12);
    expect(agg[1]).toMatchObject({ epoch: 2, mean: 0.9, n: 1 });
  });
});

describe('weight statistics', () => {
  const w = [0, 0, 5e-5, -5e-4, 0.005, -0.05, 0.5, 2];
  it('log|w| histogram keeps exact zeros apart and bins by quarter decades', () => {
    const h = logAbsHistogram(w);
    expect(h.zeros).toBe(2);
    expect(h.total).toBe(8);
    expect(h.counts.reduce((s, x) => s + x, 0)).toBe(6);
    // log10(5e-5) = -4.30 → bin ⌊(−4.30+7)/0.25⌋ = 10; log10(2) = 0.30 → bin 29.
    expect(h.counts[10]).toBe(1);
    expect(h.counts[29]).toBe(1);
  });
  it('sparsity thresholds and exact quantiles', () => {
    expect(sparsity(w)).toEqual({ '1e-4': 3 / 8, '1e-3': 4 / 8, '1e-2': 5 / 8 });
    const q = quantiles([4, 1, 3, 2], [0, 0.5, 1, 0.25]);
    expect(q).toEqual([1, 2.5, 4, 1.75]);
  });
  it('effective decay: L2 with momentum vs decoupled weight decay, L1 shrink', () => {
    const s = { ...DEFAULT_SETTINGS, lr: 0.05, momentum: 0.9, l2: 5e-4, l1: 5e-5, batch: 100, trainLimit: 1000 };
    const d = decayInfo(s, 8000);
    expect(d.stepsPerEpoch).toBe(10);
    expect(d.l2FactorNoMomentum).toBeCloseTo(1 - 0.05 * 2 * 5e-4, 15);
    expect(d.l2Factor).toBeCloseTo(1 - (0.05 * 2 * 5e-4) / 0.1, 15);
    expect(d.l1Shrink).toBeCloseTo((0.05 * 5e-5) / 0.1, 15);
    expect(d.decoupledFactor).toBeNull();
    expect(d.halfLifeSteps).toBeCloseTo(Math.log(0.5) / Math.log(0.9995), 6);
    const wd = decayInfo({ ...DEFAULT_SETTINGS, lr: 0.1, weightDecay: 1e-3, optimizer: 'adamw' }, 8000);
    expect(wd.decoupledFactor).toBeCloseTo(1 - 1e-4, 15);
    expect(wd.l2Factor).toBeNull();
    expect(wd.epochFactor).toBeCloseTo((1 - 1e-4) ** 63, 12);
  });
});
