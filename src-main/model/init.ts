/**
 * Fair seeds: a parameter's initial value depends only on the seed and the parameter's name
 * (never its position), so variants of one architecture — with or without dropout, L1/L2,
 * another BN position — start from bit-identical weights.
 */
import { deriveSeed, mulberry32 } from '../contract/math/rng';
import type { ParamSpec, StateSpec } from './op';

/** FNV-1a over the UTF-16 code units of a text: a stable 32-bit key for a name. */
export function hashName(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    const u = name.charCodeAt(i);
    h ^= u & 0xff;
    h = Math.imul(h, 0x01000193) >>> 0;
    h ^= u >>> 8;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** Mixes a seed, a purpose and a name into one 32-bit stream seed (order matters). */
export function nameSeed(seed: number, purpose: number, name: string): number {
  return deriveSeed(seed, purpose, hashName(name));
}

/** Purpose code of initialization streams (the engine's STREAM.init). */
export const INIT_STREAM = 1;

/** A parameter's initial values (row-major in its tfjs shape). */
export function initialValue(seed: number, p: ParamSpec): Float32Array {
  const size = p.shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(size);
  if (p.init.kind === 'const') return data.fill(p.init.value);
  const rng = mulberry32(nameSeed(seed, INIT_STREAM, p.name));
  const bound = p.init.bound;
  for (let i = 0; i < size; i++) data[i] = (2 * rng() - 1) * bound;
  return data;
}

export function initialState(s: StateSpec): Float32Array {
  return new Float32Array(s.shape.reduce((a, b) => a * b, 1)).fill(s.value);
}
