/**
 * ONNX exporter: a resolved model graph (any DAG of the layer table's kinds) + NamedWeights (tfjs
 * layout, NHWC) → an ONNX ModelProto built with onnx-proto's protobufjs classes (never
 * hand-written bytes). Each kind's ONNX nodes come from its entry in export-ops.ts.
 *
 * Graph contract (documented in the audit and the model's doc string):
 * - input  `input`:  float32 [N, C, H, W] (NCHW, dynamic batch N). Pixels in [0, 1] when the input
 *   normalization is baked in (Sub/Div at the front), otherwise already normalized with the
 *   mean/std stored in the metadata.
 * - output `probabilities`: float32 [N, classes], Softmax of the logits.
 * - output `logits`:        float32 [N, classes].
 */
import onnxProto from 'onnx-proto';
import type { GraphNode, ResolvedGraph as ModelSpec } from '../contract/model-graph';
import { consumers, countParams, describeIssue, hasRunningStats, inferShapes, ModelGraphError, outputName, type NamedWeights, type Shape as ModelShape } from '../model';
import type { ExportAudit, ExportAuditNode } from '../contract/onnx';
import { lowerNode, type FoldPlan, type LowerContext } from './export-ops';

export { hwioToOihw } from './export-ops';

const { onnx } = onnxProto;

export const DEFAULT_OPSET = 17;
export const MIN_OPSET = 13;
export const MAX_OPSET = 21;

export interface ExportOptions {
  /** Fold every batch norm into the convolution right before it. */
  foldBn?: boolean;
  /** ONNX opset (13…21, default 17). */
  opset?: number;
  /** Bake the input normalization (x − mean) / std into the graph; the input is then raw pixels in [0, 1]. */
  normalization?: { mean: number[]; std: number[] } | null;
  /** Stored as the model's metadata_props (dataset, class names, mean/std, run id, backend, …). */
  metadata: Record<string, string>;
}

/** A spec or option the exporter cannot turn into ONNX; the message names the layer. */
export class ExportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExportError';
  }
}

/** The IR version that goes with an opset (onnx/helper.py VERSION_TABLE). */
export function irVersionFor(opset: number): number {
  if (opset <= 13) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  return 10;
}

function opsetReason(opset: number, requested: boolean, usesLayerNorm: boolean, usesGroupNorm: boolean): string {
  const parts: string[] = [];
  parts.push(requested ? `opset ${opset} as requested` : `opset ${opset} by default: the lowest with LayerNormalization, run by onnxruntime 1.30 and known to onnx ≥ 1.12's checker`);
  if (usesLayerNorm) parts.push(opset >= 17 ? 'layer norm uses LayerNormalization (opset ≥ 17)' : 'layer norm decomposed (Reshape → InstanceNormalization → Reshape → Mul/Add) because LayerNormalization needs opset 17');
  if (usesGroupNorm) {
    parts.push(
      opset >= 21
        ? 'group norm uses GroupNormalization-21 (per-channel scale) on images, the decomposed form after dense layers'
        : 'group norm decomposed (Reshape → InstanceNormalization → Reshape → Mul/Add): GroupNormalization-18 scales per group, not per channel, and the per-channel form needs opset 21',
    );
  }
  parts.push('BatchNormalization in inference form (running statistics, training_mode = 0)');
  return parts.join('; ');
}

export type Shape = (number | string)[];

export interface Attr {
  name: string;
  f?: number;
  i?: number;
  ints?: number[];
  floats?: number[];
  s?: string;
}

/** Nodes and initializers of a graph under construction, with an audit line per node. */
export class Graph {
  readonly nodes: InstanceType<typeof onnx.NodeProto>[] = [];
  readonly initializers: InstanceType<typeof onnx.TensorProto>[] = [];
  readonly audit: ExportAuditNode[] = [];
  initializerValues = 0;
  private used = new Set<string>();

  unique(base: string): string {
    let n = base;
    for (let i = 2; this.used.has(n); i++) n = `${base}_${i}`;
    this.used.add(n);
    return n;
  }

