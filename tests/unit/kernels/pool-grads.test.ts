import { beforeAll, expect, test } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { initBackend } from '../../../src-main/engine/backend';
import { nativeWasmKernel } from '../../../src-main/engine/kernels/index';
import { mulberry32 } from '../../../src-main/engine/rng';
import { digitBlock, on, relErr, uniform } from './helpers';

beforeAll(async () => {
  expect((await initBackend('wasm')).backend).toBe('wasm');
});

type Pad = 'valid' | 'same' | number;
const rng = mulberry32(77);
const int = (lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1));
const geoms = Array.from({ length: 18 }, (_, i) => {
  const f = [2, 3, 2][i % 3];
  const s = [2, 1, 2, 2, 1, 3][i % 6];
  const pad: Pad = (['valid', 'same', 1] as const)[Math.floor(i / 6) % 3];
  return { n: int(1, 3), h: int(f + 1, 14), w: int(f + 1, 14), c: int(1, 6), f, s, pad };
});

test('MaxPoolGrad is ours on wasm', () => {
  expect(nativeWasmKernel('MaxPoolGrad')).toBeDefined();
  expect(tf.getKernel('MaxPoolGrad', 'wasm')?.kernelFunc).not.toBe(nativeWasmKernel('MaxPoolGrad')?.kernelFunc);
});

test.each(geoms.map((g) => [`${g.n}×${g.h}×${g.w}×${g.c} f${g.f} s${g.s} ${g.pad}`, g] as const))(
  'MaxPoolGrad %s matches cpu (real digits, ties included)', async (_, g) => {
    const shape: [number, number, number, number] = [g.n, g.h, g.w, g.c];
    // Real digits have large flat zero areas: every window there is a tie, the case where
    // "first max wins" matters.
    const xv = digitBlock(shape, g.h * 3 + g.c);
    const grad = () => tf.grad((x: tf.Tensor) => {
      const y = tf.maxPool(x as tf.Tensor4D, g.f, g.s, g.pad);
      return tf.sum(tf.mul(y, tf.tensor(uniform(y.size, g.w), y.shape)));
    })(tf.tensor4d(xv, shape));
    const got = await on('wasm', grad);
    const want = await on('cpu', grad);
    expect(relErr(got, want)).toBeLessThan(1e-6);
    // The gradient's total equals the output gradient's total for non-overlapping windows.
    if (g.s >= g.f && g.pad === 'valid') {
      const dyTotal = await on('cpu', () => {
        const y = tf.maxPool(tf.tensor4d(xv, shape), g.f, g.s, g.pad);
        return tf.sum(tf.tensor(uniform(y.size, g.w), y.shape));
      });
      expect(got.reduce((p, q) => p + q, 0)).toBeCloseTo(dyTotal[0]!, 3);
    }
  });
