import { beforeAll, describe, expect, test } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { backend_util } from '@tensorflow/tfjs-core';
import { initBackend } from '../../../src-main/engine/backend';
import { nativeWasmKernel, registerWasmKernels } from '../../../src-main/engine/kernels/index';
import { mulberry32 } from '../../../src-main/engine/rng';
import { digitBlock, naiveFilterGrad, naiveInputGrad, on, relErr, uniform, type ConvGeom } from './helpers';

type Pad = 'valid' | 'same' | number;
interface Case { n: number; h: number; w: number; ci: number; co: number; kh: number; kw: number; stride: [number, number]; pad: Pad }

/** Random geometries from a seed; every stride × padding pair appears. */
function cases(seed: number, count: number): Case[] {
  const rng = mulberry32(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1));
  const out: Case[] = [];
  const pads: Pad[] = ['valid', 'same', 1];
  for (let i = 0; i < count; i++) {
    const kh = [1, 2, 3, 5][int(0, 3)];
    const kw = rng() < 0.7 ? kh : [1, 2, 3][int(0, 2)];
    const s = (i % 2) + 1;
    const stride: [number, number] = rng() < 0.8 ? [s, s] : [s, 3 - s];
    out.push({ n: int(1, 3), h: int(kh + 1, 16), w: int(kw + 1, 16), ci: int(1, 6), co: int(1, 7), kh, kw, stride, pad: pads[i % 3] });
  }
  return out;
}

function geom(c: Case): { info: backend_util.Conv2DInfo; g: ConvGeom } {
  const info = backend_util.computeConv2DInfo([c.n, c.h, c.w, c.ci], [c.kh, c.kw, c.ci, c.co], c.stride, 1, c.pad);
  return { info, g: { ...c, sh: c.stride[0], sw: c.stride[1], top: info.padInfo.top, left: info.padInfo.left, oh: info.outHeight, ow: info.outWidth } };
}

/**
 * The cpu backend's kernel, or null where it fails: tfjs-backend-cpu 4.22's Conv2DBackpropFilter
 * reads out of range (and returns wrong values or throws) for a numeric padding whose last
 * window overhangs (e.g. 1×3×14×3, k1×3, stride 2, pad 1); there the direct loop is the reference.
 */
async function cpuOrNull(run: () => tf.Tensor): Promise<Float32Array | null> {
  try {
    return await on('cpu', run);
  } catch {
    return null;
  }
}

const label = (c: Case) => `${c.n}×${c.h}×${c.w}×${c.ci} k${c.kh}×${c.kw}→${c.co} s${c.stride.join(',')} ${c.pad}`;

beforeAll(async () => {
  const info = await initBackend('wasm');
  expect(info.backend).toBe('wasm');
});

describe('registration', () => {
  test('our kernels replace the wasm ones', () => {
    const names = registerWasmKernels();
    expect(names).toEqual(['Conv2DBackpropFilter', 'Conv2DBackpropInput', 'MaxPoolGrad', 'NormLabBatchNormTrain', 'NormLabBatchNormTrainGrad', 'NormLabDropout']);
    // wasm 4.22 ships no filter gradient; its input gradient is kept as the NCHW fallback.
    expect(nativeWasmKernel('Conv2DBackpropFilter')).toBeUndefined();
    expect(nativeWasmKernel('Conv2DBackpropInput')).toBeDefined();
    expect(tf.getKernel('Conv2DBackpropInput', 'wasm')?.kernelFunc).not.toBe(nativeWasmKernel('Conv2DBackpropInput')?.kernelFunc);
    expect(registerWasmKernels()).toBe(names);
  });
});

