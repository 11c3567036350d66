/**
 * The app's line chart: one SVG that carries everything a reader (or an exported file) needs —
 * title, legend, axes with units, the curves, best-epoch and event markers, and a note saying
 * what was smoothed. D3 draws, the chart rebuilds its SVG on update(data) and on resize.
 *
 * Smoothing is honest: with a weight > 0 the raw values stay on screen as faint lines, the
 * smoothed curve is drawn over them, and the best-epoch markers, the hover values and the export
 * follow the smoothed curve (the tooltip shows the raw value beside it).
 *
 * Legend: click hides a series, double-click (or Alt-click) shows only it, hover highlights it.
 * Styling is by CSS classes (charts.css) and SVG attributes, so it works under the app's CSP.
 */
import * as d3 from 'd3';
import { formatNumber } from '../../../../src-main/contract/format';
import { drawXAxis, drawYAxis, FONT, leftMargin, textWidth, X_AXIS_HEIGHT, yAxis } from './axes';
import { drawLegend, isolate, layoutLegend, type LegendItem } from './legend';
import { bestIndex, nearestIndex, smoothEma } from './math';
import { PALETTE } from './colors';

export interface LinePoint {
  x: number;
  y: number;
}

export interface LineSeries {
  id: string;
  label: string;
  /** Raw values, sorted by x. */
  points: readonly LinePoint[];
  /** CSS colour; defaults to the palette by position (views pass the run's own colour). */
  color?: string;
  dashed?: boolean;
  /** Min–max band (seeds of one configuration), raw values. */
  band?: readonly { x: number; lo: number; hi: number }[];
  /** Mark the best point of the drawn curve with ▼ ('max' for accuracy, 'min' for loss). */
  best?: 'max' | 'min';
  /** Dashed vertical rules in the series' colour (early stop, clipping). */
  events?: readonly { x: number; label: string }[];
  /** false: never smoothed (reference lines, one-off values). */
  smooth?: boolean;
}

export interface ChartMarker {
  x: number;
  label: string;
}

export interface LineChartData {
  series: readonly LineSeries[];
  /** Drawn at the top of the SVG (and used as its accessible name). */
  title?: string;
  xLabel?: string;
  yLabel?: string;
  xDomain?: [number, number];
  yDomain?: [number, number];
  /** Whole-number x ticks (epochs, steps, K). */
  xInteger?: boolean;
  logY?: boolean;
  /** y values are percentages: an empty axis runs 0–100. */
  percent?: boolean;
  /** Vertical rules for the whole chart (e.g. the best epoch of one run, epoch boundaries). */
  markers?: readonly ChartMarker[];
  xFormat?: (x: number) => string;
  yFormat?: (y: number) => string;
  /** Debiased EMA weight in [0, 1): 0 draws the raw values only. */
  smoothing?: number;
  /** Text in the plot while there is nothing to draw. */
  empty?: string;
  /** A line under the chart, exported with it (what the chart shows, where it comes from). */
  note?: string;
}

export interface LineChartOptions {
  /** Pixel height of the plot and its x axis (default 280); title, legend and notes add to it. */
  height?: number;
  /** Show the legend (default true). */
  legend?: boolean;
  /** Draw data.title inside the SVG (default true; off where the card's heading says it). */
  title?: boolean;
}

/**
 * Indices of the isolated points of a series: drawable points whose neighbours (in array order)
 * are absent or not drawable. d3.line draws such a point as a bare move, i.e. invisibly.
 */
export function isolatedIndices(points: readonly LinePoint[], drawable: (p: LinePoint) => boolean): number[] {
  const out: number[] = [];
  for (let i = 0; i < points.length; i++) {
    if (!drawable(points[i])) continue;
    const prev = i > 0 && drawable(points[i - 1]);
    const next = i + 1 < points.length && drawable(points[i + 1]);
    if (!prev && !next) out.push(i);
  }
  return out;
}

/** What the chart draws for one series: the raw points and the curve actually shown. */
export interface DrawnSeries {
  s: LineSeries;
  color: string;
  raw: readonly LinePoint[];
  /** The smoothed curve when smoothing applies, else the raw points. */
  shown: readonly LinePoint[];
  smoothed: boolean;
  /** Index into `shown` of the best point, or -1. */
  best: number;
}

