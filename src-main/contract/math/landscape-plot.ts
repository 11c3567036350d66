/**
 * Contour and curve plots of loss landscapes as standalone SVG text, drawn with D3's math
 * (d3-contour for the iso-lines, d3-scale for axes and colour) and no DOM, so that the CLI
 * (PNG through resvg) and the renderer (inline SVG) draw exactly the same picture. It lives in
 * contract/math because that is the one src-main folder the renderer may import.
 */
import { contours } from 'd3-contour';
import { scaleLinear, scaleLog, scaleSequential, scaleSequentialLog } from 'd3-scale';
import { interpolateViridis } from 'd3-scale-chromatic';
import { estimateTextWidth, logTickLabel, logTicks, tickFormatter } from './ticks';

export interface ContourPlotOptions {
  /** Grid coordinates: column i at xs[i], row j at ys[j]; values row-major (j·xs.length + i). */
  xs: number[];
  ys: number[];
  values: ArrayLike<number>;
  width?: number;
  height?: number;
  title?: string;
  xLabel: string;
  yLabel: string;
  /** Colour and contour range; give the same to two plots to compare them (default: this grid's range). */
  domain?: [number, number];
  /** Log-spaced levels and colours (losses span decades; default true when the domain is positive). */
  log?: boolean;
  levels?: number;
  legendLabel?: string;
  /** Polyline drawn on top (trajectory, gradient-descent path) with optional point labels. */
  path?: { points: [number, number][]; labels?: string[]; colour?: string };
  /** Marked points (e.g. the minimum, the trained weights). */
  markers?: { x: number; y: number; label: string; colour?: string }[];
  /** Closed outlines in data units (the L1 diamond, the L2 circle). */
  outlines?: { points: [number, number][]; colour: string; label?: string }[];
  /** Same units on both axes (the toy: the true shape of the contours). */
  equalAspect?: boolean;
}

export interface LinePlotOptions {
  x: number[];
  series: { values: number[]; label: string; colour: string; axis: 'left' | 'right'; dashed?: boolean }[];
  width?: number;
  height?: number;
  title?: string;
  xLabel: string;
  leftLabel: string;
  rightLabel?: string;
  logLeft?: boolean;
  /** Vertical marks, e.g. α = 0 "initial" and α = 1 "final". */
  marks?: { x: number; label: string }[];
  leftDomain?: [number, number];
}

/** Layout of a contour plot, so the renderer can map the mouse to grid values. */
export interface PlotFrame {
  left: number;
  top: number;
  plotWidth: number;
  plotHeight: number;
  xDomain: [number, number];
  yDomain: [number, number];
}

const FONT = "DejaVu Sans, Helvetica, Arial, sans-serif";

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const fmt = (v: number): string => {
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 1000 || a < 0.01) return v.toExponential(1).replace('e+', 'e');
  return String(Number(v.toPrecision(3)));
};

function finiteRange(values: ArrayLike<number>): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (Number.isFinite(v)) { if (v < lo) lo = v; if (v > hi) hi = v; }
  }
  if (!Number.isFinite(lo)) return [0, 1];
  return lo === hi ? [lo, lo + 1e-9 + Math.abs(lo) * 1e-6] : [lo, hi];
}

/** Contour levels over a domain: log-spaced when `log`. */
export function contourLevels(domain: [number, number], levels: number, log: boolean): number[] {
  const [lo, hi] = domain;
  return Array.from({ length: levels }, (_, k) => {
    const t = (k + 0.5) / levels;
    return log ? Math.exp(Math.log(lo) + t * (Math.log(hi) - Math.log(lo))) : lo + t * (hi - lo);
  });
}

/** Frame of a contour plot of the given options (same arithmetic as contourPlotSvg). */
export function contourFrame(o: ContourPlotOptions): PlotFrame {
  const width = o.width ?? 520;
  const height = o.height ?? 440;
  const margin = { left: 64, right: 96, top: o.title ? 34 : 14, bottom: 50 };
  let plotWidth = width - margin.left - margin.right;
  let plotHeight = height - margin.top - margin.bottom;
  const xDomain: [number, number] = [o.xs[0], o.xs[o.xs.length - 1]];
  const yDomain: [number, number] = [o.ys[0], o.ys[o.ys.length - 1]];
  if (o.equalAspect) {
    const ux = plotWidth / (xDomain[1] - xDomain[0]);
    const uy = plotHeight / (yDomain[1] - yDomain[0]);
    const u = Math.min(ux, uy);
    plotWidth = u * (xDomain[1] - xDomain[0]);
    plotHeight = u * (yDomain[1] - yDomain[0]);
  }
  return { left: margin.left, top: margin.top, plotWidth, plotHeight, xDomain, yDomain };
}

