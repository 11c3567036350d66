/**
 * The toy loss landscape of the "why scaling matters" lesson: linear regression (MSE, no
 * intercept) with two features on user-set scales. Pure math with no imports, so that the
 * renderer recomputes it on every slider move (contract/ is the one src-main folder the renderer
 * may import; src-main/analysis/toy.ts re-exports it for Node code).
 *
 * The loss is a quadratic, L(w) = wᵀAw − 2bᵀw + c with A = XᵀX/n, b = Xᵀy/n, c = yᵀy/n,
 * plus λ₂‖w‖² + λ₁‖w‖₁. Its contours are ellipses whose axis ratio is √κ(A): features on
 * different scales give a large κ (elongated contours, a zig-zagging path, a tiny stable
 * learning rate); standardized features give κ ≈ 1 (round contours).
 */
import { gaussian, mulberry32 } from './rng';

export type Vec2 = [number, number];

export interface ToyParams {
  /** Standard deviation of feature 1 and feature 2 in the raw data. */
  scale1: number;
  scale2: number;
  /** Learning rate of gradient descent. */
  lr: number;
  /** Gradient-descent steps. */
  steps: number;
  /** L1 penalty λ₁ (‖w‖₁) and L2 penalty λ₂ (‖w‖²). */
  l1: number;
  l2: number;
  /** Correlation of the two features (default 0.3, so that contours are tilted a little). */
  corr?: number;
  /** Noise standard deviation of y (default 0.5). */
  noise?: number;
  /** Samples (default 200). */
  n?: number;
  /** Seed of the data (default 1). */
  seed?: number;
}

export interface ToyData {
  x1: Float64Array;
  x2: Float64Array;
  y: Float64Array;
}

/** The quadratic form of the mean squared error. */
export interface ToyProblem {
  /** A = XᵀX/n as [a11, a12, a22]. */
  a: [number, number, number];
  /** b = Xᵀy/n. */
  b: Vec2;
  /** c = yᵀy/n. */
  c: number;
}

export interface Penalty2 {
  l1: number;
  l2: number;
}

export interface ToyPath {
  points: Vec2[];
  /** True when the path left every sensible range (learning rate above the stable limit). */
  diverged: boolean;
  /** Total loss at the last point. */
  finalLoss: number;
}

/** Everything one panel of the side-by-side picture needs. */
export interface ToyScene {
  normalized: boolean;
  problem: ToyProblem;
  /** Minimum of the data loss alone (no penalty). */
  dataMinimum: Vec2;
  /** Minimum of the penalized loss. */
  minimum: Vec2;
  start: Vec2;
  path: ToyPath;
  /** Condition number λmax/λmin of A + λ₂I: the squared axis ratio of the contours. */
  condition: number;
  /** Gradient descent on the smooth part is stable for lr < 1/λmax(A + λ₂I). */
  maxStableLr: number;
  /** Plot extent, chosen to hold the minimum, the start and the (finite part of the) path. */
  xRange: Vec2;
  yRange: Vec2;
  /** Total loss on an n×n grid, row-major, row j = y value j (bottom to top), column i = x value i. */
  grid: { n: number; values: Float64Array };
  /** Constraint-form picture: the penalized minimum lies on the boundary of these balls. */
  l1Radius: number;
  l2Radius: number;
}

function checkPositive(name: string, v: number): void {
  if (!(Number.isFinite(v) && v > 0)) throw new RangeError(`toy: ${name} must be a positive number, got ${v}`);
}

/**
 * Seeded data: x₁ ~ N(0, scale1²), x₂ ~ N(0, scale2²) with correlation `corr`, and
 * y = 2·x₁/scale1 − 1.5·x₂/scale2 + noise, so each feature matters equally however it is scaled
 * and the best raw weights are ∝ 1/scale — the elongation the lesson is about.
 */
export function makeToyData(p: Pick<ToyParams, 'scale1' | 'scale2' | 'corr' | 'noise' | 'n' | 'seed'>): ToyData {
  checkPositive('scale1', p.scale1);
  checkPositive('scale2', p.scale2);
  const n = p.n ?? 200;
  if (!(Number.isInteger(n) && n >= 2)) throw new RangeError(`toy: n must be an integer ≥ 2, got ${n}`);
  const corr = p.corr ?? 0.3;
  if (!(corr > -1 && corr < 1)) throw new RangeError(`toy: corr must be in (−1, 1), got ${corr}`);
  const noise = p.noise ?? 0.5;
  const rng = mulberry32(p.seed ?? 1);
  const x1 = new Float64Array(n);
  const x2 = new Float64Array(n);
  const y = new Float64Array(n);
  const k = Math.sqrt(1 - corr * corr);
  for (let i = 0; i < n; i++) {
    const z1 = gaussian(rng);
    const z2 = corr * z1 + k * gaussian(rng);
    x1[i] = p.scale1 * z1;
    x2[i] = p.scale2 * z2;
    y[i] = 2 * z1 - 1.5 * z2 + noise * gaussian(rng);
  }
  return { x1, x2, y };
}

