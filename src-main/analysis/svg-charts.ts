/**
 * Standalone SVG charts for reports, drawn as strings with d3's scales and shapes (no DOM), and
 * rasterized to PNG with resvg. Every chart has a title, axis labels with units and a legend.
 */
import * as d3 from 'd3';
import { PALETTE } from '../contract/colors';
import { estimateTextWidth, linearTicks, logTickLabel, logTicks, thinLabels, tickFormatter } from '../contract/math/ticks';

export { PALETTE };
const FONT = "DejaVu Sans, Arial, sans-serif";

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}


export interface SvgSeries {
  label: string;
  points: { x: number; y: number }[];
  /** Min–max band (seeds), same x as points. */
  band?: { x: number; lo: number; hi: number }[];
  color?: string;
  /** x of markers drawn on the line (e.g. best epoch). */
  markers?: { x: number; label: string }[];
}

export interface LineChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: SvgSeries[];
  width?: number;
  height?: number;
  yFormat?: (v: number) => string;
  xDomain?: [number, number];
  yDomain?: [number, number];
  /** Scale x logarithmically? (no: epochs) — y only. */
  logY?: boolean;
  /** A line under the chart saying what it shows (e.g. how it was smoothed). */
  note?: string;
}

function legend(items: { label: string; color: string; dashed?: boolean }[], x: number, y: number, width: number): { svg: string; height: number } {
  // Wraps entries into rows that fit the width.
  let cx = 0;
  let row = 0;
  const parts: string[] = [];
  for (const it of items) {
    const w = 28 + estimateTextWidth(it.label, 12) + 18;
    if (cx > 0 && cx + w > width) {
      cx = 0;
      row += 1;
    }
    const ty = y + row * 18;
    parts.push(
      `<line x1="${x + cx}" y1="${ty}" x2="${x + cx + 22}" y2="${ty}" stroke="${it.color}" stroke-width="3"${it.dashed ? ' stroke-dasharray="5 3"' : ''}/>` +
        `<text x="${x + cx + 28}" y="${ty + 4}" font-size="12" font-family="${FONT}" fill="#222">${esc(it.label)}</text>`,
    );
    cx += w;
  }
  return { svg: `<g class="legend">${parts.join('')}</g>`, height: (row + 1) * 18 };
}

interface YTicks {
  ticks: number[];
  labelled: number[];
  format: (v: number) => string;
  /** Width of the widest label at 11 px. */
  width: number;
}

/** y ticks by the app's one rule (contract/math/ticks): step-based decimals, thinned log labels. */
function yTicks(y: d3.ScaleContinuousNumeric<number, number>, ph: number, log: boolean, yFormat?: (v: number) => string): YTicks {
  const [lo, hi] = y.domain() as [number, number];
  const t = log ? logTicks(lo, hi, Math.max(3, Math.floor(ph / 26))) : { ticks: linearTicks(lo, hi, 6), labelled: linearTicks(lo, hi, 6) };
  const format = yFormat ?? (log ? logTickLabel : tickFormatter(t.labelled));
  return { ...t, format, width: Math.max(0, ...t.labelled.map((v) => estimateTextWidth(format(v), 11))) };
}

/** Left margin that keeps the rotated y title clear of the widest tick label. */
function leftMargin(yt: YTicks): number {
  return Math.ceil(yt.width + 6 + 8 + 16 + 8);
}

