import { describe, expect, it } from 'vitest';
import { channelStats, gatherBatch, histogram, histogramEqualize, histogramEqualizeAll } from '../../../src-main/data/normalize';
import { realSlice } from './helpers';

const N = 500;
const { images } = realSlice(N);

/** Two-pass mean and population std of channel `ch`, straight from the definition. */
function direct(data: Uint8Array, c: number, ch: number): { mean: number; std: number } {
  let s = 0;
  let k = 0;
  for (let i = ch; i < data.length; i += c) {
    s += data[i] / 255;
    k++;
  }
  const mean = s / k;
  let v = 0;
  for (let i = ch; i < data.length; i += c) v += (data[i] / 255 - mean) ** 2;
  return { mean, std: Math.sqrt(v / k) };
}

/** Three channels from real digits: the digit, its negative, and half its brightness. */
function rgb(gray: Uint8Array): Uint8Array {
  const out = new Uint8Array(gray.length * 3);
  for (let i = 0; i < gray.length; i++) {
    out[3 * i] = gray[i];
    out[3 * i + 1] = 255 - gray[i];
    out[3 * i + 2] = gray[i] >> 1;
  }
  return out;
}

describe('channelStats', () => {
  it('matches a direct computation on 500 real digits', () => {
    const { mean, std } = channelStats(images, N, 28, 28, 1);
    const d = direct(images, 1, 0);
    expect(mean[0]).toBeCloseTo(d.mean, 10);
    expect(std[0]).toBeCloseTo(d.std, 10);
    // MNIST's well-known statistics (0.1307, 0.3081) hold for a sample this size to about 0.01.
    expect(Math.abs(mean[0] - 0.1307)).toBeLessThan(0.01);
    expect(Math.abs(std[0] - 0.3081)).toBeLessThan(0.01);
  });

  it('keeps channels apart (last axis)', () => {
    const c3 = rgb(images.subarray(0, 50 * 784));
    const { mean, std } = channelStats(c3, 50, 28, 28, 3);
    for (let ch = 0; ch < 3; ch++) {
      const d = direct(c3, 3, ch);
      expect(mean[ch]).toBeCloseTo(d.mean, 10);
      expect(std[ch]).toBeCloseTo(d.std, 10);
    }
    expect(mean[0] + mean[1]).toBeCloseTo(1, 12);
    expect(std[1]).toBeCloseTo(std[0], 12);
  });

  it('refuses a buffer shorter than the images it should hold', () => {
    expect(() => channelStats(images.subarray(0, 100), 1, 28, 28, 1)).toThrow('channelStats: 1 images of 28x28x1 need 784 bytes, got 100');
  });
});

