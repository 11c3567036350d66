/**
 * Axis ticks and their labels, shared by the renderer's charts and the SVG charts of the CLI and
 * the report, so that every axis in the app reads the same way: whole numbers only on epoch and
 * step axes, labels with as many decimals as the tick step needs (never "21.000000"), log axes
 * that label only as many ticks as fit, and labels that never overlap their neighbours.
 */
import { tickStep, ticks as d3ticks } from 'd3-array';
import { formatNumber } from '../format';

/** The next "nice" whole step (1, 2, 5 × 10^k) at or above `x` (at least 1). */
function niceIntegerStep(x: number): number {
  if (!(x > 1)) return 1;
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 5, 10]) if (m * p >= x - 1e-9) return m * p;
  return 10 * p;
}

/**
 * Ticks for a linear axis over [lo, hi], about `count` of them. `integer` keeps whole numbers only
 * (epochs, steps, K): the step is then at least 1, and a domain without a whole number inside
 * has no tick.
 */
export function linearTicks(lo: number, hi: number, count: number, integer = false): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (hi < lo) [lo, hi] = [hi, lo];
  const n = Math.max(1, Math.floor(count));
  if (hi === lo) return integer && !Number.isInteger(lo) ? [] : [lo];
  if (!integer) return d3ticks(lo, hi, n);
  const step = niceIntegerStep(Math.abs(tickStep(lo, hi, n)));
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(Math.round(v));
  return out;
}

/** Decimals needed so that ticks `step` apart all read differently (and no more). */
export function decimalsForStep(step: number): number {
  if (!(step > 0) || !Number.isFinite(step)) return 0;
  const d = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  // A step such as 0.25 needs two decimals, not one.
  const scaled = step * 10 ** d;
  return Math.abs(scaled - Math.round(scaled)) > 1e-6 ? Math.min(12, d + 1) : d;
}

/**
 * The label maker for a set of ticks: fixed decimals from their spacing for ordinary numbers,
 * compact exponents for very large or very small ones (1e-5, 2.5e6), and `suffix` after each.
 */
export function tickFormatter(ticks: readonly number[], suffix = ''): (v: number) => string {
  const finite = ticks.filter(Number.isFinite);
  const max = Math.max(0, ...finite.map(Math.abs));
  const sorted = [...finite].sort((a, b) => a - b);
  let step = Infinity;
  for (let i = 1; i < sorted.length; i++) if (sorted[i] - sorted[i - 1] > 0) step = Math.min(step, sorted[i] - sorted[i - 1]);
  if (max >= 1e6 || (max > 0 && max < 1e-3)) return (v) => `${formatNumber(v, 3)}${suffix}`;
  const d = Number.isFinite(step) ? decimalsForStep(step) : Number.isInteger(max) ? 0 : Math.min(6, decimalsForStep(max / 10));
  return (v) => {
    const s = v.toFixed(d);
    // "-0" and "-0.00" read as 0.
    return `${/^-0(\.0+)?$/.test(s) ? s.slice(1) : s}${suffix}`;
  };
}

export interface LogTicks {
  /** Every tick drawn (minor ones included). */
  ticks: number[];
  /** The ticks that get a label: as many as fit in `maxLabels`. */
  labelled: number[];
}

/**
 * Ticks for a log axis over [lo, hi] (both > 0): minor ticks at 1…9 × 10^k while they stay
 * readable, labels at 1-2-5, then 1-3, then powers of ten, then every few decades — whichever is
 * the richest set that keeps to `maxLabels`. Short ranges without a decade fall back to linear
 * ticks.
 */
export function logTicks(lo: number, hi: number, maxLabels: number): LogTicks {
  if (!(lo > 0) || !(hi > 0)) return { ticks: [], labelled: [] };
  if (hi < lo) [lo, hi] = [hi, lo];
  const max = Math.max(2, Math.floor(maxLabels));
  const k0 = Math.floor(Math.log10(lo) - 1e-9);
  const k1 = Math.ceil(Math.log10(hi) + 1e-9);
  const inside = (v: number) => v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9);
  const decade = (mults: number[], every = 1) => {
    const out: number[] = [];
    for (let k = k0; k <= k1; k++) {
      if (((k % every) + every) % every !== 0) continue;
      for (const m of mults) {
        const v = Number((m * 10 ** k).toPrecision(12));
        if (inside(v)) out.push(v);
      }
    }
    return out;
  };
  const decades = k1 - k0;
  const minor = decades <= 6 ? decade([1, 2, 3, 4, 5, 6, 7, 8, 9]) : decade([1]);
  for (const mults of [[1, 2, 5], [1, 3], [1]]) {
    const labelled = decade(mults);
    if (labelled.length <= max && labelled.length >= 2) return { ticks: minor, labelled };
    if (labelled.length > max) continue;
    // Fewer than two labels: a short range inside one decade reads better on linear ticks.
    const lin = linearTicks(lo, hi, Math.min(max, 5)).filter((v) => v > 0);
    return { ticks: lin, labelled: lin };
  }
  for (let every = 2; every <= decades + 1; every++) {
    const labelled = decade([1], every);
    if (labelled.length <= max) return { ticks: minor, labelled };
  }
  return { ticks: minor, labelled: decade([1], decades + 1) };
}

/** Label text of a log tick: 0.001, 0.05, 20, 1e-5, 3e6. */
export function logTickLabel(v: number): string {
  return formatNumber(v, 3);
}

/**
 * Approximate width in pixels of `text` in a sans-serif font of `fontPx` (DejaVu Sans, the widest
 * of the usual ones, so the estimate errs on the safe side). For layout where no DOM can measure:
 * the server-side SVG charts.
 */
export function estimateTextWidth(text: string, fontPx: number): number {
  let em = 0;
  for (const ch of text) {
    if (/[0-9]/.test(ch)) em += 0.64;
    else if (/[.,:;'|!il]/.test(ch)) em += 0.32;
    else if (ch === ' ') em += 0.32;
    else if (/[-()[\]/]/.test(ch)) em += 0.4;
    else if (/[mwMW%]/.test(ch)) em += 0.95;
    else if (/[A-Z]/.test(ch)) em += 0.72;
    else em += 0.6;
  }
  return em * fontPx;
}

/**
 * Which labels to keep along an axis so that none overlaps its neighbour: every k-th one for the
 * smallest k that leaves at least `gap` pixels between label boxes. `centres` are the label
 * centres in pixels (in axis order), `widths` their widths. Returns the kept indices.
 */
export function thinLabels(centres: readonly number[], widths: readonly number[], gap = 6): number[] {
  const n = centres.length;
  if (n <= 1) return n ? [0] : [];
  for (let k = 1; k <= n; k++) {
    const kept: number[] = [];
    for (let i = 0; i < n; i += k) kept.push(i);
    let ok = true;
    for (let j = 1; j < kept.length && ok; j++) {
      const a = kept[j - 1];
      const b = kept[j];
      ok = Math.abs(centres[b] - centres[a]) >= (widths[a] + widths[b]) / 2 + gap;
    }
    if (ok) return kept;
  }
  return [0];
}
