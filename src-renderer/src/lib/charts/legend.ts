/**
 * The one legend of the app's charts, drawn inside the SVG (so an exported chart carries it):
 * entries wrap into rows that fit the width; a click hides or shows a series, a double-click
 * (or Alt/Shift-click) shows only that one (again: all), hovering an entry highlights its series.
 * Keyboard: Enter/Space toggle, Alt+Enter isolates.
 */
import type * as d3 from 'd3';
import { FONT, textWidth } from './axes';

export interface LegendItem {
  id: string;
  label: string;
  color: string;
  dashed?: boolean;
  /** Drawn as a filled box (bars) instead of a line. */
  box?: boolean;
}

export interface LegendLayout {
  rows: number;
  height: number;
  places: { x: number; row: number; width: number }[];
}

const ROW = 18;
/** How long a click waits for a second one (a double-click isolates instead of hiding). */
const CLICK_DELAY_MS = 250;
const SWATCH = 18;

/** Positions of the entries in rows no wider than `width`. */
export function layoutLegend(items: readonly LegendItem[], width: number): LegendLayout {
  let x = 0;
  let row = 0;
  const places = items.map((it) => {
    const w = SWATCH + 6 + textWidth(it.label, FONT.legend) + 16;
    if (x > 0 && x + w > width) {
      x = 0;
      row += 1;
    }
    const at = { x, row, width: w };
    x += w;
    return at;
  });
  const rows = items.length ? row + 1 : 0;
  return { rows, height: rows * ROW, places };
}

export interface LegendState {
  hidden: ReadonlySet<string>;
  onToggle(id: string): void;
  onIsolate(id: string): void;
  onHover(id: string | null): void;
}

/** Draws the legend into `g` (cleared first) at its layout. */
export function drawLegend(
  g: d3.Selection<SVGGElement, unknown, null, undefined>,
  items: readonly LegendItem[],
  layout: LegendLayout,
  state: LegendState | null,
): void {
  g.selectAll('*').remove();
  // A click waits a moment before hiding: the chart redraws on every change, and a redraw between
  // the two clicks of a double-click would swallow the double-click.
  let pending: ReturnType<typeof setTimeout> | null = null;
  const later = (fn: () => void) => {
    if (pending) clearTimeout(pending);
    pending = setTimeout(() => {
      pending = null;
      fn();
    }, CLICK_DELAY_MS);
  };
  const now = (fn: () => void) => {
    if (pending) clearTimeout(pending);
    pending = null;
    fn();
  };
  items.forEach((it, i) => {
    const p = layout.places[i];
    const off = state?.hidden.has(it.id) ?? false;
    // The entry: a hit area (with the hover help) and, apart from it, the swatch and label, so that
    // the item's text is its label alone.
    const entry = g.append('g').attr('class', 'nl-legend-entry').attr('transform', `translate(${p.x},${p.row * ROW + 12})`).attr('data-series', it.id);
    if (state) {
      entry.append('rect').attr('class', 'nl-legend-hit').attr('x', -3).attr('y', -13).attr('width', p.width - 8).attr('height', ROW)
        .append('title').text(`${it.label} — click: ${off ? 'show' : 'hide'} · double-click or Alt-click: only this one`);
    }
    const e = entry.append('g').attr('class', `nl-legend-item${off ? ' off' : ''}`);
    if (it.box) e.append('rect').attr('x', 0).attr('y', -9).attr('width', 12).attr('height', 10).attr('rx', 2).attr('fill', it.color);
    else {
      e.append('line').attr('class', `nl-legend-swatch${it.dashed ? ' dashed' : ''}`).attr('x1', 0).attr('x2', SWATCH).attr('y1', -4).attr('y2', -4)
        .attr('stroke', it.color);
    }
    e.append('text').attr('x', it.box ? 18 : SWATCH + 6).attr('y', 0).text(it.label);
    if (!state) return;
    entry.attr('role', 'button').attr('tabindex', 0).attr('aria-pressed', String(!off))
      .attr('aria-label', `${it.label}: ${off ? 'hidden' : 'shown'}. Click to ${off ? 'show' : 'hide'}, double-click to show only this series`);
    entry.on('click', (ev: MouseEvent) => {
      if (ev.altKey || ev.shiftKey) now(() => state.onIsolate(it.id));
      else if (ev.detail <= 1) later(() => state.onToggle(it.id));
    })
      .on('dblclick', (ev: MouseEvent) => {
        ev.preventDefault();
        now(() => state.onIsolate(it.id));
      })
      .on('mouseenter', () => state.onHover(it.id))
      .on('mouseleave', () => state.onHover(null))
      .on('keydown', (ev: KeyboardEvent) => {
        if (ev.key !== 'Enter' && ev.key !== ' ') return;
        ev.preventDefault();
        if (ev.altKey || ev.shiftKey) now(() => state.onIsolate(it.id));
        else now(() => state.onToggle(it.id));
      });
  });
}

/**
 * The hidden set after isolating `id`: everything else hidden, or — when `id` is already the only
 * one shown — nothing hidden.
 */
export function isolate(ids: readonly string[], hidden: ReadonlySet<string>, id: string): Set<string> {
  const alone = ids.every((x) => (x === id ? !hidden.has(x) : hidden.has(x)));
  return alone ? new Set() : new Set(ids.filter((x) => x !== id));
}
