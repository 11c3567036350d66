import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS, type TrainSettings } from '../../../src-main/contract/settings';
import { MODEL_GRAPH_FORMAT, MODEL_PRESETS, type GraphNode, type ModelGraph } from '../../../src-main/contract/model-graph';
import {
  countParams, inferShapes, initialValue, paramSpecs, presetGraph, resolveGraph, stateSpecs, summarize, validateGraph, describeIssue,
} from '../../../src-main/model';

const settings = (o: Partial<TrainSettings> = {}): TrainSettings => ({ ...DEFAULT_SETTINGS, ...o });
const graph = (nodes: GraphNode[], o: Partial<ModelGraph> = {}): ModelGraph => ({ format: MODEL_GRAPH_FORMAT, name: 't', input: [28, 28, 1], classes: 10, nodes, ...o });
const s5 = (o: Partial<TrainSettings> = {}) => resolveGraph(presetGraph('s5', settings(o)), settings(o));

describe('the s5 preset', () => {
  it('has the S5 net\'s parameter names, shapes, count and MACs', () => {
    // The names checkpoints written before graphs key on (engine/spec.ts's flat S5 list).
    const blocks = ['conv1', 'conv2', 'conv3', 'conv4', 'conv5', 'conv6'];
    const expected = (bias: boolean, norm: boolean) => [
      ...blocks.slice(0, 2).flatMap((c, i) => [`${c}/kernel`, ...(bias ? [`${c}/bias`] : []), ...(norm ? [`norm${i + 1}/gamma`, `norm${i + 1}/beta`] : [])]),
      'trans1/kernel',
      ...blocks.slice(2).flatMap((c, i) => [`${c}/kernel`, ...(bias ? [`${c}/bias`] : []), ...(norm ? [`norm${i + 3}/gamma`, `norm${i + 3}/beta`] : [])]),
      'fc/kernel', 'fc/bias',
    ];
    expect(paramSpecs(s5()).map((p) => p.name)).toEqual(expected(false, true));
    expect(paramSpecs(s5({ norm: 'none' })).map((p) => p.name)).toEqual(expected(true, false));
    expect(paramSpecs(s5({ convBias: true, bnPosition: 'after' })).map((p) => p.name)).toEqual(expected(true, true));
    expect(countParams(s5({ norm: 'none' }))).toBe(8806);
    expect(countParams(s5({ convBias: true }))).toBe(8974);
    expect(s5({ dropout: 0.1 }).nodes.map((n) => n.name).slice(0, 9)).toEqual(['conv1', 'norm1', 'relu1', 'drop1', 'conv2', 'norm2', 'relu2', 'drop2', 'trans1']);
    expect(s5({ bnPosition: 'after' }).nodes.map((n) => n.name).slice(0, 4)).toEqual(['conv1', 'relu1', 'norm1', 'drop1']);
    expect(summarize(s5()).totalMacs).toBe(1_102_912);
    expect(countParams(s5())).toBe(8890);
    expect(paramSpecs(s5()).find((p) => p.name === 'conv2/kernel')?.shape).toEqual([3, 3, 8, 16]);
    expect(stateSpecs(s5()).map((s) => s.name).slice(0, 2)).toEqual(['norm1/running_mean', 'norm1/running_var']);
    expect(stateSpecs(s5({ bnMomentum: null })).filter((s) => s.kind === 'count')).toHaveLength(6);
  });

  it('summarizes like torchsummary: shapes, params per node, total', () => {
    const s = summarize(s5());
    const row = (n: string) => s.rows.find((r) => r.node === n)!;
    expect(row('conv1')).toMatchObject({ op: 'conv2d', outputShape: [26, 26, 8], params: 72, macs: 26 * 26 * 8 * 9 });
    expect(row('norm1')).toMatchObject({ outputShape: [26, 26, 8], params: 16 });
    expect(row('pool1').outputShape).toEqual([12, 12, 8]);
    expect(row('gap').outputShape).toEqual([16]);
    expect(row('fc')).toMatchObject({ outputShape: [10], params: 170 });
    expect(s.totalParams).toBe(8890);
  });
});

describe('presets', () => {
  it('are valid for MNIST and for 32×32 RGB, within their budgets', () => {
    for (const name of MODEL_PRESETS) {
      for (const [input, classes] of [[[28, 28, 1], 10], [[32, 32, 3], 5]] as const) {
        const g = resolveGraph(presetGraph(name, settings(), [...input], classes), settings());
        expect(validateGraph(g), `${name} ${input}`).toEqual([]);
      }
    }
    const res = resolveGraph(presetGraph('resnet-tiny', settings()), settings());
    expect(countParams(res)).toBeLessThanOrEqual(20_000);
    expect(res.nodes.filter((n) => n.op === 'add')).toHaveLength(3);
    const sep = resolveGraph(presetGraph('separable', settings()), settings());
    expect(sep.nodes.some((n) => n.op === 'conv2d' && n.groups === 32)).toBe(true);
    const mlp = resolveGraph(presetGraph('mlp', settings()), settings());
    expect(summarize(mlp).rows.find((r) => r.node === 'fc1_norm')?.outputShape).toEqual([64]);
  });
});

