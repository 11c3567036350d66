/**
 * Seeded randomness. Every random draw in training derives from (seed, purpose, epoch, step),
 * so a resumed run draws exactly what an uninterrupted one would.
 */
export { deriveSeed, gaussian, mulberry32, permutation } from '../contract/math/rng';

/** Purposes, so that two streams from the same (seed, epoch, step) never coincide. */
export const STREAM = { init: 1, shuffle: 2, dropout: 3, augment: 4, analysis: 5 } as const;

