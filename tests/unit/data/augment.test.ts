import { describe, expect, it } from 'vitest';
import { augmentBatch, DRAWS_PER_IMAGE, type AugmentOptions } from '../../../src-main/data/augment';
import { channelStats, gatherBatch } from '../../../src-main/data/normalize';
import { mulberry32 } from '../../../src-main/engine/rng';
import { realSlice } from './helpers';

const N = 128;
const { images } = realSlice(N);
const { mean, std } = channelStats(images, N, 28, 28, 1);
const BLACK = [(0 - mean[0]) / std[0]];
const batch = () => gatherBatch(images, Array.from({ length: N }, (_, i) => i), 0, N, 784, mean, std);
const at = (x: Float32Array, i: number, y: number, xx: number) => x[i * 784 + y * 28 + xx];

/** An rng that replays the given draws, so a test picks the angle, shift and erase exactly. */
function scripted(draws: number[]): () => number {
  let k = 0;
  return () => draws[k++ % draws.length];
}

const NONE: AugmentOptions = { rotate: 0, shift: 0, erase: 0 };

describe('augmentBatch', () => {
  it('rotate 0, shift 0, erase 0 leaves the batch unchanged', () => {
    const x = batch();
    const before = x.slice();
    augmentBatch(x, N, 28, 28, 1, NONE, mulberry32(1), BLACK);
    expect(Buffer.compare(Buffer.from(x.buffer), Buffer.from(before.buffer))).toBe(0);
  });

  it('a shift of k moves every pixel by k and fills with black', () => {
    for (const k of [1, 3]) {
      const x = batch().subarray(0, 2 * 784);
      const before = x.slice();
      // Draws: angle (unused), dx = ⌊r·(2k+1)⌋ − k = +k, dy: r = 0 gives −k; no erase.
      augmentBatch(x, 1, 28, 28, 1, { rotate: 0, shift: k, erase: 0 }, scripted([0.5, 0.9999, 0, 0.99, 0, 0, 0, 0]), BLACK);
      for (let y = 0; y < 28; y++) {
        for (let xx = 0; xx < 28; xx++) {
          const sy = y + k;
          const sx = xx - k;
          const expected = sx >= 0 && sy < 28 ? at(before, 0, sy, sx) : Math.fround(BLACK[0]);
          expect(at(x, 0, y, xx)).toBe(expected);
        }
      }
      // The second image was not touched (n = 1).
      expect(Array.from(x.subarray(784))).toEqual(Array.from(before.subarray(784)));
    }
  });

  it('a known ink pixel lands k pixels to the right', () => {
    const x = batch().subarray(0, 784);
    const before = x.slice();
    let ink = -1;
    for (let p = 0; p < 784; p++) if (before[p] > 2 && p % 28 < 20) ink = p;
    const [y, xx] = [Math.floor(ink / 28), ink % 28];
    augmentBatch(x, 1, 28, 28, 1, { rotate: 0, shift: 4, erase: 0 }, scripted([0.5, 0.9999, 0.5, 0.99]), BLACK);
    expect(at(x, 0, y, xx + 4)).toBe(before[ink]);
  });

  it('rotating by 90° about the centre maps (y, x) to (x, 27 − y)', () => {
    const x = batch().subarray(0, 784);
    const before = x.slice();
    // r₀ = 1 ⇒ angle = +rotate.
    augmentBatch(x, 1, 28, 28, 1, { rotate: 90, shift: 0, erase: 0 }, scripted([1, 0.5, 0.5, 0.99]), BLACK);
    for (let y = 0; y < 28; y++) for (let xx = 0; xx < 28; xx++) expect(at(x, 0, y, xx)).toBeCloseTo(at(before, 0, 27 - xx, y), 4);
  });

  it('a small rotation keeps the ink mass and moves it only a little', () => {
    const x = batch();
    const before = x.slice();
    augmentBatch(x, N, 28, 28, 1, { rotate: 10, shift: 0, erase: 0 }, mulberry32(3), BLACK);
    let changed = 0;
    for (let i = 0; i < N; i++) {
      let m0 = 0;
      let m1 = 0;
      for (let p = 0; p < 784; p++) {
        m0 += before[i * 784 + p] - BLACK[0];
        m1 += x[i * 784 + p] - BLACK[0];
        if (Math.abs(x[i * 784 + p] - before[i * 784 + p]) > 1e-3) changed++;
      }
      expect(Math.abs(m1 - m0) / m0).toBeLessThan(0.05);
    }
    expect(changed).toBeGreaterThan(N * 20);
  });

  it('erase = 1 always blanks one rectangle of 2–33% of the image with the fill value', () => {
    const x = batch();
    const before = x.slice();
    const FILL = [-9];
    augmentBatch(x, N, 28, 28, 1, { rotate: 0, shift: 0, erase: 1 }, mulberry32(11), FILL);
    const areas: number[] = [];
    for (let i = 0; i < N; i++) {
      let [y0, y1, x0, x1] = [28, -1, 28, -1];
      for (let y = 0; y < 28; y++) {
        for (let xx = 0; xx < 28; xx++) {
          if (at(x, i, y, xx) === -9) {
            y0 = Math.min(y0, y);
            y1 = Math.max(y1, y);
            x0 = Math.min(x0, xx);
            x1 = Math.max(x1, xx);
          }
        }
      }
      expect(y1).toBeGreaterThanOrEqual(0);
      let wrong = 0;
      for (let y = 0; y < 28; y++) {
        for (let xx = 0; xx < 28; xx++) {
          const inside = y >= y0 && y <= y1 && xx >= x0 && xx <= x1;
          if (at(x, i, y, xx) !== (inside ? -9 : at(before, i, y, xx))) wrong++;
        }
      }
      expect(wrong).toBe(0);
      const area = ((y1 - y0 + 1) * (x1 - x0 + 1)) / 784;
      areas.push(area);
      // 2–33% before rounding the sides to whole pixels and clipping them to the image.
      expect(area).toBeGreaterThan(0.012);
      expect(area).toBeLessThan(0.4);
    }
    expect(Math.min(...areas)).toBeLessThan(0.06);
    expect(Math.max(...areas)).toBeGreaterThan(0.25);
  });

  it('erase = 0.5 erases about half the images', () => {
    const x = batch();
    augmentBatch(x, N, 28, 28, 1, { rotate: 0, shift: 0, erase: 0.5 }, mulberry32(5), [-9]);
    let erased = 0;
    for (let i = 0; i < N; i++) if (x.subarray(i * 784, (i + 1) * 784).includes(-9)) erased++;
    expect(erased).toBeGreaterThan(N * 0.35);
    expect(erased).toBeLessThan(N * 0.65);
  });

  it('same seed ⇒ same output; another seed ⇒ another output', () => {
    const opts = { rotate: 15, shift: 2, erase: 0.5 };
    const a = batch();
    const b = batch();
    const c = batch();
    augmentBatch(a, N, 28, 28, 1, opts, mulberry32(42), BLACK);
    augmentBatch(b, N, 28, 28, 1, opts, mulberry32(42), BLACK);
    augmentBatch(c, N, 28, 28, 1, opts, mulberry32(43), BLACK);
    expect(Buffer.compare(Buffer.from(a.buffer), Buffer.from(b.buffer))).toBe(0);
    expect(Buffer.compare(Buffer.from(a.buffer), Buffer.from(c.buffer))).not.toBe(0);
  });

  it('draws a fixed number of values per image whatever the options', () => {
    for (const opts of [NONE, { rotate: 30, shift: 3, erase: 1 }]) {
      let k = 0;
      const rng = mulberry32(9);
      augmentBatch(batch(), N, 28, 28, 1, opts, () => (k++, rng()), BLACK);
      expect(k).toBe(N * DRAWS_PER_IMAGE);
    }
  });

  it('works on several channels, filling each with its own value', () => {
    const x = new Float32Array(2 * 28 * 28 * 3);
    const one = batch();
    for (let p = 0; p < 2 * 784; p++) for (let ch = 0; ch < 3; ch++) x[p * 3 + ch] = one[p] + ch;
    augmentBatch(x, 2, 28, 28, 3, { rotate: 0, shift: 2, erase: 0 }, scripted([0.5, 0.9999, 0.5, 0.99]), [10, 20, 30]);
    // dx = +2: the first two columns come from outside.
    for (const ch of [0, 1, 2]) expect(x[(5 * 28 + 1) * 3 + ch]).toBe([10, 20, 30][ch]);
    expect(x[(5 * 28 + 9) * 3 + 1]).toBe(one[5 * 28 + 7] + 1);
  });

  it('takes a few milliseconds for 128 images', () => {
    const x = batch();
    const rng = mulberry32(7);
    const opts = { rotate: 15, shift: 2, erase: 0.5 };
    augmentBatch(x, N, 28, 28, 1, opts, rng, BLACK);
    const t0 = performance.now();
    for (let r = 0; r < 5; r++) augmentBatch(x, N, 28, 28, 1, opts, rng, BLACK);
    const ms = (performance.now() - t0) / 5;
    console.log(`augmentBatch: ${ms.toFixed(2)} ms per 128 images`);
    expect(ms).toBeLessThan(30);
  });
});