describe('resolveGraph', () => {
  it('drops auto norms at none and auto dropouts at 0, rewiring their readers', () => {
    const g = s5({ norm: 'none', dropout: 0 });
    expect(g.nodes.some((n) => n.op === 'norm' || n.op === 'dropout')).toBe(false);
    expect(g.nodes.find((n) => n.name === 'relu1')?.inputs).toEqual(['conv1']);
    expect(g.nodes.find((n) => n.name === 'conv2')?.inputs).toEqual(['relu1']);
    const r = resolveGraph(presetGraph('resnet-tiny', settings()), settings({ norm: 'none' }));
    expect(r.nodes.find((n) => n.name === 'block2_add')?.inputs).toEqual(['block2_b', 'block2_proj']);
    expect(validateGraph(r)).toEqual([]);
  });

  it('fills norm and rate from the settings', () => {
    const g = s5({ norm: 'ghost', ghostBatch: 16, dropout: 0.2 });
    expect(g.nodes.find((n) => n.name === 'norm3')).toMatchObject({ norm: { kind: 'ghost', virtualBatch: 16, momentum: 0.1, eps: 1e-5 } });
    expect(g.nodes.find((n) => n.name === 'drop3')).toMatchObject({ rate: 0.2 });
  });

  it('moves the output to the input of a dropped last node', () => {
    const g = graph([{ name: 'f', op: 'flatten', inputs: ['input'] }, { name: 'fc', op: 'dense', units: 10, inputs: ['f'] }, { name: 'd', op: 'dropout', rate: 'auto', inputs: ['fc'] }]);
    expect(resolveGraph(g, settings({ dropout: 0 })).output).toBe('fc');
  });
});

describe('shape rules', () => {
  const conv = (o: Partial<Extract<GraphNode, { op: 'conv2d' }>>): GraphNode => ({ name: 'c', op: 'conv2d', filters: 4, kernel: 3, inputs: ['input'], ...o });
  const shapeOf = (n: GraphNode, input: [number, number, number] = [28, 28, 1]) => {
    const g = graph([n, { name: 'g', op: 'gap', inputs: [n.name] }, { name: 'fc', op: 'dense', units: 10, inputs: ['g'] }], { input });
    return inferShapes(g)[n.name];
  };
  it('conv: stride, padding, dilation, groups', () => {
    expect(shapeOf(conv({}))).toEqual([26, 26, 4]);
    expect(shapeOf(conv({ padding: 'same' }))).toEqual([28, 28, 4]);
    expect(shapeOf(conv({ stride: 2, padding: [1, 1, 1, 1] }))).toEqual([14, 14, 4]);
    expect(shapeOf(conv({ dilation: 2 }))).toEqual([24, 24, 4]);
    expect(shapeOf(conv({ kernel: [3, 5], stride: [1, 2] }))).toEqual([26, 12, 4]);
    expect(shapeOf(conv({ filters: 8, groups: 4 }), [10, 10, 4])).toEqual([8, 8, 8]);
    const g = graph([conv({ filters: 8, groups: 4, kernel: 2 }), { name: 'f', op: 'flatten', inputs: ['c'] }, { name: 'fc', op: 'dense', units: 10, inputs: ['f'] }], { input: [5, 5, 4] });
    expect(paramSpecs(g)[0]).toMatchObject({ name: 'c/kernel', shape: [2, 2, 1, 8], init: { kind: 'uniform', bound: 1 / Math.sqrt(4) } });
    expect(summarize(g).rows[0].macs).toBe(4 * 4 * 8 * 4);
  });
  it('pools, concat, flatten', () => {
    expect(shapeOf({ name: 'p', op: 'maxpool', kernel: 2, inputs: ['input'] })).toEqual([14, 14, 1]);
    expect(shapeOf({ name: 'p', op: 'avgpool', kernel: 3, stride: 2, padding: [1, 1, 1, 1], inputs: ['input'] })).toEqual([14, 14, 1]);
    const g = graph([
      { name: 'a', op: 'conv2d', filters: 3, kernel: 1, inputs: ['input'] },
      { name: 'b', op: 'conv2d', filters: 5, kernel: 1, inputs: ['input'] },
      { name: 'cat', op: 'concat', inputs: ['a', 'b'] },
      { name: 'f', op: 'flatten', inputs: ['cat'] },
      { name: 'fc', op: 'dense', units: 10, inputs: ['f'] },
    ]);
    const s = inferShapes(g);
    expect(s.cat).toEqual([28, 28, 8]);
    expect(s.f).toEqual([28 * 28 * 8]);
  });
});