function axes(
  x: d3.ScaleLinear<number, number>,
  y: d3.ScaleContinuousNumeric<number, number>,
  yt: YTicks,
  ml: number, mt: number, pw: number, ph: number,
  xLabel: string, yLabel: string,
): string {
  const out: string[] = [];
  // Whole epochs only, as many as fit without two labels touching.
  const [x0, x1] = x.domain();
  const xt = linearTicks(x0, x1, Math.min(10, Math.max(2, Math.floor(pw / 60))), true);
  const xFmt = tickFormatter(xt);
  const kept = new Set(thinLabels(xt.map((t) => x(t)), xt.map((t) => estimateTextWidth(xFmt(t), 11)), 8));
  xt.forEach((t, i) => {
    const px = ml + x(t);
    out.push(`<line x1="${px}" y1="${mt}" x2="${px}" y2="${mt + ph}" stroke="#e5e7eb"/>`);
    if (kept.has(i)) out.push(`<text x="${px}" y="${mt + ph + 16}" font-size="11" text-anchor="middle" font-family="${FONT}" fill="#444">${esc(xFmt(t))}</text>`);
  });
  const labelled = new Set(yt.labelled);
  for (const t of yt.ticks) {
    const py = mt + y(t);
    if (!(py >= mt - 0.5 && py <= mt + ph + 0.5)) continue;
    if (!labelled.has(t)) {
      out.push(`<line x1="${ml - 3}" y1="${py}" x2="${ml}" y2="${py}" stroke="#9ca3af"/>`);
      continue;
    }
    out.push(`<line x1="${ml}" y1="${py}" x2="${ml + pw}" y2="${py}" stroke="#e5e7eb"/>`);
    out.push(`<text x="${ml - 6}" y="${py + 4}" font-size="11" text-anchor="end" font-family="${FONT}" fill="#444">${esc(yt.format(t))}</text>`);
  }
  out.push(`<rect x="${ml}" y="${mt}" width="${pw}" height="${ph}" fill="none" stroke="#9ca3af"/>`);
  out.push(`<text x="${ml + pw / 2}" y="${mt + ph + 36}" font-size="13" text-anchor="middle" font-family="${FONT}" fill="#111">${esc(xLabel)}</text>`);
  out.push(
    `<text transform="translate(${ml - yt.width - 6 - 12},${mt + ph / 2}) rotate(-90)" font-size="13" text-anchor="middle" font-family="${FONT}" fill="#111">${esc(yLabel)}</text>`,
  );
  return out.join('');
}

/** A line chart (with optional min–max bands and markers) as a standalone SVG document. */
export function lineChartSvg(spec: LineChartSpec): string {
  const W = spec.width ?? 900;
  const mr = 20, mt = 44;
  const items = spec.series.map((s, i) => ({ label: s.label, color: s.color ?? PALETTE[i % PALETTE.length] }));
  const allX = spec.series.flatMap((s) => s.points.map((p) => p.x));
  const allY = spec.series.flatMap((s) => [...s.points.map((p) => p.y), ...(s.band ?? []).flatMap((b) => [b.lo, b.hi])]).filter(Number.isFinite);
  // Epochs: half an epoch of room at each end of a short run, so that one epoch is one tick, not two.
  const [minX, maxX] = [d3.min(allX) ?? 1, d3.max(allX) ?? 1];
  const xd = spec.xDomain ?? ((maxX - minX <= 12 ? [minX - 0.5, maxX + 0.5] : [minX, maxX]) as [number, number]);
  let yd = spec.yDomain ?? ([d3.min(allY) ?? 0, d3.max(allY) ?? 1] as [number, number]);
  if (yd[0] === yd[1]) yd = [yd[0] - 0.5, yd[1] + 0.5];
  // Room above the highest point for its ▼ best-epoch marker.
  if (!spec.yDomain && !spec.logY && spec.series.some((x) => x.markers?.length)) yd = [yd[0], yd[1] + (yd[1] - yd[0]) * 0.06];
  // The legend's width depends on the margin, the margin on the tick labels: size the plot height first.
  const lgProbe = legend(items, 0, 0, W - 90 - mr);
  const noteH = spec.note ? 18 : 0;
  const ph = (spec.height ?? 460) - mt - 60 - lgProbe.height - noteH;
  const y = (spec.logY ? d3.scaleLog().domain([Math.max(1e-6, yd[0]), yd[1]]) : d3.scaleLinear().domain(yd).nice()).range([ph, 0]);
  const yt = yTicks(y, ph, spec.logY ?? false, spec.yFormat);
  const ml = leftMargin(yt);
  const pw = W - ml - mr;
  const lg = legend(items, ml, 0, pw);
  const H = mt + ph + 60 + lg.height + noteH;
  const x = d3.scaleLinear().domain(xd).range([0, pw]);
  const body: string[] = [];
  spec.series.forEach((s, i) => {
    const color = items[i].color;
    if (s.band && s.band.length) {
      const area = d3.area<{ x: number; lo: number; hi: number }>().x((b) => ml + x(b.x)).y0((b) => mt + y(b.lo)).y1((b) => mt + y(b.hi));
      body.push(`<path d="${area(s.band)}" fill="${color}" fill-opacity="0.18" stroke="none"/>`);
    }
    const line = d3.line<{ x: number; y: number }>().defined((p) => Number.isFinite(p.y)).x((p) => ml + x(p.x)).y((p) => mt + y(p.y));
    body.push(`<path d="${line(s.points)}" fill="none" stroke="${color}" stroke-width="2"/>`);
    if (s.points.length < 60) {
      for (const p of s.points) if (Number.isFinite(p.y)) body.push(`<circle cx="${ml + x(p.x)}" cy="${mt + y(p.y)}" r="2.5" fill="${color}"/>`);
    }
    for (const m of s.markers ?? []) {
      const p = s.points.find((q) => q.x === m.x);
      if (!p) continue;
      body.push(`<path d="M${ml + x(p.x)},${mt + y(p.y) - 12} l-5,-8 h10 z" fill="${color}"><title>${esc(`${s.label}: ${m.label}`)}</title></path>`);
    }
  });
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">` +
    `<rect width="100%" height="100%" fill="#fff"/>` +
    `<text x="${W / 2}" y="24" font-size="16" font-weight="bold" text-anchor="middle" font-family="${FONT}" fill="#111">${esc(spec.title)}</text>` +
    axes(x, y, yt, ml, mt, pw, ph, spec.xLabel, spec.yLabel) +
    body.join('') +
    `<g transform="translate(0,${mt + ph + 56})">${lg.svg}</g>` +
    (spec.note ? `<text x="${ml}" y="${H - 6}" font-size="11" font-family="${FONT}" fill="#555">${esc(spec.note)}</text>` : '') +
    `</svg>`
  );
}

