/**
 * ONNX importer: a `torch.onnx.export` file → a model graph (contract/model-graph.ts) and, when
 * asked, its weights in our layout (NHWC; conv kernel [kh, kw, in/groups, out], dense kernel
 * [in, out]) under our parameter names (`<node>/kernel`, `<node>/gamma`, …).
 *
 * The importer reads only the data path: nodes reachable from the image input. The little
 * integer programs torch emits beside it (Shape → Gather → Unsqueeze → Concat feeding a Reshape,
 * the constant pads of a Pad) are evaluated symbolically, with the batch size as an unknown.
 * Every data-path node either becomes a graph node, is recognised as a no-op (Identity, Dropout's
 * mask output, a zero Pad, a Flatten after global pooling), or is reported: the import fails with
 * ONE error that lists every unsupported op and attribute, each with its node name.
 *
 * Node names come from the PyTorch module path: a node with parameters takes its weight's name
 * minus `.weight` ("res1.conv1"), so `<node>/kernel` ↔ `<node>.weight` in the module's
 * state_dict (see `torchStateKey`); other nodes take the ONNX node name without slashes.
 *
 * Shapes and parameter counts are checked afterwards by the layer table (model/); this module
 * only translates.
 */
import onnxProto from 'onnx-proto';
import type { GraphNode, ModelGraph, NormChoice, Pads } from '../contract/model-graph';
import { MODEL_GRAPH_FORMAT } from '../contract/model-graph';
import { describeIssue, paramSpecs, resolveGraph, stateSpecs, validateGraph } from '../model';
import { DEFAULT_SETTINGS } from '../contract/settings';

const { onnx } = onnxProto;
type NodeProto = onnxProto.onnx.INodeProto;
type TensorProto = onnxProto.onnx.ITensorProto;
type AttributeProto = onnxProto.onnx.IAttributeProto;

/** Weights by parameter name, in our layout (the same shape as engine NamedWeights). */
export type ImportedWeights = Record<string, { shape: number[]; data: Float32Array }>;

export interface ImportOptions {
  /** Model name recorded in the graph (default: the file's base name). */
  name?: string;
  /** Keep the file's weights (default true); false gives the graph alone (fresh initialisation). */
  keepWeights?: boolean;
  /**
   * 'auto' (default): every BatchNormalization becomes a `norm: 'auto'` node, so the run's norm
   * setting (and a norms study) decides its kind; the file's epsilon/momentum are reported when
   * they differ from the settings' defaults. 'keep': batch norm with the file's epsilon/momentum.
   */
  norm?: 'auto' | 'keep';
}

export interface ImportReport {
  file: string;
  producer: string;
  opset: number;
  /** ONNX op → how many data-path nodes of it were read. */
  onnxOps: Record<string, number>;
  /** ONNX nodes that became no graph node, with why ("Identity", "Flatten after global pooling", …). */
  dropped: { node: string; op: string; why: string }[];
  /** Things worth knowing about the translation (BN in training mode, folded pads, …). */
  notes: string[];
  /** torch state_dict key for every imported parameter name (the round trip loads weights back by it). */
  torchKeys: Record<string, string>;
}

export interface ImportResult {
  graph: ModelGraph;
  /** Present when keepWeights. */
  weights: ImportedWeights | null;
  report: ImportReport;
}

/** One problem found in the file; the import error lists all of them. */
export interface ImportProblem {
  node: string;
  op: string;
  /** The attribute or input at fault; absent when the op itself is unsupported. */
  attribute?: string;
  message: string;
}

/** The file cannot be imported; `problems` holds every unsupported op or attribute. */
export class ImportError extends Error {
  constructor(
    readonly file: string,
    readonly problems: ImportProblem[],
    summary?: string,
  ) {
    super(
      summary ??
        `${file}: cannot import ${problems.length} node${problems.length === 1 ? '' : 's'}:\n` +
          problems.map((p) => `  ${p.node} (${p.op}${p.attribute ? `, ${p.attribute}` : ''}): ${p.message}`).join('\n') +
          (problems.some((p) => !p.attribute && p.message.startsWith('op ')) ? `\nSupported ops: ${IMPORTABLE_OPS.join(', ')}.` : ''),
    );
    this.name = 'ImportError';
  }
}

/** The ops this importer maps, for help texts and the Model view. */
export const IMPORTABLE_OPS = [
  'Conv', 'BatchNormalization', 'Relu', 'LeakyRelu', 'MaxPool', 'AveragePool', 'GlobalAveragePool', 'ReduceMean (over H, W)',
  'Flatten', 'Reshape (to [N, -1])', 'Gemm', 'MatMul (+ Add)', 'Add', 'Sum', 'Concat (channels)', 'Dropout', 'Identity', 'Pad (zeros, before Conv)',
  'LayerNormalization (per-channel γ/β)', 'GroupNormalization (opset 21)', 'Reshape → InstanceNormalization → Reshape → Mul → Add (nn.GroupNorm)',
] as const;

// ---------------------------------------------------------------------------------------------
// Values flowing through the ONNX graph.

/** A float or integer constant (initializer or Constant node). */
interface ConstVal {
  kind: 'const';
  dims: number[];
  /** Float data for float tensors, integer data (as numbers) for integer tensors. */
  data: Float32Array | number[];
  float: boolean;
  source: string;
}
/** A small integer vector computed from shapes: 'N' is the batch size, null an unknown. */
interface ShapeVal {
  kind: 'shape';
  values: (number | 'N' | null)[];
}
/** An activation on the data path: the graph node that gives it (or 'input') and its rank. */
interface DataVal {
  kind: 'data';
  ref: string;
  /** 4 = [N, C, H, W] in ONNX terms; 2 = [N, features]. */
  rank: 2 | 4;
  /** Output of global pooling, still [N, C, 1, 1] in ONNX but [C] for us. */
  pooled?: boolean;
  /** Spatial padding waiting to be folded into the next Conv (from a Pad). */
  pendingPads?: { pads: Pads; node: string };
  /** Part way through a group/layer norm written out as Reshape → InstanceNormalization → Reshape → Mul → Add. */
  normStage?: NormStage;
}
/** The steps of a decomposed group norm (torch.onnx's nn.GroupNorm, NormLab's layer/group norm below opset 17/21). */
interface NormStage {
  step: 'grouped' | 'normalized' | 'restored' | 'scaled';
  groups: number;
  eps: number;
  /** The Reshape that began it (named in problems). */
  node: string;
  gamma?: Float32Array;
  /** Name of γ's tensor (a module path "gn.weight" names the node after the module). */
  gammaName?: string;
}
/** The op each step of a decomposed norm waits for. */
const NORM_NEXT: Record<NormStage['step'], string> = { grouped: 'InstanceNormalization', normalized: 'Reshape', restored: 'Mul', scaled: 'Add' };
const NORM_PATTERN = 'Reshape [N, G, −1] → InstanceNormalization → Reshape → Mul γ → Add β';
/** Something we could not evaluate; an error only if a data op needs it. */
interface OpaqueVal {
  kind: 'opaque';
  why: string;
}
type Val = ConstVal | ShapeVal | DataVal | OpaqueVal;