/** Filled contour plot with axes, a colour legend, and optional path, markers and outlines. */
export function contourPlotSvg(o: ContourPlotOptions): string {
  const width = o.width ?? 520;
  const height = o.height ?? 440;
  const f = contourFrame(o);
  const nx = o.xs.length;
  const ny = o.ys.length;
  if (o.values.length !== nx * ny) throw new Error(`contour plot: ${o.values.length} values for a ${nx}×${ny} grid`);
  const domain = o.domain ?? finiteRange(o.values);
  const log = (o.log ?? true) && domain[0] > 0;
  const levels = contourLevels(domain, o.levels ?? 16, log);
  const colour = log ? scaleSequentialLog(interpolateViridis).domain(domain) : scaleSequential(interpolateViridis).domain(domain);
  const x = scaleLinear().domain(f.xDomain).range([f.left, f.left + f.plotWidth]);
  const y = scaleLinear().domain(f.yDomain).range([f.top + f.plotHeight, f.top]);
  // d3-contour puts value k at grid point (i + 0.5, j + 0.5) of a [0, nx] × [0, ny] plane.
  const gx = (g: number) => x(o.xs[0] + (g - 0.5) * ((o.xs[nx - 1] - o.xs[0]) / (nx - 1)));
  const gy = (g: number) => y(o.ys[0] + (g - 0.5) * ((o.ys[ny - 1] - o.ys[0]) / (ny - 1)));
  // Non-finite values (a diverged point) are drawn as the top of the scale.
  const clean = Float64Array.from({ length: nx * ny }, (_, k) => (Number.isFinite(o.values[k]) ? o.values[k] : domain[1] * 10 + 1));
  const polys = contours().size([nx, ny]).thresholds(levels)(Array.from(clean));
  const id = `c${Math.floor(Math.abs(domain[0] * 1e6 + domain[1] * 1e3 + nx)) % 1e9}`;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${FONT}" font-size="12">`);
  parts.push(`<rect width="100%" height="100%" fill="#ffffff"/>`);
  parts.push(`<defs><clipPath id="${id}-clip"><rect x="${f.left}" y="${f.top}" width="${f.plotWidth}" height="${f.plotHeight}"/></clipPath>`);
  parts.push(`<linearGradient id="${id}-legend" x1="0" y1="1" x2="0" y2="0">`);
  for (let k = 0; k <= 20; k++) {
    const t = k / 20;
    const v = log ? Math.exp(Math.log(domain[0]) + t * (Math.log(domain[1]) - Math.log(domain[0]))) : domain[0] + t * (domain[1] - domain[0]);
    parts.push(`<stop offset="${t}" stop-color="${colour(v)}"/>`);
  }
  parts.push(`</linearGradient></defs>`);
  if (o.title) parts.push(`<text x="${f.left}" y="${f.top - 12}" font-size="13" font-weight="bold">${escapeXml(o.title)}</text>`);
  parts.push(`<g clip-path="url(#${id}-clip)">`);
  parts.push(`<rect x="${f.left}" y="${f.top}" width="${f.plotWidth}" height="${f.plotHeight}" fill="${colour(domain[0])}"/>`);
  for (const p of polys) {
    const d = p.coordinates
      .map((poly) => poly.map((ring) => 'M' + ring.map(([a, b]) => `${gx(a).toFixed(1)},${gy(b).toFixed(1)}`).join('L') + 'Z').join(''))
      .join('');
    if (d) parts.push(`<path class="level" d="${d}" fill="${colour(Math.min(p.value, domain[1]))}" stroke="#ffffff" stroke-opacity="0.35" stroke-width="0.6"><title>${fmt(p.value)}</title></path>`);
  }
  for (const ol of o.outlines ?? []) {
    const d = 'M' + ol.points.map(([a, b]) => `${x(a).toFixed(1)},${y(b).toFixed(1)}`).join('L') + 'Z';
    parts.push(`<path d="${d}" fill="none" stroke="${ol.colour}" stroke-width="1.6" stroke-dasharray="5 3"/>`);
  }
  if (o.path && o.path.points.length) {
    const c = o.path.colour ?? '#ff3b30';
    const pts = o.path.points.map(([a, b]) => `${x(a).toFixed(1)},${y(b).toFixed(1)}`).join(' ');
    parts.push(`<polyline class="path" points="${pts}" fill="none" stroke="${c}" stroke-width="1.8"/>`);
    const every = Math.max(1, Math.ceil(o.path.points.length / 150));
    o.path.points.forEach(([a, b], k) => {
      if (k % every !== 0 && k !== o.path!.points.length - 1) return;
      parts.push(`<circle cx="${x(a).toFixed(1)}" cy="${y(b).toFixed(1)}" r="2.6" fill="${c}" stroke="#ffffff" stroke-width="0.7"/>`);
      const label = o.path!.labels?.[k];
      if (label) parts.push(`<text class="annotation" x="${(x(a) + 5).toFixed(1)}" y="${(y(b) - 5).toFixed(1)}" font-size="10" fill="#ffffff" stroke="#000000" stroke-width="2.2" paint-order="stroke">${escapeXml(label)}</text>`);
    });
  }
  for (const m of o.markers ?? []) {
    const c = m.colour ?? '#ffffff';
    parts.push(`<path d="M${x(m.x) - 6},${y(m.y)}L${x(m.x) + 6},${y(m.y)}M${x(m.x)},${y(m.y) - 6}L${x(m.x)},${y(m.y) + 6}" stroke="${c}" stroke-width="2.4"/>`);
    parts.push(`<text class="annotation" x="${(x(m.x) + 7).toFixed(1)}" y="${(y(m.y) + 14).toFixed(1)}" font-size="10" fill="${c}" stroke="#000000" stroke-width="2.2" paint-order="stroke">${escapeXml(m.label)}</text>`);
  }
  parts.push(`</g>`);
  parts.push(`<rect x="${f.left}" y="${f.top}" width="${f.plotWidth}" height="${f.plotHeight}" fill="none" stroke="#333333"/>`);
  const bottom = f.top + f.plotHeight;
  for (const t of x.ticks(6)) {
    parts.push(`<line x1="${x(t)}" y1="${bottom}" x2="${x(t)}" y2="${bottom + 5}" stroke="#333333"/><text x="${x(t)}" y="${bottom + 18}" text-anchor="middle">${fmt(t)}</text>`);
  }
  for (const t of y.ticks(6)) {
    parts.push(`<line x1="${f.left - 5}" y1="${y(t)}" x2="${f.left}" y2="${y(t)}" stroke="#333333"/><text x="${f.left - 8}" y="${y(t) + 4}" text-anchor="end">${fmt(t)}</text>`);
  }
  parts.push(`<text class="xlabel" x="${f.left + f.plotWidth / 2}" y="${bottom + 38}" text-anchor="middle">${escapeXml(o.xLabel)}</text>`);
  parts.push(`<text class="ylabel" transform="translate(${f.left - 46},${f.top + f.plotHeight / 2}) rotate(-90)" text-anchor="middle">${escapeXml(o.yLabel)}</text>`);
  // Colour legend: a gradient bar with the scale's ticks.
  const lx = f.left + f.plotWidth + 22;
  const lh = f.plotHeight;
  const ls = (log ? scaleLog() : scaleLinear()).domain(domain).range([f.top + lh, f.top]);
  parts.push(`<rect class="legend" x="${lx}" y="${f.top}" width="14" height="${lh}" fill="url(#${id}-legend)" stroke="#333333"/>`);
  const ticks = log ? logTicks(domain[0], domain[1], Math.max(3, Math.floor(lh / 24))).labelled : ls.ticks(6);
  for (const t of ticks) {
    parts.push(`<line x1="${lx + 14}" y1="${ls(t)}" x2="${lx + 18}" y2="${ls(t)}" stroke="#333333"/><text x="${lx + 21}" y="${ls(t) + 4}" font-size="10">${fmt(t)}</text>`);
  }
  if (o.legendLabel) parts.push(`<text transform="translate(${lx + 54},${f.top + lh / 2}) rotate(90)" text-anchor="middle" font-size="11">${escapeXml(o.legendLabel)}</text>`);
  parts.push(`</svg>`);
  return parts.join('\n');
}

