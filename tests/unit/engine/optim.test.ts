import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../../src-main/engine/backend';
import { Optimizer, lrAt, type OptimizerConfig } from '../../../src-main/engine/optim';
import { clipGrads, lossFn, penaltyValue } from '../../../src-main/engine/regularize';
import { buildModel } from '../../../src-main/engine/model';
import { trainStep } from '../../../src-main/engine/train';
import { DEFAULT_SETTINGS } from '../../../src-main/contract/settings';
import type { ModelSpec } from '../../../src-main/engine/spec';
import { fromLayers } from '../model/legacy';

beforeAll(async () => {
  await initBackend();
});

const W0 = [0.5, -1.5, 2];
const G1 = [0.1, -0.2, 0.3];
const G2 = [-0.4, 0.05, 0.3];

/** Two steps of an optimizer on one 3-vector; returns the weights after each step. */
function twoSteps(cfg: OptimizerConfig, lr: number, decay = true): number[][] {
  const v = tf.tidy(() => tf.variable(tf.tensor1d(W0)));
  const opt = new Optimizer(cfg, [{ name: 'w', variable: v, decay }]);
  const out: number[][] = [];
  for (const g of [G1, G2]) {
    const gt = tf.tensor1d(g);
    opt.apply({ w: gt }, lr);
    gt.dispose();
    out.push(Array.from(v.dataSync()));
  }
  opt.dispose();
  v.dispose();
  return out;
}

const close = (a: number[], b: number[], digits = 6) => expect(a).toEqual(b.map((x) => expect.closeTo(x, digits)));

describe('optimizers (PyTorch formulas)', () => {
  it('SGD with momentum: buf = μ·buf + g, w −= lr·buf', () => {
    const [w1, w2] = twoSteps({ kind: 'sgd', momentum: 0.9, nesterov: false, weightDecay: 0 }, 0.1);
    close(w1, W0.map((w, i) => w - 0.1 * G1[i]));
    close(w2, W0.map((w, i) => w - 0.1 * G1[i] - 0.1 * (0.9 * G1[i] + G2[i])));
  });

  it('SGD Nesterov: w −= lr·(g + μ·buf)', () => {
    const [w1, w2] = twoSteps({ kind: 'sgd', momentum: 0.9, nesterov: true, weightDecay: 0 }, 0.1);
    const a = W0.map((w, i) => w - 0.1 * (G1[i] + 0.9 * G1[i]));
    close(w1, a);
    close(w2, a.map((w, i) => w - 0.1 * (G2[i] + 0.9 * (0.9 * G1[i] + G2[i]))));
  });

  it('Adam: bias-corrected moments, ε = 1e-8', () => {
    const [w1, w2] = twoSteps({ kind: 'adam', momentum: 0.9, nesterov: false, weightDecay: 0 }, 0.01);
    // Step 1: m̂ = g, v̂ = g² ⇒ w −= lr·sign(g) (up to ε).
    close(w1, W0.map((w, i) => w - 0.01 * Math.sign(G1[i])), 5);
    const m = G1.map((g, i) => 0.9 * 0.1 * g + 0.1 * G2[i]);
    const v = G1.map((g, i) => 0.999 * 0.001 * g * g + 0.001 * G2[i] * G2[i]);
    close(w2, w1.map((w, i) => w - (0.01 * (m[i] / (1 - 0.81))) / (Math.sqrt(v[i] / (1 - 0.999 ** 2)) + 1e-8)), 5);
  });

  it('AdamW and SGDW: decoupled decay w ← w − lr·wd·w before the step', () => {
    const [a1] = twoSteps({ kind: 'adamw', momentum: 0.9, nesterov: false, weightDecay: 0.1 }, 0.01);
    close(a1, W0.map((w, i) => w - 0.01 * 0.1 * w - 0.01 * Math.sign(G1[i])), 5);
    const [s1] = twoSteps({ kind: 'sgd', momentum: 0, nesterov: false, weightDecay: 0.1 }, 0.5);
    close(s1, W0.map((w, i) => w - 0.5 * 0.1 * w - 0.5 * G1[i]));
    const [n1] = twoSteps({ kind: 'sgd', momentum: 0, nesterov: false, weightDecay: 0.1 }, 0.5, false);
    close(n1, W0.map((w, i) => w - 0.5 * G1[i]));
  });

  it('state round-trips: a restored optimizer continues identically', () => {
    const cfg: OptimizerConfig = { kind: 'adam', momentum: 0.9, nesterov: false, weightDecay: 0 };
    const v = tf.tidy(() => tf.variable(tf.tensor1d(W0)));
    const opt = new Optimizer(cfg, [{ name: 'w', variable: v, decay: true }]);
    tf.tidy(() => opt.apply({ w: tf.tensor1d(G1) }, 0.01));
    const state = opt.getState();
    expect(state.step).toBe(1);
    expect(Object.keys(state.slots).sort()).toEqual(['m/w', 'v/w']);
    const v2 = tf.tidy(() => tf.variable(v.clone()));
    const opt2 = new Optimizer(cfg, [{ name: 'w', variable: v2, decay: true }]);
    opt2.setState(state);
    tf.tidy(() => opt.apply({ w: tf.tensor1d(G2) }, 0.01));
    tf.tidy(() => opt2.apply({ w: tf.tensor1d(G2) }, 0.01));
    expect(Array.from(v2.dataSync())).toEqual(Array.from(v.dataSync()));
    expect(() => new Optimizer({ ...cfg, kind: 'sgd' }, [{ name: 'w', variable: v, decay: true }]).setState(state)).toThrow(/saved for "adam"/);
    tf.dispose([v, v2]);
    opt.dispose();
    opt2.dispose();
  });
});

