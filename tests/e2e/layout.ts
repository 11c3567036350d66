/// <reference lib="dom" />
/**
 * Layout checks from the page's own geometry: every visible piece of text is measured (the
 * glyph boxes of each text node, SVG text included), and a view fails when two texts of one card
 * overlap, when a text spills out of its card, when SVG text spills out of its chart, when two
 * cards overlap, or when the view is wider than the window. Text clipped on purpose by an HTML
 * container (a scrolled table, an ellipsis) counts only for the part that shows; annotations
 * drawn over data (class "annotation") are not layout.
 */
import type { Page } from 'playwright-core';

export interface LayoutReport {
  problems: string[];
  /** Text boxes measured (so a test can tell the check saw something). */
  texts: number;
  cards: number;
}

/** Runs the checks in the page as it is now (scroll position does not matter: boxes are absolute). */
export async function layoutProblems(page: Page): Promise<LayoutReport> {
  return page.evaluate(() => {
    type Box = { l: number; t: number; r: number; b: number };
    type Text = { el: Element; box: Box; text: string; svg: SVGSVGElement | null };
    const TOL = 1.5;
    const problems: string[] = [];
    const sx = window.scrollX;
    const sy = window.scrollY;
    const box = (r: DOMRect): Box => ({ l: r.left + sx, t: r.top + sy, r: r.right + sx, b: r.bottom + sy });
    const meet = (a: Box, b: Box): Box => ({ l: Math.max(a.l, b.l), t: Math.max(a.t, b.t), r: Math.min(a.r, b.r), b: Math.min(a.b, b.b) });
    const empty = (a: Box) => a.r - a.l <= 0.5 || a.b - a.t <= 0.5;
    const inside = (a: Box, b: Box) => a.l >= b.l - TOL && a.t >= b.t - TOL && a.r <= b.r + TOL && a.b <= b.b + TOL;
    const cut = (s: string) => (s.length > 40 ? `${s.slice(0, 40)}…` : s);
    const where = (el: Element): string => {
      const card = el.closest('.card, .empty');
      const head = card?.querySelector('h2, h3, .nl-chart-title, [data-testid]');
      const tid = el.closest('[data-testid]')?.getAttribute('data-testid');
      return `${head?.textContent?.trim().slice(0, 40) ?? 'view'}${tid ? ` [${tid}]` : ''}`;
    };
    const shown = (el: Element) => el.checkVisibility({ opacityProperty: true, visibilityProperty: true, contentVisibilityAuto: true });

    /** HTML ancestors that clip their content (scroll boxes, ellipsis), up to the document. */
    function clipOf(el: Element): Box | null {
      let b: Box = { l: -1e9, t: -1e9, r: 1e9, b: 1e9 };
      for (let a: Element | null = el; a && a !== document.documentElement; a = a.parentElement) {
        if (a instanceof SVGElement) continue;
        const cs = getComputedStyle(a);
        if (cs.overflowX !== 'visible' || cs.overflowY !== 'visible') {
          // The main column and the page scroll as a whole: not a clip of the view's own content.
          if (a.matches('.main, body, .shell')) continue;
          b = meet(b, box(a.getBoundingClientRect()));
        }
      }
      return empty(b) ? null : b;
    }

    const texts: Text[] = [];
    const view = document.querySelector('.view');
    if (!view) return { problems: ['no .view element'], texts: 0, cards: 0 };
    const walker = document.createTreeWalker(view, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const t = n.textContent?.trim() ?? '';
      const el = n.parentElement;
      if (!t || !el) continue;
      if (el.closest('select, option, title, desc, style, script, textarea, .annotation, [hidden]')) continue;
      if (!shown(el)) continue;
      // Text for screen readers only (a 1 px clipped box) is not on screen.
      const own = el.getBoundingClientRect();
      if (own.width <= 1 || own.height <= 1) continue;
      const svg = el.closest('svg');
      const clip = clipOf(el);
      if (!clip) continue;
      let rects: Box[];
      if (svg) {
        // SVG text: the box of its <text> element (tspans included).
        const textEl = el.closest('text') ?? el;
        if (texts.some((x) => x.el === textEl)) continue;
        rects = [box(textEl.getBoundingClientRect())];
        const visibleRect = meet(rects[0], clip);
        if (empty(visibleRect)) continue;
        texts.push({ el: textEl, box: visibleRect, text: textEl.textContent?.trim() ?? t, svg });
        continue;
      }
      const range = document.createRange();
      range.selectNodeContents(n);
      rects = Array.from(range.getClientRects(), box);
      for (const r of rects) {
        const v = meet(r, clip);
        if (!empty(v)) texts.push({ el, box: v, text: t, svg: null });
      }
    }

    // SVG text must sit inside its chart.
    for (const x of texts) {
      if (x.svg && !inside(x.box, box(x.svg.getBoundingClientRect()))) problems.push(`${where(x.el)}: chart text "${cut(x.text)}" spills out of its chart`);
    }

    const cards = Array.from(view.querySelectorAll('.card, .empty')).filter((c) => shown(c) && !c.parentElement?.closest('.card, .empty'));
    const inCard = new Map<Element, Text[]>();
    const loose: Text[] = [];
    for (const x of texts) {
      const c = cards.find((k) => k.contains(x.el));
      if (c) inCard.set(c, [...(inCard.get(c) ?? []), x]);
      else loose.push(x);
    }
    for (const c of cards) {
      const cb = box(c.getBoundingClientRect());
      for (const x of inCard.get(c) ?? []) {
        if (!inside(x.box, cb)) problems.push(`${where(x.el)}: text "${cut(x.text)}" spills out of its card`);
      }
    }
    const pairs = (list: Text[], label: (x: Text) => string) => {
      for (let i = 0; i < list.length; i++) {
        for (let j = i + 1; j < list.length; j++) {
          const a = list[i];
          const b = list[j];
          if (a.el === b.el || a.el.contains(b.el) || b.el.contains(a.el)) continue;
          const m = meet(a.box, b.box);
          if (m.r - m.l > 2 && m.b - m.t > 2) problems.push(`${label(a)}: text "${cut(a.text)}" overlaps "${cut(b.text)}"`);
        }
      }
    };
    for (const c of cards) pairs(inCard.get(c) ?? [], (x) => where(x.el));
    pairs(loose, (x) => where(x.el));
    for (const x of loose) if (!inside(x.box, box(view.getBoundingClientRect()))) problems.push(`view: text "${cut(x.text)}" spills out of the view`);

    for (let i = 0; i < cards.length; i++) {
      for (let j = i + 1; j < cards.length; j++) {
        const m = meet(box(cards[i].getBoundingClientRect()), box(cards[j].getBoundingClientRect()));
        if (m.r - m.l > 2 && m.b - m.t > 2) problems.push(`cards "${where(cards[i])}" and "${where(cards[j])}" overlap`);
      }
    }
    const main = document.querySelector('.main');
    if (main && main.scrollWidth > main.clientWidth + 1) problems.push(`the view is ${main.scrollWidth - main.clientWidth}px wider than the window`);
    return { problems: [...new Set(problems)], texts: texts.length, cards: cards.length };
  });
}

