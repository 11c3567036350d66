/**
 * ONNX exporter: a resolved model graph (a chain, see chain.ts) + NamedWeights (tfjs layout, NHWC) → an ONNX ModelProto built with
 * onnx-proto's protobufjs classes (never hand-written bytes).
 *
 * Graph contract (documented in the audit and the model's doc string):
 * - input  `input`:  float32 [N, C, H, W] (NCHW, dynamic batch N). Pixels in [0, 1] when the input
 *   normalization is baked in (Sub/Div at the front), otherwise already normalized with the
 *   mean/std stored in the metadata.
 * - output `probabilities`: float32 [N, classes], Softmax of the logits.
 * - output `logits`:        float32 [N, classes].
 */
import onnxProto from 'onnx-proto';
import type { NormChoice as NormSpec, ResolvedGraph as ModelSpec } from '../contract/model-graph';
import { countParams, type NamedWeights } from '../model';
import { chainOf, type Chain, type ChainLayer as LayerSpec } from './chain';
import type { ExportAudit, ExportAuditBn, ExportAuditNode } from '../contract/onnx';

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
        ? 'group norm uses GroupNormalization-21 (per-channel scale)'
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

function weight(weights: NamedWeights, name: string, shape: number[], layer: string): Float32Array {
  const w = weights[name];
  if (!w) throw new ExportError(`layer ${layer}: weight "${name}" is missing from the checkpoint`);
  const n = shape.reduce((a, b) => a * b, 1);
  if (w.data.length !== n || w.shape.length !== shape.length || w.shape.some((d, i) => d !== shape[i])) {
    throw new ExportError(`layer ${layer}: weight "${name}" has shape [${w.shape.join(', ')}], expected [${shape.join(', ')}]`);
  }
  return w.data;
}

/** tfjs conv kernel [kh, kw, in, out] → ONNX OIHW [out, in, kh, kw]. */
export function hwioToOihw(k: Float32Array, kh: number, kw: number, cin: number, cout: number): Float32Array {
  const outArr = new Float32Array(k.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < cin; i++)
        for (let o = 0; o < cout; o++) outArr[((o * cin + i) * kh + y) * kw + x] = k[((y * kw + x) * cin + i) * cout + o];
  return outArr;
}

function isBn(l: LayerSpec): l is Extract<LayerSpec, { type: 'norm' }> & { norm: Extract<NormSpec, { kind: 'batch' | 'ghost' }> } {
  return l.type === 'norm' && (l.norm.kind === 'batch' || l.norm.kind === 'ghost');
}

/** Momentum on the OLD running value (ONNX's and Keras' convention); null = cumulative average. */
function onnxMomentum(n: Extract<NormSpec, { kind: 'batch' | 'ghost' }>): number | null {
  if (n.momentum === null) return null;
  return n.convention === 'keras' ? n.momentum : 1 - n.momentum;
}

/**
 * Exports a model to ONNX. Throws ExportError naming the layer when the spec cannot be expressed
 * (an unknown layer, a batch norm that cannot be folded, missing or misshapen weights).
 */