  float(name: string, dims: number[], data: Float32Array): string {
    const expected = dims.reduce((a, b) => a * b, 1);
    if (expected !== data.length) throw new ExportError(`internal: initializer ${name} has ${data.length} values for dims [${dims.join(', ')}]`);
    const n = this.unique(name);
    const copy = new Float32Array(data);
    this.initializers.push(
      onnx.TensorProto.create({ name: n, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: new Uint8Array(copy.buffer) }),
    );
    this.initializerValues += data.length;
    return n;
  }

  int64(name: string, values: number[]): string {
    const n = this.unique(name);
    const buf = new BigInt64Array(values.map((v) => BigInt(v)));
    this.initializers.push(
      onnx.TensorProto.create({ name: n, dims: [values.length], dataType: onnx.TensorProto.DataType.INT64, rawData: new Uint8Array(buf.buffer) }),
    );
    return n;
  }

  node(op: string, layer: string, inputs: string[], shape: Shape, attrs: Attr[] = [], note?: string, outputName?: string): string {
    return this.nodeOutputs(op, layer, inputs, shape, attrs, note, [outputName])[0];
  }

  /** A node with several outputs; `outputNames[i]` fixes the name of output i (else a unique one). */
  nodeOutputs(op: string, layer: string, inputs: string[], shape: Shape, attrs: Attr[], note: string | undefined, outputNames: (string | undefined)[]): string[] {
    const name = this.unique(`${layer}/${op}`);
    const outs = outputNames.map((o, i) => o ?? this.unique(`${layer}/${op}:out${i || ''}`));
    for (const o of outputNames) if (o) this.used.add(o);
    const attribute = attrs.map((a) => {
      const T = onnx.AttributeProto.AttributeType;
      if (a.ints) return onnx.AttributeProto.create({ name: a.name, type: T.INTS, ints: a.ints });
      if (a.floats) return onnx.AttributeProto.create({ name: a.name, type: T.FLOATS, floats: a.floats });
      if (a.f !== undefined) return onnx.AttributeProto.create({ name: a.name, type: T.FLOAT, f: a.f });
      if (a.s !== undefined) return onnx.AttributeProto.create({ name: a.name, type: T.STRING, s: new TextEncoder().encode(a.s) });
      return onnx.AttributeProto.create({ name: a.name, type: T.INT, i: a.i ?? 0 });
    });
    this.nodes.push(onnx.NodeProto.create({ name, opType: op, input: inputs, output: outs, attribute }));
    const shown: Record<string, number | number[]> = {};
    for (const a of attrs) if (a.s === undefined) shown[a.name] = a.ints ?? a.floats ?? a.f ?? a.i ?? 0;
    this.audit.push({ name, op, layer, outputShape: shape.map(String), attributes: shown, ...(note ? { note } : {}) });
    return outs;
  }

  /** Gives the tensor `from` (a node output, not a graph input or initializer) the name `to`. */
  renameOutput(from: string, to: string, note: string): string {
    const i = this.nodes.findIndex((n) => n.output.includes(from));
    if (i < 0) throw new Error(`no node outputs ${from}`);
    const n = this.nodes[i];
    n.output = n.output.map((o) => (o === from ? to : o));
    for (const m of this.nodes) m.input = m.input.map((o) => (o === from ? to : o));
    this.used.add(to);
    const a = this.audit[i];
    a.note = a.note ? `${a.note}; ${note}` : note;
    return to;
  }
}

/** A float32 tensor type; string dims are symbolic (e.g. 'N'). */
export function tensorType(dims: Shape) {
  return onnx.TypeProto.create({
    tensorType: onnx.TypeProto.Tensor.create({
      elemType: onnx.TensorProto.DataType.FLOAT,
      shape: onnx.TensorShapeProto.create({
        dim: dims.map((d) => (typeof d === 'string' ? onnx.TensorShapeProto.Dimension.create({ dimParam: d }) : onnx.TensorShapeProto.Dimension.create({ dimValue: d }))),
      }),
    }),
  });
}

