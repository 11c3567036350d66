import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { initBackend } from '../../../src-main/engine/backend';
import { BatchNorm, GroupNorm, LayerNorm, type NormLayer } from '../../../src-main/engine/norm';
import { maxRelErr, realPatches, refNormalize } from './helpers';

let backend = '';
beforeAll(async () => {
  backend = (await initBackend()).backend;
  console.log(`norm tests on ${backend}`);
});

const EPS = 1e-5;
type Key = (i: number) => number;

function setAffine(layer: NormLayer, c: number): { gamma: number[]; beta: number[] } {
  const gamma = Array.from({ length: c }, (_, i) => 0.5 + 0.25 * i);
  const beta = Array.from({ length: c }, (_, i) => 0.2 - 0.1 * i);
  layer.gamma.assign(tf.tensor1d(gamma));
  layer.beta.assign(tf.tensor1d(beta));
  return { gamma, beta };
}

/** Weights of the scalar test loss L = Σ r·y (fixed, not random). */
function lossWeights(size: number): Float64Array {
  return Float64Array.from({ length: size }, (_, i) => Math.sin(1.7 * i + 0.3) + 0.1 * Math.cos(0.37 * i));
}

/** Our layer's dL/dx, dL/dγ, dL/dβ for L = Σ r·y, in training mode. */
function layerGrads(layer: NormLayer, x: Float64Array, shape: number[], r: Float64Array) {
  const xv = tf.tidy(() => tf.variable(tf.tensor(Float32Array.from(x), shape), true));
  const rt = tf.tensor(Float32Array.from(r), shape);
  const { value, grads } = tf.variableGrads(
    () => tf.sum(tf.mul(layer.apply(xv as tf.Tensor4D, { batchStats: true, updateStats: false }), rt)) as tf.Scalar,
    [xv, layer.gamma, layer.beta],
  );
  const out = {
    loss: value.dataSync()[0],
    dx: Float64Array.from(grads[xv.name].dataSync()),
    dgamma: Float64Array.from(grads[layer.gamma.name].dataSync()),
    dbeta: Float64Array.from(grads[layer.beta.name].dataSync()),
  };
  tf.dispose([xv, rt, value, ...Object.values(grads)]);
  return out;
}

/** Central finite differences of the double-precision reference loss. */
function fdGrads(x: Float64Array, c: number, key: Key, gamma: number[], beta: number[], r: Float64Array) {
  const loss = (xx: Float64Array, g: number[], b: number[]) => {
    const { y } = refNormalize(xx, c, key, g, b, EPS);
    let s = 0;
    for (let i = 0; i < y.length; i++) s += r[i] * y[i];
    return s;
  };
  const h = 1e-6;
  const dx = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const p = Float64Array.from(x); p[i] += h;
    const m = Float64Array.from(x); m[i] -= h;
    dx[i] = (loss(p, gamma, beta) - loss(m, gamma, beta)) / (2 * h);
  }
  const dgamma = gamma.map((_, j) => {
    const p = [...gamma]; p[j] += h;
    const m = [...gamma]; m[j] -= h;
    return (loss(x, p, beta) - loss(x, m, beta)) / (2 * h);
  });
  const dbeta = beta.map((_, j) => {
    const p = [...beta]; p[j] += h;
    const m = [...beta]; m[j] -= h;
    return (loss(x, gamma, p) - loss(x, gamma, m)) / (2 * h);
  });
  return { loss: loss(x, gamma, beta), dx, dgamma, dbeta };
}

/** Reads a tensor into doubles and releases it. */
function take(t: tf.Tensor): Float64Array {
  const out = Float64Array.from(t.dataSync());
  t.dispose();
  return out;
}

function forwardOf(layer: NormLayer, x: Float64Array, shape: number[], batchStats = true, updateStats = false): Float64Array {
  return take(tf.tidy(() => layer.apply(tf.tensor4d(Float32Array.from(x), shape as [number, number, number, number]), { batchStats, updateStats })));
}

