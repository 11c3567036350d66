import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../../src-main/engine/backend';
import { buildModel } from '../../../src-main/engine/model';
import { countParams, forwardMacs, s5Spec, type ModelSpec } from '../../../src-main/engine/spec';
import { DEFAULT_SETTINGS } from '../../../src-main/contract/settings';
import { loadDataset } from '../../../src-main/data/dataset';
import { fromLayers } from '../model/legacy';

beforeAll(async () => {
  await initBackend();
});

describe('S5 model', () => {
  it('has 8,890 parameters by default and 84 more with conv bias', () => {
    const spec = s5Spec(DEFAULT_SETTINGS);
    expect(countParams(spec)).toBe(8890);
    const m = buildModel(spec, 1);
    expect(m.paramCount()).toBe(8890);
    m.dispose();
    const withBias = s5Spec({ ...DEFAULT_SETTINGS, convBias: true });
    const mb = buildModel(withBias, 1);
    expect(mb.paramCount()).toBe(8890 + 84);
    expect(countParams(withBias)).toBe(8974);
    const biases = mb.params().filter((p) => p.kind === 'bias' && p.layer.startsWith('conv'));
    expect(biases.map((b) => b.name)).toEqual(['conv1/bias', 'conv2/bias', 'conv3/bias', 'conv4/bias', 'conv5/bias', 'conv6/bias']);
    expect(biases.reduce((n, b) => n + b.variable.size, 0)).toBe(84);
    mb.dispose();
  });

  it('counts the forward multiply-accumulates layer by layer', () => {
    // out H·W · filters · k² · in: conv1 26²·8·9·1, conv2 24²·16·9·8, trans1 24²·8·16, conv3 10²·12·9·8,
    // conv4 8²·16·9·12, conv5 6²·16·9·16, conv6 4²·16·9·16; dense 16·10.
    const hand = 26 * 26 * 8 * 9 + 24 * 24 * 16 * 72 + 24 * 24 * 8 * 16 + 100 * 12 * 72 + 64 * 16 * 108 + 36 * 16 * 144 + 16 * 16 * 144 + 160;
    expect(hand).toBe(1_102_912);
    expect(forwardMacs(s5Spec(DEFAULT_SETTINGS))).toBe(hand);
    // A 5×5 'same' conv on a 3-channel 8×8 input (8·8·4·25·3), then dense over the 256 flattened values.
    const same: ModelSpec = fromLayers({ input: [8, 8, 3], classes: 2, layers: [
      { type: 'conv', name: 'c', filters: 4, kernel: 5, inChannels: 3, bias: false, padding: 'same' },
      { type: 'dense', name: 'd', units: 2, inUnits: 256, bias: true },
    ] });
    expect(forwardMacs(same)).toBe(8 * 8 * 4 * 25 * 3 + 256 * 2);
  });
});