/** The curves to draw: smoothing applied per series, best points taken on the shown curve. */
export function drawnSeries(data: LineChartData): DrawnSeries[] {
  const w = data.smoothing ?? 0;
  return data.series.map((s, i) => {
    const smoothed = w > 0 && s.smooth !== false && s.points.length > 1;
    const shown = smoothed ? smoothEma(s.points, w) : s.points;
    return { s, color: s.color ?? PALETTE[i % PALETTE.length], raw: s.points, shown, smoothed, best: s.best ? bestIndex(shown, s.best) : -1 };
  });
}

/** The note under a chart: what smoothing did and what the markers mean, then the view's own note. */
export function chartNote(data: LineChartData, drawn: readonly DrawnSeries[]): string {
  const parts: string[] = [];
  const anySmoothed = drawn.some((d) => d.smoothed);
  if (anySmoothed) parts.push(`Smoothed: debiased EMA, weight ${(data.smoothing ?? 0).toFixed(2)}; faint lines are the raw values`);
  if (drawn.some((d) => d.best >= 0)) parts.push(`▼ best ${anySmoothed ? 'point of the smoothed curve' : 'value'}`);
  if (drawn.some((d) => d.s.band?.length)) parts.push('band: min–max over seeds');
  if (drawn.some((d) => d.s.events?.length)) parts.push('dashed rules: early stop / clipping');
  if (data.note) parts.push(data.note);
  return parts.join(' · ');
}

const MARGIN = { top: 8, right: 18 };
const NOTE_LINE = 15;

function wrap(text: string, width: number, size: number): string[] {
  if (!text) return [];
  const words = text.split(' ');
  const lines: string[] = [];
  let line = '';
  for (const w of words) {
    const next = line ? `${line} ${w}` : w;
    if (line && textWidth(next, size) > width) {
      lines.push(line);
      line = w;
    } else line = next;
  }
  if (line) lines.push(line);
  return lines;
}

export class LineChart {
  readonly root: HTMLDivElement;
  private readonly svg: d3.Selection<SVGSVGElement, unknown, null, undefined>;
  private readonly tooltip: HTMLDivElement;
  private readonly resizeObserver: ResizeObserver;
  private hidden = new Set<string>();
  private highlighted: string | null = null;
  private data: LineChartData = { series: [] };
  private width = 0;
  private readonly height: number;
  private readonly showLegend: boolean;
  private readonly showTitle: boolean;

  constructor(container: HTMLElement, options: LineChartOptions = {}) {
    this.height = options.height ?? 280;
    this.showLegend = options.legend ?? true;
    this.showTitle = options.title ?? true;
    this.root = document.createElement('div');
    this.root.className = 'nl-chart';
    container.appendChild(this.root);
    this.svg = d3.select(this.root).append('svg').attr('class', 'nl-chart-svg').attr('role', 'img').attr('xmlns', 'http://www.w3.org/2000/svg');
    this.tooltip = document.createElement('div');
    this.tooltip.className = 'nl-chart-tooltip';
    this.tooltip.hidden = true;
    this.tooltip.setAttribute('data-testid', 'chart-tip');
    this.root.appendChild(this.tooltip);
    this.resizeObserver = new ResizeObserver(() => {
      const w = Math.floor(this.root.clientWidth);
      if (w > 0 && w !== this.width) {
        this.width = w;
        this.draw();
      }
    });
    this.resizeObserver.observe(this.root);
    this.width = Math.floor(this.root.clientWidth) || 600;
  }

  /** Replace the data and redraw. Hidden series stay hidden while their id is still present. */
  update(data: LineChartData): void {
    this.data = data;
    this.draw();
  }

  /** The SVG element, e.g. for export. */
  get svgElement(): SVGSVGElement {
    return this.svg.node()!;
  }

  /** Ids of the series hidden through the legend. */
  get hiddenIds(): string[] {
    return [...this.hidden];
  }

  destroy(): void {
    this.resizeObserver.disconnect();
    this.root.remove();
  }

