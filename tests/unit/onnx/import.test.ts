/**
 * import-model on the PyTorch fixtures: the graph each module becomes, its weights in our layout
 * (checked by a plain forward pass against PyTorch's logits on real sample images), and one
 * error naming every unsupported op or attribute.
 */
import { describe, expect, it } from 'vitest';
import onnxProto from 'onnx-proto';
import type { GraphNode, ModelGraph } from '../../../src-main/contract/model-graph';
import { DEFAULT_SETTINGS } from '../../../src-main/contract/settings';
import { resolveGraph } from '../../../src-main/model';
import { ImportError, importOnnx, oihwToHwio, torchStateKey } from '../../../src-main/onnx/import';
import { referenceForward } from './graph-reference';
import { fixtureBytes, fixtureExpect, fixtureImages, fixturePath, IMPORTABLE, maxDiff } from './import-fixtures';

const { onnx } = onnxProto;
const byName = (nodes: GraphNode[], name: string) => nodes.find((n) => n.name === name)!;
const learnable = (w: Record<string, { data: Float32Array }>) =>
  Object.entries(w).filter(([k]) => !/running_(mean|var)$/.test(k)).reduce((s, [, v]) => s + v.data.length, 0);

describe('import-model on the PyTorch fixtures', () => {
  for (const name of IMPORTABLE) {
    it(`${name}: our forward pass on the imported weights gives PyTorch's logits (1e-4)`, () => {
      const ex = fixtureExpect(name);
      const r = importOnnx(fixtureBytes(name), fixturePath(name));
      expect(r.graph.input).toEqual([28, 28, 1]);
      expect(r.graph.classes).toBe(10);
      expect(learnable(r.weights!)).toBe(ex.params);
      const n = ex.images.indices.length;
      // 'auto' norms resolved as a default run resolves them (batch norm, momentum 0.1, ε 1e-5).
      const logits = referenceForward(resolveGraph(r.graph, DEFAULT_SETTINGS) as ModelGraph, r.weights!, fixtureImages(n), n);
      const d = maxDiff(logits, ex.logits);
      expect(d.scale).toBeGreaterThan(0.1);
      expect(d.abs).toBeLessThan(1e-4 * Math.max(1, d.scale));
      for (const key of Object.keys(r.weights!)) expect(r.report.torchKeys[key]).toBe(torchStateKey(key));
    });
  }

  it('s5like: conv → BN → ReLU blocks named after the PyTorch modules, global pooling straight into the dense layer', () => {
    const { graph, report } = importOnnx(fixtureBytes('s5like'), 's5like.onnx');
    expect(graph.name).toBe('s5like');
    expect(graph.nodes.map((n) => n.op)).toEqual([
      ...['conv2d', 'norm', 'relu', 'conv2d', 'norm', 'relu', 'conv2d', 'maxpool'],
      ...['conv2d', 'norm', 'relu', 'conv2d', 'norm', 'relu', 'conv2d', 'norm', 'relu', 'conv2d', 'norm', 'relu', 'gap', 'dense'],
    ]);
    expect(byName(graph.nodes, 'b1.0')).toEqual({ name: 'b1.0', op: 'conv2d', inputs: ['input'], filters: 8, kernel: 3, bias: false });
    expect(byName(graph.nodes, 'b1.1')).toEqual({ name: 'b1.1', op: 'norm', inputs: ['b1.0'], norm: 'auto' });
    const kept = importOnnx(fixtureBytes('s5like'), 's5like.onnx', { norm: 'keep' }).graph;
    expect(byName(kept.nodes, 'b1.1')).toEqual({ name: 'b1.1', op: 'norm', inputs: ['b1.0'], norm: { kind: 'batch', momentum: 0.1, eps: 1e-5, convention: 'pytorch' } });
    expect(byName(graph.nodes, 'pool.maxpool')).toMatchObject({ op: 'maxpool', kernel: 2, inputs: ['t1'] });
    expect(byName(graph.nodes, 'fc')).toEqual({ name: 'fc', op: 'dense', inputs: ['gap'], units: 10, bias: true });
    expect(report.dropped).toEqual([{ node: '/Flatten', op: 'Flatten', why: 'flatten after global pooling (already flat here)' }]);
    expect(report.onnxOps).toMatchObject({ Conv: 7, BatchNormalization: 6, Relu: 6, MaxPool: 1, GlobalAveragePool: 1, Gemm: 1 });
    expect(report.opset).toBe(14);
  });

  it('resnet_tiny: residual adds read the block input and the second BN; x.view(n, -1) after pooling is no node', () => {
    const { graph, weights, report } = importOnnx(fixtureBytes('resnet_tiny'), 'resnet_tiny.onnx');
    expect(byName(graph.nodes, 'res1.add')).toEqual({ name: 'res1.add', op: 'add', inputs: ['relu', 'res1.bn2'] });
    expect(byName(graph.nodes, 'res2.add').inputs).toEqual(['relu_1', 'res2.bn2']);
    expect(byName(graph.nodes, 'down')).toMatchObject({ op: 'conv2d', stride: 2, padding: [1, 1, 1, 1], filters: 16 });
    expect(byName(graph.nodes, 'fc').inputs).toEqual(['gap']);
    expect(graph.nodes.some((n) => n.op === 'flatten')).toBe(false);
    expect(report.dropped.map((d) => d.op)).toEqual(['Reshape']);
    expect(weights!['down/kernel'].shape).toEqual([3, 3, 8, 16]);
    expect(weights!['fc/kernel'].shape).toEqual([16, 10]);
    expect(report.torchKeys['res1.bn1/gamma']).toBe('res1.bn1.weight');
  });

  it('separable: depthwise conv keeps its groups ([kh, kw, 1, C] kernel), concat of two branches, leaky ReLU, average pool', () => {
    const { graph, weights, report } = importOnnx(fixtureBytes('separable'), 'separable.onnx');
    expect(byName(graph.nodes, 'dw1')).toMatchObject({ op: 'conv2d', groups: 8, filters: 8, padding: [1, 1, 1, 1], bias: false });
    expect(weights!['dw1/kernel'].shape).toEqual([3, 3, 1, 8]);
    expect(byName(graph.nodes, 'concat')).toEqual({ name: 'concat', op: 'concat', inputs: ['branch_a', 'branch_b'] });
    expect(byName(graph.nodes, 'leaky_relu')).toMatchObject({ op: 'leaky_relu', alpha: 0.1 });
    expect(byName(graph.nodes, 'pool.avgpool')).toMatchObject({ op: 'avgpool', kernel: 2 });
    expect(byName(graph.nodes, 'pool2.maxpool')).toMatchObject({ op: 'maxpool', kernel: 3, stride: 2 });
    expect(byName(graph.nodes, 'flatten').inputs).toEqual(['pool2.maxpool']);
    // torch's AvgPool2d emits a zero-width Pad first: no node.
    expect(report.dropped.map((d) => d.why)).toEqual(['Pad of zero width']);
  });

  it('mlp (exported in training mode): BatchNorm1d after a dense layer, Dropout with its ratio, a note about training-mode BN', () => {
    const { graph, report } = importOnnx(fixtureBytes('mlp'), 'mlp.onnx');
    expect(graph.nodes.map((n) => `${n.name}:${n.op}`)).toEqual(['flatten:flatten', 'fc1:dense', 'bn1:norm', 'relu:relu', 'drop.dropout:dropout', 'fc2:dense']);
    expect(byName(graph.nodes, 'drop.dropout')).toMatchObject({ rate: 0.2 });
    expect(report.notes.join(' ')).toMatch(/training mode/);
  });

  it('--weights reinit gives the same graph and no weights', () => {
    const kept = importOnnx(fixtureBytes('resnet_tiny'), 'r.onnx');
    const fresh = importOnnx(fixtureBytes('resnet_tiny'), 'r.onnx', { keepWeights: false, name: 'mine' });
    expect(fresh.weights).toBeNull();
    expect(fresh.graph).toEqual({ ...kept.graph, name: 'mine' });
  });

  it('unsupported ops and attributes: one error that names every node, op and attribute', () => {
    let err: unknown;
    try {
      importOnnx(fixtureBytes('unsupported'), 'unsupported.onnx');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ImportError);
    const e = err as ImportError;
    expect(e.problems.map((p) => [p.node, p.op, p.attribute ?? null])).toEqual([
      ['/conv/Pad', 'Pad', 'mode'],
      ['/Sigmoid', 'Sigmoid', null],
      ['/up/Resize', 'Resize', null],
    ]);
    expect(e.message).toMatch(/^unsupported\.onnx: cannot import 3 nodes:/);
    expect(e.message).toContain('/conv/Pad (Pad, mode): mode "reflect" is not supported');
    expect(e.message).toContain('/Sigmoid (Sigmoid): op Sigmoid is not supported');
    expect(e.message).toContain('/up/Resize (Resize): op Resize is not supported');
    expect(e.message).toMatch(/Supported ops: Conv, BatchNormalization/);
  });

  it('bytes that are not ONNX are refused naming the file', () => {
    expect(() => importOnnx(new Uint8Array([1, 2, 3, 4, 5]), 'junk.onnx')).toThrow(/junk\.onnx is not a valid ONNX model/);
  });
});

