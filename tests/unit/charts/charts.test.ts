/**
 * The chart rules that do not need a page: smoothing moves the best-epoch marker onto the smoothed
 * curve and the chart says so; the report's SVG charts and the landscape's 1-D plot label their
 * axes by the shared tick rule (whole epochs, no float noise, thinned log labels, the y title
 * clear of the tick labels); the report colours a run as the views do.
 */
import { describe, expect, it } from 'vitest';
import { chartNote, drawnSeries } from '../../../src-renderer/src/lib/charts/lineChart';
import { smoothEma } from '../../../src-renderer/src/lib/charts/math';
import { lineChartSvg } from '../../../src-main/analysis/svg-charts';
import { linePlotSvg } from '../../../src-main/contract/math/landscape-plot';
import { estimateTextWidth } from '../../../src-main/contract/math/ticks';

/** Text elements of an SVG string with their position and content. */
function texts(svg: string): { x: number; y: number; text: string; anchor: string; transform: string }[] {
  const out: { x: number; y: number; text: string; anchor: string; transform: string }[] = [];
  for (const m of svg.matchAll(/<text([^>]*)>([^<]*)<\/text>/g)) {
    const attr = (k: string) => new RegExp(`${k}="([^"]*)"`).exec(m[1])?.[1] ?? '';
    out.push({ x: Number(attr('x')), y: Number(attr('y')), text: m[2], anchor: attr('text-anchor'), transform: attr('transform') });
  }
  return out;
}

describe('smoothing in the line chart', () => {
  const raw = [{ x: 1, y: 90 }, { x: 2, y: 97 }, { x: 3, y: 91 }, { x: 4, y: 95 }, { x: 5, y: 96 }];

  it('puts the best marker on the smoothed curve and says what was smoothed', () => {
    const [d] = drawnSeries({ series: [{ id: 'a', label: 'L1', points: raw, best: 'max' }], smoothing: 0.6 });
    const smooth = smoothEma(raw, 0.6);
    expect(d.smoothed).toBe(true);
    expect(d.shown.map((p) => p.y)).toEqual(smooth.map((p) => p.y));
    const best = smooth.reduce((b, p, i) => (p.y > smooth[b].y ? i : b), 0);
    expect(d.best).toBe(best);
    // The raw best (epoch 2) is not the smoothed best: the marker follows the curve that is drawn.
    expect(raw[best].x).not.toBe(2);
    expect(d.shown[d.best].y).toBeCloseTo(Math.max(...smooth.map((p) => p.y)), 12);
    expect(chartNote({ series: [], smoothing: 0.6 }, [d])).toMatch(/^Smoothed: debiased EMA, weight 0\.60; faint lines are the raw values · ▼ best point of the smoothed curve/);
  });

  it('leaves raw values and the raw best alone without smoothing', () => {
    const [d] = drawnSeries({ series: [{ id: 'a', label: 'L1', points: raw, best: 'max' }] });
    expect(d.smoothed).toBe(false);
    expect(d.shown).toBe(raw);
    expect(d.best).toBe(1);
    expect(chartNote({ series: [] }, [d])).toBe('▼ best value');
  });
});

describe('server-side SVG axes', () => {
  it('a chart after one epoch has whole-epoch ticks, plain y labels and its y title clear of them', () => {
    const svg = lineChartSvg({ title: 't', xLabel: 'epoch', yLabel: 'validation accuracy (%)', series: [{ label: 'L1', points: [{ x: 1, y: 21 }] }] });
    const t = texts(svg);
    const numeric = t.filter((x) => /^-?[\d.e-]+$/.test(x.text));
    expect(numeric.length).toBeGreaterThan(2);
    for (const n of numeric) expect(n.text).toMatch(/^-?\d+(\.\d{1,2})?$/);
    const xLabels = numeric.filter((n) => n.anchor === 'middle');
    expect(xLabels.map((n) => n.text)).toEqual(['1']);
    const yLabels = numeric.filter((n) => n.anchor === 'end');
    const title = t.find((x) => x.text === 'validation accuracy (%)')!;
    const titleX = Number(/translate\(([-\d.]+),/.exec(title.transform)![1]);
    const leftmost = Math.min(...yLabels.map((n) => n.x - estimateTextWidth(n.text, 11)));
    // The rotated 13 px title's glyphs reach about 10 px right of its baseline: still left of the labels.
    expect(titleX + 4).toBeLessThan(leftmost);
  });

  it('40 epochs: whole-number x labels that do not touch', () => {
    const pts = Array.from({ length: 40 }, (_, i) => ({ x: i + 1, y: 0.5 + i / 100 }));
    const t = texts(lineChartSvg({ title: 't', xLabel: 'epoch', yLabel: 'loss', series: [{ label: 'a', points: pts }], width: 500 }));
    const xs = t.filter((x) => x.anchor === 'middle' && /^\d+$/.test(x.text)).sort((a, b) => a.x - b.x);
    expect(xs.length).toBeGreaterThanOrEqual(4);
    for (let i = 1; i < xs.length; i++) expect(xs[i].x - xs[i - 1].x).toBeGreaterThan((estimateTextWidth(xs[i].text, 11) + estimateTextWidth(xs[i - 1].text, 11)) / 2);
  });

  it('the landscape 1-D plot labels its log axis without piling labels up', () => {
    const x = Array.from({ length: 41 }, (_, i) => -0.5 + i * 0.05);
    const loss = x.map((a) => 0.04 + 60 * (a - 1) ** 2);
    const svg = linePlotSvg({ x, series: [{ values: loss, label: 'L1 loss', colour: '#d1603d', axis: 'left' }], xLabel: 'α', leftLabel: 'test loss (log scale)', logLeft: true, height: 300 });
    const left = texts(svg).filter((t) => t.anchor === 'end').sort((a, b) => a.y - b.y);
    expect(left.length).toBeGreaterThanOrEqual(3);
    expect(left.length).toBeLessThanOrEqual(10);
    for (let i = 1; i < left.length; i++) expect(left[i].y - left[i - 1].y).toBeGreaterThanOrEqual(14);
  });
});
