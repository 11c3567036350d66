/**
 * Grouped bars with the same axes and legend as the line chart: categories on x, one bar per
 * series in each, a y axis from 0 with its title clear of the tick labels, optional value labels
 * on the bars, and a zero drawn as a visible stub (an all-zero series is still a series you can
 * see). Hover a bar for its description.
 */
import * as d3 from 'd3';
import { drawYAxis, FONT, leftMargin, textWidth, X_AXIS_HEIGHT, yAxis } from './axes';
import { drawLegend, isolate, layoutLegend } from './legend';
import { thinLabels } from '../../../../src-main/contract/math/ticks';

export interface BarSeries {
  id: string;
  label: string;
  color: string;
  values: readonly number[];
}

export interface BarChartData {
  categories: readonly string[];
  series: readonly BarSeries[];
  title?: string;
  xLabel: string;
  yLabel: string;
  /** Top of the y axis (e.g. 100 for percentages); default fits the data. */
  yMax?: number;
  yFormat?: (v: number) => string;
  /** Label each bar with its value in this format (none when absent). */
  valueFormat?: (v: number) => string;
  /** Text of a bar's hover title. */
  describe?: (series: BarSeries, index: number) => string;
  note?: string;
}

export interface BarChartOptions {
  /** Plot + x axis height (default 240). */
  height?: number;
  legend?: boolean;
  title?: boolean;
  /** Draw zeros as 2 px stubs so that an all-zero series shows (default true; off for histograms). */
  zeroStubs?: boolean;
}

export class BarChart {
  readonly root: HTMLDivElement;
  private readonly svg: d3.Selection<SVGSVGElement, unknown, null, undefined>;
  private readonly resizeObserver: ResizeObserver;
  private hidden = new Set<string>();
  private data: BarChartData = { categories: [], series: [], xLabel: '', yLabel: '' };
  private width = 0;

  constructor(container: HTMLElement, private readonly options: BarChartOptions = {}) {
    this.root = document.createElement('div');
    this.root.className = 'nl-chart';
    container.appendChild(this.root);
    this.svg = d3.select(this.root).append('svg').attr('class', 'nl-chart-svg').attr('role', 'img');
    this.resizeObserver = new ResizeObserver(() => {
      const w = Math.floor(this.root.clientWidth);
      if (w > 0 && w !== this.width) {
        this.width = w;
        this.draw();
      }
    });
    this.resizeObserver.observe(this.root);
    this.width = Math.floor(this.root.clientWidth) || 560;
  }

  update(data: BarChartData): void {
    this.data = data;
    this.draw();
  }

  get svgElement(): SVGSVGElement {
    return this.svg.node()!;
  }

  destroy(): void {
    this.resizeObserver.disconnect();
    this.root.remove();
  }