const cases: { name: string; shape: [number, number, number, number]; make: () => NormLayer; key: (shape: number[]) => Key }[] = [
  {
    name: 'batch norm',
    shape: [4, 5, 5, 3],
    make: () => new BatchNorm('bn', 3, { kind: 'batch', momentum: 0.1, eps: EPS, convention: 'pytorch' }),
    key: ([, , , c]) => (i) => i % c,
  },
  {
    name: 'ghost batch norm (virtual batch 2 of 5 images: 2, 2, 1)',
    shape: [5, 4, 4, 2],
    make: () => new BatchNorm('gbn', 2, { kind: 'ghost', virtualBatch: 2, momentum: 0.1, eps: EPS, convention: 'pytorch' }),
    key: ([, h, w, c]) => (i) => Math.floor(Math.floor(i / (h * w * c)) / 2) * c + (i % c),
  },
  {
    name: 'layer norm',
    shape: [3, 4, 4, 3],
    make: () => new LayerNorm('ln', 3, { kind: 'layer', eps: EPS }),
    key: ([, h, w, c]) => (i) => Math.floor(i / (h * w * c)),
  },
  {
    name: 'group norm (2 groups of 2 channels)',
    shape: [3, 4, 4, 4],
    make: () => new GroupNorm('gn', 4, { kind: 'group', groups: 2, eps: EPS }),
    key: ([, h, w, c]) => (i) => Math.floor(i / (h * w * c)) * 2 + Math.floor((i % c) / 2),
  },
];

describe.each(cases)('$name', ({ shape, make, key }) => {
  it('forward matches the formula on real pixels', async () => {
    const { data } = await realPatches(...shape);
    const layer = make();
    const { gamma, beta } = setAffine(layer, shape[3]);
    const ref = refNormalize(data, shape[3], key(shape), gamma, beta, EPS);
    const y = forwardOf(layer, data, shape);
    expect(maxRelErr(y, ref.y, 1e-2)).toBeLessThan(1e-4);
    layer.dispose();
  });

  it('backward matches central finite differences (double-precision reference)', async () => {
    const { data } = await realPatches(...shape, 40);
    const layer = make();
    const { gamma, beta } = setAffine(layer, shape[3]);
    const r = lossWeights(data.length);
    const ours = layerGrads(layer, data, shape, r);
    const fd = fdGrads(data, shape[3], key(shape), gamma, beta, r);
    // Scale = typical gradient size, so elements near zero do not dominate the relative error.
    const scale = (v: Float64Array | number[]) => 0.05 * Math.max(...Array.from(v, Math.abs));
    expect(Math.abs(ours.loss - fd.loss)).toBeLessThan(1e-3 * Math.abs(fd.loss) + 1e-3);
    expect(maxRelErr(ours.dx, fd.dx, scale(fd.dx))).toBeLessThan(1e-2);
    expect(maxRelErr(ours.dgamma, fd.dgamma, scale(fd.dgamma))).toBeLessThan(1e-3);
    expect(maxRelErr(ours.dbeta, fd.dbeta, scale(fd.dbeta))).toBeLessThan(1e-3);
    layer.dispose();
  });
});

describe('batch norm running statistics', () => {
  // One channel, two 1×1 "images" per batch: batch means 2, 2, 5; biased variances 1, 4, 0;
  // unbiased (n/(n−1) = 2) variances 2, 8, 0.
  const batches = [[1, 3], [0, 4], [5, 5]];
  const run = (momentum: number | null, convention: 'pytorch' | 'keras') => {
    const bn = new BatchNorm('bn', 1, { kind: 'batch', momentum, eps: EPS, convention });
    const seen: { mean: number; var: number }[] = [];
    for (const b of batches) {
      tf.tidy(() => bn.apply(tf.tensor4d(b, [2, 1, 1, 1]), { batchStats: true, updateStats: true }));
      const s = bn.stats();
      seen.push({ mean: s.runningMean[0], var: s.runningVar[0] });
    }
    const last = bn.stats();
    bn.dispose();
    return { seen, last };
  };

  it('pytorch convention, m = 0.1: running = 0.9·running + 0.1·batch, unbiased variance', () => {
    const { seen, last } = run(0.1, 'pytorch');
    // mean: 0.2, 0.38, 0.842; var: 0.9·1 + 0.1·2 = 1.1, 0.9·1.1 + 0.1·8 = 1.79, 0.9·1.79 = 1.611
    expect(seen.map((s) => s.mean)).toEqual([0.2, 0.38, 0.842].map((v) => expect.closeTo(v, 6)));
    expect(seen.map((s) => s.var)).toEqual([1.1, 1.79, 1.611].map((v) => expect.closeTo(v, 5)));
    expect(last.batchMean[0]).toBeCloseTo(5, 6);
    expect(last.batchVar[0]).toBeCloseTo(0, 6);
  });

  it('keras convention, m = 0.99: running = 0.99·running + 0.01·batch, biased variance', () => {
    const { seen } = run(0.99, 'keras');
    // mean: 0.02, 0.0398, 0.089402; var: 0.99 + 0.01·1 = 1, 0.99 + 0.04 = 1.03, 0.99·1.03 = 1.0197
    expect(seen.map((s) => s.mean)).toEqual([0.02, 0.0398, 0.089402].map((v) => expect.closeTo(v, 6)));
    expect(seen.map((s) => s.var)).toEqual([1, 1.03, 1.0197].map((v) => expect.closeTo(v, 5)));
  });

  it('momentum null: cumulative average of the batch statistics (unbiased variance)', () => {
    const { seen } = run(null, 'pytorch');
    // mean: 2, (2+2)/2, (2+2+5)/3 = 3; var: 2, (2+8)/2 = 5, (2+8+0)/3
    expect(seen.map((s) => s.mean)).toEqual([2, 2, 3].map((v) => expect.closeTo(v, 5)));
    expect(seen.map((s) => s.var)).toEqual([2, 5, 10 / 3].map((v) => expect.closeTo(v, 5)));
  });

  it('eval mode uses the running statistics', async () => {
    const { data, shape } = await realPatches(4, 3, 3, 2);
    const bn = new BatchNorm('bn', 2, { kind: 'batch', momentum: 0.1, eps: EPS, convention: 'pytorch' });
    const { gamma, beta } = setAffine(bn, 2);
    bn.runningMean.assign(tf.tensor1d([0.3, 0.1]));
    bn.runningVar.assign(tf.tensor1d([0.2, 0.05]));
    const y = forwardOf(bn, data, shape, false);
    const rm = [0.3, 0.1];
    const rv = [0.2, 0.05];
    const want = Array.from(data, (v, i) => (gamma[i % 2] * (v - rm[i % 2])) / Math.sqrt(rv[i % 2] + EPS) + beta[i % 2]);
    expect(maxRelErr(y, want, 1e-2)).toBeLessThan(1e-5);
    bn.dispose();
  });
});