/** One weight, checked: present, float data, the shape the node needs. */
function weight(weights: NamedWeights, node: string, param: string, shape: number[]): Float32Array {
  const name = `${node}/${param}`;
  const w = Object.prototype.hasOwnProperty.call(weights, name) ? weights[name] : undefined;
  if (!w || typeof w !== 'object') throw new ExportError(`layer ${node}: weight "${name}" is missing from the checkpoint`);
  const wShape: unknown = w.shape;
  if (!Array.isArray(wShape) || Object.prototype.toString.call(w.data) !== '[object Float32Array]') {
    throw new ExportError(`layer ${node}: weight "${name}" is not a float32 tensor (shape ${JSON.stringify(wShape)}, data ${Object.prototype.toString.call(w.data)})`);
  }
  const n = shape.reduce((a, b) => a * b, 1);
  if (w.data.length !== n || wShape.length !== shape.length || wShape.some((d, i) => d !== shape[i])) {
    const declared = (wShape as number[]).reduce((a, b) => a * b, 1);
    throw new ExportError(`layer ${node}: weight "${name}" has shape [${wShape.join(', ')}]${w.data.length !== declared ? ` (${w.data.length} values)` : ''}, expected [${shape.join(', ')}]`);
  }
  return w.data;
}

/** Shapes of every node, or an ExportError naming what does not check out (unresolved placeholders, bad shapes). */
function checkedShapes(graph: ModelSpec): Record<string, ModelShape> {
  const raw = graph as { nodes?: unknown };
  if (Array.isArray(raw.nodes)) {
    for (const n of raw.nodes as GraphNode[]) {
      if (n && n.op === 'norm' && n.norm === 'auto') throw new ExportError(`layer ${n.name} (norm): norm is still "auto"; resolve the graph with the run's settings before exporting`);
      if (n && (n.op === 'dropout' || n.op === 'dropout2d') && n.rate === 'auto') throw new ExportError(`layer ${n.name} (${n.op}): rate is still "auto"; resolve the graph with the run's settings before exporting`);
    }
  }
  try {
    return inferShapes(graph);
  } catch (e) {
    if (e instanceof ModelGraphError) throw new ExportError(`the graph does not check out: ${e.issues.map(describeIssue).join('; ')}`);
    throw e;
  }
}

/**
 * Which batch norms fold into which conv or dense layer (--fold-bn): a BN whose input, through
 * dropouts only, is a conv or dense layer that nothing else reads. Anything else is an
 * ExportError naming the BN (the fold would change another reader, or there is nothing to fold into).
 */
function planFolds(graph: ModelSpec): { foldInto: Map<string, FoldPlan>; folded: Map<string, FoldPlan> } {
  const foldInto = new Map<string, FoldPlan>();
  const folded = new Map<string, FoldPlan>();
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const readers = consumers(graph);
  for (const n of graph.nodes) {
    if (n.op !== 'norm' || !hasRunningStats(n.norm)) continue;
    const bn = n as FoldPlan['bn'];
    let prev = byName.get(n.inputs[0]);
    const dropouts: string[] = [];
    while (prev && (prev.op === 'dropout' || prev.op === 'dropout2d')) {
      dropouts.push(prev.name);
      prev = byName.get(prev.inputs[0]);
    }
    if (!prev || (prev.op !== 'conv2d' && prev.op !== 'dense')) {
      throw new ExportError(
        `cannot fold batch norm layer ${n.name} into a convolution: it follows ${prev ? `${prev.op} layer ${prev.name}` : 'the input'}, ` +
          `not a conv or dense layer (e.g. BN after ReLU). Export without --fold-bn to keep it as BatchNormalization.`,
      );
    }
    for (const m of [prev.name, ...dropouts]) {
      const others = (readers.get(m) ?? []).filter((r) => r !== n.name && !dropouts.includes(r));
      if (others.length > 0) {
        throw new ExportError(
          `cannot fold batch norm layer ${n.name} into ${prev.op} layer ${prev.name}: the output of ${m} is also read by ${others.join(', ')}, ` +
            `which must not see the folded values. Export without --fold-bn to keep it as BatchNormalization.`,
        );
      }
    }
    const plan = { bn, into: prev.name };
    foldInto.set(prev.name, plan);
    folded.set(n.name, plan);
  }
  return { foldInto, folded };
}