/** Standardizes each feature (mean 0, population std 1) and centres y — what "normalize the inputs" does. */
export function standardize(d: ToyData): ToyData {
  const n = d.y.length;
  const z = (v: Float64Array): Float64Array => {
    let m = 0;
    for (const x of v) m += x;
    m /= n;
    let s = 0;
    for (const x of v) s += (x - m) * (x - m);
    const sd = Math.sqrt(s / n) || 1;
    return v.map((x) => (x - m) / sd);
  };
  let my = 0;
  for (const v of d.y) my += v;
  my /= n;
  return { x1: z(d.x1), x2: z(d.x2), y: d.y.map((v) => v - my) };
}

/** Coefficients of the mean squared error as a quadratic in w. */
export function toyProblem(d: ToyData): ToyProblem {
  const n = d.y.length;
  let a11 = 0, a12 = 0, a22 = 0, b1 = 0, b2 = 0, c = 0;
  for (let i = 0; i < n; i++) {
    const x1 = d.x1[i], x2 = d.x2[i], y = d.y[i];
    a11 += x1 * x1; a12 += x1 * x2; a22 += x2 * x2;
    b1 += x1 * y; b2 += x2 * y; c += y * y;
  }
  return { a: [a11 / n, a12 / n, a22 / n], b: [b1 / n, b2 / n], c: c / n };
}

/** Closed-form loss: wᵀAw − 2bᵀw + c + λ₂‖w‖² + λ₁‖w‖₁. */
export function toyLoss(p: ToyProblem, w: Vec2, pen: Penalty2 = { l1: 0, l2: 0 }): number {
  const [a11, a12, a22] = p.a;
  const [w1, w2] = w;
  const data = a11 * w1 * w1 + 2 * a12 * w1 * w2 + a22 * w2 * w2 - 2 * (p.b[0] * w1 + p.b[1] * w2) + p.c;
  return data + pen.l2 * (w1 * w1 + w2 * w2) + pen.l1 * (Math.abs(w1) + Math.abs(w2));
}

/** The same loss as a mean over the samples (the definition the closed form must equal). */
export function toyLossDirect(d: ToyData, w: Vec2, pen: Penalty2 = { l1: 0, l2: 0 }): number {
  let s = 0;
  for (let i = 0; i < d.y.length; i++) {
    const r = w[0] * d.x1[i] + w[1] * d.x2[i] - d.y[i];
    s += r * r;
  }
  return s / d.y.length + pen.l2 * (w[0] ** 2 + w[1] ** 2) + pen.l1 * (Math.abs(w[0]) + Math.abs(w[1]));
}

/** Gradient of the smooth part (data loss + λ₂‖w‖²): 2(Aw − b) + 2λ₂w. */
export function toySmoothGradient(p: ToyProblem, w: Vec2, l2: number): Vec2 {
  const [a11, a12, a22] = p.a;
  return [2 * (a11 * w[0] + a12 * w[1] - p.b[0]) + 2 * l2 * w[0], 2 * (a12 * w[0] + a22 * w[1] - p.b[1]) + 2 * l2 * w[1]];
}

const soft = (v: number, t: number): number => (v > t ? v - t : v < -t ? v + t : 0);

/** Eigenvalues (min, max) of the symmetric 2×2 [a11 a12; a12 a22]. */
export function eig2(a11: number, a12: number, a22: number): Vec2 {
  const m = (a11 + a22) / 2;
  const r = Math.sqrt(((a11 - a22) / 2) ** 2 + a12 * a12);
  return [m - r, m + r];
}

/**
 * Gradient descent from `start`. With λ₁ > 0 it is proximal gradient descent (ISTA): a gradient
 * step on the smooth part, then soft-thresholding by lr·λ₁ — the step that lands exactly on an
 * axis at L1's corners, where a plain subgradient step would oscillate around zero.
 */
export function toyPath(p: ToyProblem, start: Vec2, o: { lr: number; steps: number } & Penalty2): ToyPath {
  if (!(o.lr > 0)) throw new RangeError(`toy: learning rate must be positive, got ${o.lr}`);
  const steps = Math.max(0, Math.min(10_000, Math.floor(o.steps)));
  const pts: Vec2[] = [[start[0], start[1]]];
  let w: Vec2 = [start[0], start[1]];
  let diverged = false;
  const limit = 1e6 * (1 + Math.abs(start[0]) + Math.abs(start[1]));
  for (let k = 0; k < steps; k++) {
    const g = toySmoothGradient(p, w, o.l2);
    let n1 = w[0] - o.lr * g[0];
    let n2 = w[1] - o.lr * g[1];
    if (o.l1 > 0) {
      n1 = soft(n1, o.lr * o.l1);
      n2 = soft(n2, o.lr * o.l1);
    }
    w = [n1, n2];
    if (!Number.isFinite(n1) || !Number.isFinite(n2) || Math.abs(n1) + Math.abs(n2) > limit) {
      diverged = true;
      break;
    }
    pts.push(w);
  }
  const last = pts[pts.length - 1];
  return { points: pts, diverged, finalLoss: toyLoss(p, last, o) };
}

