/**
 * A line through one point draws nothing, so a run's first epoch would be invisible on its
 * curve. This Svelte action watches a LineChart's SVG and puts a dot on every isolated point
 * (a subpath with a move but no line), in the line's colour; it follows every redraw, including
 * resizes and legend toggles, because it reacts to the chart's own DOM changes.
 */
import { isolatedPoints } from './form';

const SVG_NS = 'http://www.w3.org/2000/svg';

/** Svelte action on the element that contains a LineChart. */
export function isolatedPointDots(node: HTMLElement): { destroy(): void } {
  const decorate = (): void => {
    for (const group of node.querySelectorAll<SVGGElement>('g.nl-lines')) {
      for (const old of group.querySelectorAll('circle.nl-dot')) old.remove();
      for (const path of group.querySelectorAll<SVGPathElement>('path.nl-line')) {
        for (const p of isolatedPoints(path.getAttribute('d') ?? '')) {
          const c = document.createElementNS(SVG_NS, 'circle');
          c.setAttribute('class', 'nl-dot');
          c.setAttribute('cx', String(p.x));
          c.setAttribute('cy', String(p.y));
          c.setAttribute('r', '3.5');
          c.setAttribute('fill', path.getAttribute('stroke') ?? 'currentColor');
          c.dataset.series = path.dataset.series ?? '';
          group.appendChild(c);
        }
      }
    }
  };
  const ours = (n: Node) => n instanceof Element && n.classList.contains('nl-dot');
  const observer = new MutationObserver((records) => {
    // Our own dots also change the DOM: only the chart's changes call for a redraw of the dots.
    const fromChart = records.some((r) => r.type === 'attributes' || [...r.addedNodes, ...r.removedNodes].some((n) => !ours(n)));
    if (fromChart) decorate();
  });
  observer.observe(node, { subtree: true, childList: true, attributes: true, attributeFilter: ['d', 'stroke'] });
  decorate();
  return { destroy: () => observer.disconnect() };
}