/**
 * Exports a model graph (any DAG of the layer table's kinds) to ONNX. Throws ExportError naming
 * the layer when it cannot be expressed (a batch norm that cannot be folded, missing or
 * misshapen weights, a graph that does not check out).
 */
export function exportOnnx(graph: ModelSpec, weights: NamedWeights, opts: ExportOptions): { bytes: Uint8Array; audit: ExportAudit } {
  const requested = opts.opset !== undefined;
  const opset = opts.opset ?? DEFAULT_OPSET;
  if (!Number.isInteger(opset) || opset < MIN_OPSET || opset > MAX_OPSET) {
    throw new ExportError(`opset must be a whole number from ${MIN_OPSET} to ${MAX_OPSET}, got ${opts.opset}`);
  }
  const shapes = checkedShapes(graph);
  const foldBn = opts.foldBn ?? false;
  const [H0, W0, C0] = graph.input;
  const classes = graph.classes;
  const g = new Graph();
  const notes: string[] = [];
  const { foldInto, folded } = foldBn ? planFolds(graph) : { foldInto: new Map<string, FoldPlan>(), folded: new Map<string, FoldPlan>() };
  if (foldBn && folded.size === 0) notes.push('--fold-bn: the model has no batch norm layers; nothing was folded');
  const ctx: LowerContext = {
    g,
    opset,
    weight: (node, param, shape) => weight(weights, node, param, shape),
    fail: (message) => {
      throw new ExportError(message);
    },
    foldInto,
    folded,
    batchNorms: [],
    dropoutRemoved: [],
    notes,
    uses: { layerNorm: false, groupNorm: false },
  };

  let x = 'input';
  if (opts.normalization) {
    const shape: Shape = ['N', C0, H0, W0];
    const { mean, std } = opts.normalization;
    if (mean.length !== C0 || std.length !== C0) throw new ExportError(`normalization: needs ${C0} mean and std values (one per input channel), got ${mean.length} and ${std.length}`);
    if (std.some((s) => !(s > 0))) throw new ExportError(`normalization: every std must be positive, got [${std.join(', ')}]`);
    const m = g.float('input_mean', [1, C0, 1, 1], Float32Array.from(mean));
    const s = g.float('input_std', [1, C0, 1, 1], Float32Array.from(std));
    x = g.node('Sub', 'normalize', [x, m], shape, [], `baked input normalization: mean [${mean.map((v) => v.toFixed(4)).join(', ')}]`);
    x = g.node('Div', 'normalize', [x, s], shape, [], `std [${std.map((v) => v.toFixed(4)).join(', ')}]`);
  }

  // Each graph node's output as an ONNX tensor; nodes that lower to nothing (dropout, a folded BN) give their input's.
  const tensors = new Map<string, string>([['input', x]]);
  for (const n of graph.nodes) {
    const ins = n.inputs.map((s) => tensors.get(s)!);
    tensors.set(n.name, lowerNode(n, ins, n.inputs.map((s) => shapes[s]), shapes[n.name], ctx));
  }

  const outNode = outputName(graph);
  let out = tensors.get(outNode)!;
  // The output node's own tensor becomes the graph output "logits" (no Identity copy), unless it is not a node's output.
  if (!g.nodes.some((nd) => nd.output.includes(out))) out = g.node('Identity', 'output', [out], ['N', classes]);
  const logits = g.renameOutput(out, 'logits', 'logits');
  g.node('Softmax', 'output', [logits], ['N', classes], [{ name: 'axis', i: 1 }], 'class probabilities', 'probabilities');

  const docString =
    'NormLab export. Input "input": float32 [N, C, H, W] (NCHW), ' +
    (opts.normalization ? 'raw pixels in [0, 1] (normalization baked in). ' : 'normalized with metadata mean/std. ') +
    'Outputs "probabilities" (softmax) and "logits", float32 [N, classes].';
  const bnFolded = foldBn && folded.size > 0;
  const metadata: Record<string, string> = {
    ...opts.metadata,
    normalization_baked: opts.normalization ? 'true' : 'false',
    bn_folded: String(bnFolded),
    input_layout: 'NCHW',
  };
  const model = onnx.ModelProto.create({
    irVersion: irVersionFor(opset),
    opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: opset })],
    producerName: 'normlab',
    producerVersion: opts.metadata.normlab_version ?? '',
    docString,
    graph: onnx.GraphProto.create({
      name: 'normlab',
      node: g.nodes,
      initializer: g.initializers,
      input: [onnx.ValueInfoProto.create({ name: 'input', type: tensorType(['N', C0, H0, W0]) })],
      output: [
        onnx.ValueInfoProto.create({ name: 'probabilities', type: tensorType(['N', classes]) }),
        onnx.ValueInfoProto.create({ name: 'logits', type: tensorType(['N', classes]) }),
      ],
    }),
    metadataProps: Object.entries(metadata).map(([key, value]) => onnx.StringStringEntryProto.create({ key, value })),
  });
  const bytes = onnx.ModelProto.encode(model).finish();
  const audit: ExportAudit = {
    opset,
    irVersion: irVersionFor(opset),
    opsetReason: opsetReason(opset, requested, ctx.uses.layerNorm, ctx.uses.groupNorm),
    input: { name: 'input', shape: ['N', String(C0), String(H0), String(W0)], normalizationBaked: !!opts.normalization },
    outputs: [
      { name: 'probabilities', shape: ['N', String(classes)], meaning: 'softmax of the logits' },
      { name: 'logits', shape: ['N', String(classes)], meaning: 'pre-softmax scores' },
    ],
    nodes: g.audit,
    ops: countOps(g.audit),
    params: countParams(graph),
    storedValues: g.initializerValues,
    bnFolded,
    batchNorms: ctx.batchNorms,
    dropoutRemoved: ctx.dropoutRemoved,
    notes,
    bytes: bytes.length,
  };
  return { bytes, audit };
}