describe('schedules', () => {
  const s = { ...DEFAULT_SETTINGS, lr: 0.1, epochs: 10 };
  it('constant, step and linear scaling', () => {
    expect(lrAt(s, 7, 3, 50)).toBeCloseTo(0.1, 12);
    expect(lrAt({ ...s, schedule: 'step', stepEvery: 3, stepGamma: 0.5 }, 7, 0, 50)).toBeCloseTo(0.025, 12);
    expect(lrAt({ ...s, linearScaling: true, batch: 256 }, 0, 0, 50)).toBeCloseTo(0.2, 12);
  });
  it('one-cycle: lr/25 → lr over 30% of the steps, cosine down to lr/1e4 at the last step', () => {
    const o = { ...s, schedule: 'onecycle' as const };
    expect(lrAt(o, 0, 0, 100)).toBeCloseTo(0.1 / 25, 12);
    expect(lrAt(o, 3, 0, 100)).toBeCloseTo(0.1, 12);
    expect(lrAt(o, 1, 50, 100)).toBeCloseTo(0.004 + (0.096 * 150) / 300, 12);
    expect(lrAt(o, 9, 99, 100)).toBeCloseTo(0.1 / 1e4, 12);
    const mid = 300 + (999 - 300) / 2;
    expect(lrAt(o, Math.floor(mid / 100), mid % 100, 100)).toBeCloseTo((0.1 + 1e-5) / 2, 9);
  });
});