/** A curve plot with a left (optionally log) and a right axis. */
export function linePlotSvg(o: LinePlotOptions): string {
  const width = o.width ?? 520;
  const height = o.height ?? 300 + 16 * Math.ceil(o.series.length / 2);
  const m = { left: 64, right: o.rightLabel ? 60 : 20, top: o.title ? 34 : 14, bottom: 56 + 16 * Math.ceil(o.series.length / 2) };
  const ph = height - m.top - m.bottom;
  const leftVals = o.series.filter((s) => s.axis === 'left').flatMap((s) => s.values).filter(Number.isFinite);
  let ld: [number, number] = o.leftDomain ?? [Math.min(...leftVals), Math.max(...leftVals)];
  const logLeft = (o.logLeft ?? false) && ld[0] > 0;
  if (ld[0] === ld[1]) ld = [ld[0] * 0.9, ld[1] * 1.1 + 1e-9];
  const yl = (logLeft ? scaleLog() : scaleLinear()).domain(ld).range([m.top + ph, m.top]).nice();
  // Left ticks: a log axis labels only as many as fit (1-2-5, then decades); the margin fits the widest label.
  const [y0, y1] = yl.domain() as [number, number];
  const lt = logLeft ? logTicks(y0, y1, Math.max(3, Math.floor(ph / 26))) : { ticks: yl.ticks(5), labelled: yl.ticks(5) };
  const leftFmt = logLeft ? logTickLabel : tickFormatter(lt.labelled);
  const labelW = Math.max(0, ...lt.labelled.map((t) => estimateTextWidth(leftFmt(t), 12)));
  m.left = Math.max(52, Math.ceil(labelW + 8 + 24));
  const pw = width - m.left - m.right;
  const x = scaleLinear().domain([o.x[0], o.x[o.x.length - 1]]).range([m.left, m.left + pw]);
  const yr = scaleLinear().domain([0, 1]).range([m.top + ph, m.top]);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${FONT}" font-size="12">`);
  parts.push(`<rect width="100%" height="100%" fill="#ffffff"/>`);
  if (o.title) parts.push(`<text x="${m.left}" y="${m.top - 12}" font-size="13" font-weight="bold">${escapeXml(o.title)}</text>`);
  const bottom = m.top + ph;
  const labelled = new Set(lt.labelled);
  for (const t of lt.ticks) {
    const ty = yl(t);
    if (!(ty >= m.top - 0.5 && ty <= bottom + 0.5)) continue;
    if (labelled.has(t)) {
      parts.push(`<line x1="${m.left}" y1="${ty}" x2="${m.left + pw}" y2="${ty}" stroke="#e5e5e5"/><line x1="${m.left - 5}" y1="${ty}" x2="${m.left}" y2="${ty}" stroke="#333333"/><text x="${m.left - 8}" y="${ty + 4}" text-anchor="end">${leftFmt(t)}</text>`);
    } else {
      parts.push(`<line x1="${m.left - 3}" y1="${ty}" x2="${m.left}" y2="${ty}" stroke="#333333"/>`);
    }
  }
  for (const mk of o.marks ?? []) {
    parts.push(`<line x1="${x(mk.x)}" y1="${m.top}" x2="${x(mk.x)}" y2="${bottom}" stroke="#999999" stroke-dasharray="3 3"/><text x="${x(mk.x) + 4}" y="${m.top + 12}" font-size="10" fill="#555555">${escapeXml(mk.label)}</text>`);
  }
  for (const s of o.series) {
    const ys = s.axis === 'left' ? yl : yr;
    const pts = s.values.map((v, k) => (Number.isFinite(v) ? `${x(o.x[k]).toFixed(1)},${Math.max(m.top, Math.min(bottom, ys(v))).toFixed(1)}` : null)).filter(Boolean).join(' ');
    parts.push(`<polyline class="series" points="${pts}" fill="none" stroke="${s.colour}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 3"' : ''}/>`);
  }
  parts.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#333333"/>`);
  for (const t of x.ticks(8)) parts.push(`<line x1="${x(t)}" y1="${bottom}" x2="${x(t)}" y2="${bottom + 5}" stroke="#333333"/><text x="${x(t)}" y="${bottom + 18}" text-anchor="middle">${fmt(t)}</text>`);
  if (o.rightLabel) {
    for (const t of yr.ticks(5)) parts.push(`<text x="${m.left + pw + 8}" y="${yr(t) + 4}">${Math.round(100 * t)}%</text>`);
    parts.push(`<text transform="translate(${m.left + pw + 48},${m.top + ph / 2}) rotate(90)" text-anchor="middle">${escapeXml(o.rightLabel)}</text>`);
  }
  parts.push(`<text x="${m.left + pw / 2}" y="${bottom + 38}" text-anchor="middle">${escapeXml(o.xLabel)}</text>`);
  parts.push(`<text transform="translate(${m.left - labelW - 14},${m.top + ph / 2}) rotate(-90)" text-anchor="middle">${escapeXml(o.leftLabel)}</text>`);
  // Legend under the axis title, two entries a row, so it never hides a curve.
  o.series.forEach((s, k) => {
    const ly = bottom + 58 + 16 * Math.floor(k / 2);
    const lx = m.left + (k % 2) * (pw / 2);
    parts.push(`<line x1="${lx}" y1="${ly - 4}" x2="${lx + 22}" y2="${ly - 4}" stroke="${s.colour}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 3"' : ''}/><text x="${lx + 27}" y="${ly}" font-size="11">${escapeXml(s.label)}</text>`);
  });
  parts.push(`</svg>`);
  return parts.join('\n');
}

/** Value of a row-major grid nearest to (x, y), for hover read-outs. */
export function nearestGridValue(xs: number[], ys: number[], values: ArrayLike<number>, x: number, y: number): { i: number; j: number; value: number } {
  const near = (a: number[], v: number) => a.reduce((best, u, k) => (Math.abs(u - v) < Math.abs(a[best] - v) ? k : best), 0);
  const i = near(xs, x);
  const j = near(ys, y);
  return { i, j, value: values[j * xs.length + i] };
}
