/** Which points the line chart marks with a dot: those a d3 line alone would leave invisible. */
import { describe, expect, it } from 'vitest';
import { isolatedIndices, type LinePoint } from '../../../src-renderer/src/lib/charts/lineChart';

const finite = (p: LinePoint) => Number.isFinite(p.y);
const pts = (ys: number[]): LinePoint[] => ys.map((y, x) => ({ x: x + 1, y }));

describe('isolatedIndices', () => {
  it('marks a single-point series (a run after its first epoch)', () => {
    expect(isolatedIndices(pts([0.91]), finite)).toEqual([0]);
    expect(isolatedIndices([], finite)).toEqual([]);
  });

  it('marks nothing on a connected line', () => {
    expect(isolatedIndices(pts([0.5, 0.6, 0.7]), finite)).toEqual([]);
  });

  it('marks points whose neighbours are missing (NaN), at the ends and between gaps', () => {
    expect(isolatedIndices(pts([0.5, NaN, 0.7, 0.8, NaN, 0.9]), finite)).toEqual([0, 5]);
    expect(isolatedIndices(pts([NaN, 0.4, NaN, NaN, 0.6, 0.7]), finite)).toEqual([1]);
    expect(isolatedIndices(pts([NaN, NaN]), finite)).toEqual([]);
  });

  it('uses the chart’s own notion of drawable (log scale drops y ≤ 0)', () => {
    const logDrawable = (p: LinePoint) => Number.isFinite(p.y) && p.y > 0;
    expect(isolatedIndices(pts([1, 0, 2, 3]), logDrawable)).toEqual([0]);
  });
});