  private draw(): void {
    const data = this.data;
    const W = Math.max(240, this.width);
    const ids = data.series.map((s) => s.id);
    for (const id of [...this.hidden]) if (!ids.includes(id)) this.hidden.delete(id);
    const all = drawnSeries(data);
    const visible = all.filter((d) => !this.hidden.has(d.s.id));
    const svg = this.svg;
    svg.selectAll('*').remove();
    svg.append('title').text(data.title || [data.yLabel, data.xLabel].filter(Boolean).join(' vs '));
    svg.append('rect').attr('class', 'nl-bg').attr('width', '100%').attr('height', '100%');

    // Vertical layout: title, legend, plot + x axis, note.
    let top = MARGIN.top;
    if (this.showTitle && data.title) {
      svg.append('text').attr('class', 'nl-chart-title').attr('x', W / 2).attr('y', top + FONT.title).attr('text-anchor', 'middle').text(data.title);
      top += FONT.title + 10;
    }
    const legendItems: LegendItem[] = all.map((d) => ({ id: d.s.id, label: d.s.label, color: d.color, dashed: d.s.dashed }));

    const plotH = Math.max(60, this.height - X_AXIS_HEIGHT - MARGIN.top);
    const logY = data.logY ?? false;
    const drawable = (p: LinePoint): boolean => Number.isFinite(p.x) && Number.isFinite(p.y) && (!logY || p.y > 0);
    const ys: number[] = [];
    const xs: number[] = [];
    for (const d of visible.length ? visible : all) {
      for (const p of [...d.raw, ...d.shown]) if (drawable(p)) { ys.push(p.y); xs.push(p.x); }
      for (const b of d.s.band ?? []) {
        for (const v of [b.lo, b.hi]) if (Number.isFinite(v) && (!logY || v > 0)) ys.push(v);
      }
    }
    const hasData = ys.length > 0;
    let yDomain: [number, number] = data.yDomain ?? (hasData ? [d3.min(ys)!, d3.max(ys)!] : data.percent ? [0, 100] : logY ? [0.1, 1] : [0, 1]);
    if (!data.yDomain && hasData && !logY) {
      const pad = (yDomain[1] - yDomain[0]) * 0.04;
      yDomain = [yDomain[0] - pad, yDomain[1] + pad];
      // Padding never takes a non-negative quantity below zero, nor a percentage above 100.
      if (d3.min(ys)! >= 0) yDomain = [Math.max(0, yDomain[0]), yDomain[1]];
    }
    if (logY && yDomain[0] === yDomain[1]) yDomain = [yDomain[0] / 2, yDomain[1] * 2];
    // Room above the highest point for its ▼ best marker (13 px), so it is not cut at the top.
    if (!data.yDomain && hasData && !logY && visible.some((d) => d.best >= 0 && d.s.best === 'max') && yDomain[1] > yDomain[0]) {
      yDomain = [yDomain[0], yDomain[1] + ((yDomain[1] - yDomain[0]) * 16) / plotH];
    }
    if (!data.yDomain && hasData && data.percent) yDomain = [yDomain[0], Math.min(100, yDomain[1])];
    const ya = yAxis({ domain: yDomain, log: logY, height: plotH, format: data.yFormat, exact: Boolean(data.yDomain) || (!hasData && data.percent) });
    const ml = leftMargin(ya, data.yLabel ?? '');
    const pw = Math.max(80, W - ml - MARGIN.right);

    const layout = layoutLegend(legendItems, pw);
    if (this.showLegend && legendItems.length) {
      const lg = svg.append('g').attr('class', 'nl-legend').attr('transform', `translate(${ml},${top})`);
      drawLegend(lg, legendItems, layout, {
        hidden: this.hidden,
        onToggle: (id) => {
          if (this.hidden.has(id)) this.hidden.delete(id);
          else this.hidden.add(id);
          this.draw();
        },
        onIsolate: (id) => {
          this.hidden = isolate(ids, this.hidden, id);
          this.draw();
        },
        onHover: (id) => this.highlight(id),
      });
      top += layout.height + 6;
    }

    let xDomain: [number, number] = data.xDomain ?? (xs.length ? [d3.min(xs)!, d3.max(xs)!] : [0, 1]);
    if (!data.xDomain) {
      if (xDomain[0] === xDomain[1]) xDomain = [xDomain[0] - 0.5, xDomain[1] + 0.5];
      else if (data.xInteger && xDomain[1] - xDomain[0] <= 12) xDomain = [xDomain[0] - 0.5, xDomain[1] + 0.5];
    }
    const plot = svg.append('g').attr('class', 'nl-plot').attr('transform', `translate(${ml},${top})`);
    const yg = plot.append('g');
    drawYAxis(yg, ya, pw, plotH, data.yLabel ?? '');
    const xg = plot.append('g');
    const x = drawXAxis(xg, { domain: xDomain, width: pw, integer: data.xInteger, format: data.xFormat }, plotH, data.xLabel ?? '');
    const y = ya.scale;
    const px = (v: number) => x(v);
    const py = (v: number) => y(v);
    plot.append('clipPath').attr('id', this.clipId()).append('rect').attr('x', -4).attr('y', -4).attr('width', pw + 8).attr('height', plotH + 8);

    const inX = (v: number) => v >= xDomain[0] && v <= xDomain[1];
    const marks = plot.append('g').attr('class', 'nl-markers');
    for (const m of data.markers ?? []) {
      if (!inX(m.x)) continue;
      const g = marks.append('g').attr('class', 'nl-marker').attr('transform', `translate(${px(m.x)},0)`);
      g.append('line').attr('y1', 0).attr('y2', plotH);
      if (m.label) {
        const right = px(m.x) + 4 + textWidth(m.label, 10) < pw;
        g.append('text').attr('y', 10).attr('dx', right ? 4 : -4).attr('text-anchor', right ? 'start' : 'end').text(m.label);
      }
    }

    const body = plot.append('g').attr('clip-path', `url(#${this.clipId()})`);
    const line = d3.line<LinePoint>().defined(drawable).x((p) => px(p.x)).y((p) => py(p.y));
    for (const d of visible) {
      const g = body.append('g').attr('class', 'nl-series').attr('data-series', d.s.id);
      if (d.s.band?.length) {
        const area = d3.area<{ x: number; lo: number; hi: number }>().defined((b) => Number.isFinite(b.lo) && Number.isFinite(b.hi) && (!logY || b.lo > 0))
          .x((b) => px(b.x)).y0((b) => py(b.lo)).y1((b) => py(b.hi));
        g.append('path').attr('class', 'nl-band').attr('d', area([...d.s.band]) ?? '').attr('fill', d.color);
      }
      if (d.smoothed) g.append('path').attr('class', 'nl-line nl-raw').attr('d', line([...d.raw]) ?? '').attr('stroke', d.color);
      g.append('path').attr('class', `nl-line${d.s.dashed ? ' dashed' : ''}`).attr('d', line([...d.shown]) ?? '').attr('stroke', d.color);
      for (const i of isolatedIndices(d.shown, drawable)) {
        g.append('circle').attr('class', 'nl-dot').attr('r', 3.5).attr('cx', px(d.shown[i].x)).attr('cy', py(d.shown[i].y)).attr('fill', d.color);
      }
      for (const e of d.s.events ?? []) {
        if (!inX(e.x)) continue;
        g.append('line').attr('class', 'nl-event').attr('x1', px(e.x)).attr('x2', px(e.x)).attr('y1', 0).attr('y2', plotH).attr('stroke', d.color)
          .append('title').text(`${d.s.label}: ${e.label} (${data.xLabel ?? 'x'} ${e.x})`);
      }
      if (d.best >= 0) {
        const b = d.shown[d.best];
        const bx = px(b.x);
        const by = py(b.y);
        g.append('path').attr('class', 'nl-best').attr('d', `M${bx},${by - 4} l-5,-9 h10 z`).attr('fill', d.color)
          .attr('data-x', b.x).attr('data-y', b.y)
          .append('title').text(`${d.s.label}: best ${this.fmtY(b.y)} at ${data.xLabel ?? 'x'} ${this.fmtX(b.x)}${d.smoothed ? ' (smoothed)' : ''}`);
      }
    }
    if (!hasData && data.empty) {
      plot.append('text').attr('class', 'nl-empty').attr('x', pw / 2).attr('y', plotH / 2).attr('text-anchor', 'middle').text(data.empty);
    }

    let bottom = top + plotH + X_AXIS_HEIGHT;
    const note = chartNote(data, all);
    const lines = wrap(note, W - 16, FONT.note);
    const noteG = svg.append('g').attr('class', 'nl-chart-note');
    lines.forEach((l, i) => noteG.append('text').attr('x', 8).attr('y', bottom + 4 + (i + 1) * NOTE_LINE - 4).text(l));
    bottom += lines.length ? lines.length * NOTE_LINE + 6 : 0;
    const H = Math.ceil(bottom + 2);
    svg.attr('width', W).attr('height', H).attr('viewBox', `0 0 ${W} ${H}`);

    this.bindHover(plot, visible, x, y, pw, plotH, ml, top, W);
    this.highlight(this.highlighted);
  }

