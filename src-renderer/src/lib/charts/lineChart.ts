/**
 * A D3 line chart that builds its SVG once and redraws on update(data): axes with labels,
 * a legend that toggles series, optional event markers, and a hover rule that lists every
 * visible series' value at the nearest x. Styling is by CSS classes (see charts.css) and
 * CSSOM properties, so it works under a CSP without 'unsafe-inline'.
 */
import * as d3 from 'd3';
import { nearestIndex, seriesExtent } from './math';

export interface LinePoint {
  x: number;
  y: number;
}

export interface LineSeries {
  id: string;
  label: string;
  points: readonly LinePoint[];
  /** CSS colour; defaults to the palette by position. */
  color?: string;
  dashed?: boolean;
}

export interface ChartMarker {
  x: number;
  label: string;
}

export interface LineChartData {
  series: readonly LineSeries[];
  title?: string;
  xLabel?: string;
  yLabel?: string;
  /** Fixed y range; default fits the data (with a little headroom). */
  yDomain?: [number, number];
  xDomain?: [number, number];
  logY?: boolean;
  /** Vertical lines, e.g. the best epoch or an early stop. */
  markers?: readonly ChartMarker[];
  xFormat?: (x: number) => string;
  yFormat?: (y: number) => string;
}

export interface LineChartOptions {
  /** Pixel height of the plot including axes (default 280). */
  height?: number;
  /** Show the legend (default true). */
  legend?: boolean;
}

/** Ten distinguishable colours, readable on white. */
export const PALETTE = ['#2f6db5', '#d1603d', '#3a9a5b', '#8b5cb8', '#c29a1f', '#3b9ab2', '#c2477e', '#6b7280', '#7a5c3e', '#1f2937'];

const MARGIN = { top: 12, right: 16, bottom: 40, left: 56 };

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

export class LineChart {
  readonly root: HTMLDivElement;
  private readonly legendEl: HTMLDivElement;
  private readonly svg: d3.Selection<SVGSVGElement, unknown, null, undefined>;
  private readonly plot: d3.Selection<SVGGElement, unknown, null, undefined>;
  private readonly tooltip: HTMLDivElement;
  private readonly resizeObserver: ResizeObserver;
  private readonly hidden = new Set<string>();
  private data: LineChartData = { series: [] };
  private width = 0;
  private readonly height: number;
  private readonly showLegend: boolean;