describe('validateGraph names the node and the shape that does not fit', () => {
  const msgs = (g: unknown) => validateGraph(g).map(describeIssue);
  it('shape problems', () => {
    expect(msgs(graph([{ name: 'fc', op: 'dense', units: 10, inputs: ['input'] }]))).toEqual([
      'node "fc" (inputs): dense needs a vector [units], got [28, 28, 1]: put flatten or gap before it',
    ]);
    const add = graph([
      { name: 'a', op: 'conv2d', filters: 4, kernel: 3, inputs: ['input'] },
      { name: 'b', op: 'conv2d', filters: 4, kernel: 3, padding: 'same', inputs: ['input'] },
      { name: 'sum', op: 'add', inputs: ['a', 'b'] },
      { name: 'g', op: 'gap', inputs: ['sum'] },
      { name: 'fc', op: 'dense', units: 10, inputs: ['g'] },
    ]);
    expect(msgs(add)).toEqual(['node "sum" (inputs): add needs inputs of one shape; input 1 is [26, 26, 4], input 2 is [28, 28, 4]']);
    const grp = graph([{ name: 'c', op: 'conv2d', filters: 6, kernel: 3, groups: 4, inputs: ['input'] }, { name: 'g', op: 'gap', inputs: ['c'] }, { name: 'fc', op: 'dense', units: 10, inputs: ['g'] }], { input: [8, 8, 4] });
    expect(msgs(grp)).toEqual(['node "c" (inputs): groups 4 does not divide filters 6']);
    const gn = graph([
      { name: 'c', op: 'conv2d', filters: 6, kernel: 3, inputs: ['input'] },
      { name: 'n', op: 'norm', norm: { kind: 'group', groups: 4, eps: 1e-5 }, inputs: ['c'] },
      { name: 'g', op: 'gap', inputs: ['n'] },
      { name: 'fc', op: 'dense', units: 10, inputs: ['g'] },
    ]);
    expect(msgs(gn)).toEqual(['node "n" (inputs): group norm: 4 groups do not divide the 6 channels of [26, 26, 6]']);
    expect(msgs(graph([{ name: 'c', op: 'conv2d', filters: 4, kernel: 30, inputs: ['input'] }, { name: 'g', op: 'gap', inputs: ['c'] }, { name: 'fc', op: 'dense', units: 10, inputs: ['g'] }])))
      .toEqual(['node "c" (inputs): input [28, 28, 1] is too small for a 30×30 kernel (dilation 1×1, pads [0, 0, 0, 0])']);
    expect(msgs(graph([{ name: 'g', op: 'gap', inputs: ['input'] }, { name: 'fc', op: 'dense', units: 7, inputs: ['g'] }])))
      .toEqual(['node "fc": the logits must be [10] (classes), this output node gives [7]']);
  });
  it('structure and field problems', () => {
    const g = graph([
      { name: 'g', op: 'gap', inputs: ['nope'] },
      { name: 'g', op: 'relu', inputs: ['input'] },
      { name: 'x', op: 'conv3d', inputs: ['input'] } as unknown as GraphNode,
      { name: 'd', op: 'dropout', rate: 1.5, inputs: ['input'] },
      { name: 's', op: 'conv2d', filters: 2, kernel: 3, stride: 2, padding: 'same', inputs: ['input'] },
      { name: 'fc', op: 'dense', units: 10, inputs: ['g'] },
    ]);
    const m = msgs(g);
    expect(m).toContain('node "g" (inputs): input "nope" is not an earlier node (nodes are listed in order; "input" is the image)');
    expect(m).toContain('node "g" (name): the name is used by an earlier node');
    expect(m).toContain('node "x" (op): unknown op "conv3d"; known: conv2d, norm, relu, leaky_relu, dropout, dropout2d, maxpool, avgpool, gap, flatten, dense, add, concat');
    expect(m).toContain('node "d" (rate): rate must be in [0, 1) or "auto", got 1.5');
    expect(m).toContain('node "s" (padding): padding "same" needs stride 1 (as in PyTorch); give explicit pads [top, left, bottom, right]');
    expect(msgs({ format: 'x', nodes: [] })[0]).toBe('format: format must be "normlab-model/1", got "x"');
    expect(msgs([])).toHaveLength(1);
  });
});

describe('fair initialization', () => {
  it('depends on the seed and the parameter name only', () => {
    const a = paramSpecs(s5({ dropout: 0 }));
    const b = paramSpecs(s5({ dropout: 0.1, bnPosition: 'after' }));
    for (const p of a) {
      const q = b.find((x) => x.name === p.name)!;
      expect(Array.from(initialValue(7, q))).toEqual(Array.from(initialValue(7, p)));
    }
    const k1 = initialValue(7, a[0]);
    expect(Array.from(initialValue(8, a[0]))).not.toEqual(Array.from(k1));
    expect(Math.max(...k1.map(Math.abs))).toBeLessThanOrEqual(1 / 3);
    expect(Array.from(initialValue(7, a.find((p) => p.name === 'norm1/gamma')!))).toEqual(new Array(8).fill(1));
  });
});