describe('regularizers and clipping', () => {
  it('clips by global norm (and reports the pre-clip norm) and by value', () => {
    const gs = [tf.tensor1d([3, 0]), tf.tensor1d([0, -4])];
    const n = clipGrads(gs, 'norm', 1);
    expect(n.norm.dataSync()[0]).toBeCloseTo(5, 6);
    expect(n.clipped.dataSync()[0]).toBe(1);
    close(Array.from(n.grads[0].dataSync()), [0.6, 0], 5);
    close(Array.from(n.grads[1].dataSync()), [0, -0.8], 5);
    const big = clipGrads(gs, 'norm', 10);
    expect(big.clipped.dataSync()[0]).toBe(0);
    close(Array.from(big.grads[1].dataSync()), [0, -4], 6);
    const v = clipGrads(gs, 'value', 2.5);
    close(Array.from(v.grads[0].dataSync()), [2.5, 0]);
    close(Array.from(v.grads[1].dataSync()), [0, -2.5]);
    expect(v.clipped.dataSync()[0]).toBe(1);
    expect(v.norm.dataSync()[0]).toBeCloseTo(5, 6);
    tf.dispose([...gs, ...n.grads, n.norm, n.clipped, ...big.grads, big.norm, big.clipped, ...v.grads, v.norm, v.clipped]);
  });

  it('penalty value and losses', () => {
    const w = tf.tensor1d([0.5, -2]);
    expect(penaltyValue([w], { l1: 0.1, l2: 0.01 }).dataSync()[0]).toBeCloseTo(0.1 * 2.5 + 0.01 * 4.25, 6);
    const logits = tf.tensor2d([[2, 0, -1], [0, 0, 0]]);
    const onehot = tf.tensor2d([[1, 0, 0], [0, 0, 1]]);
    const lse = Math.log(Math.exp(2) + 1 + Math.exp(-1));
    expect(lossFn('ce', logits, onehot).dataSync()[0]).toBeCloseTo((lse - 2 + Math.log(3)) / 2, 5);
    const p = [Math.exp(2) / Math.exp(lse), 1 / Math.exp(lse), Math.exp(-1) / Math.exp(lse)];
    const mse = ((p[0] - 1) ** 2 + p[1] ** 2 + p[2] ** 2 + (1 / 3) ** 2 * 2 + (2 / 3) ** 2) / 6;
    expect(lossFn('mse', logits, onehot).dataSync()[0]).toBeCloseTo(mse, 6);
    tf.dispose([w, logits, onehot]);
  });

  // A net whose kernel sees only zero inputs has zero data gradient, so the kernel's update is
  // exactly the regularizer's: −lr·λ₁·sign(w), −lr·2λ₂·w, −lr·wd·w. The bias still learns.
  const spec: ModelSpec = fromLayers({ input: [2, 2, 3], classes: 4, layers: [{ type: 'gap', name: 'gap' }, { type: 'dense', name: 'fc', units: 4, inUnits: 3, bias: true }] });
  const step = (cfg: { l1?: number; l2?: number; weightDecay?: number; penalizeAll?: boolean }) => {
    const m = buildModel(spec, 7);
    const before = m.getWeights();
    const params = m.params();
    const penalized = new Set(params.filter((p) => cfg.penalizeAll || p.kind === 'kernel').map((p) => p.name));
    const opt = new Optimizer({ kind: 'sgd', momentum: 0, nesterov: false, weightDecay: cfg.weightDecay ?? 0 }, params.map((p) => ({ name: p.name, variable: p.variable, decay: penalized.has(p.name) })));
    const stats = trainStep(m, params, opt, new Float32Array(2 * 12), Int32Array.from([1, 3]), 2, [2, 2, 3], 4, {
      lr: 0.5, loss: 'ce', dropoutSeed: 1, penalized, l1: cfg.l1 ?? 0, l2: cfg.l2 ?? 0, clip: 'none', clipValue: 1,
    });
    stats.dispose();
    const after = m.getWeights();
    opt.dispose();
    m.dispose();
    return { k0: Array.from(before['fc/kernel'].data), k1: Array.from(after['fc/kernel'].data), b0: Array.from(before['fc/bias'].data), b1: Array.from(after['fc/bias'].data) };
  };

  it('L1 step = −lr·λ·sign(w); L2 step = −lr·2λ·w; decay step = −lr·wd·w (kernels only)', () => {
    const l1 = step({ l1: 0.01 });
    close(l1.k1, l1.k0.map((w) => w - 0.5 * 0.01 * Math.sign(w)));
    expect(l1.b1).not.toEqual(l1.b0);
    const l2 = step({ l2: 0.01 });
    close(l2.k1, l2.k0.map((w) => w - 0.5 * 2 * 0.01 * w));
    const wd = step({ weightDecay: 0.1 });
    close(wd.k1, wd.k0.map((w) => w - 0.5 * 0.1 * w));
    const none = step({});
    close(none.k1, none.k0, 7);
    // The bias update is the data gradient's unless penalizeAll.
    close(l1.b1, none.b1, 6);
    const all = step({ l1: 0.01, penalizeAll: true });
    close(all.b1, none.b1.map((b, i) => b - 0.5 * 0.01 * Math.sign(none.b0[i])), 5);
  });
});