  constructor(container: HTMLElement, options: LineChartOptions = {}) {
    this.height = options.height ?? 280;
    this.showLegend = options.legend ?? true;
    this.root = document.createElement('div');
    this.root.className = 'nl-chart';
    container.appendChild(this.root);
    this.legendEl = document.createElement('div');
    this.legendEl.className = 'nl-chart-legend';
    this.root.appendChild(this.legendEl);
    this.svg = d3.select(this.root).append('svg').attr('class', 'nl-chart-svg').attr('height', this.height).attr('role', 'img');
    this.svg.append('title');
    this.plot = this.svg.append('g').attr('transform', `translate(${MARGIN.left},${MARGIN.top})`);
    this.plot.append('g').attr('class', 'nl-grid');
    this.plot.append('g').attr('class', 'nl-axis nl-axis-x');
    this.plot.append('g').attr('class', 'nl-axis nl-axis-y');
    this.plot.append('text').attr('class', 'nl-axis-label nl-axis-label-x').attr('text-anchor', 'middle');
    this.plot.append('text').attr('class', 'nl-axis-label nl-axis-label-y').attr('text-anchor', 'middle').attr('transform', 'rotate(-90)');
    this.plot.append('g').attr('class', 'nl-markers');
    this.plot.append('g').attr('class', 'nl-lines');
    this.plot.append('g').attr('class', 'nl-dots');
    const hover = this.plot.append('g').attr('class', 'nl-hover');
    hover.append('line').attr('class', 'nl-hover-rule');
    hover.append('g').attr('class', 'nl-hover-dots');
    hover.style('display', 'none');
    this.plot.append('rect').attr('class', 'nl-overlay').attr('fill', 'transparent');
    this.tooltip = document.createElement('div');
    this.tooltip.className = 'nl-chart-tooltip';
    this.tooltip.hidden = true;
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

  /** Replace the data and redraw. Hidden series stay hidden if their id is still present. */
  update(data: LineChartData): void {
    this.data = data;
    this.draw();
  }

  /** The SVG element, e.g. for export. */
  get svgElement(): SVGSVGElement {
    return this.svg.node()!;
  }

  destroy(): void {
    this.resizeObserver.disconnect();
    this.root.remove();
  }

  private color(s: LineSeries, i: number): string {
    return s.color ?? PALETTE[i % PALETTE.length];
  }

  private drawLegend(): void {
    this.legendEl.hidden = !this.showLegend || this.data.series.length === 0;
    const items = d3.select(this.legendEl).selectAll<HTMLButtonElement, LineSeries>('button').data(this.data.series, (s) => s.id);
    items.exit().remove();
    const entered = items.enter().append('button').attr('type', 'button').attr('class', 'nl-legend-item');
    entered.append('span').attr('class', 'nl-legend-swatch');
    entered.append('span').attr('class', 'nl-legend-label');
    const all = entered.merge(items);
    all.order();
    all.classed('off', (s) => this.hidden.has(s.id)).attr('aria-pressed', (s) => String(!this.hidden.has(s.id)));
    all.attr('title', (s) => (this.hidden.has(s.id) ? `Show ${s.label}` : `Hide ${s.label}`));
    all.select<HTMLSpanElement>('.nl-legend-swatch').each((s, i, nodes) => {
      const el = nodes[i];
      el.style.background = this.color(s, this.data.series.indexOf(s));
      el.classList.toggle('dashed', Boolean(s.dashed));
    });
    all.select('.nl-legend-label').text((s) => s.label);
    all.on('click', (_e, s) => {
      if (this.hidden.has(s.id)) this.hidden.delete(s.id);
      else this.hidden.add(s.id);
      this.draw();
    });
  }

  private draw(): void {
    const { series, xLabel = '', yLabel = '', title = '', markers = [] } = this.data;
    for (const id of [...this.hidden]) if (!series.some((s) => s.id === id)) this.hidden.delete(id);
    this.drawLegend();
    const visible = series.filter((s) => !this.hidden.has(s.id));
    const w = Math.max(120, this.width - MARGIN.left - MARGIN.right);
    const h = Math.max(60, this.height - MARGIN.top - MARGIN.bottom);
    this.svg.attr('width', this.width).attr('viewBox', `0 0 ${this.width} ${this.height}`);
    this.svg.select('title').text(title || [yLabel, xLabel].filter(Boolean).join(' vs '));

    const ext = seriesExtent(visible.length ? visible : series, this.data.logY ?? false);
    const xDomain = this.data.xDomain ?? ext.x;
    let yDomain = this.data.yDomain ?? ext.y;
    if (!this.data.yDomain && !this.data.logY) {
      const pad = (yDomain[1] - yDomain[0]) * 0.05 || Math.abs(yDomain[0]) * 0.05 || 1;
      yDomain = [yDomain[0] - pad, yDomain[1] + pad];
    }
    const x = d3.scaleLinear().domain(xDomain).range([0, w]);
    const y = (this.data.logY ? d3.scaleLog() : d3.scaleLinear()).domain(yDomain).range([h, 0]);
    if (!this.data.yDomain) y.nice();
    const xFmt = this.data.xFormat ?? ((v: number) => d3.format('~g')(v));
    const yFmt = this.data.yFormat ?? ((v: number) => d3.format('~r')(Number(v.toPrecision(4))));

    const xTicks = Math.max(2, Math.min(10, Math.floor(w / 80)));
    const yTicks = Math.max(2, Math.min(8, Math.floor(h / 40)));
    this.plot.select<SVGGElement>('.nl-axis-x').attr('transform', `translate(0,${h})`)
      .call(d3.axisBottom(x).ticks(xTicks).tickFormat((v) => xFmt(Number(v))));
    this.plot.select<SVGGElement>('.nl-axis-y').call(d3.axisLeft(y).ticks(yTicks).tickFormat((v) => yFmt(Number(v))));
    this.plot.select<SVGGElement>('.nl-grid').call(d3.axisLeft(y).ticks(yTicks).tickSize(-w).tickFormat(() => ''));
    this.plot.select('.nl-axis-label-x').attr('x', w / 2).attr('y', h + 34).text(xLabel);
    this.plot.select('.nl-axis-label-y').attr('x', -h / 2).attr('y', -44).text(yLabel);

    const markerSel = this.plot.select('.nl-markers').selectAll<SVGGElement, ChartMarker>('g').data(markers.filter((m) => m.x >= xDomain[0] && m.x <= xDomain[1]));
    markerSel.exit().remove();
    const mEnter = markerSel.enter().append('g').attr('class', 'nl-marker');
    mEnter.append('line');
    mEnter.append('text').attr('y', 10).attr('dx', 4);
    const mAll = mEnter.merge(markerSel).attr('transform', (m) => `translate(${x(m.x)},0)`);
    mAll.select('line').attr('y1', 0).attr('y2', h);
    mAll.select('text').text((m) => m.label);

    const drawable = (p: LinePoint): boolean => Number.isFinite(p.y) && (!this.data.logY || p.y > 0);
    const line = d3.line<LinePoint>().defined(drawable).x((p) => x(p.x)).y((p) => y(p.y));
    const paths = this.plot.select('.nl-lines').selectAll<SVGPathElement, LineSeries>('path').data(visible, (s) => s.id);
    paths.exit().remove();
    paths.enter().append('path').attr('class', 'nl-line').merge(paths)
      .attr('data-series', (s) => s.id)
      .attr('d', (s) => line([...s.points]) ?? '')
      .attr('stroke', (s) => this.color(s, series.indexOf(s)))
      .classed('dashed', (s) => Boolean(s.dashed));

    // A lone point (a run's first epoch, or one between gaps) has no segment to stroke: show it as a dot.
    type Dot = { s: LineSeries; p: LinePoint; key: string };
    const lone: Dot[] = visible.flatMap((s) => isolatedIndices(s.points, drawable).map((i) => ({ s, p: s.points[i], key: `${s.id}\u0000${i}` })));
    const dots = this.plot.select('.nl-dots').selectAll<SVGCircleElement, Dot>('circle').data(lone, (d) => d.key);
    dots.exit().remove();
    dots.enter().append('circle').attr('class', 'nl-dot').attr('r', 3.5).merge(dots)
      .attr('data-series', (d) => d.s.id)
      .attr('cx', (d) => x(d.p.x))
      .attr('cy', (d) => y(d.p.y))
      .attr('fill', (d) => this.color(d.s, series.indexOf(d.s)));

    this.bindHover(visible, x, y, w, h, xFmt, yFmt);
  }

  private bindHover(
    visible: LineSeries[],
    x: d3.ScaleLinear<number, number>,
    y: d3.ScaleContinuousNumeric<number, number>,
    w: number,
    h: number,
    xFmt: (v: number) => string,
    yFmt: (v: number) => string,
  ): void {
    const hover = this.plot.select<SVGGElement>('.nl-hover');
    const overlay = this.plot.select<SVGRectElement>('.nl-overlay').attr('width', w).attr('height', h);
    const series = this.data.series;
    const hide = (): void => {
      hover.style('display', 'none');
      this.tooltip.hidden = true;
    };
    overlay.on('mouseleave', hide);
    overlay.on('mousemove', (event: MouseEvent) => {
      if (visible.length === 0) return hide();
      const [mx] = d3.pointer(event, this.plot.node());
      const xv = x.invert(mx);
      // Snap to the nearest x actually present in any series, so the values are real points.
      let snapX = Number.NaN;
      let best = Infinity;
      for (const s of visible) {
        const i = nearestIndex(s.points, xv);
        if (i >= 0 && Math.abs(s.points[i].x - xv) < best) {
          best = Math.abs(s.points[i].x - xv);
          snapX = s.points[i].x;
        }
      }
      if (!Number.isFinite(snapX)) return hide();
      const rows = visible.flatMap((s) => {
        const i = nearestIndex(s.points, snapX);
        const p = i >= 0 ? s.points[i] : undefined;
        return p && p.x === snapX && Number.isFinite(p.y) ? [{ s, p }] : [];
      });
      hover.style('display', null);
      hover.select('.nl-hover-rule').attr('x1', x(snapX)).attr('x2', x(snapX)).attr('y1', 0).attr('y2', h);
      const dots = hover.select('.nl-hover-dots').selectAll<SVGCircleElement, (typeof rows)[number]>('circle').data(rows);
      dots.exit().remove();
      dots.enter().append('circle').attr('r', 3.5).merge(dots)
        .attr('cx', (r) => x(r.p.x)).attr('cy', (r) => y(r.p.y)).attr('fill', (r) => this.color(r.s, series.indexOf(r.s)));
      this.tooltip.replaceChildren();
      const head = document.createElement('div');
      head.className = 'nl-tooltip-head';
      head.textContent = `${this.data.xLabel ? `${this.data.xLabel} ` : ''}${xFmt(snapX)}`;
      this.tooltip.appendChild(head);
      for (const r of rows.sort((a, b) => b.p.y - a.p.y)) {
        const row = document.createElement('div');
        row.className = 'nl-tooltip-row';
        const sw = document.createElement('span');
        sw.className = 'nl-legend-swatch';
        sw.style.background = this.color(r.s, series.indexOf(r.s));
        const label = document.createElement('span');
        label.textContent = r.s.label;
        const value = document.createElement('b');
        value.textContent = yFmt(r.p.y);
        row.append(sw, label, value);
        this.tooltip.appendChild(row);
      }
      this.tooltip.hidden = false;
      const px = MARGIN.left + x(snapX);
      const flip = px > this.width * 0.6;
      this.tooltip.style.left = flip ? '' : `${px + 12}px`;
      this.tooltip.style.right = flip ? `${this.width - px + 12}px` : '';
      this.tooltip.style.top = `${this.legendEl.offsetHeight + MARGIN.top}px`;
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
