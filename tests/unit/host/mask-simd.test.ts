/**
 * The SIMD dropout masks equal the tfjs engine's (engine/layers.ts dropoutMask: mulberry32 drawn
 * element by element in NHWC order) bit for bit, and so does the JavaScript path they replace.
 */
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { dropoutMask } from '../../../src-main/engine/layers';
import { dropoutMaskNchw } from '../../../src-main/host/ort-trainer';
import { SimdMasks } from '../../../src-main/host/mask-simd';

/** The tfjs engine's mask [n, h, w, c] moved to NCHW positions. */
function reference(n: number, c: number, h: number, w: number, rate: number, seed: number): Float32Array {
  const nhwc = tf.tidy(() => dropoutMask([n, h, w, c], rate, seed).dataSync() as Float32Array);
  const out = new Float32Array(n * c * h * w);
  for (let b = 0; b < n; b++)
    for (let p = 0; p < h * w; p++)
      for (let k = 0; k < c; k++) out[(b * c + k) * h * w + p] = nhwc[(b * h * w + p) * c + k];
  return out;
}

describe('dropout masks through WebAssembly SIMD', () => {
  const simd = SimdMasks.create();

  it('assembles and validates on this runtime (Node 20 has WebAssembly SIMD)', () => {
    expect(simd).not.toBeNull();
  });

  // hw a multiple of 4 (all SIMD), not (a JavaScript tail), 1 (vectors: all JavaScript); c = 1, odd, S5's.
  const shapes: [number, number, number, number][] = [[3, 8, 26, 26], [2, 16, 24, 24], [5, 3, 5, 7], [4, 1, 3, 3], [7, 10, 1, 1], [1, 12, 10, 10], [2, 5, 2, 2]];
  const rates = [0.05, 0.3, 0.5, 0.9, 1e-9, 0.999];
  const seeds = [0, 1, 99, 0x80000005, 0xffffffff];

  it('every mask equals the tfjs engine mask, with SIMD and without', () => {
    let checked = 0;
    for (const [n, c, h, w] of shapes)
      for (const rate of rates)
        for (const seed of seeds) {
          const ref = reference(n, c, h, w, rate, seed);
          const fast = dropoutMaskNchw(new Float32Array(ref.length).fill(NaN), n, [c, h, w], rate, seed, simd);
          const js = dropoutMaskNchw(new Float32Array(ref.length).fill(NaN), n, [c, h, w], rate, seed, null);
          expect(Array.from(fast), `SIMD, shape ${[n, c, h, w]}, rate ${rate}, seed ${seed}`).toEqual(Array.from(ref));
          expect(Array.from(js), `JavaScript, shape ${[n, c, h, w]}, rate ${rate}, seed ${seed}`).toEqual(Array.from(ref));
          checked += ref.length;
        }
    expect(checked).toBeGreaterThan(1_000_000);
  });

  it('keeps about 1 − rate of the units, scaled by 1/(1 − rate)', () => {
    const out = dropoutMaskNchw(new Float32Array(128 * 16 * 24 * 24), 128, [16, 24, 24], 0.25, 7, simd);
    const kept = out.reduce((s, v) => s + (v > 0 ? 1 : 0), 0) / out.length;
    expect(Math.abs(kept - 0.75)).toBeLessThan(0.002);
    expect(new Set(out)).toEqual(new Set([0, Math.fround(1 / 0.75)]));
  });

  it('a second, larger mask grows the module memory and is still exact; a smaller one after it too', () => {
    for (const [n, c, h, w] of [[1, 4, 4, 4], [64, 16, 32, 32], [2, 4, 8, 8]] as const) {
      const ref = reference(n, c, h, w, 0.2, 5);
      expect(Array.from(dropoutMaskNchw(new Float32Array(ref.length), n, [c, h, w], 0.2, 5, simd))).toEqual(Array.from(ref));
    }
  });
});
