/**
 * Axes for every chart of the app: ticks from the shared rule (src-main/contract/math/ticks),
 * labels measured in the page's own font so that the y title sits clear of the widest tick
 * label and no two x labels overlap. Charts ask for the left margin first (leftMargin), then draw.
 */
import * as d3 from 'd3';
import { linearTicks, logTickLabel, logTicks, thinLabels, tickFormatter } from '../../../../src-main/contract/math/ticks';

/** Fonts of chart text, in px (charts.css uses the same sizes). */
export const FONT = { tick: 11, label: 12, title: 13.5, legend: 12, note: 11 } as const;

let measureCtx: CanvasRenderingContext2D | null = null;
let family = '';

/** Width in px of `text` at `size` in the app's font (canvas measureText: exact, no layout). */
export function textWidth(text: string, size: number, weight: number | string = 400): number {
  if (!measureCtx) {
    measureCtx = document.createElement('canvas').getContext('2d');
    family = getComputedStyle(document.body).fontFamily || 'sans-serif';
  }
  if (!measureCtx) return text.length * size * 0.6;
  measureCtx.font = `${weight} ${size}px ${family}`;
  return measureCtx.measureText(text).width;
}

export type YScale = d3.ScaleLinear<number, number> | d3.ScaleLogarithmic<number, number>;

export interface YAxisSpec {
  domain: [number, number];
  log?: boolean;
  /** Pixel height of the plot. */
  height: number;
  format?: (v: number) => string;
  /** Keep the domain as given (no nice rounding). */
  exact?: boolean;
}

export interface YAxis {
  scale: YScale;
  ticks: number[];
  /** Ticks that carry a label (all of them on a linear axis). */
  labelled: number[];
  format: (v: number) => string;
  /** Width of the widest tick label. */
  labelWidth: number;
}

/** The y scale, its ticks and labels (before drawing, so the left margin can be sized). */
export function yAxis(spec: YAxisSpec): YAxis {
  const count = Math.max(2, Math.min(8, Math.floor(spec.height / 38)));
  if (spec.log) {
    const scale = d3.scaleLog().domain(spec.domain).range([spec.height, 0]);
    const t = logTicks(spec.domain[0], spec.domain[1], Math.max(2, Math.floor(spec.height / 22)));
    const format = spec.format ?? logTickLabel;
    return { scale, ticks: t.ticks, labelled: t.labelled, format, labelWidth: Math.max(0, ...t.labelled.map((v) => textWidth(format(v), FONT.tick))) };
  }
  const scale = d3.scaleLinear().domain(spec.domain).range([spec.height, 0]);
  if (!spec.exact) scale.domain(niceDomain(spec.domain, count));
  const [lo, hi] = scale.domain();
  const ticks = linearTicks(lo, hi, count);
  const format = spec.format ?? tickFormatter(ticks);
  return { scale, ticks, labelled: ticks, format, labelWidth: Math.max(0, ...ticks.map((v) => textWidth(format(v), FONT.tick))) };
}

/** The domain widened to the next ticks, as d3's nice() does, but never to an empty range. */
function niceDomain([lo, hi]: [number, number], count: number): [number, number] {
  if (!(hi > lo)) {
    const pad = Math.abs(lo) * 0.05 || 0.5;
    return [lo - pad, hi + pad];
  }
  return d3.scaleLinear().domain([lo, hi]).nice(count).domain() as [number, number];
}

/** Left margin that fits the tick labels, the tick marks and, when given, the rotated y title. */
export function leftMargin(axis: YAxis, title: string): number {
  return Math.ceil(axis.labelWidth + 6 + 4 + (title ? FONT.label + 10 : 0) + 2);
}

/** Draws the y axis (domain line, ticks, labels, title) and the horizontal grid into `g`. */
export function drawYAxis(g: d3.Selection<SVGGElement, unknown, null, undefined>, axis: YAxis, width: number, height: number, title: string): void {
  g.selectAll('*').remove();
  const labelled = new Set(axis.labelled);
  const grid = g.append('g').attr('class', 'nl-grid');
  for (const t of axis.labelled) grid.append('line').attr('x1', 0).attr('x2', width).attr('y1', axis.scale(t)).attr('y2', axis.scale(t));
  const ax = g.append('g').attr('class', 'nl-axis nl-axis-y');
  ax.append('line').attr('class', 'domain').attr('x1', 0).attr('x2', 0).attr('y1', 0).attr('y2', height);
  for (const t of axis.ticks) {
    const y = axis.scale(t);
    if (!Number.isFinite(y) || y < -0.5 || y > height + 0.5) continue;
    const major = labelled.has(t);
    ax.append('line').attr('x1', major ? -6 : -3).attr('x2', 0).attr('y1', y).attr('y2', y);
    if (major) ax.append('text').attr('x', -9).attr('y', y).attr('dy', '0.32em').attr('text-anchor', 'end').text(axis.format(t));
  }
  if (title) {
    g.append('text').attr('class', 'nl-axis-label nl-axis-label-y').attr('text-anchor', 'middle')
      .attr('transform', `translate(${-(axis.labelWidth + 6 + 4 + 4)},${height / 2}) rotate(-90)`)
      .attr('dy', '-0.2em').text(title);
  }
}

export interface XAxisSpec {
  domain: [number, number];
  width: number;
  /** Whole numbers only (epochs, steps, K). */
  integer?: boolean;
  format?: (v: number) => string;
}

/** Draws the x axis at y = `height` with labels that never overlap, and its title below. */
export function drawXAxis(g: d3.Selection<SVGGElement, unknown, null, undefined>, spec: XAxisSpec, height: number, title: string): d3.ScaleLinear<number, number> {
  g.selectAll('*').remove();
  const x = d3.scaleLinear().domain(spec.domain).range([0, spec.width]);
  // Ask for as many ticks as the widest label allows, then thin whatever still collides.
  const probe = linearTicks(spec.domain[0], spec.domain[1], 10, spec.integer);
  const probeFmt = spec.format ?? tickFormatter(probe);
  const widest = Math.max(12, ...probe.map((v) => textWidth(probeFmt(v), FONT.tick)));
  const count = Math.max(2, Math.min(10, Math.floor(spec.width / (widest + 28))));
  const ticks = linearTicks(spec.domain[0], spec.domain[1], count, spec.integer);
  const format = spec.format ?? tickFormatter(ticks);
  const labels = ticks.map(format);
  const kept = new Set(thinLabels(ticks.map((t) => x(t)), labels.map((l) => textWidth(l, FONT.tick)), 8));
  const ax = g.append('g').attr('class', 'nl-axis nl-axis-x').attr('transform', `translate(0,${height})`);
  ax.append('line').attr('class', 'domain').attr('x1', 0).attr('x2', spec.width);
  ticks.forEach((t, i) => {
    const px = x(t);
    ax.append('line').attr('x1', px).attr('x2', px).attr('y1', 0).attr('y2', kept.has(i) ? 6 : 3);
    if (kept.has(i)) ax.append('text').attr('x', px).attr('y', 9).attr('dy', '0.71em').attr('text-anchor', 'middle').text(labels[i]);
  });
  if (title) g.append('text').attr('class', 'nl-axis-label nl-axis-label-x').attr('text-anchor', 'middle').attr('x', spec.width / 2).attr('y', height + 38).text(title);
  return x;
}

/** Space under the plot for the x tick labels and the x title. */
export const X_AXIS_HEIGHT = 46;