  private clipIdValue = `nl-clip-${Math.random().toString(36).slice(2, 9)}`;
  private clipId(): string {
    return this.clipIdValue;
  }

  private fmtX(v: number): string {
    return this.data.xFormat ? this.data.xFormat(v) : formatNumber(v, 5);
  }

  private fmtY(v: number): string {
    return this.data.yFormat ? this.data.yFormat(v) : formatNumber(v, 4);
  }

  /** Dims every series but `id` (null: none dimmed). */
  private highlight(id: string | null): void {
    this.highlighted = id && this.data.series.some((s) => s.id === id) ? id : null;
    this.svg.selectAll<SVGGElement, unknown>('.nl-series').classed('nl-dim', (_d, i, nodes) => this.highlighted !== null && nodes[i].getAttribute('data-series') !== this.highlighted);
  }

  private bindHover(
    plot: d3.Selection<SVGGElement, unknown, null, undefined>,
    visible: DrawnSeries[],
    x: d3.ScaleLinear<number, number>,
    y: d3.ScaleLinear<number, number> | d3.ScaleLogarithmic<number, number>,
    pw: number,
    ph: number,
    ml: number,
    top: number,
    W: number,
  ): void {
    const hover = plot.append('g').attr('class', 'nl-hover').style('display', 'none');
    hover.append('line').attr('class', 'nl-hover-rule').attr('y1', 0).attr('y2', ph);
    const dots = hover.append('g').attr('class', 'nl-hover-dots');
    const overlay = plot.append('rect').attr('class', 'nl-overlay').attr('width', pw).attr('height', ph).attr('fill', 'transparent');
    const hide = (): void => {
      hover.style('display', 'none');
      this.tooltip.hidden = true;
    };
    overlay.on('mouseleave', hide);
    overlay.on('mousemove', (event: MouseEvent) => {
      if (!visible.length) return hide();
      const [mx] = d3.pointer(event, plot.node());
      const xv = x.invert(mx);
      // Snap to the nearest x present in any series, so the values shown are real points.
      let snapX = Number.NaN;
      let best = Infinity;
      for (const d of visible) {
        const i = nearestIndex(d.shown, xv);
        if (i >= 0 && Math.abs(d.shown[i].x - xv) < best) {
          best = Math.abs(d.shown[i].x - xv);
          snapX = d.shown[i].x;
        }
      }
      if (!Number.isFinite(snapX)) return hide();
      const rows = visible.flatMap((d) => {
        const i = nearestIndex(d.shown, snapX);
        const p = i >= 0 ? d.shown[i] : undefined;
        if (!p || p.x !== snapX || !Number.isFinite(p.y)) return [];
        const raw = d.smoothed ? d.raw[nearestIndex(d.raw, snapX)] : undefined;
        return [{ d, p, raw: raw && raw.x === snapX ? raw.y : undefined }];
      });
      hover.style('display', null);
      hover.select('.nl-hover-rule').attr('x1', x(snapX)).attr('x2', x(snapX));
      dots.selectAll('*').remove();
      for (const r of rows) dots.append('circle').attr('r', 3.5).attr('cx', x(r.p.x)).attr('cy', y(r.p.y)).attr('fill', r.d.color);
      this.tooltip.replaceChildren();
      const head = document.createElement('div');
      head.className = 'nl-tooltip-head';
      head.textContent = `${this.data.xLabel ? `${this.data.xLabel} ` : ''}${this.fmtX(snapX)}${rows.some((r) => r.d.smoothed) ? ' · smoothed (raw)' : ''}`;
      this.tooltip.appendChild(head);
      for (const r of [...rows].sort((a, b) => b.p.y - a.p.y)) {
        const row = document.createElement('div');
        row.className = 'nl-tooltip-row';
        const sw = document.createElement('span');
        sw.className = 'nl-tooltip-swatch';
        sw.style.background = r.d.color;
        const label = document.createElement('span');
        label.textContent = r.d.s.label;
        const value = document.createElement('b');
        value.textContent = r.raw !== undefined ? `${this.fmtY(r.p.y)} (${this.fmtY(r.raw)})` : this.fmtY(r.p.y);
        row.append(sw, label, value);
        this.tooltip.appendChild(row);
      }
      this.tooltip.hidden = false;
      const pxAbs = ml + x(snapX);
      const flip = pxAbs > W * 0.55;
      this.tooltip.style.left = flip ? '' : `${pxAbs + 14}px`;
      this.tooltip.style.right = flip ? `${W - pxAbs + 14}px` : '';
      this.tooltip.style.top = `${top + 4}px`;
    });
  }
}

/** Svelte action: `<div use:lineChart={{ data, options }}>`; re-renders when the data changes. */
export function lineChart(node: HTMLElement, params: { data: LineChartData; options?: LineChartOptions }) {
  const chart = new LineChart(node, params.options);
  chart.update(params.data);
  return {
    update(next: { data: LineChartData }) {
      chart.update(next.data);
    },
    destroy() {
      chart.destroy();
    },
  };
}