function num(x: unknown): number {
  if (typeof x === 'number') return x;
  if (x && typeof x === 'object' && 'toNumber' in x) return (x as { toNumber(): number }).toNumber();
  return Number(x);
}

function tensorToConst(t: TensorProto, source: string): ConstVal | OpaqueVal {
  const dims = (t.dims ?? []).map(num);
  const count = dims.reduce((a, b) => a * b, 1);
  const raw = t.rawData && t.rawData.length ? t.rawData : null;
  const view = raw ? new DataView(raw.buffer, raw.byteOffset, raw.byteLength) : null;
  const width = { [onnx.TensorProto.DataType.FLOAT]: 4, [onnx.TensorProto.DataType.INT32]: 4, [onnx.TensorProto.DataType.DOUBLE]: 8, [onnx.TensorProto.DataType.INT64]: 8 }[t.dataType ?? 0];
  if (!dims.every((d) => Number.isInteger(d) && d >= 0) || (raw && width && raw.length !== count * width)) {
    return { kind: 'opaque', why: `${source} is damaged: shape [${dims.join(', ')}] does not match its ${raw ? raw.length : 0} bytes` };
  }
  switch (t.dataType) {
    case onnx.TensorProto.DataType.FLOAT: {
      const data = new Float32Array(count);
      if (view) for (let i = 0; i < count; i++) data[i] = view.getFloat32(4 * i, true);
      else data.set((t.floatData ?? []).slice(0, count));
      return { kind: 'const', dims, data, float: true, source };
    }
    case onnx.TensorProto.DataType.DOUBLE: {
      const data = new Float32Array(count);
      if (view) for (let i = 0; i < count; i++) data[i] = view.getFloat64(8 * i, true);
      else data.set((t.doubleData ?? []).slice(0, count));
      return { kind: 'const', dims, data, float: true, source };
    }
    case onnx.TensorProto.DataType.INT64: {
      const data: number[] = [];
      if (view) for (let i = 0; i < count; i++) data.push(Number(view.getBigInt64(8 * i, true)));
      else for (const v of t.int64Data ?? []) data.push(num(v));
      return { kind: 'const', dims, data, float: false, source };
    }
    case onnx.TensorProto.DataType.INT32: {
      const data: number[] = [];
      if (view) for (let i = 0; i < count; i++) data.push(view.getInt32(4 * i, true));
      else for (const v of t.int32Data ?? []) data.push(num(v));
      return { kind: 'const', dims, data, float: false, source };
    }
    default:
      return { kind: 'opaque', why: `${source} has ONNX data type ${String(t.dataType)}, which the importer does not read` };
  }
}

interface Attr {
  float(name: string, dflt: number): number;
  int(name: string, dflt: number): number;
  ints(name: string): number[] | null;
  str(name: string, dflt: string): string;
  tensor(name: string): TensorProto | null;
  names(): string[];
}

function attrs(n: NodeProto): Attr {
  const map = new Map<string, AttributeProto>();
  for (const a of n.attribute ?? []) map.set(a.name ?? '', a);
  return {
    float: (k, d) => (map.has(k) ? Number(map.get(k)!.f ?? d) : d),
    int: (k, d) => (map.has(k) ? num(map.get(k)!.i ?? d) : d),
    ints: (k) => (map.has(k) ? (map.get(k)!.ints ?? []).map(num) : null),
    str: (k, d) => (map.has(k) ? new TextDecoder().decode(map.get(k)!.s ?? new Uint8Array()) : d),
    tensor: (k) => (map.has(k) ? (map.get(k)!.t ?? null) : null),
    names: () => [...map.keys()],
  };
}

/** Graph-node names: letters, digits, `_`, `-`, `.`; never `input`. */
function sanitize(s: string): string {
  const t = s.replace(/^\/+/, '').replace(/\//g, '.').replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^\.+|\.+$/g, '');
  return t || 'node';
}

/** torch state_dict key of one of our parameter names ("res1.conv1/kernel" → "res1.conv1.weight"). */
export function torchStateKey(param: string): string {
  const i = param.lastIndexOf('/');
  const node = param.slice(0, i);
  const p = param.slice(i + 1);
  const suffix = { kernel: 'weight', bias: 'bias', gamma: 'weight', beta: 'bias', running_mean: 'running_mean', running_var: 'running_var' }[p] ?? p;
  return `${node}.${suffix}`;
}

/** [O, I, kh, kw] (ONNX/PyTorch conv weight) → [kh, kw, I, O]. */
export function oihwToHwio(w: Float32Array, o: number, i: number, kh: number, kw: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let a = 0; a < o; a++)
    for (let b = 0; b < i; b++)
      for (let y = 0; y < kh; y++)
        for (let x = 0; x < kw; x++) out[((y * kw + x) * i + b) * o + a] = w[((a * i + b) * kh + y) * kw + x];
  return out;
}

/** Row-major [r, c] → [c, r]. */
function transpose2d(w: Float32Array, r: number, c: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let a = 0; a < r; a++) for (let b = 0; b < c; b++) out[b * r + a] = w[a * c + b];
  return out;
}

const pair = (v: number[]): number | [number, number] => (v[0] === v[1] ? v[0] : [v[0], v[1]]);

/**
 * Translates an ONNX model. `file` is only used in messages.
 * @throws ImportError naming every unsupported op/attribute (or the reason the file is unreadable).
 */
