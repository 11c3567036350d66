import { describe, expect, it } from 'vitest';
import {
  eig2, makeToyData, standardize, toyComparison, toyGrid, toyLoss, toyLossDirect, toyMinimum, toyPath, toyProblem, toySmoothGradient,
} from '../../../src-main/analysis/toy';

const params = { scale1: 1, scale2: 10, lr: 0.005, steps: 60, l1: 0, l2: 0 };

describe('toy linear regression landscape', () => {
  const data = makeToyData(params);
  const prob = toyProblem(data);

  it('closed-form loss equals the mean squared error over the samples, with and without penalties', () => {
    for (const w of [[0, 0], [1.3, -0.2], [-4, 0.07], [2, -0.15]] as [number, number][]) {
      for (const pen of [{ l1: 0, l2: 0 }, { l1: 0.3, l2: 0 }, { l1: 0, l2: 0.7 }, { l1: 0.2, l2: 0.1 }]) {
        const direct = toyLossDirect(data, w, pen);
        expect(toyLoss(prob, w, pen)).toBeCloseTo(direct, 10);
      }
    }
  });

  it('a hand example: x = (1,0),(0,2), y = (1,4) gives A = diag(.5, 2), b = (.5, 4), c = 8.5', () => {
    const p = toyProblem({ x1: Float64Array.from([1, 0]), x2: Float64Array.from([0, 2]), y: Float64Array.from([1, 4]) });
    expect(p.a).toEqual([0.5, 0, 2]);
    expect(p.b).toEqual([0.5, 4]);
    expect(p.c).toBe(8.5);
    // At w = (1, 2) both residuals are zero.
    expect(toyLoss(p, [1, 2])).toBeCloseTo(0, 12);
    expect(toyMinimum(p, { l1: 0, l2: 0 })).toEqual([1, 2]);
  });

  it('gradient matches finite differences and vanishes at the L2 minimum', () => {
    const w: [number, number] = [0.4, -0.3];
    const g = toySmoothGradient(prob, w, 0.2);
    const h = 1e-6;
    const f = (v: [number, number]) => toyLoss(prob, v, { l1: 0, l2: 0.2 });
    expect(g[0]).toBeCloseTo((f([w[0] + h, w[1]]) - f([w[0] - h, w[1]])) / (2 * h), 4);
    expect(g[1]).toBeCloseTo((f([w[0], w[1] + h]) - f([w[0], w[1] - h])) / (2 * h), 3);
    const m = toyMinimum(prob, { l1: 0, l2: 0.2 });
    const gm = toySmoothGradient(prob, m, 0.2);
    expect(Math.hypot(...gm)).toBeLessThan(1e-10);
    // L2 shrinks the minimum towards 0.
    expect(Math.hypot(...m)).toBeLessThan(Math.hypot(...toyMinimum(prob, { l1: 0, l2: 0 })));
  });

  it('the L1 minimum satisfies the subgradient (KKT) conditions and a large λ1 zeroes a weight (a corner)', () => {
    const np = toyProblem(standardize(data));
    const l1 = 2.5;
    const m = toyMinimum(np, { l1, l2: 0 });
    const g = toySmoothGradient(np, m, 0);
    for (let k = 0; k < 2; k++) {
      if (m[k] !== 0) expect(g[k] + l1 * Math.sign(m[k])).toBeCloseTo(0, 8);
      else expect(Math.abs(g[k])).toBeLessThanOrEqual(l1 + 1e-9);
    }
    expect(m.filter((v) => v === 0).length).toBeGreaterThanOrEqual(1);
    // Proximal GD reaches the same point, exactly on the axis.
    const path = toyPath(np, [-2, 2], { lr: 0.1, steps: 2000, l1, l2: 0 });
    const last = path.points.at(-1)!;
    expect(last[0]).toBeCloseTo(m[0], 6);
    expect(last[1]).toBeCloseTo(m[1], 6);
  });

  it('raw features on scales 1 and 10 give an ill-conditioned problem; standardized ones a round one', () => {
    const { raw, normalized } = toyComparison(params);
    expect(raw.condition).toBeGreaterThan(50);
    expect(normalized.condition).toBeLessThan(2.5);
    // Same learning rate: stable on the raw problem only below 1/λmax ≈ 1/100.
    expect(raw.maxStableLr).toBeLessThan(0.02);
    const fast = toyComparison({ ...params, lr: 0.5 });
    expect(fast.raw.path.diverged).toBe(true);
    expect(fast.normalized.path.diverged).toBe(false);
    expect(fast.normalized.path.finalLoss).toBeCloseTo(toyLoss(fast.normalized.problem, fast.normalized.minimum), 6);
    expect(eig2(2, 0, 1)).toEqual([1, 2]);
  });

  it('the grid holds the closed form at its corners, row-major with rows along w2', () => {
    const g = toyGrid(prob, { l1: 0.1, l2: 0.2 }, [-1, 3], [-2, 2], 5);
    expect(g[0]).toBe(toyLoss(prob, [-1, -2], { l1: 0.1, l2: 0.2 }));
    expect(g[4]).toBe(toyLoss(prob, [3, -2], { l1: 0.1, l2: 0.2 }));
    expect(g[20]).toBe(toyLoss(prob, [-1, 2], { l1: 0.1, l2: 0.2 }));
  });

  it('rejects bad scales with a clear message', () => {
    expect(() => makeToyData({ scale1: 0, scale2: 1 })).toThrow(/scale1 must be a positive number/);
  });
});

describe('toy picture', () => {
  it('draws filled contours, the path and the legend; raw and normalized side by side as PNG', async () => {
    const { contourPlotSvg } = await import('../../../src-main/contract/math/landscape-plot');
    const { svgToPng } = await import('../../../src-main/analysis/landscape-render');
    const { mkdirSync, writeFileSync } = await import('node:fs');
    const { raw, normalized } = toyComparison({ ...params, lr: 0.0093, steps: 100 }, 61);
    mkdirSync('tests/artifacts', { recursive: true });
    for (const s of [raw, normalized]) {
      const xs = Array.from({ length: 61 }, (_, i) => s.xRange[0] + ((s.xRange[1] - s.xRange[0]) * i) / 60);
      const ys = Array.from({ length: 61 }, (_, j) => s.yRange[0] + ((s.yRange[1] - s.yRange[0]) * j) / 60);
      const svg = contourPlotSvg({
        xs, ys, values: s.grid.values, xLabel: 'w1', yLabel: 'w2', legendLabel: 'MSE (log)', equalAspect: true,
        title: s.normalized ? 'normalized' : 'raw', path: { points: s.path.points }, markers: [{ x: s.minimum[0], y: s.minimum[1], label: 'minimum' }],
      });
      expect(svg.match(/class="level"/g)!.length).toBeGreaterThanOrEqual(10);
      expect(svg).toContain('<polyline class="path"');
      writeFileSync(`tests/artifacts/landscape-toy-${s.normalized ? 'normalized' : 'raw'}-cli.png`, svgToPng(svg));
    }
    // The raw path zig-zags across the valley: w2 changes sign step after step.
    const w2 = raw.path.points.slice(1, 12).map((p) => p[1] - raw.minimum[1]);
    expect(w2.filter((v, k) => k > 0 && Math.sign(v) !== Math.sign(w2[k - 1])).length).toBeGreaterThanOrEqual(8);
    // The normalized one does not: it heads straight in.
    const n2 = normalized.path.points.slice(1, 12).map((p) => p[1] - normalized.minimum[1]);
    expect(n2.filter((v, k) => k > 0 && Math.sign(v) !== Math.sign(n2[k - 1])).length).toBe(0);
  });
});
