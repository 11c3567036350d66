/**
 * Seeded randomness. Every random draw in training derives from (seed, purpose, epoch, step),
 * so a resumed run draws exactly what an uninterrupted one would.
 */
export { deriveSeed, gaussian, mulberry32 } from '../contract/math/rng';

/** Purposes, so that two streams from the same (seed, epoch, step) never coincide. */
export const STREAM = { init: 1, shuffle: 2, dropout: 3, augment: 4, analysis: 5 } as const;

/** Fisher–Yates permutation of 0..n-1. */
export function permutation(n: number, rng: () => number): Uint32Array {
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}