  private draw(): void {
    const d = this.data;
    const W = Math.max(220, this.width);
    const svg = this.svg;
    svg.selectAll('*').remove();
    svg.append('title').text(d.title || `${d.yLabel} by ${d.xLabel}`);
    svg.append('rect').attr('class', 'nl-bg').attr('width', '100%').attr('height', '100%');
    const ids = d.series.map((s) => s.id);
    for (const id of [...this.hidden]) if (!ids.includes(id)) this.hidden.delete(id);
    const visible = d.series.filter((s) => !this.hidden.has(s.id));
    let top = 8;
    if ((this.options.title ?? true) && d.title) {
      svg.append('text').attr('class', 'nl-chart-title').attr('x', W / 2).attr('y', top + FONT.title).attr('text-anchor', 'middle').text(d.title);
      top += FONT.title + 10;
    }
    const plotH = Math.max(60, (this.options.height ?? 240) - X_AXIS_HEIGHT - 8);
    const max = d.yMax ?? Math.max(0, ...visible.flatMap((s) => s.values.filter(Number.isFinite)));
    // Value labels need headroom above the tallest bar.
    const headroom = d.valueFormat && d.yMax === undefined ? 1.12 : 1;
    const ya = yAxis({ domain: [0, max > 0 ? max * headroom : 1], height: plotH, format: d.yFormat, exact: d.yMax !== undefined });
    const ml = leftMargin(ya, d.yLabel);
    const pw = Math.max(80, W - ml - 16);
    if ((this.options.legend ?? true) && d.series.length) {
      const items = d.series.map((s) => ({ id: s.id, label: s.label, color: s.color, box: true }));
      const layout = layoutLegend(items, pw);
      drawLegend(svg.append('g').attr('class', 'nl-legend').attr('transform', `translate(${ml},${top})`), items, layout, {
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
        onHover: (id) => svg.selectAll<SVGGElement, unknown>('.nl-series').classed('nl-dim', (_x, i, n) => id !== null && n[i].getAttribute('data-series') !== id),
      });
      top += layout.height + 6;
    }
    const plot = svg.append('g').attr('class', 'nl-plot').attr('transform', `translate(${ml},${top})`);
    drawYAxis(plot.append('g'), ya, pw, plotH, d.yLabel);
    const x = d3.scaleBand<number>().domain(d.categories.map((_, i) => i)).range([0, pw]).paddingInner(0.18).paddingOuter(0.08);
    const inner = d3.scaleBand<string>().domain(visible.map((s) => s.id)).range([0, x.bandwidth()]).padding(0.06);
    const y = ya.scale;
    const base = y(0);
    for (const s of visible) {
      const g = plot.append('g').attr('class', 'nl-series').attr('data-series', s.id);
      s.values.forEach((v, i) => {
        if (!Number.isFinite(v) || (v === 0 && this.options.zeroStubs === false)) return;
        const bx = (x(i) ?? 0) + (inner(s.id) ?? 0);
        const top = Math.min(base, y(v));
        // A zero (or a value below one pixel) is drawn as a 2 px stub so that it is seen.
        const h = Math.max(2, base - y(v));
        const bar = g.append('rect').attr('x', bx).attr('y', Math.min(top, base - 2)).attr('width', inner.bandwidth()).attr('height', h).attr('fill', s.color);
        bar.append('title').text(d.describe ? d.describe(s, i) : `${s.label}: ${v}`);
        if (d.valueFormat && inner.bandwidth() >= 14) {
          const text = d.valueFormat(v);
          if (textWidth(text, 10.5) <= inner.bandwidth() + 10) {
            g.append('text').attr('class', 'nl-bar-value').attr('x', bx + inner.bandwidth() / 2).attr('y', Math.min(top, base - 2) - 3).attr('text-anchor', 'middle').text(text);
          }
        }
      });
    }
    // Category labels, thinned so that none overlaps its neighbour.
    const ax = plot.append('g').attr('class', 'nl-axis nl-axis-x').attr('transform', `translate(0,${plotH})`);
    ax.append('line').attr('class', 'domain').attr('x1', 0).attr('x2', pw);
    const centres = d.categories.map((_, i) => (x(i) ?? 0) + x.bandwidth() / 2);
    const kept = new Set(thinLabels(centres, d.categories.map((c) => textWidth(c, FONT.tick)), 6));
    d.categories.forEach((c, i) => {
      if (!kept.has(i)) return;
      ax.append('line').attr('x1', centres[i]).attr('x2', centres[i]).attr('y1', 0).attr('y2', 5);
      ax.append('text').attr('x', centres[i]).attr('y', 8).attr('dy', '0.71em').attr('text-anchor', 'middle').text(c);
    });
    plot.append('text').attr('class', 'nl-axis-label nl-axis-label-x').attr('text-anchor', 'middle').attr('x', pw / 2).attr('y', plotH + 38).text(d.xLabel);
    let H = top + plotH + X_AXIS_HEIGHT;
    if (d.note) {
      svg.append('g').attr('class', 'nl-chart-note').append('text').attr('x', 8).attr('y', H + 12).text(d.note);
      H += 20;
    }
    svg.attr('width', W).attr('height', H).attr('viewBox', `0 0 ${W} ${H}`);
  }
}
