/** Pure helpers behind the charts (no DOM), shared by every view that plots. */

export interface XY {
  x: number;
  y: number;
}

/** Index of the point whose x is nearest to `x` in points sorted by x; -1 when empty. */
export function nearestIndex(points: readonly XY[], x: number): number {
  if (points.length === 0) return -1;
  let lo = 0;
  let hi = points.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (points[mid].x <= x) lo = mid;
    else hi = mid;
  }
  return Math.abs(points[lo].x - x) <= Math.abs(points[hi].x - x) ? lo : hi;
}

/** x and y ranges over all finite points (positive y only when logY); [0, 1] when there are none. */
export function seriesExtent(series: readonly { points: readonly XY[] }[], logY = false): { x: [number, number]; y: [number, number] } {
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (const s of series) {
    for (const p of s.points) {
      if (!Number.isFinite(p.x) || !Number.isFinite(p.y) || (logY && p.y <= 0)) continue;
      if (p.x < x0) x0 = p.x;
      if (p.x > x1) x1 = p.x;
      if (p.y < y0) y0 = p.y;
      if (p.y > y1) y1 = p.y;
    }
  }
  if (x0 > x1) return { x: [0, 1], y: logY ? [0.1, 1] : [0, 1] };
  if (x0 === x1) { x0 -= 0.5; x1 += 0.5; }
  if (y0 === y1) { y0 = logY ? y0 / 2 : y0 - 0.5; y1 = logY ? y1 * 2 : y1 + 0.5; }
  return { x: [x0, x1], y: [y0, y1] };
}

/**
 * Exponential moving average smoothing as in TensorBoard: weight 0 returns the input, 0.9
 * is heavy; debiased so the first points are not pulled toward zero.
 */
export function smoothEma<P extends XY>(points: readonly P[], weight: number): P[] {
  if (weight <= 0) return points.slice();
  let last = 0;
  let n = 0;
  return points.map((p) => {
    if (!Number.isFinite(p.y)) return p;
    last = last * weight + (1 - weight) * p.y;
    n += 1;
    return { ...p, y: last / (1 - weight ** n) };
  });
}

/** Index of the best finite point ('max': highest y, 'min': lowest; the first on ties), -1 if none. */
export function bestIndex(points: readonly XY[], better: 'max' | 'min'): number {
  let best = -1;
  for (let i = 0; i < points.length; i++) {
    const y = points[i].y;
    if (!Number.isFinite(y)) continue;
    if (best < 0 || (better === 'max' ? y > points[best].y : y < points[best].y)) best = i;
  }
  return best;
}

/**
 * Keeps at most `max` points by averaging runs of neighbours (x of the last point of each run):
 * a long per-step curve stays drawable without losing its level.
 */
export function thinPoints(points: readonly XY[], max: number): XY[] {
  if (points.length <= max || max < 1) return points.slice();
  const k = Math.ceil(points.length / max);
  const out: XY[] = [];
  for (let i = 0; i < points.length; i += k) {
    const chunk = points.slice(i, i + k).filter((p) => Number.isFinite(p.y));
    if (!chunk.length) continue;
    out.push({ x: chunk[chunk.length - 1].x, y: chunk.reduce((s, p) => s + p.y, 0) / chunk.length });
  }
  return out;
}