// ---- Small graphs built here, for patterns the fixtures do not cover.

function tensor(name: string, dims: number[], data: number[]) {
  return onnx.TensorProto.create({ name, dims, dataType: onnx.TensorProto.DataType.FLOAT, floatData: data });
}
function int64(name: string, data: number[]) {
  return onnx.TensorProto.create({ name, dims: [data.length], dataType: onnx.TensorProto.DataType.INT64, int64Data: data });
}
function node(opType: string, name: string, input: string[], output: string[], attribute: Record<string, number | number[] | string> = {}) {
  return onnx.NodeProto.create({
    opType, name, input, output,
    attribute: Object.entries(attribute).map(([k, v]) =>
      Array.isArray(v) ? { name: k, type: onnx.AttributeProto.AttributeType.INTS, ints: v }
        : typeof v === 'string' ? { name: k, type: onnx.AttributeProto.AttributeType.STRING, s: new TextEncoder().encode(v) }
          : Number.isInteger(v) ? { name: k, type: onnx.AttributeProto.AttributeType.INT, i: v } : { name: k, type: onnx.AttributeProto.AttributeType.FLOAT, f: v }),
  });
}
function modelBytes(nodes: ReturnType<typeof node>[], inits: ReturnType<typeof tensor>[], inShape = [1, 1, 4, 4], out = 'y', batch: number | string = 'n'): Uint8Array {
  const vi = (name: string, dims: (number | string)[]) => ({
    name, type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } },
  });
  const m = onnx.ModelProto.create({
    irVersion: 8, opsetImport: [{ domain: '', version: 14 }], producerName: 'test',
    graph: { name: 'g', node: nodes, initializer: inits, input: [vi('x', [batch, ...inShape.slice(1)])], output: [vi(out, [batch, 3])] },
  });
  return onnx.ModelProto.encode(m).finish();
}