describe('gatherBatch', () => {
  const mean = [0.1307];
  const std = [0.3081];

  it('copies the indexed images as (x/255 − mean)/std', () => {
    const order = [7, 2, 99, 5, 0];
    const out = gatherBatch(images, order, 1, 3, 784, mean, std);
    expect(out.length).toBe(3 * 784);
    for (let i = 0; i < 3; i++) {
      const j = order[1 + i];
      for (let p = 0; p < 784; p += 37) {
        expect(out[i * 784 + p]).toBeCloseTo((images[j * 784 + p] / 255 - 0.1307) / 0.3081, 5);
      }
    }
    // Background pixels get the normalized black value, ink near its max.
    expect(Math.min(...out)).toBeCloseTo(-0.1307 / 0.3081, 5);
    expect(Math.max(...out)).toBeCloseTo((1 - 0.1307) / 0.3081, 5);
  });

  it('fills a given buffer and returns a view of the batch size', () => {
    const buf = new Float32Array(5 * 784).fill(42);
    const out = gatherBatch(images, [3, 4], 0, 2, 784, mean, std, buf);
    expect(out.buffer).toBe(buf.buffer);
    expect(out.length).toBe(2 * 784);
    expect(buf[2 * 784]).toBe(42);
    expect(buf[300]).toBeCloseTo((images[3 * 784 + 300] / 255 - 0.1307) / 0.3081, 5);
    expect(() => gatherBatch(images, [3, 4], 0, 2, 784, mean, std, new Float32Array(10))).toThrow(
      'gatherBatch: out holds 10 floats, the batch needs 1568',
    );
  });

  it('normalizes each channel with its own statistics', () => {
    const c3 = rgb(images.subarray(0, 4 * 784));
    const m = [0.1, 0.9, 0.05];
    const s = [0.3, 0.3, 0.15];
    const out = gatherBatch(c3, [2], 0, 1, 784 * 3, m, s);
    for (const p of [0, 400, 401, 402, 1000, 2350]) {
      const ch = p % 3;
      expect(out[p]).toBeCloseTo((c3[2 * 784 * 3 + p] / 255 - m[ch]) / s[ch], 5);
    }
  });

  it('never divides by a zero std and rejects bad indices', () => {
    const out = gatherBatch(images, [0], 0, 1, 784, [0], [0]);
    expect(Number.isFinite(Math.max(...out))).toBe(true);
    expect(() => gatherBatch(images, [N], 0, 1, 784, mean, std)).toThrow(`gatherBatch: image index ${N} is outside 0..${N - 1}`);
    expect(() => gatherBatch(images, [1, 2], 1, 2, 784, mean, std)).toThrow('gatherBatch: rows 1..3 are outside the 2 indices');
  });

  it('reuses the output buffer across batches of a permuted epoch, row by row from the formula', () => {
    // (Its speed is measured in bench/, not here.)
    const idx = Array.from({ length: N }, (_, i) => (i * 7) % N);
    const out = new Float32Array(128 * 784);
    for (let s = 0; s + 128 <= N; s += 128) {
      const got = gatherBatch(images, idx, s, 128, 784, mean, std, out);
      expect(got.buffer).toBe(out.buffer);
      for (const r of [0, 77, 127]) {
        const src = idx[s + r] * 784;
        for (const p of [0, 300, 783]) expect(got[r * 784 + p]).toBeCloseTo((images[src + p] / 255 - mean[0]) / std[0], 5);
      }
    }
  });
});

describe('histogram and equalization', () => {
  it('counts values into equal-width bins', () => {
    const img = images.subarray(0, 784);
    const h4 = histogram(img, 4);
    const expected = [0, 0, 0, 0];
    for (const v of img) expected[Math.floor(v / 64)]++;
    expect(h4).toEqual(expected);
    expect(histogram(img).reduce((a, b) => a + b, 0)).toBe(784);
    expect(() => histogram(img, 0)).toThrow('histogram: bins must be an integer in 1..256, got 0');
  });

  it('gives a near-uniform CDF on a real image with many grey levels', () => {
    // The mean of 500 real digits: a smooth 28×28 image with hundreds of distinct grey levels.
    const meanImg = new Uint8Array(784);
    for (let p = 0; p < 784; p++) {
      let s = 0;
      for (let i = 0; i < N; i++) s += images[i * 784 + p];
      meanImg[p] = Math.round((s / N) * (255 / 140));
    }
    const ks = (img: Uint8Array) => {
      // Largest gap between the empirical CDF and the uniform CDF on 0..255.
      const h = histogram(img);
      let cdf = 0;
      let worst = 0;
      for (let v = 0; v < 256; v++) {
        cdf += h[v] / img.length;
        if (h[v] > 0) worst = Math.max(worst, Math.abs(cdf - (v + 1) / 256));
      }
      return worst;
    };
    const eq = histogramEqualize(meanImg);
    const zeroShare = meanImg.filter((v) => v === 0).length / 784;
    expect(ks(meanImg)).toBeGreaterThan(0.25);
    expect(ks(eq)).toBeLessThan(zeroShare + 0.02);
    expect(Math.max(...eq)).toBe(255);
    // Monotone: brighter stays brighter.
    for (let p = 1; p < 784; p++) if (meanImg[p] > meanImg[p - 1]) expect(eq[p]).toBeGreaterThanOrEqual(eq[p - 1]);
  });

  it('equalizes each image on its own and leaves a constant image alone', () => {
    const all = histogramEqualizeAll(images.subarray(0, 3 * 784), 3, 784);
    expect(Array.from(all.subarray(784, 1568))).toEqual(Array.from(histogramEqualize(images.subarray(784, 1568))));
    const flat = new Uint8Array(784).fill(77);
    expect(Array.from(histogramEqualize(flat))).toEqual(Array.from(flat));
  });
});