/**
 * Minimum of the penalized loss: closed form (A + λ₂I)⁻¹b without L1; with L1, coordinate
 * descent (each coordinate's 1-D problem is solved exactly by soft-thresholding), which
 * converges for this strictly convex problem.
 */
export function toyMinimum(p: ToyProblem, pen: Penalty2): Vec2 {
  const a11 = p.a[0] + pen.l2;
  const a22 = p.a[2] + pen.l2;
  const a12 = p.a[1];
  if (!(pen.l1 > 0)) {
    const det = a11 * a22 - a12 * a12;
    if (!(Math.abs(det) > 1e-300)) return [0, 0];
    return [(a22 * p.b[0] - a12 * p.b[1]) / det, (a11 * p.b[1] - a12 * p.b[0]) / det];
  }
  // ∂/∂w1 of w1²a11 + 2a12w1w2 − 2b1w1 + λ₁|w1| = 0  ⇒  w1 = soft(b1 − a12 w2, λ₁/2) / a11.
  let w1 = 0;
  let w2 = 0;
  for (let it = 0; it < 2000; it++) {
    const o1 = w1;
    const o2 = w2;
    w1 = soft(p.b[0] - a12 * w2, pen.l1 / 2) / a11;
    w2 = soft(p.b[1] - a12 * w1, pen.l1 / 2) / a22;
    if (Math.abs(w1 - o1) + Math.abs(w2 - o2) < 1e-15 * (1 + Math.abs(w1) + Math.abs(w2))) break;
  }
  return [w1, w2];
}

/** Total loss on an n×n grid over xRange × yRange (row-major, rows are y). */
export function toyGrid(p: ToyProblem, pen: Penalty2, xRange: Vec2, yRange: Vec2, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    const y = yRange[0] + ((yRange[1] - yRange[0]) * j) / (n - 1);
    for (let i = 0; i < n; i++) {
      const x = xRange[0] + ((xRange[1] - xRange[0]) * i) / (n - 1);
      out[j * n + i] = toyLoss(p, [x, y], pen);
    }
  }
  return out;
}

/**
 * One panel: raw or standardized data, the minimum, the gradient-descent path from a start
 * offset from the unpenalized minimum by (−1.5, +0.8)·max|w*|, a plot extent that fits, and the
 * loss grid.
 */
export function toyScene(data: ToyData, normalized: boolean, params: ToyParams, gridN = 81): ToyScene {
  const d = normalized ? standardize(data) : data;
  const problem = toyProblem(d);
  const pen = { l1: Math.max(0, params.l1), l2: Math.max(0, params.l2) };
  const dataMinimum = toyMinimum(problem, { l1: 0, l2: 0 });
  const minimum = toyMinimum(problem, pen);
  // Off the minimum by the same amount along both axes (in each panel's own units), so the
  // steep direction of elongated contours shows the zig-zag.
  const reach = Math.max(Math.abs(dataMinimum[0]), Math.abs(dataMinimum[1]), 1e-9);
  const start: Vec2 = [dataMinimum[0] - 1.5 * reach, dataMinimum[1] + 0.8 * reach];
  const path = toyPath(problem, start, { lr: params.lr, steps: params.steps, ...pen });
  const [lmin, lmax] = eig2(problem.a[0] + pen.l2, problem.a[1], problem.a[2] + pen.l2);
  const xs = [0, dataMinimum[0], start[0], minimum[0]];
  const ys = [0, dataMinimum[1], start[1], minimum[1]];
  // The extent follows the data's own units, so the contours' true shape shows: one scale for both axes.
  const r = 1.25 * Math.max(...xs.map(Math.abs), ...ys.map(Math.abs), 1e-9);
  const cx = (dataMinimum[0] + minimum[0]) / 4;
  const cy = (dataMinimum[1] + minimum[1]) / 4;
  const xRange: Vec2 = [cx - r, cx + r];
  const yRange: Vec2 = [cy - r, cy + r];
  return {
    normalized,
    problem,
    dataMinimum,
    minimum,
    start,
    path,
    condition: lmin > 0 ? lmax / lmin : Infinity,
    maxStableLr: 1 / lmax,
    xRange,
    yRange,
    grid: { n: gridN, values: toyGrid(problem, pen, xRange, yRange, gridN) },
    l1Radius: Math.abs(minimum[0]) + Math.abs(minimum[1]),
    l2Radius: Math.hypot(minimum[0], minimum[1]),
  };
}

/** Both panels of the lesson: raw features and standardized features, same data and settings. */
export function toyComparison(params: ToyParams, gridN = 81): { raw: ToyScene; normalized: ToyScene } {
  const data = makeToyData(params);
  return { raw: toyScene(data, false, params, gridN), normalized: toyScene(data, true, params, gridN) };
}