describe('import-model on hand-built graphs', () => {
  it('MatMul + Add (a Linear without Gemm) becomes one dense layer with its bias; weights are [in, out] already', () => {
    const W = Array.from({ length: 16 * 3 }, (_, i) => i / 10);
    const bytes = modelBytes(
      [node('Flatten', 'f', ['x'], ['a'], { axis: 1 }), node('MatMul', 'mm', ['a', 'W'], ['b']), node('Add', 'add', ['b', 'bias'], ['y'])],
      [tensor('W', [16, 3], W), tensor('bias', [3], [1, 2, 3])],
    );
    const r = importOnnx(bytes, 'mm.onnx');
    expect(r.graph.nodes).toEqual([
      { name: 'f', op: 'flatten', inputs: ['input'] },
      { name: 'mm', op: 'dense', inputs: ['f'], units: 3, bias: true },
    ]);
    expect(Array.from(r.weights!['mm/kernel'].data)).toEqual(Array.from(Float32Array.from(W)));
    expect(Array.from(r.weights!['mm/bias'].data)).toEqual([1, 2, 3]);
    expect(r.report.dropped).toEqual([{ node: 'add', op: 'Add', why: 'bias of the MatMul before it' }]);
  });

  it('a zero Pad before a Conv is folded into its padding ([t, l, b, r] from ONNX\'s [.., h0, w0, .., h1, w1])', () => {
    const bytes = modelBytes(
      [
        node('Pad', 'pad', ['x', 'p'], ['a'], { mode: 'constant' }),
        node('Conv', 'conv', ['a', 'w'], ['c'], { kernel_shape: [3, 3], pads: [1, 0, 0, 0] }),
        node('GlobalAveragePool', 'gap', ['c'], ['d']),
        node('Flatten', 'flat', ['d'], ['y'], { axis: 1 }),
      ],
      [int64('p', [0, 0, 1, 2, 0, 0, 3, 4]), tensor('w', [3, 1, 3, 3], new Array(27).fill(0.5))],
    );
    const r = importOnnx(bytes, 'pad.onnx');
    expect(r.graph.nodes[0]).toEqual({ name: 'conv', op: 'conv2d', inputs: ['input'], filters: 3, kernel: 3, bias: false, padding: [2, 2, 3, 4] });
    expect(r.graph.nodes.map((n) => n.op)).toEqual(['conv2d', 'gap']);
  });

  it('a conv whose weight is computed, a strided reshape and a Softmax are all reported together', () => {
    const bytes = modelBytes(
      [
        node('Relu', 'r', ['w0'], ['w']),
        node('Conv', 'conv', ['x', 'w'], ['c'], { kernel_shape: [3, 3], auto_pad: 'SAME_LOWER' }),
        node('Reshape', 'rs', ['c', 'shape'], ['d']),
        node('Softmax', 'sm', ['d'], ['y']),
      ],
      [tensor('w0', [3, 1, 3, 3], new Array(27).fill(0.5)), int64('shape', [-1, 3, 4])],
    );
    try {
      importOnnx(bytes, 'bad.onnx');
      expect.unreachable();
    } catch (e) {
      expect((e as ImportError).problems.map((p) => `${p.node}:${p.attribute ?? p.op}`)).toEqual(['conv:weight', 'conv:auto_pad', 'rs:shape', 'sm:Softmax']);
    }
  });

  it('a file exported with a fixed batch of 1: Reshape to the constant [1, -1] is still a flatten', () => {
    const bytes = modelBytes(
      [
        node('Conv', 'conv', ['x', 'w'], ['c'], { kernel_shape: [3, 3] }),
        node('Reshape', 'rs', ['c', 'shape'], ['d']),
        node('Gemm', 'fc', ['d', 'W'], ['y'], { transB: 1 }),
      ],
      [tensor('w', [2, 1, 3, 3], new Array(18).fill(0.5)), int64('shape', [1, -1]), tensor('W', [3, 8], new Array(24).fill(0.1))],
      [1, 1, 4, 4],
      'y',
      1,
    );
    const r = importOnnx(bytes, 'b1.onnx');
    expect(r.graph.nodes.map((n) => n.op)).toEqual(['conv2d', 'flatten', 'dense']);
  });

  it('oihwToHwio moves element [o, i, y, x] to [y, x, i, o]', () => {
    const w = Float32Array.from({ length: 2 * 3 * 2 * 2 }, (_, i) => i);
    const t = oihwToHwio(w, 2, 3, 2, 2);
    // [o=1, i=2, y=0, x=1] = ((1·3 + 2)·2 + 0)·2 + 1 = 21 → [y=0, x=1, i=2, o=1] = ((0·2 + 1)·3 + 2)·2 + 1 = 11
    expect(t[11]).toBe(21);
  });
});

describe('import-model on damaged files', () => {
  it('truncated or bit-flipped fixtures end in an ImportError (or import), never another exception', () => {
    const base = fixtureBytes('resnet_tiny');
    let state = 12345;
    const rand = () => ((state = (state * 1103515245 + 12345) >>> 0) / 2 ** 32);
    for (let k = 0; k < 60; k++) {
      const b = Uint8Array.from(base);
      if (k % 2) {
        const cut = Math.floor(rand() * b.length);
        try {
          importOnnx(b.subarray(0, cut), 'cut.onnx');
        } catch (e) {
          expect(e).toBeInstanceOf(ImportError);
        }
      } else {
        for (let j = 0; j < 8; j++) b[Math.floor(rand() * b.length)] ^= 1 << Math.floor(rand() * 8);
        try {
          importOnnx(b, 'flipped.onnx');
        } catch (e) {
          expect(e).toBeInstanceOf(ImportError);
        }
      }
    }
  });
});