describe('Conv2DBackpropFilter (wasm) matches the cpu kernel', () => {
  test.each(cases(11, 24).map((c) => [label(c), c] as const))('%s', async (_, c) => {
    const xShape: [number, number, number, number] = [c.n, c.h, c.w, c.ci];
    const filterShape: [number, number, number, number] = [c.kh, c.kw, c.ci, c.co];
    const { info, g } = geom(c);
    const xv = digitBlock(xShape, c.n * 131 + c.h);
    const dyv = uniform(info.outShape.reduce((p, q) => p * q, 1), c.w * 17 + c.co);
    const run = () => tf.engine().runKernel('Conv2DBackpropFilter',
      { x: tf.tensor4d(xv, xShape), dy: tf.tensor(dyv, info.outShape) },
      { strides: c.stride, pad: c.pad, dataFormat: 'NHWC', filterShape }) as tf.Tensor;
    const got = await on('wasm', run);
    expect(got.length).toBe(c.kh * c.kw * c.ci * c.co);
    expect(relErr(got, naiveFilterGrad(g, xv, dyv))).toBeLessThan(1e-5);
    // For numeric pads the direct loop above is the reference (see cpuOrNull).
    if (typeof c.pad !== 'number') expect(relErr(got, (await cpuOrNull(run))!)).toBeLessThan(1e-5);
  });
});

test('Conv2DBackpropFilter of a 1×1 conv (the matMul path) matches the direct loop and cpu', async () => {
  const c: Case = { n: 3, h: 12, w: 9, ci: 16, co: 8, kh: 1, kw: 1, stride: [1, 1], pad: 'valid' };
  const xShape: [number, number, number, number] = [c.n, c.h, c.w, c.ci];
  const { info, g } = geom(c);
  const xv = digitBlock(xShape, 41);
  const dyv = uniform(info.outShape.reduce((p, q) => p * q, 1), 42);
  for (const pad of ['valid', 'same'] as const) {
    const run = () => tf.engine().runKernel('Conv2DBackpropFilter',
      { x: tf.tensor4d(xv, xShape), dy: tf.tensor(dyv, info.outShape) },
      { strides: [1, 1], pad, dataFormat: 'NHWC', filterShape: [1, 1, c.ci, c.co] }) as tf.Tensor;
    const got = await on('wasm', run);
    expect(relErr(got, naiveFilterGrad(g, xv, dyv))).toBeLessThan(1e-5);
    expect(relErr(got, await on('cpu', run))).toBeLessThan(1e-5);
  }
});

describe('Conv2DBackpropInput (wasm) matches the cpu kernel', () => {
  test.each(cases(23, 24).map((c) => [label(c), c] as const))('%s', async (_, c) => {
    const xShape: [number, number, number, number] = [c.n, c.h, c.w, c.ci];
    const filterShape: [number, number, number, number] = [c.kh, c.kw, c.ci, c.co];
    const { info, g } = geom(c);
    const wv = digitBlock([c.kh, c.kw, c.ci, c.co], c.ci * 7 + c.kh);
    const dyv = uniform(info.outShape.reduce((p, q) => p * q, 1), c.h * 5 + c.n);
    const run = () => tf.engine().runKernel('Conv2DBackpropInput',
      { dy: tf.tensor(dyv, info.outShape), filter: tf.tensor4d(wv, filterShape) },
      { strides: c.stride, pad: c.pad, dataFormat: 'NHWC', inputShape: xShape }) as tf.Tensor;
    const got = await on('wasm', run);
    expect(got.length).toBe(c.n * c.h * c.w * c.ci);
    expect(relErr(got, naiveInputGrad(g, wv, dyv))).toBeLessThan(1e-5);
    expect(relErr(got, await on('cpu', run))).toBeLessThan(1e-5);
  });

  test('tf.grads through conv2d on wasm equals cpu (stride 2, same padding, real digits)', async () => {
    const xv = digitBlock([2, 11, 11, 3], 5);
    const wv = uniform(3 * 3 * 3 * 4, 6);
    const g = () => {
      const [dx, dw] = tf.grads((x: tf.Tensor, w: tf.Tensor) =>
        tf.sum(tf.square(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 2, 'same'))))([tf.tensor4d(xv, [2, 11, 11, 3]), tf.tensor4d(wv, [3, 3, 3, 4])]);
      return tf.concat([tf.reshape(dx, [-1]), tf.reshape(dw, [-1])]);
    };
    expect(relErr(await on('wasm', g), await on('cpu', g))).toBeLessThan(1e-5);
  });
});
