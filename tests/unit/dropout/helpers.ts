/** Fixtures for the dropout-ensemble tests: real MNIST test images and small specs. */
import * as tf from '@tensorflow/tfjs-core';
import { loadDataset, type Dataset, type Split } from '../../../src-main/data/dataset';
import { gatherBatch } from '../../../src-main/data/normalize';
import { buildModel, type Model } from '../../../src-main/engine/model';
import { mulberry32 } from '../../../src-main/engine/rng';
import { s5Spec, type ModelSpec } from '../../../src-main/engine/spec';
import { fromLayers } from '../model/legacy';
import { DEFAULT_SETTINGS } from '../../../src-main/contract/settings';

let data: Dataset | undefined;

/** The embedded real MNIST sample (8,000 train / 2,000 test). */
export async function sample(): Promise<Dataset> {
  data ??= await loadDataset('mnist-sample');
  return data;
}

/** The first n test images of the sample. */
export async function testSlice(n: number): Promise<Split> {
  const d = await sample();
  return { images: d.test.images.subarray(0, n * 784), labels: d.test.labels.subarray(0, n), count: n };
}

/** The first n test images as a [n, 28, 28, 1] tensor in [0, 1]. */
export async function testTensor(n: number): Promise<tf.Tensor4D> {
  const s = await testSlice(n);
  const x = gatherBatch(s.images, Uint32Array.from({ length: n }, (_, i) => i), 0, n, 784, [0], [1]);
  return tf.tensor4d(x, [n, 28, 28, 1]);
}

/** Dropout → dense: the logits are linear in the mask, so their mean over masks is the weight-scaled logits. */
export function linearSpec(rate: number): ModelSpec {
  return fromLayers({
    input: [28, 28, 1],
    classes: 10,
    layers: [
      { type: 'dropout', name: 'drop0', rate },
      { type: 'dense', name: 'fc', units: 10, inUnits: 784, bias: true },
    ],
  });
}

/** The S5 net with BN and dropout `rate` after every 3×3 block (rate 0 keeps the layers). */
export function s5WithDropout(rate: number): ModelSpec {
  const spec = s5Spec({ ...DEFAULT_SETTINGS, norm: 'batch', dropout: 0.1 });
  return { ...spec, nodes: spec.nodes.map((l) => (l.op === 'dropout' ? { ...l, rate } : l)) };
}

/**
 * A model whose γ, β and running statistics are seeded non-trivial values, so that a pass that
 * used batch statistics instead of the running ones would show in the outputs.
 */
export function perturbedModel(spec: ModelSpec, seed = 7): Model {
  const m = buildModel(spec, seed);
  const w = m.getWeights();
  const rng = mulberry32(seed * 7919 + 1);
  for (const [name, t] of Object.entries(w)) {
    const fill = (f: () => number) => { for (let i = 0; i < t.data.length; i++) t.data[i] = f(); };
    if (name.endsWith('/gamma')) fill(() => 0.5 + rng());
    else if (name.endsWith('/beta')) fill(() => 0.6 * rng() - 0.3);
    else if (name.endsWith('/running_mean')) fill(() => rng() - 0.5);
    else if (name.endsWith('/running_var')) fill(() => 0.3 + 1.7 * rng());
  }
  m.setWeights(w);
  return m;
}
