/** Axis ticks (src-main/contract/math/ticks.ts): whole epochs, readable decimals, thinned log labels. */
import { describe, expect, it } from 'vitest';
import { decimalsForStep, estimateTextWidth, linearTicks, logTickLabel, logTicks, thinLabels, tickFormatter } from '../../../src-main/contract/math/ticks';

describe('linear ticks', () => {
  it('keeps whole numbers on epoch axes, however short the range', () => {
    expect(linearTicks(0.5, 1.5, 8, true)).toEqual([1]);
    expect(linearTicks(1, 2, 10, true)).toEqual([1, 2]);
    expect(linearTicks(1, 40, 8, true)).toEqual([5, 10, 15, 20, 25, 30, 35, 40]);
    expect(linearTicks(0.5, 40.5, 4, true)).toEqual([10, 20, 30, 40]);
    expect(linearTicks(1, 3000, 6, true).every(Number.isInteger)).toBe(true);
    expect(linearTicks(0.2, 0.8, 5, true)).toEqual([]);
    expect(linearTicks(21, 21, 5, true)).toEqual([21]);
  });

  it('labels with the decimals the step needs', () => {
    expect(decimalsForStep(1)).toBe(0);
    expect(decimalsForStep(0.5)).toBe(1);
    expect(decimalsForStep(0.25)).toBe(2);
    expect(decimalsForStep(0.02)).toBe(2);
    expect(decimalsForStep(20)).toBe(0);
    const f = tickFormatter([21]);
    expect(f(21)).toBe('21');
    const g = tickFormatter([0.2, 0.4, 0.6]);
    expect(g(0.4)).toBe('0.4');
    expect(tickFormatter([-0.5, 0, 0.5])(0)).toBe('0.0');
    expect(tickFormatter([0, 25, 50, 75, 100], '%')(75)).toBe('75%');
    expect(tickFormatter([0.00001, 0.00002])(0.00002)).toBe('2e-5');
  });
});

describe('log ticks', () => {
  it('labels 1-2-5 on a short range, and only some decades on a long one', () => {
    expect(logTicks(0.1, 10, 8).labelled).toEqual([0.1, 0.2, 0.5, 1, 2, 5, 10]);
    expect(logTicks(0.1, 10, 4).labelled).toEqual([0.1, 1, 10]);
    const wide = logTicks(1e-6, 1e6, 5);
    expect(wide.labelled.length).toBeLessThanOrEqual(5);
    expect(wide.labelled.length).toBeGreaterThanOrEqual(3);
    expect(wide.labelled.every((v) => Number.isInteger(Math.log10(v)))).toBe(true);
  });

  it('falls back to linear ticks inside one decade', () => {
    const t = logTicks(0.31, 0.92, 6);
    expect(t.labelled.length).toBeGreaterThanOrEqual(2);
    expect(t.labelled.every((v) => v >= 0.31 && v <= 0.92)).toBe(true);
  });

  it('writes log labels compactly', () => {
    expect(logTickLabel(0.001)).toBe('0.001');
    expect(logTickLabel(1e-5)).toBe('1e-5');
    expect(logTickLabel(20)).toBe('20');
  });
});

describe('label thinning', () => {
  it('keeps every k-th label so that neighbours do not overlap', () => {
    const centres = Array.from({ length: 10 }, (_, i) => i * 20);
    expect(thinLabels(centres, centres.map(() => 10), 4)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(thinLabels(centres, centres.map(() => 30), 4)).toEqual([0, 2, 4, 6, 8]);
    expect(thinLabels([], [])).toEqual([]);
  });

  it('estimates wider text for longer labels and larger fonts', () => {
    expect(estimateTextWidth('0.001', 11)).toBeGreaterThan(estimateTextWidth('1', 11));
    expect(estimateTextWidth('100%', 12)).toBeGreaterThan(estimateTextWidth('100%', 10));
  });
});
