/**
 * A tiny graph (28×28×1 MNIST in, 10 logits out) for every layer kind and its variants, for the
 * export, import and round-trip tests. `CASES` is a `Record<NodeOp, …>`: a new kind without a
 * case does not compile.
 */
import { MODEL_GRAPH_FORMAT, type GraphNode, type NodeOp, type NormChoice, type ResolvedGraph, type ResolvedNode } from '../../../src-main/contract/model-graph';
import { convGeometry, inferShapes, outputName, poolGeometry } from '../../../src-main/model';

/** A node whose inputs default to the previous node. */
export type Draft = ResolvedNode extends infer N ? (N extends ResolvedNode ? Omit<N, 'inputs'> & { inputs?: string[] } : never) : never;

/** A resolved graph from a list of nodes, each reading the previous one unless it names its inputs; a head (gap or flatten, dense 10) is added after an image. */
export function tiny(name: string, body: Draft[], head: 'gap' | 'flatten' | 'none' = 'gap'): ResolvedGraph {
  const nodes: ResolvedNode[] = [];
  let last = 'input';
  for (const d of body) {
    const n = { ...d, inputs: d.inputs ?? [last] } as ResolvedNode;
    nodes.push(n);
    last = n.name;
  }
  if (head !== 'none') {
    nodes.push({ name: 'head_pool', op: head, inputs: [last] } as ResolvedNode);
    nodes.push({ name: 'head_fc', op: 'dense', units: 10, inputs: ['head_pool'] });
  }
  return { format: MODEL_GRAPH_FORMAT, name, input: [28, 28, 1], classes: 10, nodes };
}

export const bn: NormChoice = { kind: 'batch', momentum: 0.1, eps: 1e-5, convention: 'pytorch' };
export const norms: Record<string, NormChoice> = {
  batch: bn,
  ghost: { kind: 'ghost', virtualBatch: 8, momentum: 0.1, eps: 1e-3, convention: 'pytorch' },
  keras: { kind: 'batch', momentum: 0.99, eps: 1e-3, convention: 'keras' },
  cumulative: { kind: 'batch', momentum: null, eps: 1e-5, convention: 'pytorch' },
  layer: { kind: 'layer', eps: 1e-5 },
  group: { kind: 'group', groups: 2, eps: 1e-5 },
};
export const c = (name: string, filters: number, extra: Partial<Extract<GraphNode, { op: 'conv2d' }>> = {}): Draft => ({ name, op: 'conv2d', filters, kernel: 3, ...extra });

/** One or more tiny graphs per kind (the key's kind is in every one of them). */
export const CASES: Record<NodeOp, ResolvedGraph[]> = {
  conv2d: [
    tiny('conv-valid', [c('c1', 4)]),
    tiny('conv-same-nobias', [c('c1', 4, { padding: 'same', bias: false })]),
    tiny('conv-strided-pads', [c('c1', 4, { stride: 2, padding: [1, 0, 2, 1] })]),
    tiny('conv-rect-kernel-stride', [c('c1', 4, { kernel: [3, 1], stride: [2, 1], padding: [1, 0, 1, 0] })]),
    tiny('conv-dilated', [c('c1', 4, { dilation: 2 })]),
    tiny('conv-dilated-strided', [c('c1', 4, { dilation: [2, 1], stride: 2, padding: [2, 1, 2, 1] })]),
    tiny('conv-grouped', [c('c1', 4), c('c2', 6, { groups: 2, padding: 'same' })]),
    tiny('conv-depthwise', [c('c1', 4), c('dw', 8, { groups: 4, stride: 2, padding: [1, 1, 1, 1] }), c('pw', 6, { kernel: 1 })]),
  ],
  norm: [
    ...Object.entries(norms).map(([k, norm]) => tiny(`norm-${k}-image`, [c('c1', 4), { name: 'n1', op: 'norm', norm }])),
    ...Object.entries(norms).map(([k, norm]) =>
      tiny(`norm-${k}-vector`, [{ name: 'f', op: 'flatten' }, { name: 'fc1', op: 'dense', units: 12 }, { name: 'n1', op: 'norm', norm }, { name: 'r', op: 'relu' }, { name: 'fc2', op: 'dense', units: 10 }], 'none'),
    ),
    tiny('norm-after-gap', [c('c1', 4), { name: 'g', op: 'gap' }, { name: 'n1', op: 'norm', norm: bn }, { name: 'fc', op: 'dense', units: 10 }], 'none'),
  ],
  relu: [tiny('relu', [c('c1', 4), { name: 'r', op: 'relu' }])],
  leaky_relu: [tiny('leaky', [c('c1', 4), { name: 'lr', op: 'leaky_relu', alpha: 0.2 }])],
  dropout: [tiny('dropout', [c('c1', 4), { name: 'd', op: 'dropout', rate: 0.3 }, c('c2', 4)])],
  dropout2d: [tiny('dropout2d', [c('c1', 4), { name: 'd', op: 'dropout2d', rate: 0.3 }, c('c2', 4)])],
  maxpool: [
    tiny('maxpool-2', [c('c1', 4), { name: 'p', op: 'maxpool', kernel: 2 }]),
    tiny('maxpool-overlap-padded', [c('c1', 4), { name: 'p', op: 'maxpool', kernel: 3, stride: 2, padding: [1, 1, 1, 0] }]),
  ],
  avgpool: [
    tiny('avgpool-2', [c('c1', 4), { name: 'p', op: 'avgpool', kernel: 2 }]),
    tiny('avgpool-padded', [c('c1', 4), { name: 'p', op: 'avgpool', kernel: [3, 2], stride: [2, 1], padding: [1, 1, 1, 0] }]),
  ],
  gap: [tiny('gap', [c('c1', 4), { name: 'g', op: 'gap' }, { name: 'fc', op: 'dense', units: 10 }], 'none')],
  flatten: [
    tiny('flatten', [c('c1', 3, { stride: 3 })], 'flatten'),
    tiny('flatten-of-vector', [c('c1', 4), { name: 'g', op: 'gap' }, { name: 'f', op: 'flatten' }, { name: 'fc', op: 'dense', units: 10 }], 'none'),
  ],
  dense: [tiny('dense', [{ name: 'f', op: 'flatten' }, { name: 'fc1', op: 'dense', units: 16, bias: false }, { name: 'fc2', op: 'dense', units: 10 }], 'none')],
  add: [
    tiny('add-residual', [c('c1', 4, { padding: 'same' }), c('c2', 4, { padding: 'same' }), { name: 'a', op: 'add', inputs: ['c1', 'c2'] }]),
    tiny('add-three', [c('c1', 4), c('c2', 4, { padding: 'same' }), c('c3', 4, { padding: 'same', inputs: ['c1'] }), { name: 'a', op: 'add', inputs: ['c1', 'c2', 'c3'] }]),
  ],
  concat: [
    tiny('concat-image', [c('c1', 4), c('c2', 3, { kernel: 1, inputs: ['c1'] }), c('c3', 5, { padding: 'same', inputs: ['c1'] }), { name: 'cat', op: 'concat', inputs: ['c2', 'c3', 'c1'] }]),
    tiny('concat-vector', [c('c1', 4), { name: 'g', op: 'gap' }, { name: 'fa', op: 'dense', units: 6, inputs: ['g'] }, { name: 'cat', op: 'concat', inputs: ['g', 'fa'] }, { name: 'fc', op: 'dense', units: 10 }], 'none'),
  ],
};


