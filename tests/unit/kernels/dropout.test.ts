import { beforeAll, describe, expect, test } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { initBackend } from '../../../src-main/engine/backend';
import { DROPOUT, dropoutInto, fusedDropout } from '../../../src-main/engine/kernels/dropout';
import { dropoutMask } from '../../../src-main/engine/layers';
import { mulberry32 } from '../../../src-main/engine/rng';
import { digitBlock, on } from './helpers';

beforeAll(async () => {
  expect((await initBackend('wasm')).backend).toBe('wasm');
});

/** Bit patterns, so that −0 vs +0 and every last ulp count. */
const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

describe('fused dropout', () => {
  test('dropoutInto draws mulberry32 exactly as dropoutMask does (keep rate, scale, −0)', async () => {
    const x = digitBlock([3, 9, 9, 4], 3);
    const y = new Float32Array(x.length);
    dropoutInto(y, x, 0.3, 12345);
    const mask = await on('cpu', () => dropoutMask([x.length], 0.3, 12345));
    const want = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) want[i] = Math.fround(x[i] * mask[i]);
    expect(bits(y)).toEqual(bits(want));
    // The digits are shifted by −0.13, so dropped negative pixels give −0 (as f32 multiply does).
    expect(y.some((v, i) => v === 0 && Object.is(v, -0) && x[i] < 0)).toBe(true);
    const kept = mask.filter((m) => m !== 0).length / mask.length;
    expect(kept).toBeGreaterThan(0.6);
    expect(kept).toBeLessThan(0.8);
    expect(mask.find((m) => m !== 0)).toBe(Math.fround(1 / 0.7));
  });

  test.each(['wasm', 'cpu'])('on %s: forward and gradient are bit-identical to x·dropoutMask (real digits)', async (backend) => {
    const shape: [number, number, number, number] = [4, 12, 12, 5];
    const xv = digitBlock(shape, 21);
    const dyv = digitBlock(shape, 22);
    for (const [rate, seed] of [[0.05, 7], [0.5, 0xdeadbeef]] as const) {
      const fused = await on(backend, () => tf.tidy(() => {
        const x = tf.tensor4d(xv, shape);
        const f = (t: tf.Tensor) => fusedDropout(t, rate, seed)!;
        const y = f(x);
        const dx = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(f(t), tf.tensor4d(dyv, shape))))(x);
        return tf.concat([tf.reshape(y, [-1]), tf.reshape(dx, [-1])]);
      }));
      const plain = await on(backend, () => tf.tidy(() => {
        const x = tf.tensor4d(xv, shape);
        const f = (t: tf.Tensor) => tf.mul(t, dropoutMask(shape, rate, seed));
        const y = f(x);
        const dx = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(f(t), tf.tensor4d(dyv, shape))))(x);
        return tf.concat([tf.reshape(y, [-1]), tf.reshape(dx, [-1])]);
      }));
      expect(bits(fused)).toEqual(bits(plain));
    }
  });

  test('leaves no tensors behind and rejects a bad rate with a clear error', () => {
    const x = tf.tensor1d(Float32Array.from({ length: 50 }, (_, i) => i - 25));
    const before = tf.memory().numTensors;
    tf.tidy(() => { tf.grad((t: tf.Tensor) => tf.sum(fusedDropout(t, 0.2, 9)!))(x); });
    expect(tf.memory().numTensors).toBe(before);
    expect(() => tf.engine().runKernel(DROPOUT, { x }, { rate: 1, seed: 1 })).toThrow(/NormLabDropout: rate must be in \[0, 1\), got 1/);
    x.dispose();
  });

  test('different seeds draw different masks', () => {
    const x = new Float32Array(1000).fill(1);
    const a = new Float32Array(1000);
    const b = new Float32Array(1000);
    dropoutInto(a, x, 0.5, 1);
    dropoutInto(b, x, 0.5, 2);
    expect(bits(a)).not.toEqual(bits(b));
    const r = mulberry32(1);
    expect(a[0]).toBe(r() >= 0.5 ? 2 : 0);
  });
});