describe('model details', () => {
  it('initializes kernels and biases in U(±1/√fan_in), seeded', () => {
    const spec = s5Spec({ ...DEFAULT_SETTINGS, convBias: true });
    const a = buildModel(spec, 5).getWeights();
    const b = buildModel(spec, 5).getWeights();
    const c = buildModel(spec, 6).getWeights();
    expect(Array.from(a['conv2/kernel'].data)).toEqual(Array.from(b['conv2/kernel'].data));
    expect(Array.from(a['conv2/kernel'].data)).not.toEqual(Array.from(c['conv2/kernel'].data));
    for (const [name, fanIn] of [['conv1/kernel', 9], ['conv2/kernel', 72], ['conv2/bias', 72], ['fc/kernel', 16], ['fc/bias', 16]] as const) {
      const d = a[name].data;
      const bound = 1 / Math.sqrt(fanIn);
      expect(Math.max(...Array.from(d, Math.abs)), name).toBeLessThanOrEqual(bound);
      expect(Math.max(...Array.from(d, Math.abs)), name).toBeGreaterThan(0.8 * bound);
    }
    expect(a['conv2/kernel'].shape).toEqual([3, 3, 8, 16]);
    expect(a['fc/kernel'].shape).toEqual([16, 10]);
    expect(Array.from(a['norm1/gamma'].data)).toEqual(new Array(8).fill(1));
    expect(Array.from(a['norm1/running_var'].data)).toEqual(new Array(8).fill(1));
  });

  it('dropout: inverted scaling at train (mean preserved), identity at eval, seeded masks', async () => {
    const ds = await loadDataset('mnist-sample');
    const spec = fromLayers({ input: [28, 28, 1], classes: 1, layers: [{ type: 'dropout', name: 'drop', rate: 0.3 }, { type: 'gap', name: 'gap' }] });
    const m = buildModel(spec, 1);
    const x = tf.tensor4d(Float32Array.from(ds.train.images.subarray(0, 64 * 784), (v) => v / 255), [64, 28, 28, 1]);
    const { inputs } = m.forwardWithTaps(x, ['gap'], { training: true, dropoutSeed: 11 });
    const dropped = inputs.gap.dataSync();
    const xs = x.dataSync();
    let kept = 0;
    let nonzero = 0;
    for (let i = 0; i < xs.length; i++) {
      if (xs[i] === 0) continue;
      nonzero++;
      if (dropped[i] !== 0) {
        kept++;
        expect(Math.abs(dropped[i] - xs[i] / 0.7)).toBeLessThan(1e-5);
      }
    }
    expect(kept / nonzero).toBeGreaterThan(0.68);
    expect(kept / nonzero).toBeLessThan(0.72);
    const meanTrain = tf.tidy(() => tf.mean(m.forward(x, { training: true, dropoutSeed: 12 })).dataSync()[0]);
    const meanEval = tf.tidy(() => tf.mean(m.predict(x)).dataSync()[0]);
    expect(Math.abs(meanTrain - meanEval) / meanEval).toBeLessThan(0.02);
    expect(Array.from(m.forward(x, { training: true, dropoutSeed: 11 }).dataSync())).toEqual(Array.from(m.forward(x, { training: true, dropoutSeed: 11 }).dataSync()));
    expect(Array.from(m.forward(x, { training: true, dropoutSeed: 11 }).dataSync())).not.toEqual(Array.from(m.forward(x, { training: true, dropoutSeed: 13 }).dataSync()));
    const evalTaps = m.forwardWithTaps(x, ['gap']);
    expect(Array.from(evalTaps.inputs.gap.dataSync())).toEqual(Array.from(xs));
    m.dispose();
  });

  it('get/setWeights round-trip with stable names; bad weights give clear errors', () => {
    const spec = s5Spec({ ...DEFAULT_SETTINGS, bnMomentum: null });
    const a = buildModel(spec, 1);
    const b = buildModel(spec, 2);
    const w = a.getWeights();
    expect(Object.keys(w)).toContain('norm3/running_mean');
    expect(Object.keys(w)).toContain('norm3/count');
    expect(Object.keys(w)).toContain('trans1/kernel');
    b.setWeights(w);
    expect(Array.from(b.getWeights()['fc/kernel'].data)).toEqual(Array.from(w['fc/kernel'].data));
    expect(() => b.setWeights({ ...w, 'conv9/kernel': w['fc/bias'] })).toThrow('weights: "conv9/kernel" is not a weight of this model');
    expect(() => b.setWeights({ ...w, 'fc/bias': { shape: [3], data: new Float32Array(3) } })).toThrow('weights: "fc/bias" has shape [3], the model needs [10]');
    const { ['conv1/kernel']: _drop, ...missing } = w;
    expect(() => b.setWeights(missing)).toThrow('weights: "conv1/kernel" is missing');
    expect(() => buildModel({ ...spec, nodes: spec.nodes.map((l) => (l.name === 'pool1' ? { ...l, inputs: ['conv2'] } : l)) }, 1)).toThrow(/node "trans1": the output "fc" does not depend on this node/);
    expect(() => buildModel({ ...spec, nodes: spec.nodes.map((l) => (l.name === 'fc' ? { ...l, inputs: ['conv6'] } : l)) }, 1)).toThrow('node "fc" (inputs): dense needs a vector [units], got [4, 4, 16]: put flatten or gap before it');
    a.dispose();
    b.dispose();
  });

  it('forwardWithTaps returns the eval-mode input of each norm layer', async () => {
    const ds = await loadDataset('mnist-sample');
    const m = buildModel(s5Spec(DEFAULT_SETTINGS), 1);
    const x = tf.tensor4d(Float32Array.from(ds.test.images.subarray(0, 8 * 784), (v) => v / 255), [8, 28, 28, 1]);
    const before = tf.memory().numTensors;
    const { logits, inputs } = m.forwardWithTaps(x, ['norm1', 'norm6']);
    expect(inputs.norm1.shape).toEqual([8, 26, 26, 8]);
    expect(inputs.norm6.shape).toEqual([8, 4, 4, 16]);
    // norm1's input is conv1(x): check one output value against a direct convolution.
    const k = m.getWeights()['conv1/kernel'].data;
    const xs = x.dataSync();
    let want = 0;
    for (let dy = 0; dy < 3; dy++) for (let dx = 0; dx < 3; dx++) want += xs[(10 + dy) * 28 + (12 + dx)] * k[(dy * 3 + dx) * 8 + 5];
    expect(inputs.norm1.dataSync()[(10 * 26 + 12) * 8 + 5]).toBeCloseTo(want, 5);
    const direct = tf.tidy(() => Array.from(m.predict(x).dataSync()));
    expect(Array.from(logits.dataSync())).toEqual(direct.map((v) => expect.closeTo(v, 5)));
    tf.dispose([logits, inputs.norm1, inputs.norm6]);
    expect(tf.memory().numTensors).toBe(before);
    expect(() => m.forwardWithTaps(x, ['nope'])).toThrow(/no layer named "nope"/);
    m.dispose();
  });
});