/**
 * A screenshot of the whole view: the app scrolls inside its main column, so the column is let
 * out (through CSSOM, which the CSP allows) for the picture and put back afterwards.
 */
export async function fullScreenshot(page: Page, path: string): Promise<void> {
  await page.evaluate(() => {
    const shell = document.querySelector<HTMLElement>('.shell');
    const main = document.querySelector<HTMLElement>('.main');
    if (shell) {
      shell.style.height = 'auto';
      shell.style.minHeight = '100vh';
    }
    if (main) main.style.overflow = 'visible';
  });
  try {
    await page.screenshot({ path, fullPage: true });
  } finally {
    await page.evaluate(() => {
      const shell = document.querySelector<HTMLElement>('.shell');
      const main = document.querySelector<HTMLElement>('.main');
      shell?.style.removeProperty('height');
      shell?.style.removeProperty('min-height');
      main?.style.removeProperty('overflow');
    });
  }
}

/** A view to open by its hash and wait for, for `layoutPass`. */
export interface ViewState {
  name: string;
  hash: string;
  ready: (p: Page) => Promise<unknown>;
}

/**
 * Opens every view (`baseUrl#/hash`) fresh at 1440×900, then measures it at 1440×900 and 1024×768 (charts redraw on
 * resize, so each size settles first) and saves a whole-view screenshot per size through `shot`.
 * Returns the problems found, each prefixed with the view and size; a view with ≤ 5 texts measured
 * is a problem too (it did not render).
 */
export async function layoutPass(page: Page, baseUrl: string, states: ViewState[], shot: (name: string, width: number) => string): Promise<string[]> {
  const found: string[] = [];
  for (const s of states) {
    await page.setViewportSize({ width: 1440, height: 900 });
    await page.goto('about:blank');
    await page.goto(`${baseUrl}#/${s.hash}`);
    await s.ready(page);
    for (const [w, h] of [[1440, 900], [1024, 768]]) {
      await page.setViewportSize({ width: w, height: h });
      await page.waitForTimeout(400);
      const r = await layoutProblems(page);
      if (r.texts <= 5) found.push(`${s.name} ${w}×${h}: only ${r.texts} texts measured`);
      found.push(...r.problems.map((p) => `${s.name} ${w}×${h}: ${p}`));
      await fullScreenshot(page, shot(s.name, w));
    }
  }
  return found;
}