describe('ghost batch norm', () => {
  it('equals batch norm applied to each virtual batch, outputs, gradients and running stats', async () => {
    const { data, shape } = await realPatches(10, 4, 4, 2, 100);
    const per = 4 * 4 * 2;
    const ghost = new BatchNorm('g', 2, { kind: 'ghost', virtualBatch: 4, momentum: 0.1, eps: EPS, convention: 'pytorch' });
    const plain = new BatchNorm('p', 2, { kind: 'batch', momentum: 0.1, eps: EPS, convention: 'pytorch' });
    setAffine(ghost, 2);
    setAffine(plain, 2);
    const r = lossWeights(data.length);
    const yg = forwardOf(ghost, data, shape, true, true);
    const gg = layerGrads(ghost, data, shape, r);
    const yp = new Float64Array(data.length);
    const dxp = new Float64Array(data.length);
    const dgp = [0, 0];
    for (const [start, n] of [[0, 4], [4, 4], [8, 2]]) {
      const chunk = data.slice(start * per, (start + n) * per);
      const cshape = [n, 4, 4, 2];
      yp.set(forwardOf(plain, chunk, cshape, true, true), start * per);
      const g = layerGrads(plain, chunk, cshape, r.slice(start * per, (start + n) * per));
      dxp.set(g.dx, start * per);
      dgp[0] += g.dgamma[0];
      dgp[1] += g.dgamma[1];
    }
    expect(maxRelErr(yg, yp, 1e-2)).toBeLessThan(1e-5);
    expect(maxRelErr(gg.dx, dxp, 1e-2)).toBeLessThan(1e-4);
    expect(maxRelErr(gg.dgamma, dgp, 1e-2)).toBeLessThan(1e-4);
    const sg = ghost.stats();
    const sp = plain.stats();
    expect(ghost.count).toBe(3);
    expect(maxRelErr(sg.runningMean, sp.runningMean, 1e-3)).toBeLessThan(1e-5);
    expect(maxRelErr(sg.runningVar, sp.runningVar, 1e-3)).toBeLessThan(1e-5);
    expect(maxRelErr(sg.batchMean, sp.batchMean, 1e-3)).toBeLessThan(1e-5);
    ghost.dispose();
    plain.dispose();
  });
});

describe('memory', () => {
  it('a training-mode pass with gradients leaves no tensors behind', async () => {
    const { data, shape } = await realPatches(4, 5, 5, 3);
    const bn = new BatchNorm('bn', 3, { kind: 'ghost', virtualBatch: 3, momentum: null, eps: EPS, convention: 'pytorch' });
    const r = lossWeights(data.length);
    layerGrads(bn, data, shape, r);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) layerGrads(bn, data, shape, r);
    expect(tf.memory().numTensors).toBe(before);
    bn.dispose();
  });
});
