/**
 * `import-model` reads back every kind the exporter writes (issue 16 item 4): export → import →
 * the same graph and the same weights, for every kind's tiny graphs and every preset, at the
 * opsets where layer and group norm are written differently (13: decomposed, 17:
 * LayerNormalization, 21: GroupNormalization).
 *
 * "The same graph" up to what an inference export cannot keep, stated in `canonical` (kind-cases.ts).
 */
import { describe, expect, test } from 'vitest';
import { MODEL_PRESETS, type ResolvedGraph } from '../../../src-main/contract/model-graph';
import { DEFAULT_SETTINGS, type TrainSettings } from '../../../src-main/contract/settings';
import { paramSpecs, presetGraph, resolveGraph, stateSpecs, initialState, initialValue } from '../../../src-main/model';
import type { NamedWeights } from '../../../src-main/model';
import { exportOnnx } from '../../../src-main/onnx/export';
import { importOnnx } from '../../../src-main/onnx/import';
import { canonical, CASES } from './kind-cases';

/** Seeded non-trivial values for every parameter and running statistic (distinct per name). */
function weightsFor(g: ResolvedGraph): NamedWeights {
  const w: NamedWeights = {};
  for (const p of paramSpecs(g)) w[p.name] = { shape: p.shape, data: initialValue(5, { ...p, init: { kind: 'uniform', bound: 1 } }) };
  for (const s of stateSpecs(g)) {
    const v = initialState(s);
    if (s.kind === 'running_var') for (let i = 0; i < v.length; i++) v[i] = 0.5 + ((i * 37) % 11) / 10;
    if (s.kind === 'running_mean') for (let i = 0; i < v.length; i++) v[i] = ((i * 13) % 7) / 10 - 0.3;
    w[s.name] = { shape: s.shape, data: v };
  }
  return w;
}

function roundTrip(g: ResolvedGraph, opset: number) {
  const w = weightsFor(g);
  const { bytes } = exportOnnx(g, w, { opset, metadata: {} });
  const r = importOnnx(bytes, `${g.name}.onnx`, { norm: 'keep' });
  const back = r.graph as ResolvedGraph;
  expect(canonical(back), `${g.name} opset ${opset}`).toEqual(canonical(g));
  // Every parameter and running statistic of the graph comes back bit for bit, under its own name.
  const names = [...paramSpecs(back), ...stateSpecs(back)].map((p) => p.name).filter((n) => !n.endsWith('/count'));
  expect(Object.keys(r.weights!).sort()).toEqual(names.sort());
  for (const n of names) {
    expect(r.weights![n].shape, n).toEqual(w[n].shape);
    expect(Array.from(r.weights![n].data), n).toEqual(Array.from(w[n].data));
  }
  return r;
}

describe('export → import gives the same graph and weights', () => {
  const rows = Object.values(CASES).flat().map((g) => [g.name, g] as const);
  test.each(rows)('%s', (_name, g) => {
    for (const opset of [13, 17, 21]) roundTrip(g, opset);
  });

  const settings = (o: Partial<TrainSettings>): TrainSettings => ({ ...DEFAULT_SETTINGS, dropout: 0.1, groups: 2, ...o });
  const presets = MODEL_PRESETS.flatMap((p) => (['batch', 'ghost', 'layer', 'group'] as const).map((norm) => [p, norm] as const));
  test.each(presets)('preset %s, %s norm', (preset, norm) => {
    const s = settings({ norm });
    const g = resolveGraph(presetGraph(preset, s), s);
    for (const opset of [13, 17, 21]) roundTrip(g, opset);
  });

  test("norm 'auto' (the default): batch norms come back as placeholders that the run's settings fill in", () => {
    const s = settings({ norm: 'batch' });
    const g = resolveGraph(presetGraph('resnet-tiny', s), s);
    const { bytes } = exportOnnx(g, weightsFor(g), { metadata: {} });
    const r = importOnnx(bytes, 'resnet-tiny.onnx');
    expect(r.graph.nodes.filter((n) => n.op === 'norm').every((n) => n.op === 'norm' && n.norm === 'auto')).toBe(true);
    expect(canonical(resolveGraph(r.graph, s))).toEqual(canonical(g));
  });

  test('a baked input normalization is refused with a message that says what to do', () => {
    const s = settings({ norm: 'batch' });
    const g = resolveGraph(presetGraph('s5', s), s);
    const { bytes } = exportOnnx(g, weightsFor(g), { normalization: { mean: [0.13], std: [0.31] }, metadata: {} });
    expect(() => importOnnx(bytes, 'baked.onnx')).toThrow(/normalize\/Sub \(Sub\): op Sub of the input by a constant \(input normalization baked into the model\) has no graph node: export without --bake-normalization/);
  });
});