export function exportOnnx(graph: ModelSpec, weights: NamedWeights, opts: ExportOptions): { bytes: Uint8Array; audit: ExportAudit } {
  const spec = chainOf(graph);
  if (typeof spec === 'string') throw new ExportError(`the exporter cannot express ${spec}`);
  const requested = opts.opset !== undefined;
  const opset = opts.opset ?? DEFAULT_OPSET;
  if (!Number.isInteger(opset) || opset < MIN_OPSET || opset > MAX_OPSET) {
    throw new ExportError(`opset must be a whole number from ${MIN_OPSET} to ${MAX_OPSET}, got ${opts.opset}`);
  }
  const foldBn = opts.foldBn ?? false;
  const [H0, W0, C0] = spec.input;
  const g = new Graph();
  const notes: string[] = [];
  const bns: ExportAuditBn[] = [];
  const dropoutRemoved: string[] = [];
  let usesLayerNorm = false;
  let usesGroupNorm = false;

  // Which BN layers fold into which conv: a BN whose nearest preceding non-dropout layer is a conv.
  const foldInto = new Map<number, number>(); // conv index → bn index
  const foldedBn = new Set<number>();
  if (foldBn) {
    spec.layers.forEach((l, i) => {
      if (!isBn(l)) return;
      let j = i - 1;
      while (j >= 0 && spec.layers[j].type === 'dropout') j--;
      const prev = spec.layers[j];
      if (!prev || prev.type !== 'conv') {
        throw new ExportError(
          `cannot fold batch norm layer ${l.name} into a convolution: it follows ${prev ? `${prev.type} layer ${prev.name}` : 'the input'}, ` +
            `not a conv (e.g. BN after ReLU). Export without --fold-bn to keep it as BatchNormalization.`,
        );
      }
      foldInto.set(j, i);
      foldedBn.add(i);
    });
    if (foldedBn.size === 0) notes.push('--fold-bn: the model has no batch norm layers; nothing was folded');
  }

  let x = 'input';
  let shape: Shape = ['N', C0, H0, W0];
  let c = C0;
  let h = H0;
  let w = W0;
  let flat = false;

  if (opts.normalization) {
    const { mean, std } = opts.normalization;
    if (mean.length !== C0 || std.length !== C0) throw new ExportError(`normalization: needs ${C0} mean and std values (one per input channel), got ${mean.length} and ${std.length}`);
    if (std.some((s) => !(s > 0))) throw new ExportError(`normalization: every std must be positive, got [${std.join(', ')}]`);
    const m = g.float('input_mean', [1, C0, 1, 1], Float32Array.from(mean));
    const s = g.float('input_std', [1, C0, 1, 1], Float32Array.from(std));
    x = g.node('Sub', 'normalize', [x, m], shape, [], `baked input normalization: mean [${mean.map((v) => v.toFixed(4)).join(', ')}]`);
    x = g.node('Div', 'normalize', [x, s], shape, [], `std [${std.map((v) => v.toFixed(4)).join(', ')}]`);
  }

  spec.layers.forEach((l, i) => {
    const where = `layer ${l.name} (${l.type})`;
    if (flat && l.type !== 'dense' && l.type !== 'dropout' && l.type !== 'relu') {
      throw new ExportError(`${where}: comes after global pooling / dense and needs an image; the exporter cannot express it`);
    }
    switch (l.type) {
      case 'conv': {
        if (l.inChannels !== c) throw new ExportError(`${where}: inChannels is ${l.inChannels} but the previous layer gives ${c}`);
        const k = l.kernel;
        let kernel = hwioToOihw(weight(weights, `${l.name}/kernel`, [k, k, l.inChannels, l.filters], l.name), k, k, l.inChannels, l.filters);
        let bias: Float32Array | null = l.bias ? new Float32Array(weight(weights, `${l.name}/bias`, [l.filters], l.name)) : null;
        const bnIndex = foldInto.get(i);
        let note: string | undefined;
        if (bnIndex !== undefined) {
          const bn = spec.layers[bnIndex] as Extract<LayerSpec, { type: 'norm' }> & { norm: Extract<NormSpec, { kind: 'batch' | 'ghost' }> };
          const cout = l.filters;
          const gamma = weight(weights, `${bn.name}/gamma`, [cout], bn.name);
          const beta = weight(weights, `${bn.name}/beta`, [cout], bn.name);
          const mean = weight(weights, `${bn.name}/running_mean`, [cout], bn.name);
          const variance = weight(weights, `${bn.name}/running_var`, [cout], bn.name);
          const per = kernel.length / cout;
          kernel = new Float32Array(kernel);
          const b2 = new Float32Array(cout);
          for (let o = 0; o < cout; o++) {
            // In float64, then rounded once: W' = W·γ/σ, b' = β + (b − μ)·γ/σ.
            const scale = gamma[o] / Math.sqrt(variance[o] + bn.norm.eps);
            for (let p = 0; p < per; p++) kernel[o * per + p] = kernel[o * per + p] * scale;
            b2[o] = beta[o] + ((bias ? bias[o] : 0) - mean[o]) * scale;
          }
          bias = b2;
          note = `batch norm ${bn.name} folded in (W' = W·γ/σ, b' = β + (b − μ)·γ/σ)`;
        }
        if (l.padding === 'valid') { h -= k - 1; w -= k - 1; }
        if (h < 1 || w < 1) throw new ExportError(`${where}: the image is too small for a ${k}×${k} kernel`);
        c = l.filters;
        shape = ['N', c, h, w];
        const W = g.float(`${l.name}/kernel`, [l.filters, l.inChannels, k, k], kernel);
        const inputs = [x, W];
        if (bias) inputs.push(g.float(`${l.name}/bias`, [l.filters], bias));
        const pad = l.padding === 'same' ? [Math.floor((k - 1) / 2), Math.floor((k - 1) / 2), Math.ceil((k - 1) / 2), Math.ceil((k - 1) / 2)] : [0, 0, 0, 0];
        x = g.node('Conv', l.name, inputs, shape, [
          { name: 'kernel_shape', ints: [k, k] },
          { name: 'strides', ints: [1, 1] },
          { name: 'pads', ints: pad },
          { name: 'dilations', ints: [1, 1] },
          { name: 'group', i: 1 },
        ], note);
        break;
      }
      case 'norm': {
        if (l.channels !== c) throw new ExportError(`${where}: channels is ${l.channels} but the previous layer gives ${c}`);
        const n = l.norm;
        if (n.kind === 'batch' || n.kind === 'ghost') {
          const mom = onnxMomentum(n);
          const momentumNote =
            mom === null
              ? 'cumulative average (momentum null): not expressible as an ONNX momentum, attribute left out (it does not affect inference)'
              : `ONNX/Keras convention: running = ${mom.toPrecision(4)}·running + ${(1 - mom).toPrecision(4)}·batch` +
                (n.convention === 'pytorch' ? ` (PyTorch momentum ${n.momentum})` : '');
          if (foldedBn.has(i)) {
            bns.push({ layer: l.name, kind: n.kind, epsilon: n.eps, momentum: mom, momentumNote, folded: true, into: findConvBefore(spec, i) });
            break;
          }
          const cc = l.channels;
          const inputs = [
            x,
            g.float(`${l.name}/gamma`, [cc], weight(weights, `${l.name}/gamma`, [cc], l.name)),
            g.float(`${l.name}/beta`, [cc], weight(weights, `${l.name}/beta`, [cc], l.name)),
            g.float(`${l.name}/running_mean`, [cc], weight(weights, `${l.name}/running_mean`, [cc], l.name)),
            g.float(`${l.name}/running_var`, [cc], weight(weights, `${l.name}/running_var`, [cc], l.name)),
          ];
          const attrs: Attr[] = [{ name: 'epsilon', f: n.eps }];
          if (mom !== null) attrs.push({ name: 'momentum', f: mom });
          if (opset >= 14) attrs.push({ name: 'training_mode', i: 0 });
          x = g.node('BatchNormalization', l.name, inputs, shape, attrs,
            n.kind === 'ghost' ? `ghost batch norm (virtual batch ${n.virtualBatch}) exported as BN with its running statistics` : 'inference form: running statistics');
          bns.push({ layer: l.name, kind: n.kind, epsilon: n.eps, momentum: mom, momentumNote, folded: false });
        } else {
          const groups = n.kind === 'layer' ? 1 : n.groups;
          if (!Number.isInteger(groups) || groups < 1 || c % groups !== 0) throw new ExportError(`${where}: ${groups} groups do not divide ${c} channels`);
          const gamma = weight(weights, `${l.name}/gamma`, [c], l.name);
          const beta = weight(weights, `${l.name}/beta`, [c], l.name);
          if (n.kind === 'layer') usesLayerNorm = true;
          else usesGroupNorm = true;
          if (n.kind === 'layer' && opset >= 17) {
            // LayerNormalization's scale covers the normalized axes [C, H, W]: γ/β are per channel, so they are repeated over H×W.
            const size = c * h * w;
            const sc = new Float32Array(size);
            const bi = new Float32Array(size);
            for (let ch = 0; ch < c; ch++) {
              sc.fill(gamma[ch], ch * h * w, (ch + 1) * h * w);
              bi.fill(beta[ch], ch * h * w, (ch + 1) * h * w);
            }
            x = g.node('LayerNormalization', l.name,
              [x, g.float(`${l.name}/scale`, [c, h, w], sc), g.float(`${l.name}/bias`, [c, h, w], bi)],
              shape, [{ name: 'axis', i: 1 }, { name: 'epsilon', f: n.eps }],
              'over (C, H, W) per image; per-channel γ/β repeated over H×W');
          } else if (n.kind === 'group' && opset >= 21) {
            x = g.node('GroupNormalization', l.name,
              [x, g.float(`${l.name}/gamma`, [c], gamma), g.float(`${l.name}/beta`, [c], beta)],
              shape, [{ name: 'num_groups', i: groups }, { name: 'epsilon', f: n.eps }], `${groups} groups, per-channel γ/β`);
          } else {
            const ones = g.float(`${l.name}/ones`, [groups], new Float32Array(groups).fill(1));
            const zeros = g.float(`${l.name}/zeros`, [groups], new Float32Array(groups));
            const toGroups = g.int64(`${l.name}/group_shape`, [0, groups, -1]);
            const back = g.int64(`${l.name}/image_shape`, [0, c, h, w]);
            x = g.node('Reshape', l.name, [x, toGroups], ['N', groups, (c / groups) * h * w], [], `${groups} group(s) of ${c / groups} channels`);
            x = g.node('InstanceNormalization', l.name, [x, ones, zeros], ['N', groups, (c / groups) * h * w], [{ name: 'epsilon', f: n.eps }],
              'statistics per image and group');
            x = g.node('Reshape', l.name, [x, back], shape);
            x = g.node('Mul', l.name, [x, g.float(`${l.name}/gamma`, [c, 1, 1], gamma)], shape, [], 'per-channel γ');
            x = g.node('Add', l.name, [x, g.float(`${l.name}/beta`, [c, 1, 1], beta)], shape, [], 'per-channel β');
          }
        }
        break;
      }
      case 'relu':
        x = g.node('Relu', l.name, [x], shape);
        break;
      case 'dropout':
        dropoutRemoved.push(l.name);
        break;
      case 'maxpool':
        h = Math.floor(h / l.size);
        w = Math.floor(w / l.size);
        shape = ['N', c, h, w];
        x = g.node('MaxPool', l.name, [x], shape, [{ name: 'kernel_shape', ints: [l.size, l.size] }, { name: 'strides', ints: [l.size, l.size] }]);
        break;
      case 'gap':
        x = g.node('GlobalAveragePool', l.name, [x], ['N', c, 1, 1]);
        x = g.node('Flatten', l.name, [x], ['N', c], [{ name: 'axis', i: 1 }]);
        h = 1;
        w = 1;
        shape = ['N', c];
        flat = true;
        break;
      case 'dense': {
        const inUnits = flat ? c : c * h * w;
        if (l.inUnits !== inUnits) throw new ExportError(`${where}: inUnits is ${l.inUnits} but the previous layer gives ${inUnits}`);
        let kernel = weight(weights, `${l.name}/kernel`, [l.inUnits, l.units], l.name);
        if (!flat) {
          // tfjs flattens NHWC (row index (y·W + x)·C + ch); the ONNX Flatten of NCHW gives (ch·H + y)·W + x.
          const perm = new Float32Array(kernel.length);
          for (let y = 0; y < h; y++)
            for (let xx = 0; xx < w; xx++)
              for (let ch = 0; ch < c; ch++) {
                const src = ((y * w + xx) * c + ch) * l.units;
                const dst = ((ch * h + y) * w + xx) * l.units;
                perm.set(kernel.subarray(src, src + l.units), dst);
              }
          kernel = perm;
          x = g.node('Flatten', l.name, [x], ['N', inUnits], [{ name: 'axis', i: 1 }], 'NCHW flatten; dense rows permuted from tfjs NHWC order');
          flat = true;
        }
        const inputs = [x, g.float(`${l.name}/kernel`, [l.inUnits, l.units], kernel)];
        if (l.bias) inputs.push(g.float(`${l.name}/bias`, [l.units], weight(weights, `${l.name}/bias`, [l.units], l.name)));
        c = l.units;
        shape = ['N', c];
        x = g.node('Gemm', l.name, inputs, shape, [{ name: 'alpha', f: 1 }, { name: 'beta', f: 1 }]);
        break;
      }
      default:
        throw new ExportError(`layer ${(l as { name?: string }).name ?? i} has type "${(l as { type?: string }).type}", which the ONNX exporter cannot express`);
    }
  });

  if (!flat) {
    x = g.node('Flatten', 'output', [x], ['N', c * h * w], [{ name: 'axis', i: 1 }]);
    c = c * h * w;
  }
  if (c !== spec.classes) throw new ExportError(`the last layer gives ${c} outputs but the spec has ${spec.classes} classes`);
  // The last node's output is the graph output "logits" (no Identity copy).
  const logits = g.renameOutput(x, 'logits', 'logits');
  g.node('Softmax', 'output', [logits], ['N', c], [{ name: 'axis', i: 1 }], 'class probabilities', 'probabilities');

  const docString =
    'NormLab export. Input "input": float32 [N, C, H, W] (NCHW), ' +
    (opts.normalization ? 'raw pixels in [0, 1] (normalization baked in). ' : 'normalized with metadata mean/std. ') +
    'Outputs "probabilities" (softmax) and "logits", float32 [N, classes].';
  const metadata: Record<string, string> = {
    ...opts.metadata,
    normalization_baked: opts.normalization ? 'true' : 'false',
    bn_folded: String(foldBn && foldedBn.size > 0),
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
        onnx.ValueInfoProto.create({ name: 'probabilities', type: tensorType(['N', spec.classes]) }),
        onnx.ValueInfoProto.create({ name: 'logits', type: tensorType(['N', spec.classes]) }),
      ],
    }),
    metadataProps: Object.entries(metadata).map(([key, value]) => onnx.StringStringEntryProto.create({ key, value })),
  });
  const bytes = onnx.ModelProto.encode(model).finish();
  const audit: ExportAudit = {
    opset,
    irVersion: irVersionFor(opset),
    opsetReason: opsetReason(opset, requested, usesLayerNorm, usesGroupNorm),
    input: { name: 'input', shape: ['N', String(C0), String(H0), String(W0)], normalizationBaked: !!opts.normalization },
    outputs: [
      { name: 'probabilities', shape: ['N', String(spec.classes)], meaning: 'softmax of the logits' },
      { name: 'logits', shape: ['N', String(spec.classes)], meaning: 'pre-softmax scores' },
    ],
    nodes: g.audit,
    ops: countOps(g.audit),
    params: countParams(graph),
    storedValues: g.initializerValues,
    bnFolded: foldBn && foldedBn.size > 0,
    batchNorms: bns,
    dropoutRemoved,
    notes,
    bytes: bytes.length,
  };
  return { bytes, audit };
}

function findConvBefore(spec: Chain, i: number): string | undefined {
  for (let j = i - 1; j >= 0; j--) if (spec.layers[j].type === 'conv') return spec.layers[j].name;
  return undefined;
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