const r6 = (v: number) => Number(Math.fround(v).toPrecision(6));

export function canonicalNorm(n: NormChoice): NormChoice {
  switch (n.kind) {
    case 'batch':
    case 'ghost': {
      const m = n.momentum === null ? 0.1 : n.convention === 'keras' ? r6(1 - Math.fround(n.momentum)) : r6(1 - Math.fround(1 - n.momentum));
      return { kind: 'batch', momentum: m, eps: r6(n.eps), convention: 'pytorch' };
    }
    case 'layer':
      return { kind: 'layer', eps: r6(n.eps) };
    case 'group':
      return n.groups === 1 ? { kind: 'layer', eps: r6(n.eps) } : { kind: 'group', groups: n.groups, eps: r6(n.eps) };
  }
}

/**
 * The graph as an inference export keeps it: dropout nodes are removed (identity at inference), a
 * flatten of a vector is nothing, ghost BN is BN with its running statistics, a BN momentum comes
 * back in PyTorch's convention (a cumulative average, which ONNX cannot state, as the default
 * 0.1), a one-group group norm is a layer norm, and geometry is spelled out (pads, strides).
 */
export function canonical(g: ResolvedGraph) {
  const shapes = inferShapes(g);
  const alias = new Map<string, string>();
  const t = (s: string) => alias.get(s) ?? s;
  const nodes: Record<string, unknown>[] = [];
  for (const n of g.nodes) {
    const inputs = n.inputs.map(t);
    if (n.op === 'dropout' || n.op === 'dropout2d' || (n.op === 'flatten' && shapes[n.inputs[0]].length === 1)) {
      alias.set(n.name, inputs[0]);
      continue;
    }
    const base = { name: n.name, op: n.op, inputs };
    switch (n.op) {
      case 'conv2d':
        nodes.push({ ...base, filters: n.filters, ...convGeometry(n), groups: n.groups ?? 1, bias: n.bias ?? true });
        break;
      case 'maxpool':
      case 'avgpool':
        nodes.push({ ...base, ...poolGeometry(n) });
        break;
      case 'norm':
        nodes.push({ ...base, norm: canonicalNorm(n.norm) });
        break;
      case 'leaky_relu':
        nodes.push({ ...base, alpha: r6(n.alpha) });
        break;
      case 'dense':
        nodes.push({ ...base, units: n.units, bias: n.bias ?? true });
        break;
      default:
        nodes.push(base);
    }
  }
  return { input: g.input, classes: g.classes, output: t(outputName(g)), nodes };
}