export interface HistPanel {
  title: string;
  /** One histogram per run, as shares of the layer's weights per bin. */
  series: { label: string; edges: number[]; shares: number[]; zeroShare: number; color?: string }[];
}

/** Small multiples of log10|w| histograms, runs overlaid as step lines in each panel. */
export function histogramGridSvg(title: string, panels: HistPanel[], runLabels: string[], cols = 3, runColors: string[] = []): string {
  const pw = 280, ph = 150, gapX = 70, gapY = 70, ml = 60, mt = 50;
  const rows = Math.ceil(panels.length / cols);
  const W = ml + cols * (pw + gapX);
  const lg = legend(runLabels.map((l, i) => ({ label: l, color: runColors[i] ?? PALETTE[i % PALETTE.length] })), ml, 0, W - ml - 20);
  const H = mt + rows * (ph + gapY) + lg.height + 10;
  const parts: string[] = [];
  panels.forEach((panel, k) => {
    const ox = ml + (k % cols) * (pw + gapX);
    const oy = mt + Math.floor(k / cols) * (ph + gapY);
    const edges = panel.series[0]?.edges ?? [-7, 1];
    const x = d3.scaleLinear().domain([edges[0], edges[edges.length - 1]]).range([0, pw]);
    const ymax = d3.max(panel.series.flatMap((s) => s.shares)) ?? 1;
    const y = d3.scaleLinear().domain([0, Math.max(1e-9, ymax)]).nice().range([ph, 0]);
    parts.push(`<text x="${ox + pw / 2}" y="${oy - 8}" font-size="12" font-weight="bold" text-anchor="middle" font-family="${FONT}">${esc(panel.title)}</text>`);
    parts.push(`<rect x="${ox}" y="${oy}" width="${pw}" height="${ph}" fill="none" stroke="#9ca3af"/>`);
    for (const t of [-7, -6, -5, -4, -3, -2, -1, 0, 1].filter((t) => t >= edges[0] && t <= edges[edges.length - 1])) {
      parts.push(`<line x1="${ox + x(t)}" y1="${oy}" x2="${ox + x(t)}" y2="${oy + ph}" stroke="#eee"/>`);
      parts.push(`<text x="${ox + x(t)}" y="${oy + ph + 14}" font-size="10" text-anchor="middle" font-family="${FONT}">1e${t}</text>`);
    }
    for (const t of y.ticks(4)) {
      parts.push(`<text x="${ox - 4}" y="${oy + y(t) + 3}" font-size="10" text-anchor="end" font-family="${FONT}">${(100 * t).toFixed(0)}%</text>`);
    }
    parts.push(`<text x="${ox + pw / 2}" y="${oy + ph + 30}" font-size="11" text-anchor="middle" font-family="${FONT}">|w| (log scale, quarter-decade bins)</text>`);
    parts.push(`<text transform="translate(${ox - 40},${oy + ph / 2}) rotate(-90)" font-size="11" text-anchor="middle" font-family="${FONT}">share of weights</text>`);
    panel.series.forEach((s, i) => {
      const color = s.color ?? runColors[i] ?? PALETTE[i % PALETTE.length];
      let d = `M${ox + x(s.edges[0])},${oy + ph}`;
      s.shares.forEach((v, b) => {
        d += ` L${ox + x(s.edges[b])},${oy + y(v)} L${ox + x(s.edges[b + 1])},${oy + y(v)}`;
      });
      d += ` L${ox + x(s.edges[s.edges.length - 1])},${oy + ph}`;
      parts.push(`<path d="${d}" fill="${color}" fill-opacity="0.08" stroke="${color}" stroke-width="1.6"/>`);
      if (s.zeroShare > 0) parts.push(`<text x="${ox + 4}" y="${oy + 12 + i * 12}" font-size="10" fill="${color}" font-family="${FONT}">exact 0: ${(100 * s.zeroShare).toFixed(1)}%</text>`);
    });
  });
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">` +
    `<rect width="100%" height="100%" fill="#fff"/>` +
    `<text x="${W / 2}" y="22" font-size="16" font-weight="bold" text-anchor="middle" font-family="${FONT}">${esc(title)}</text>` +
    parts.join('') +
    `<g transform="translate(0,${mt + rows * (ph + gapY) - 10})">${lg.svg}</g>` +
    `</svg>`
  );
}