function countOps(nodes: ExportAuditNode[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const n of nodes) out[n.op] = (out[n.op] ?? 0) + 1;
  return out;
}

/** What an .onnx file says about itself: opset, input/output shapes, metadata. */
export interface OnnxInfo {
  opset: number;
  irVersion: number;
  producer: string;
  inputs: { name: string; shape: (number | string)[] }[];
  outputs: { name: string; shape: (number | string)[] }[];
  metadata: Record<string, string>;
  nodes: number;
}

/**
 * Decodes an ONNX model's header (graph inputs/outputs, opset, metadata_props).
 * @throws Error "FILE is not a valid ONNX model: …" when the bytes do not decode or have no graph.
 */
export function readOnnxInfo(bytes: Uint8Array, file = 'the file'): OnnxInfo {
  let m: InstanceType<typeof onnx.ModelProto>;
  try {
    m = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new Error(`${file} is not a valid ONNX model: ${(e as Error).message}`);
  }
  if (!m.graph || !m.graph.node?.length || !m.graph.input?.length) {
    throw new Error(`${file} is not a valid ONNX model: it has no graph (no nodes or inputs)`);
  }
  const shapeOf = (v: onnxProto.onnx.IValueInfoProto) =>
    (v.type?.tensorType?.shape?.dim ?? []).map((d) => (d.dimParam ? d.dimParam : Number(d.dimValue)));
  const initNames = new Set((m.graph.initializer ?? []).map((t) => t.name));
  const metadata: Record<string, string> = {};
  for (const p of m.metadataProps ?? []) metadata[p.key ?? ''] = p.value ?? '';
  const opset = (m.opsetImport ?? []).find((o) => !o.domain)?.version;
  return {
    opset: Number(opset ?? 0),
    irVersion: Number(m.irVersion),
    producer: m.producerName,
    inputs: m.graph.input.filter((v) => !initNames.has(v.name)).map((v) => ({ name: v.name ?? '', shape: shapeOf(v) })),
    outputs: (m.graph.output ?? []).map((v) => ({ name: v.name ?? '', shape: shapeOf(v) })),
    metadata,
    nodes: m.graph.node.length,
  };
}
