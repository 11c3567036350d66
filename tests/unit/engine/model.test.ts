import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../../src-main/engine/backend';
import { buildModel } from '../../../src-main/engine/model';
import { countParams, s5Spec } from '../../../src-main/engine/spec';
import { DEFAULT_SETTINGS } from '../../../src-main/contract/settings';
import { loadDataset } from '../../../src-main/data/dataset';
import { gatherBatch, channelStats } from '../../../src-main/data/normalize';

let backend = '';
beforeAll(async () => {
  backend = (await initBackend()).backend;
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

  it('runs forward/backward on real digits', async () => {
    const ds = await loadDataset('mnist-sample');
    const st = channelStats(ds.train.images, 1000, 28, 28, 1);
    const idx = Uint32Array.from({ length: 32 }, (_, i) => i);
    const x = gatherBatch(ds.train.images, idx, 0, 32, 784, st.mean, st.std);
    const m = buildModel(s5Spec(DEFAULT_SETTINGS), 1);
    const xt = tf.tensor4d(x, [32, 28, 28, 1]);
    const t0 = performance.now();
    const { value, grads } = tf.variableGrads(() => {
      const logits = m.forward(xt, { training: true, dropoutSeed: 3 });
      return tf.mean(tf.sum(tf.square(logits), 1)) as tf.Scalar;
    }, m.params().map((p) => p.variable));
    console.log(backend, 'step ms', performance.now() - t0, value.dataSync()[0], Object.keys(grads).length);
    tf.dispose([value, xt]);
    tf.dispose(Object.values(grads));
    m.dispose();
  });
});
