/**
 * Data augmentation on a normalized float NHWC batch, in place: rotation, translation and
 * random erasing. Randomness comes only from the rng passed in, and every image draws the same
 * number of values whatever the options, so changing one option never changes the others' draws.
 */

export interface AugmentOptions {
  /** Largest rotation, degrees: each image turns by a uniform angle in ±rotate about its centre. */
  rotate: number;
  /** Largest translation, pixels: each image moves by whole pixels in ±shift along x and y. */
  shift: number;
  /** Probability that an image gets one erased rectangle (2–33% of its area, aspect 0.3–3.3). */
  erase: number;
}

/** Draws per image, in this order: angle, dx, dy, erase?, area, log-aspect, top, left. */
export const DRAWS_PER_IMAGE = 8;

const ERASE_AREA = [0.02, 0.33] as const;
const ERASE_ASPECT = [0.3, 1 / 0.3] as const;

/**
 * Augments n images of h×w×c floats in place. Pixels moved in from outside the image, and erased
 * rectangles, take `fill[ch]` (the normalized value of a black pixel).
 * Per image: angle = (2·r₀ − 1)·rotate, dx = ⌊r₁·(2s+1)⌋ − s, dy = ⌊r₂·(2s+1)⌋ − s with
 * s = ⌊shift⌋; erase when r₃ < erase. Rotation is bilinear about ((w−1)/2, (h−1)/2); a pure shift
 * copies pixels exactly.
 */
export function augmentBatch(
  x: Float32Array,
  n: number,
  h: number,
  w: number,
  c: number,
  opts: AugmentOptions,
  rng: () => number,
  fill: number[],
): void {
  const pixels = h * w * c;
  if (x.length < n * pixels) throw new RangeError(`augmentBatch: ${n} images of ${h}x${w}x${c} need ${n * pixels} floats, got ${x.length}`);
  if (fill.length < c) throw new RangeError(`augmentBatch: fill has ${fill.length} values, need one per channel (${c})`);
  const s = Math.max(0, Math.floor(opts.shift));
  const rotate = Math.max(0, opts.rotate);
  const tmp = new Float32Array(pixels);
  const pw = w + 2;
  const padPlane = (h + 2) * pw;
  const padded = new Float32Array(padPlane * c);
  const cx = (w - 1) / 2;
  const cy = (h - 1) / 2;
  for (let i = 0; i < n; i++) {
    const r0 = rng();
    const r1 = rng();
    const r2 = rng();
    const r3 = rng();
    const r4 = rng();
    const r5 = rng();
    const r6 = rng();
    const r7 = rng();
    const base = i * pixels;
    const img = x.subarray(base, base + pixels);
    const angle = ((2 * r0 - 1) * rotate * Math.PI) / 180;
    const dx = s > 0 ? Math.min(s, Math.floor(r1 * (2 * s + 1)) - s) : 0;
    const dy = s > 0 ? Math.min(s, Math.floor(r2 * (2 * s + 1)) - s) : 0;

    if (angle !== 0) {
      // Copy into a frame one pixel wider on each side, holding the fill value, so bilinear
      // sampling near the border needs no per-corner bounds checks.
      for (let ch = 0; ch < c; ch++) padded.fill(fill[ch], ch * padPlane, (ch + 1) * padPlane);
      for (let y = 0; y < h; y++) {
        for (let xx = 0; xx < w; xx++) {
          const src = (y * w + xx) * c;
          for (let ch = 0; ch < c; ch++) padded[ch * padPlane + (y + 1) * pw + xx + 1] = img[src + ch];
        }
      }
      const cos = Math.cos(angle);
      const sin = Math.sin(angle);
      for (let y = 0; y < h; y++) {
        // Inverse map: output (xx, y) samples the source at (sx, sy); both move linearly along a row.
        const v = y - cy - dy;
        let sx = cos * (-cx - dx) + sin * v + cx;
        let sy = -sin * (-cx - dx) + cos * v + cy;
        for (let xx = 0; xx < w; xx++, sx += cos, sy -= sin) {
          const o = (y * w + xx) * c;
          if (sx <= -1 || sy <= -1 || sx >= w || sy >= h) {
            for (let ch = 0; ch < c; ch++) img[o + ch] = fill[ch];
            continue;
          }
          const x0 = Math.floor(sx);
          const y0 = Math.floor(sy);
          const fx = sx - x0;
          const fy = sy - y0;
          const q = (y0 + 1) * pw + x0 + 1;
          for (let ch = 0; ch < c; ch++) {
            const b = ch * padPlane + q;
            const top = padded[b] + (padded[b + 1] - padded[b]) * fx;
            const bottom = padded[b + pw] + (padded[b + pw + 1] - padded[b + pw]) * fx;
            img[o + ch] = top + (bottom - top) * fy;
          }
        }
      }
    } else if (dx !== 0 || dy !== 0) {
      tmp.set(img);
      for (let y = 0; y < h; y++) {
        const sy = y - dy;
        for (let xx = 0; xx < w; xx++) {
          const sx = xx - dx;
          const o = (y * w + xx) * c;
          const inside = sx >= 0 && sx < w && sy >= 0 && sy < h;
          for (let ch = 0; ch < c; ch++) img[o + ch] = inside ? tmp[(sy * w + sx) * c + ch] : fill[ch];
        }
      }
    }

    if (r3 < opts.erase) {
      const area = (ERASE_AREA[0] + r4 * (ERASE_AREA[1] - ERASE_AREA[0])) * h * w;
      const logA = Math.log(ERASE_ASPECT[0]) + r5 * (Math.log(ERASE_ASPECT[1]) - Math.log(ERASE_ASPECT[0]));
      const aspect = Math.exp(logA);
      const eh = Math.min(h, Math.max(1, Math.round(Math.sqrt(area * aspect))));
      const ew = Math.min(w, Math.max(1, Math.round(Math.sqrt(area / aspect))));
      const top = Math.min(h - eh, Math.floor(r6 * (h - eh + 1)));
      const left = Math.min(w - ew, Math.floor(r7 * (w - ew + 1)));
      for (let y = top; y < top + eh; y++) {
        for (let xx = left; xx < left + ew; xx++) {
          const o = (y * w + xx) * c;
          for (let ch = 0; ch < c; ch++) img[o + ch] = fill[ch];
        }
      }
    }
  }
}