/** Grouped bars: one group per category (e.g. threshold), one bar per run. Values are shares 0..1. */
export function groupedBarsSvg(title: string, yLabel: string, categories: string[], runs: { label: string; values: number[]; color?: string }[]): string {
  const W = 900, ml = 70, mr = 20, mt = 44, ph = 300;
  const pw = W - ml - mr;
  const color = (i: number) => runs[i].color ?? PALETTE[i % PALETTE.length];
  const lg = legend(runs.map((r, i) => ({ label: r.label, color: color(i) })), ml, 0, pw);
  const H = mt + ph + 60 + lg.height;
  const x0 = d3.scaleBand().domain(categories).range([0, pw]).padding(0.2);
  const x1 = d3.scaleBand().domain(runs.map((_, i) => String(i))).range([0, x0.bandwidth()]).padding(0.08);
  const y = d3.scaleLinear().domain([0, Math.max(0.01, d3.max(runs.flatMap((r) => r.values)) ?? 1)]).nice().range([ph, 0]);
  const parts: string[] = [];
  for (const t of y.ticks(6)) {
    parts.push(`<line x1="${ml}" y1="${mt + y(t)}" x2="${ml + pw}" y2="${mt + y(t)}" stroke="#e5e7eb"/>`);
    parts.push(`<text x="${ml - 6}" y="${mt + y(t) + 4}" font-size="11" text-anchor="end" font-family="${FONT}">${(100 * t).toFixed(t < 0.1 && t > 0 ? 1 : 0)}%</text>`);
  }
  categories.forEach((c, ci) => {
    parts.push(`<text x="${ml + x0(c)! + x0.bandwidth() / 2}" y="${mt + ph + 16}" font-size="12" text-anchor="middle" font-family="${FONT}">${esc(c)}</text>`);
    runs.forEach((r, i) => {
      const v = r.values[ci];
      const bx = ml + x0(c)! + x1(String(i))!;
      // A zero is a 2 px stub, so that an all-zero run is still seen.
      const h = Math.max(2, ph - y(v));
      parts.push(`<rect x="${bx}" y="${mt + ph - h}" width="${x1.bandwidth()}" height="${h}" fill="${color(i)}"/>`);
      parts.push(`<text x="${bx + x1.bandwidth() / 2}" y="${mt + ph - h - 3}" font-size="10" text-anchor="middle" font-family="${FONT}">${(100 * v).toFixed(1)}%</text>`);
    });
  });
  parts.push(`<rect x="${ml}" y="${mt}" width="${pw}" height="${ph}" fill="none" stroke="#9ca3af"/>`);
  parts.push(`<text x="${ml + pw / 2}" y="${mt + ph + 36}" font-size="13" text-anchor="middle" font-family="${FONT}">threshold on |w|</text>`);
  parts.push(`<text transform="translate(${ml - 50},${mt + ph / 2}) rotate(-90)" font-size="13" text-anchor="middle" font-family="${FONT}">${esc(yLabel)}</text>`);
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">` +
    `<rect width="100%" height="100%" fill="#fff"/>` +
    `<text x="${W / 2}" y="24" font-size="16" font-weight="bold" text-anchor="middle" font-family="${FONT}">${esc(title)}</text>` +
    parts.join('') +
    `<g transform="translate(0,${mt + ph + 56})">${lg.svg}</g>` +
    `</svg>`
  );
}