export function importOnnx(bytes: Uint8Array, file: string, opts: ImportOptions = {}): ImportResult {
  let model: InstanceType<typeof onnx.ModelProto>;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new ImportError(file, [], `${file} is not a valid ONNX model: ${(e as Error).message}`);
  }
  const g = model.graph;
  if (!g || !g.node?.length) throw new ImportError(file, [], `${file} is not a valid ONNX model: it has no graph nodes`);
  const opset = num((model.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx')?.version ?? 0);
  const keep = opts.keepWeights !== false;
  const autoNorm = (opts.norm ?? 'auto') === 'auto';

  const vals = new Map<string, Val>();
  for (const t of g.initializer ?? []) vals.set(t.name ?? '', tensorToConst(t, `initializer ${t.name}`));
  const dataInputs = (g.input ?? []).filter((v) => !vals.has(v.name ?? ''));
  if (dataInputs.length !== 1) {
    throw new ImportError(file, [], `${file}: expected one image input, found ${dataInputs.length} (${dataInputs.map((v) => v.name).join(', ') || 'none'})`);
  }
  const inDims = (dataInputs[0].type?.tensorType?.shape?.dim ?? []).map((d) => (d.dimParam ? null : num(d.dimValue)));
  if (inDims.length !== 4 || inDims.slice(1).some((d) => !d || d < 1)) {
    throw new ImportError(
      file,
      [],
      `${file}: input "${dataInputs[0].name}" has shape [${inDims.map((d) => d ?? '?').join(', ')}]; the importer needs an image input [N, C, H, W] with C, H, W fixed`,
    );
  }
  const input: [number, number, number] = [inDims[2]!, inDims[3]!, inDims[1]!];
  const batchDim = inDims[0];
  vals.set(dataInputs[0].name ?? '', { kind: 'data', ref: 'input', rank: 4 });
  // A model with several outputs (NormLab's exports: probabilities and logits) is read from its "logits" output.
  const allOutputs = g.output ?? [];
  const named = allOutputs.filter((o) => o.name === 'logits');
  const outputs = allOutputs.length > 1 && named.length === 1 ? named : allOutputs;
  if (outputs.length !== 1) throw new ImportError(file, [], `${file}: expected one output (the logits), found ${outputs.length}`);
  // Only the nodes the logits depend on are read (not e.g. the Softmax of a second output).
  const producer = new Map<string, NodeProto>();
  for (const n of g.node) for (const o of n.output ?? []) if (o) producer.set(o, n);
  const reachable = new Set<NodeProto>();
  const todo = [outputs[0].name ?? ''];
  while (todo.length) {
    const p = producer.get(todo.pop()!);
    if (!p || reachable.has(p)) continue;
    reachable.add(p);
    for (const i of p.input ?? []) if (i) todo.push(i);
  }
  const dataNodes = g.node.filter((n) => reachable.has(n));
  // NormLab's own exports name every ONNX node "<graph node>/<Op>": the graph node names come back as they were.
  const normlabNames = model.producerName === 'normlab';
  const layerOf = (n: NodeProto): string | null => {
    const full = n.name ?? '';
    const i = full.lastIndexOf('/');
    return normlabNames && i > 0 ? full.slice(0, i) : null;
  };

  // How many nodes read each value (for the MatMul + Add merge and the Pad → Conv fold).
  const consumers = new Map<string, NodeProto[]>();
  for (const n of dataNodes) for (const i of n.input ?? []) if (i) consumers.set(i, [...(consumers.get(i) ?? []), n]);

  const problems: ImportProblem[] = [];
  const nodes: GraphNode[] = [];
  const weights: ImportedWeights = {};
  const torchKeys: Record<string, string> = {};
  const usedNames = new Set<string>(['input']);
  const onnxOps: Record<string, number> = {};
  const dropped: ImportReport['dropped'] = [];
  const notes: string[] = [];
  const mergedAdds = new Set<NodeProto>();
  const noteOnce = (s: string) => {
    if (!notes.includes(s)) notes.push(s);
  };

  const uniqueName = (base: string): string => {
    let n = sanitize(base);
    if (n === 'input') n = 'input_';
    if (!usedNames.has(n)) {
      usedNames.add(n);
      return n;
    }
    for (let k = 1; ; k++) {
      if (!usedNames.has(`${n}_${k}`)) {
        usedNames.add(`${n}_${k}`);
        return `${n}_${k}`;
      }
    }
  };
  /**
   * Name a node without parameters after torch's scope: "/b1/b1.2/Relu" → "b1.2.relu",
   * "/res1/Relu_1" → "res1.relu_1", "/Concat" → "concat".
   */
  const opName = (ours: string): string => {
    const layer = currentNode ? layerOf(currentNode) : null;
    if (layer) return uniqueName(layer);
    const full = n_name() ?? '';
    if (full && !full.includes('/')) return uniqueName(full);
    const parts = full.split('/').filter(Boolean);
    const last = parts[parts.length - 1] ?? '';
    const suffix = /_(\d+)$/.exec(last)?.[0] ?? '';
    const scope = parts.length >= 2 ? parts[parts.length - 2] : '';
    return uniqueName(scope && scope !== ours ? `${scope}.${ours}${suffix}` : `${ours}${suffix}`);
  };
  let currentName: string | null = null;
  let currentNode: NodeProto | null = null;
  const n_name = () => currentName;
  /** Name a parameterised node after its weight's module path ("b1.0.weight" → "b1.0"). */
  const paramName = (weightName: string | undefined | null, fallback: string) =>
    uniqueName(
      (currentNode ? layerOf(currentNode) : null) ?? (weightName && /\.(weight)$/.test(weightName) ? weightName.replace(/\.weight$/, '') : fallback),
    );
  const putWeight = (node: string, param: string, shape: number[], data: Float32Array) => {
    const key = `${node}/${param}`;
    if (keep) weights[key] = { shape, data };
    torchKeys[key] = torchStateKey(key);
  };

  for (const n of dataNodes) {
    const op = n.opType ?? '';
    currentNode = n;
    currentName = n.name ?? null;
    const nodeLabel = n.name || `${op} → ${(n.output ?? [])[0] ?? '?'}`;
    const ins = (n.input ?? []).map((i) => (i ? vals.get(i) : undefined));
    const outs = n.output ?? [];
    const a = attrs(n);
    const problem = (message: string, attribute?: string) => problems.push({ node: nodeLabel, op, ...(attribute ? { attribute } : {}), message });
    const setOut = (v: Val, idx = 0) => {
      if (outs[idx]) vals.set(outs[idx], v);
    };
    const dataIn = ins.filter((v): v is DataVal => v?.kind === 'data');

    // ---- The side programs: constants and shape arithmetic (never graph nodes).
    if (dataIn.length === 0) {
      setOut(evalSide(op, ins, a, n));
      continue;
    }
    if (op === 'Shape') {
      const d = dataIn[0];
      const rank = d.pooled ? 4 : d.rank;
      setOut({ kind: 'shape', values: ['N', ...new Array<null>(rank - 1).fill(null)] });
      continue;
    }

    // ---- The data path.
    onnxOps[op] = (onnxOps[op] ?? 0) + 1;
    const x = dataIn[0];
    const onlyFirstOutput = () => {
      for (let i = 1; i < outs.length; i++) {
        if (outs[i] && (consumers.get(outs[i])?.length ?? 0) > 0) problem(`output ${i + 1} ("${outs[i]}") is read by another node; only the first output can be imported`, `output ${i + 1}`);
      }
    };
    const checkAttrs = (allowed: string[]) => {
      for (const k of a.names()) if (!allowed.includes(k)) problem(`attribute "${k}" is not supported`, k);
    };
    const constIn = (i: number, what: string): ConstVal | null => {
      const v = ins[i];
      if (!v) {
        problem(`${what} (input ${i + 1}) is missing`, what);
        return null;
      }
      if (v.kind === 'opaque') {
        problem(`${what} (input ${i + 1}): ${v.why}`, what);
        return null;
      }
      if (v.kind !== 'const') {
        problem(`${what} (input ${i + 1}, "${n.input![i]}") must be a constant (an initializer), not ${v.kind === 'data' ? 'computed from the image' : 'computed'}`, what);
        return null;
      }
      return v;
    };
    const asFloat = (c: ConstVal) => (c.float ? (c.data as Float32Array) : Float32Array.from(c.data as number[]));
    const pending = x.pendingPads;
    if (pending && op !== 'Conv') {
      problems.push({ node: pending.node, op: 'Pad', attribute: 'pads', message: `non-zero padding [${pending.pads.join(', ')}] can only be imported right before a Conv (it feeds ${op} ${nodeLabel})` });
    }
    const stage = x.normStage;
    if (stage && (NORM_NEXT[stage.step] !== op || dataIn.length !== 1)) {
      problems.push({ node: stage.node, op: 'Reshape', message: `reads like a group/layer norm (${NORM_PATTERN}), but after the ${stage.step} step comes ${op} ${nodeLabel} instead of ${NORM_NEXT[stage.step]}` });
      setOut({ ...x, normStage: undefined });
      continue;
    }
    /** A constant's floats when it holds exactly `count` values (dims like [C], [C, 1, 1], [1, C, 1, 1]). */
    const perChannel = (v: Val | undefined, count?: number): Float32Array | null =>
      v?.kind === 'const' && v.float && (count === undefined || v.data.length === count) ? (v.data as Float32Array) : null;

    switch (op) {
      case 'Conv': {
        checkAttrs(['kernel_shape', 'strides', 'pads', 'dilations', 'group', 'auto_pad']);
        const w = constIn(1, 'weight');
        const b = ins.length > 2 && ins[2] ? constIn(2, 'bias') : null;
        if (x.rank !== 4 || x.pooled) problem('needs an image input [N, C, H, W]');
        const autoPad = a.str('auto_pad', 'NOTSET');
        if (!['NOTSET', 'VALID', 'SAME_UPPER'].includes(autoPad)) problem(`auto_pad ${autoPad} is not supported (NOTSET, VALID and SAME_UPPER are)`, 'auto_pad');
        if (!w) break;
        if (w.dims.length !== 4) {
          problem(`weight has shape [${w.dims.join(', ')}]; only 2-D convolutions ([O, I, kH, kW]) are supported`, 'weight');
          break;
        }
        const [o, ig, kh, kw] = w.dims;
        const ks = a.ints('kernel_shape') ?? [kh, kw];
        if (ks[0] !== kh || ks[1] !== kw) problem(`kernel_shape [${ks.join(', ')}] does not match the weight's [${kh}, ${kw}]`, 'kernel_shape');
        const strides = a.ints('strides') ?? [1, 1];
        const dil = a.ints('dilations') ?? [1, 1];
        const group = a.int('group', 1);
        let padding: 'valid' | 'same' | Pads = 'valid';
        if (autoPad === 'SAME_UPPER') padding = 'same';
        else if (autoPad === 'VALID') padding = 'valid';
        else {
          const p = a.ints('pads') ?? [0, 0, 0, 0];
          if (p.length !== 4) problem(`pads has ${p.length} values; a 2-D convolution has 4`, 'pads');
          const pp: Pads = [p[0] ?? 0, p[1] ?? 0, p[2] ?? 0, p[3] ?? 0];
          if (pending) for (let k = 0; k < 4; k++) pp[k] += pending.pads[k];
          padding = pp.every((v) => v === 0) ? 'valid' : pp;
        }
        if (pending) noteOnce(`zero padding of a Pad folded into the convolution after it`);
        const name = paramName(n.input?.[1], n.name || 'conv');
        const node: GraphNode = { name, op: 'conv2d', inputs: [x.ref], filters: o, kernel: pair([kh, kw]), bias: b !== null };
        if (strides[0] !== 1 || strides[1] !== 1) node.stride = pair(strides);
        if (padding !== 'valid') node.padding = padding;
        if (dil[0] !== 1 || dil[1] !== 1) node.dilation = pair(dil);
        if (group !== 1) node.groups = group;
        nodes.push(node);
        putWeight(name, 'kernel', [kh, kw, ig, o], oihwToHwio(asFloat(w), o, ig, kh, kw));
        if (b) putWeight(name, 'bias', [o], asFloat(b).slice());
        setOut({ kind: 'data', ref: name, rank: 4 });
        break;
      }
      case 'BatchNormalization': {
        checkAttrs(['epsilon', 'momentum', 'training_mode', 'spatial']);
        onlyFirstOutput();
        if (a.int('spatial', 1) !== 1) problem('spatial = 0 (per-activation BN) is not supported', 'spatial');
        const [gamma, beta, mean, variance] = [constIn(1, 'scale'), constIn(2, 'bias'), constIn(3, 'mean'), constIn(4, 'var')];
        if (x.pooled) problem('BN right after global pooling is not supported (flatten first)');
        if (!gamma || !beta || !mean || !variance) break;
        const eps = Number(a.float('epsilon', 1e-5).toPrecision(6));
        // ONNX momentum weighs the old value (running = m·running + (1 − m)·batch); torch's weighs the new one.
        const momentum = Number((1 - a.float('momentum', 0.9)).toPrecision(6));
        if (a.int('training_mode', 0) === 1) noteOnce('BatchNormalization exported in training mode: the running statistics are taken from the initializers');
        const norm: NormChoice = { kind: 'batch', momentum, eps, convention: 'pytorch' };
        const name = paramName(n.input?.[1], n.name || 'bn');
        if (autoNorm) {
          nodes.push({ name, op: 'norm', inputs: [x.ref], norm: 'auto' });
          if (momentum !== DEFAULT_SETTINGS.bnMomentum || eps !== DEFAULT_SETTINGS.bnEps) {
            noteOnce(`the file's batch norms use momentum ${momentum}, epsilon ${eps}; as 'auto' norm nodes they take the run's settings (default momentum ${DEFAULT_SETTINGS.bnMomentum}, epsilon ${DEFAULT_SETTINGS.bnEps}): set those, or import with norm 'keep'`);
          }
        } else nodes.push({ name, op: 'norm', inputs: [x.ref], norm });
        const c = gamma.dims[0] ?? 0;
        putWeight(name, 'gamma', [c], asFloat(gamma).slice());
        putWeight(name, 'beta', [c], asFloat(beta).slice());
        putWeight(name, 'running_mean', [c], asFloat(mean).slice());
        putWeight(name, 'running_var', [c], asFloat(variance).slice());
        setOut({ kind: 'data', ref: name, rank: x.rank });
        break;
      }
      case 'Relu':
      case 'LeakyRelu': {
        checkAttrs(op === 'Relu' ? [] : ['alpha']);
        const name = opName(op === 'Relu' ? 'relu' : 'leaky_relu');
        nodes.push(op === 'Relu' ? { name, op: 'relu', inputs: [x.ref] } : { name, op: 'leaky_relu', inputs: [x.ref], alpha: Number(a.float('alpha', 0.01).toPrecision(6)) });
        setOut({ ...x, ref: name, pendingPads: undefined });
        break;
      }
      case 'MaxPool':
      case 'AveragePool': {
        checkAttrs(['kernel_shape', 'strides', 'pads', 'ceil_mode', 'auto_pad', op === 'MaxPool' ? 'dilations' : 'count_include_pad', ...(op === 'MaxPool' ? ['storage_order'] : [])]);
        onlyFirstOutput();
        const k = a.ints('kernel_shape') ?? [];
        const s = a.ints('strides') ?? [1, 1];
        const p = a.ints('pads') ?? [0, 0, 0, 0];
        if (k.length !== 2) problem(`kernel_shape [${k.join(', ')}] is not 2-D`, 'kernel_shape');
        if (a.int('ceil_mode', 0) !== 0) problem('ceil_mode = 1 is not supported (floor only)', 'ceil_mode');
        const autoPad = a.str('auto_pad', 'NOTSET');
        if (autoPad !== 'NOTSET' && autoPad !== 'VALID') problem(`auto_pad ${autoPad} is not supported`, 'auto_pad');
        if (op === 'MaxPool' && (a.ints('dilations') ?? [1, 1]).some((d) => d !== 1)) problem('dilated pooling is not supported', 'dilations');
        if (op === 'MaxPool' && a.int('storage_order', 0) !== 0) problem('storage_order = 1 is not supported', 'storage_order');
        const padded = p.some((v) => v !== 0);
        if (op === 'AveragePool' && padded && a.int('count_include_pad', 0) !== 0) {
          problem('count_include_pad = 1 with padding is not supported (padded cells are not counted here)', 'count_include_pad');
        }
        if (x.rank !== 4 || x.pooled) problem('needs an image input [N, C, H, W]');
        if (k.length !== 2) break;
        const name = opName(op === 'MaxPool' ? 'maxpool' : 'avgpool');
        const base = { name, inputs: [x.ref], kernel: pair(k), ...(s[0] !== k[0] || s[1] !== k[1] ? { stride: pair(s) } : {}), ...(padded ? { padding: [p[0], p[1], p[2], p[3]] as Pads } : {}) };
        nodes.push(op === 'MaxPool' ? { ...base, op: 'maxpool' } : { ...base, op: 'avgpool' });
        setOut({ kind: 'data', ref: name, rank: 4 });
        break;
      }
      case 'GlobalAveragePool':
      case 'ReduceMean': {
        if (op === 'ReduceMean') {
          checkAttrs(['axes', 'keepdims']);
          const axes = (a.ints('axes') ?? (ins[1]?.kind === 'const' ? (ins[1].data as number[]) : [])).map((v) => (v < 0 ? v + 4 : v)).sort();
          if (x.rank !== 4 || axes.length !== 2 || axes[0] !== 2 || axes[1] !== 3) {
            problem(`only the mean over height and width (axes [2, 3] of an image) is supported, got axes [${axes.join(', ')}]`, 'axes');
            break;
          }
        }
        if (x.rank !== 4 || x.pooled) {
          problem('needs an image input [N, C, H, W]');
          break;
        }
        const name = opName('gap');
        nodes.push({ name, op: 'gap', inputs: [x.ref] });
        const keepdims = op === 'GlobalAveragePool' || a.int('keepdims', 1) === 1;
        setOut(keepdims ? { kind: 'data', ref: name, rank: 4, pooled: true } : { kind: 'data', ref: name, rank: 2 });
        break;
      }
      case 'Flatten': {
        checkAttrs(['axis']);
        if (a.int('axis', 1) !== 1) {
          problem(`axis ${a.int('axis', 1)} is not supported (only axis 1: keep the batch)`, 'axis');
          break;
        }
        flattenLike(x);
        break;
      }
      case 'Reshape': {
        checkAttrs(['allowzero']);
        const target = ins[1];
        let shape: (number | 'N' | null)[] | null = null;
        if (target?.kind === 'const') shape = target.data as number[];
        else if (target?.kind === 'shape') shape = target.values;
        // A file exported with a fixed batch size B has the batch constant-folded into the target.
        if (shape && shape.length === 2 && batchDim !== null && shape[0] === batchDim) shape = ['N', shape[1]];
        if (stage) {
          // The way back from [N, G, −1] to the activation's own shape (a constant, or Shape of the input in torch's files).
          if (shape && shape.length !== (x.pooled ? 4 : x.rank)) problem(`reshape back to [${shape.map((v) => (v === 'N' ? 'N' : v ?? '?')).join(', ')}] after the InstanceNormalization does not restore the activation's rank`, 'shape');
          setOut({ ...x, normStage: { ...stage, step: 'restored' } });
          dropped.push({ node: nodeLabel, op, why: 'group/layer norm: back to the activation shape' });
          break;
        }
        const batchFirst = shape && (shape[0] === 'N' || shape[0] === 0 || (batchDim !== null && shape[0] === batchDim));
        if (shape && shape.length === 3 && batchFirst && typeof shape[1] === 'number' && shape[1] >= 1 && shape[2] === -1 && !x.pooled) {
          setOut({ ...x, normStage: { step: 'grouped', groups: shape[1], eps: 0, node: nodeLabel } });
          dropped.push({ node: nodeLabel, op, why: `group/layer norm: ${shape[1]} group(s)` });
          break;
        }
        const keepsBatch = shape && shape.length === 2 && (shape[0] === 'N' || shape[0] === 0 || shape[0] === -1) && (shape[1] === -1 || typeof shape[1] === 'number');
        if (!shape) {
          problem(`the target shape could not be worked out (${target?.kind === 'opaque' ? target.why : 'it is computed from ops the importer does not evaluate'})`, 'shape');
        } else if (x.rank === 2 && shape.length === 2 && (shape[0] === 'N' || shape[0] === 0 || shape[0] === -1 || shape[1] === -1)) {
          alias('Reshape that keeps [N, features]');
        } else if (!keepsBatch || (shape[0] === -1 && shape[1] === -1)) {
          problem(`reshape to [${shape.map((v) => (v === 'N' ? 'N' : v ?? '?')).join(', ')}] is not supported; only flattening to [N, -1] is`, 'shape');
        } else flattenLike(x);
        break;
      }
      case 'Gemm': {
        checkAttrs(['alpha', 'beta', 'transA', 'transB']);
        if (a.int('transA', 0) !== 0) problem('transA = 1 is not supported', 'transA');
        const w = constIn(1, 'B (weight)');
        const bias = ins.length > 2 && ins[2] ? constIn(2, 'C (bias)') : null;
        if (x.rank !== 2 && !x.pooled) problem('needs a flat input [N, features] (flatten first)');
        if (!w || w.dims.length !== 2) break;
        const transB = a.int('transB', 0) === 1;
        const [inF, units] = transB ? [w.dims[1], w.dims[0]] : [w.dims[0], w.dims[1]];
        const alpha = a.float('alpha', 1);
        const beta = a.float('beta', 1);
        let kernel = transB ? transpose2d(asFloat(w), w.dims[0], w.dims[1]) : asFloat(w).slice();
        if (alpha !== 1) kernel = kernel.map((v) => v * alpha);
        if (bias && bias.data.length !== units) problem(`bias has ${bias.data.length} values for ${units} units (broadcast biases are not supported)`, 'C (bias)');
        denseNode(n.input?.[1], kernel, inF, units, bias ? asFloat(bias).map((v) => v * beta) : null);
        break;
      }
      case 'MatMul': {
        checkAttrs([]);
        const w = constIn(1, 'B (weight)');
        if (ins[0]?.kind !== 'data') problem('the data must be the first input (x · W)');
        if (x.rank !== 2 && !x.pooled) problem('needs a flat input [N, features] (flatten first)');
        if (!w || w.dims.length !== 2) {
          if (w) problem(`weight has shape [${w.dims.join(', ')}]; only a 2-D weight [in, out] is supported`, 'B (weight)');
          break;
        }
        // torch emits Linear without Gemm as MatMul then Add(bias): merge that Add into the dense node.
        const next = consumers.get(outs[0]) ?? [];
        let bias: Float32Array | null = null;
        if (next.length === 1 && next[0].opType === 'Add') {
          const other = (next[0].input ?? []).find((i) => i !== outs[0]);
          const c = other ? vals.get(other) : undefined;
          if (c?.kind === 'const' && c.data.length === w.dims[1]) {
            bias = asFloat(c).slice();
            mergedAdds.add(next[0]);
          }
        }
        denseNode(n.input?.[1], asFloat(w).slice(), w.dims[0], w.dims[1], bias);
        break;
      }
      case 'InstanceNormalization': {
        checkAttrs(['epsilon']);
        if (!stage) {
          problem(`InstanceNormalization is imported only as part of a group or layer norm (${NORM_PATTERN})`);
          break;
        }
        const scale = perChannel(ins[1], stage.groups);
        const shift = perChannel(ins[2], stage.groups);
        if (!scale || !shift || scale.some((v) => v !== 1) || shift.some((v) => v !== 0)) {
          problem(`a per-group scale or bias (anything but ones and zeros of ${stage.groups} values) is not supported: the affine must be per channel (the Mul and Add after it)`, 'scale');
          break;
        }
        setOut({ ...x, normStage: { ...stage, step: 'normalized', eps: Number(a.float('epsilon', 1e-5).toPrecision(6)) } });
        dropped.push({ node: nodeLabel, op, why: 'group/layer norm: the statistics' });
        break;
      }
      case 'Mul': {
        checkAttrs([]);
        const gi = ins.findIndex((v) => v?.kind === 'const');
        const gamma = gi >= 0 ? perChannel(ins[gi]) : null;
        if (!stage || !gamma) {
          problem(stage ? 'the γ of a group/layer norm must be a float constant' : `Mul is imported only as the γ of a group or layer norm (${NORM_PATTERN})`);
          break;
        }
        // torch.onnx feeds γ through an Unsqueeze; the constant still names its initializer ("gn.weight").
        const src = (ins[gi] as ConstVal).source;
        setOut({ ...x, normStage: { ...stage, step: 'scaled', gamma, gammaName: src.startsWith('initializer ') ? src.slice('initializer '.length) : (n.input?.[gi] ?? undefined) } });
        dropped.push({ node: nodeLabel, op, why: 'group/layer norm: γ' });
        break;
      }
      case 'LayerNormalization': {
        checkAttrs(['axis', 'epsilon', 'stash_type']);
        onlyFirstOutput();
        const rank = x.pooled ? 4 : x.rank;
        const axisRaw = a.int('axis', -1);
        const axis = axisRaw < 0 ? axisRaw + rank : axisRaw;
        if (axis !== 1) {
          problem(`axis ${axisRaw} is not supported: the norm must cover every axis but the batch (axis 1 of a rank-${rank} input)`, 'axis');
          break;
        }
        const scale = ins[1]?.kind === 'const' ? ins[1] : null;
        const bias = ins[2]?.kind === 'const' ? ins[2] : null;
        if (!scale || !scale.float) {
          problem('the scale must be a float constant', 'scale');
          break;
        }
        // Our layer norm has a per-channel γ/β: a scale [C, H, W] must repeat each channel's value over H×W.
        const c = scale.dims[0] ?? scale.data.length;
        const per = scale.data.length / c;
        const squeeze = (t: ConstVal | null, what: string): Float32Array | null => {
          const out = new Float32Array(c);
          if (!t) return out;
          if (!t.float || t.data.length !== c * per) {
            problem(`${what} has ${t.data.length} values; it must match the scale's ${c * per}`, what);
            return null;
          }
          const d = t.data as Float32Array;
          for (let ch = 0; ch < c; ch++) {
            out[ch] = d[ch * per];
            for (let k = 1; k < per; k++) {
              if (d[ch * per + k] !== out[ch]) {
                problem(`${what} differs within channel ${ch}: only a per-channel γ/β (repeated over height and width) is supported`, what);
                return null;
              }
            }
          }
          return out;
        };
        const gamma = scale.dims.length > 1 || x.rank === 2 ? squeeze(scale, 'scale') : null;
        if (scale.dims.length === 1 && x.rank !== 2) problem(`a scale of shape [${scale.dims.join(', ')}] on an image is not supported (it must be [C, H, W])`, 'scale');
        const beta = squeeze(bias, 'bias');
        if (!gamma || !beta) break;
        const name = paramName(n.input?.[1], n.name || 'layer_norm');
        nodes.push({ name, op: 'norm', inputs: [x.ref], norm: { kind: 'layer', eps: Number(a.float('epsilon', 1e-5).toPrecision(6)) } });
        putWeight(name, 'gamma', [c], gamma);
        putWeight(name, 'beta', [c], beta);
        setOut({ kind: 'data', ref: name, rank: x.rank });
        break;
      }
      case 'GroupNormalization': {
        checkAttrs(['num_groups', 'epsilon', 'stash_type']);
        const groups = a.int('num_groups', 0);
        const scale = perChannel(ins[1]);
        const bias = perChannel(ins[2]);
        if (opset < 21) {
          problem(`GroupNormalization before opset 21 scales per group, not per channel; export with opset 21 or as ${NORM_PATTERN}`);
          break;
        }
        if (!scale || !bias || scale.length !== bias.length) {
          problem('scale and bias must be float constants of one value per channel', 'scale');
          break;
        }
        if (x.rank !== 4 || x.pooled) problem('needs an image input [N, C, H, W]');
        const name = paramName(n.input?.[1], n.name || 'group_norm');
        nodes.push({ name, op: 'norm', inputs: [x.ref], norm: { kind: 'group', groups, eps: Number(a.float('epsilon', 1e-5).toPrecision(6)) } });
        putWeight(name, 'gamma', [scale.length], scale.slice());
        putWeight(name, 'beta', [bias.length], bias.slice());
        setOut({ kind: 'data', ref: name, rank: x.rank });
        break;
      }
      case 'Sum': {
        checkAttrs([]);
        if (dataIn.length !== ins.length || dataIn.length < 2) {
          problem('only the sum of two or more activations is supported');
          break;
        }
        const name = opName('add');
        nodes.push({ name, op: 'add', inputs: dataIn.map((d) => d.ref) });
        setOut({ kind: 'data', ref: name, rank: x.rank, ...(x.pooled ? { pooled: true } : {}) });
        break;
      }
      case 'Sub':
      case 'Div':
        problem(
          x.ref === 'input' && dataIn.length === 1
            ? `op ${op} of the input by a constant (input normalization baked into the model) has no graph node: export without --bake-normalization and give the run the mean/std`
            : `op ${op} is not supported`,
        );
        setOut({ ...x });
        break;
      case 'Add': {
        checkAttrs([]);
        if (stage) {
          const beta = perChannel(ins.find((v) => v?.kind === 'const'), stage.gamma!.length);
          const c = stage.gamma!.length;
          if (!beta) {
            problem(`the β of a group/layer norm must be a float constant of ${c} values (one per channel, like γ)`);
            break;
          }
          if (c % stage.groups !== 0) {
            problem(`${stage.groups} groups do not divide the ${c} channels of γ`);
            break;
          }
          const norm: NormChoice = stage.groups === 1 ? { kind: 'layer', eps: stage.eps } : { kind: 'group', groups: stage.groups, eps: stage.eps };
          // torch names the Add "/<module path>/Add" ("/gn/Add", "/b1/b1.2/Add"): the module path names the node, so that
          // its γ/β map back to "<module>.weight"/".bias" (torch folds γ's Unsqueeze into an anonymous constant).
          const scope = (n.name ?? '').split('/').filter(Boolean);
          const name = paramName(stage.gammaName, scope.length >= 2 ? scope[scope.length - 2] : n.name || 'group_norm');
          nodes.push({ name, op: 'norm', inputs: [x.ref], norm });
          putWeight(name, 'gamma', [c], stage.gamma!.slice());
          putWeight(name, 'beta', [c], beta.slice());
          setOut({ kind: 'data', ref: name, rank: x.rank });
          if (stage.groups === 1) noteOnce('a group norm with one group is imported as layer norm (the same normalization: each image over all its channels and positions)');
          break;
        }
        if (mergedAdds.has(n)) {
          setOut(x);
          dropped.push({ node: nodeLabel, op, why: 'bias of the MatMul before it' });
          break;
        }
        if (dataIn.length !== 2) {
          problem('adding a constant is not supported (only the sum of two activations, or a MatMul bias)');
          break;
        }
        if (dataIn[0].rank !== dataIn[1].rank || Boolean(dataIn[0].pooled) !== Boolean(dataIn[1].pooled)) problem('the two inputs have different ranks');
        const name = opName('add');
        nodes.push({ name, op: 'add', inputs: [dataIn[0].ref, dataIn[1].ref] });
        setOut({ kind: 'data', ref: name, rank: x.rank, ...(x.pooled ? { pooled: true } : {}) });
        break;
      }
      case 'Concat': {
        checkAttrs(['axis']);
        if (dataIn.length !== ins.length) {
          problem('concatenating constants is not supported (only activations)');
          break;
        }
        const axis = a.int('axis', 1);
        const rank = x.pooled ? 4 : x.rank;
        if (axis !== 1 && axis !== 1 - rank) {
          problem(`axis ${axis} is not supported (channels only: axis 1)`, 'axis');
          break;
        }
        const name = opName('concat');
        nodes.push({ name, op: 'concat', inputs: dataIn.map((d) => d.ref) });
        setOut({ kind: 'data', ref: name, rank: x.rank, ...(x.pooled ? { pooled: true } : {}) });
        break;
      }
      case 'Dropout': {
        checkAttrs(['seed', 'ratio']);
        onlyFirstOutput();
        let rate = a.float('ratio', 0.5);
        if (ins.length > 1 && ins[1]) {
          const r = constIn(1, 'ratio');
          if (r) rate = Number(r.data[0]);
        }
        rate = Number(rate.toPrecision(6));
        if (!(rate >= 0 && rate < 1)) {
          problem(`ratio ${rate} is outside [0, 1)`, 'ratio');
          break;
        }
        if (rate === 0) {
          alias('Dropout with ratio 0');
          break;
        }
        const name = opName('dropout');
        nodes.push({ name, op: 'dropout', inputs: [x.ref], rate });
        setOut({ ...x, ref: name });
        break;
      }
      case 'Identity':
        alias('Identity');
        break;
      case 'Pad': {
        checkAttrs(['mode', 'pads', 'value']);
        const mode = a.str('mode', 'constant');
        if (mode !== 'constant') {
          problem(`mode "${mode}" is not supported (only zero padding)`, 'mode');
          break;
        }
        let pads: number[] | null = a.ints('pads');
        if (!pads && ins[1]) pads = ins[1].kind === 'const' ? (ins[1].data as number[]) : null;
        const value = ins[2]?.kind === 'const' ? Number(ins[2].data[0] ?? 0) : a.float('value', 0);
        if (!pads) {
          problem('the pads could not be worked out (not a constant)', 'pads');
          break;
        }
        if (value !== 0) {
          problem(`constant value ${value} is not supported (only zero)`, 'value');
          break;
        }
        if (pads.every((v) => v === 0)) {
          alias('Pad of zero width');
          break;
        }
        // [n0, c0, h0, w0, n1, c1, h1, w1] → [top, left, bottom, right]
        if (x.rank !== 4 || pads.length !== 8 || pads[0] || pads[1] || pads[4] || pads[5] || pads.some((v) => v < 0)) {
          problem(`pads [${pads.join(', ')}] is not supported (only non-negative padding of height and width)`, 'pads');
          break;
        }
        const next = consumers.get(outs[0]) ?? [];
        if (next.length !== 1 || next[0].opType !== 'Conv') {
          problem(`non-zero padding [${pads.join(', ')}] can only be imported right before a Conv`, 'pads');
          break;
        }
        dropped.push({ node: nodeLabel, op, why: 'zero padding folded into the Conv after it' });
        setOut({ ...x, pendingPads: { pads: [pads[2], pads[3], pads[6], pads[7]], node: nodeLabel } });
        break;
      }
      default:
        problem(`op ${op} is not supported`);
        // Keep going so that every problem is reported: pass the activation through.
        setOut({ ...x });
    }

    // A node with a problem still passes its activation on, so that later problems are found too.
    if (outs[0] && !vals.has(outs[0])) setOut({ ...x, pendingPads: undefined });

    function alias(why: string): void {
      setOut({ ...x });
      dropped.push({ node: nodeLabel, op, why });
    }
    function flattenLike(v: DataVal): void {
      if (v.pooled) {
        setOut({ kind: 'data', ref: v.ref, rank: 2 });
        dropped.push({ node: nodeLabel, op, why: 'flatten after global pooling (already flat here)' });
      } else if (v.rank === 2) {
        alias(`${op} of an already flat activation`);
      } else {
        const name = opName('flatten');
        nodes.push({ name, op: 'flatten', inputs: [v.ref] });
        setOut({ kind: 'data', ref: name, rank: 2 });
      }
    }
    function denseNode(weightName: string | null | undefined, kernel: Float32Array, inF: number, units: number, bias: Float32Array | null): void {
      const name = paramName(weightName, n.name || 'dense');
      nodes.push({ name, op: 'dense', inputs: [x.ref], units, bias: bias !== null });
      putWeight(name, 'kernel', [inF, units], kernel);
      if (bias) putWeight(name, 'bias', [units], bias);
      setOut({ kind: 'data', ref: name, rank: 2 });
    }
  }

  const outVal = vals.get(outputs[0].name ?? '');
  if (!problems.length) {
    if (!outVal || outVal.kind !== 'data') {
      problems.push({ node: outputs[0].name ?? '?', op: 'output', message: 'the output is not computed from the image input' });
    } else if (outVal.ref === 'input') {
      problems.push({ node: outputs[0].name ?? '?', op: 'output', message: 'the output is the input itself: the model has no layers' });
    } else if (outVal.rank !== 2 && !outVal.pooled) {
      problems.push({ node: outputs[0].name ?? '?', op: 'output', message: 'the output is an image, not logits [N, classes]' });
    }
  }
  if (problems.length) throw new ImportError(file, problems);

  const ref = (outVal as DataVal).ref;
  const outNode = nodes.find((x) => x.name === ref)!;
  const outDims = (outputs[0].type?.tensorType?.shape?.dim ?? []).map((d) => (d.dimParam ? null : num(d.dimValue)));
  const classes = outNode.op === 'dense' ? outNode.units : (outDims[1] ?? 0);
  // Nodes that do not feed the output (e.g. a side branch torch kept) are left out.
  const needed = new Set<string>([ref]);
  for (let i = nodes.length - 1; i >= 0; i--) if (needed.has(nodes[i].name)) for (const inp of nodes[i].inputs) needed.add(inp);
  const kept = nodes.filter((x) => needed.has(x.name));
  if (kept.length !== nodes.length) notes.push(`${nodes.length - kept.length} node(s) that do not feed the output were left out`);
  const graph: ModelGraph = {
    format: MODEL_GRAPH_FORMAT,
    name: opts.name ?? (file.split(/[\\/]/).pop() ?? 'imported').replace(/\.onnx$/i, ''),
    input,
    classes,
    nodes: kept,
    ...(kept[kept.length - 1].name !== ref ? { output: ref } : {}),
  };
  // The layer table has the last word on shapes: an import that does not fit it is refused
  // here, naming the node, rather than at the first training step.
  const issues = validateGraph(graph);
  if (issues.length) {
    throw new ImportError(file, issues.map((i) => ({ node: i.node ?? graph.name, op: 'graph', ...(i.field ? { attribute: i.field } : {}), message: i.message })),
      `${file}: the imported graph does not check out: ${issues.map(describeIssue).join('; ')}`);
  }
  const keptWeights = Object.fromEntries(Object.entries(weights).filter(([k]) => needed.has(k.slice(0, k.lastIndexOf('/')))));
  if (keep) {
    // Placeholders filled in as a default run would (batch norm): its parameters and running statistics.
    const resolved = resolveGraph(graph, DEFAULT_SETTINGS);
    const specs = [...paramSpecs(resolved), ...stateSpecs(resolved)];
    const wrong = specs.filter((p) => !keptWeights[p.name] || keptWeights[p.name].shape.join() !== p.shape.join());
    const extra = Object.keys(keptWeights).filter((k) => !specs.some((p) => p.name === k));
    if (wrong.length || extra.length) {
      throw new ImportError(file, [], `${file}: the imported weights do not match the graph: ${[
        ...wrong.map((p) => `${p.name} should be [${p.shape.join(', ')}], found ${keptWeights[p.name] ? `[${keptWeights[p.name].shape.join(', ')}]` : 'nothing'}`),
        ...extra.map((k) => `${k} has no place in the graph`),
      ].join('; ')}`);
    }
  }
  return {
    graph,
    weights: keep ? keptWeights : null,
    report: { file, producer: `${model.producerName ?? ''} ${model.producerVersion ?? ''}`.trim(), opset, onnxOps, dropped, notes, torchKeys },
  };
}

/** Evaluates one node of a side program (constants and shape arithmetic). */
function evalSide(op: string, ins: (Val | undefined)[], a: Attr, n: NodeProto): Val {
  const opaque = (why: string): OpaqueVal => ({ kind: 'opaque', why });
  const firstOpaque = ins.find((v): v is OpaqueVal => v?.kind === 'opaque');
  const ints = (v: Val | undefined): (number | 'N' | null)[] | null =>
    v?.kind === 'shape' ? v.values : v?.kind === 'const' && !v.float ? (v.data as number[]) : v?.kind === 'const' ? Array.from(v.data as Float32Array) : null;
  const out = (values: (number | 'N' | null)[]): Val =>
    values.every((x) => typeof x === 'number') ? { kind: 'const', dims: [values.length], data: values as number[], float: false, source: n.name ?? op } : { kind: 'shape', values };
  switch (op) {
    case 'Constant': {
      const t = a.tensor('value');
      if (t) return tensorToConst(t, `Constant ${n.name}`);
      const vi = a.ints('value_ints');
      if (vi) return out(vi);
      return opaque(`Constant ${n.name} holds a value the importer does not read`);
    }
    case 'Identity':
    case 'Cast':
      return ins[0] ?? opaque(`${op} ${n.name} has no input`);
    case 'Gather': {
      const src = ints(ins[0]);
      const idx = ints(ins[1]);
      if (!src || !idx || a.int('axis', 0) !== 0) return firstOpaque ?? opaque(`Gather ${n.name} could not be evaluated`);
      const pick = idx.map((i) => (typeof i === 'number' ? src[i < 0 ? i + src.length : i] ?? null : null));
      // A scalar index gives a scalar; we keep scalars as one-element vectors.
      return out(pick);
    }
    case 'Unsqueeze':
    case 'Squeeze':
      return ins[0] && ins[0].kind !== 'data' ? ins[0] : opaque(`${op} ${n.name} could not be evaluated`);
    case 'Concat': {
      const parts = ins.map(ints);
      if (parts.some((p) => !p)) return firstOpaque ?? opaque(`Concat ${n.name} could not be evaluated`);
      return out(parts.flatMap((p) => p!));
    }
    default:
      return firstOpaque ?? opaque(`${op} ${n.name} is not evaluated by the importer`);
  }
}
