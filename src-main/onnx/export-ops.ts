/**
 * The export lowering of every layer kind: the ONNX nodes (NCHW) one graph node becomes, in
 * inference form. Typed `Record<NodeOp, …>`: a kind without a lowering is a compile error.
 *
 * The tfjs engine's eval-mode forward (engine/lower-tfjs.ts) is the reference:
 * - batch and ghost norm normalize with the running statistics (BatchNormalization,
 *   training_mode 0), or are folded into the conv / dense layer they follow;
 * - layer norm normalizes each image over (C, H, W) (a vector over its units), group norm each
 *   image and group of contiguous channels; both with a per-channel γ/β and the biased variance;
 * - dropout and channel dropout are the identity (the node is removed);
 * - flatten is NCHW order (C, then H, then W), which is ONNX's Flatten of an NCHW tensor;
 * - average pooling does not count padded cells (count_include_pad = 0, ONNX's default).
 *
 * Layout: tfjs conv kernels [kh, kw, in/groups, out] → OIHW [out, in/groups, kh, kw]; dense
 * kernels stay [in, out] (Gemm without transB). The shapes passed in are ours: [h, w, c] for an
 * image, [units] for a vector.
 */
import type { NodeOp, NormChoice, ResolvedNode } from '../contract/model-graph';
import type { ExportAuditBn } from '../contract/onnx';
import { convGeometry, poolGeometry, type Shape } from '../model';
import type { Attr, Graph, Shape as OnnxShape } from './export';

type Of<K extends NodeOp> = Extract<ResolvedNode, { op: K }>;
export type BnChoice = Extract<NormChoice, { kind: 'batch' | 'ghost' }>;

/** A batch norm folded into the conv or dense layer it follows. */
export interface FoldPlan {
  bn: Of<'norm'> & { norm: BnChoice };
  /** The conv or dense node that takes it in. */
  into: string;
}

/** What a lowering reads and writes besides the graph: weights, options and the audit's lists. */
export interface LowerContext {
  g: Graph;
  opset: number;
  /** A weight by node and parameter, checked against the shape the node needs (ExportError naming the node). */
  weight(node: string, param: string, shape: number[]): Float32Array;
  /** Throws ExportError with this message. */
  fail(message: string): never;
  /** conv/dense node → the batch norm folded into it. */
  foldInto: Map<string, FoldPlan>;
  /** Batch norms folded away (their node lowers to nothing). */
  folded: Map<string, FoldPlan>;
  batchNorms: ExportAuditBn[];
  dropoutRemoved: string[];
  notes: string[];
  uses: { layerNorm: boolean; groupNorm: boolean };
}

export interface ExportLowering<K extends NodeOp> {
  /** Adds the node's ONNX nodes; returns the ONNX tensor that holds its output. */
  lower(node: Of<K>, inputs: string[], inShapes: Shape[], outShape: Shape, ctx: LowerContext): string;
}

/** Our shape of one image → the NCHW shape the audit shows ('N' = batch). */
export function onnxShape(s: Shape): OnnxShape {
  return s.length === 3 ? ['N', s[2], s[0], s[1]] : ['N', ...s];
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

/** Momentum on the OLD running value (ONNX's and Keras' convention); null = cumulative average. */
export function onnxMomentum(n: BnChoice): number | null {
  if (n.momentum === null) return null;
  return n.convention === 'keras' ? n.momentum : 1 - n.momentum;
}

function momentumNote(n: BnChoice): string {
  const mom = onnxMomentum(n);
  return mom === null
    ? 'cumulative average (momentum null): not expressible as an ONNX momentum, attribute left out (it does not affect inference)'
    : `ONNX/Keras convention: running = ${mom.toPrecision(4)}·running + ${(1 - mom).toPrecision(4)}·batch` +
        (n.convention === 'pytorch' ? ` (PyTorch momentum ${n.momentum})` : '');
}

/**
 * The scale and shift a folded batch norm puts on the `units` outputs of its conv/dense node:
 * W' = W·γ/σ per output, b' = β + (b − μ)·γ/σ (in float64, rounded once).
 */
function foldedAffine(plan: FoldPlan, units: number, bias: Float32Array | null, ctx: LowerContext): { scale: Float64Array; bias: Float32Array } {
  const bn = plan.bn;
  const gamma = ctx.weight(bn.name, 'gamma', [units]);
  const beta = ctx.weight(bn.name, 'beta', [units]);
  const mean = ctx.weight(bn.name, 'running_mean', [units]);
  const variance = ctx.weight(bn.name, 'running_var', [units]);
  const scale = new Float64Array(units);
  const b2 = new Float32Array(units);
  for (let o = 0; o < units; o++) {
    scale[o] = gamma[o] / Math.sqrt(variance[o] + bn.norm.eps);
    b2[o] = beta[o] + ((bias ? bias[o] : 0) - mean[o]) * scale[o];
  }
  return { scale, bias: b2 };
}

const foldNote = (bn: string) => `batch norm ${bn} folded in (W' = W·γ/σ, b' = β + (b − μ)·γ/σ)`;

function lowerConv(n: Of<'conv2d'>, [x]: string[], [xs]: Shape[], out: Shape, ctx: LowerContext): string {
  const geo = convGeometry(n);
  const [kh, kw] = geo.kernel;
  const groups = n.groups ?? 1;
  const cg = xs[2] / groups;
  const cout = n.filters;
  let kernel = hwioToOihw(ctx.weight(n.name, 'kernel', [kh, kw, cg, cout]), kh, kw, cg, cout);
  let bias: Float32Array | null = (n.bias ?? true) ? new Float32Array(ctx.weight(n.name, 'bias', [cout])) : null;
  const plan = ctx.foldInto.get(n.name);
  let note: string | undefined;
  if (plan) {
    const f = foldedAffine(plan, cout, bias, ctx);
    const per = kernel.length / cout;
    kernel = new Float32Array(kernel);
    for (let o = 0; o < cout; o++) for (let p = 0; p < per; p++) kernel[o * per + p] = kernel[o * per + p] * f.scale[o];
    bias = f.bias;
    note = foldNote(plan.bn.name);
  }
  const inputs = [x, ctx.g.float(`${n.name}/kernel`, [cout, cg, kh, kw], kernel)];
  if (bias) inputs.push(ctx.g.float(`${n.name}/bias`, [cout], bias));
  return ctx.g.node('Conv', n.name, inputs, onnxShape(out), [
    { name: 'kernel_shape', ints: [kh, kw] },
    { name: 'strides', ints: geo.stride },
    { name: 'pads', ints: geo.pads },
    { name: 'dilations', ints: geo.dilation },
    { name: 'group', i: groups },
  ], note ?? (groups > 1 ? (groups === xs[2] ? `depthwise (${groups} groups)` : `${groups} groups`) : undefined));
}

function lowerDense(n: Of<'dense'>, [x]: string[], [xs]: Shape[], out: Shape, ctx: LowerContext): string {
  const inUnits = xs[0];
  const units = n.units;
  let kernel = ctx.weight(n.name, 'kernel', [inUnits, units]);
  let bias: Float32Array | null = (n.bias ?? true) ? ctx.weight(n.name, 'bias', [units]) : null;
  const plan = ctx.foldInto.get(n.name);
  let note: string | undefined;
  if (plan) {
    const f = foldedAffine(plan, units, bias, ctx);
    kernel = new Float32Array(kernel);
    for (let r = 0; r < inUnits; r++) for (let o = 0; o < units; o++) kernel[r * units + o] = kernel[r * units + o] * f.scale[o];
    bias = f.bias;
    note = foldNote(plan.bn.name);
  }
  const inputs = [x, ctx.g.float(`${n.name}/kernel`, [inUnits, units], kernel)];
  if (bias) inputs.push(ctx.g.float(`${n.name}/bias`, [units], bias));
  return ctx.g.node('Gemm', n.name, inputs, onnxShape(out), [{ name: 'alpha', f: 1 }, { name: 'beta', f: 1 }], note);
}

/**
 * Layer norm (groups = 1) and group norm without the opset's own op: Reshape to
 * [N, groups, −1] → InstanceNormalization (statistics per image and group) → Reshape back →
 * per-channel Mul γ, Add β. This is also what torch.onnx emits for nn.GroupNorm.
 */
function decomposedNorm(name: string, x: string, s: Shape, groups: number, eps: number, gamma: Float32Array, beta: Float32Array, ctx: LowerContext): string {
  const g = ctx.g;
  const c = s[s.length - 1];
  const shape = onnxShape(s);
  const per = s.reduce((a, b) => a * b, 1) / groups;
  const ones = g.float(`${name}/ones`, [groups], new Float32Array(groups).fill(1));
  const zeros = g.float(`${name}/zeros`, [groups], new Float32Array(groups));
  const toGroups = g.int64(`${name}/group_shape`, [0, groups, -1]);
  const back = g.int64(`${name}/${s.length === 3 ? 'image' : 'vector'}_shape`, s.length === 3 ? [0, c, s[0], s[1]] : [0, c]);
  const affine = s.length === 3 ? [c, 1, 1] : [c];
  let y = g.node('Reshape', name, [x, toGroups], ['N', groups, per], [], `${groups} group(s) of ${c / groups} channels`);
  y = g.node('InstanceNormalization', name, [y, ones, zeros], ['N', groups, per], [{ name: 'epsilon', f: eps }], 'statistics per image and group');
  y = g.node('Reshape', name, [y, back], shape);
  y = g.node('Mul', name, [y, g.float(`${name}/gamma`, affine, gamma)], shape, [], 'per-channel γ');
  return g.node('Add', name, [y, g.float(`${name}/beta`, affine, beta)], shape, [], 'per-channel β');
}

function lowerNorm(n: Of<'norm'>, [x]: string[], [xs]: Shape[], _out: Shape, ctx: LowerContext): string {
  const spec = n.norm;
  const c = xs[xs.length - 1];
  const shape = onnxShape(xs);
  const g = ctx.g;
  if (spec.kind === 'batch' || spec.kind === 'ghost') {
    const entry: ExportAuditBn = { layer: n.name, kind: spec.kind, epsilon: spec.eps, momentum: onnxMomentum(spec), momentumNote: momentumNote(spec), folded: false };
    const plan = ctx.folded.get(n.name);
    if (plan) {
      ctx.batchNorms.push({ ...entry, folded: true, into: plan.into });
      return x;
    }
    const inputs = [x, ...(['gamma', 'beta', 'running_mean', 'running_var'] as const).map((p) => g.float(`${n.name}/${p}`, [c], ctx.weight(n.name, p, [c])))];
    const attrs: Attr[] = [{ name: 'epsilon', f: spec.eps }];
    if (entry.momentum !== null) attrs.push({ name: 'momentum', f: entry.momentum });
    if (ctx.opset >= 14) attrs.push({ name: 'training_mode', i: 0 });
    const what = xs.length === 1 ? 'BatchNorm1d, ' : '';
    const y = g.node('BatchNormalization', n.name, inputs, shape, attrs,
      spec.kind === 'ghost' ? `${what}ghost batch norm (virtual batch ${spec.virtualBatch}) exported as BN with its running statistics` : `${what}inference form: running statistics`);
    ctx.batchNorms.push(entry);
    return y;
  }
  const gamma = ctx.weight(n.name, 'gamma', [c]);
  const beta = ctx.weight(n.name, 'beta', [c]);
  if (spec.kind === 'layer') {
    ctx.uses.layerNorm = true;
    if (ctx.opset < 17) return decomposedNorm(n.name, x, xs, 1, spec.eps, gamma, beta, ctx);
    if (xs.length === 1) {
      return g.node('LayerNormalization', n.name, [x, g.float(`${n.name}/scale`, [c], gamma), g.float(`${n.name}/bias`, [c], beta)],
        shape, [{ name: 'axis', i: 1 }, { name: 'epsilon', f: spec.eps }], 'over the units of each vector');
    }
    // LayerNormalization's scale covers the normalized axes [C, H, W]: γ/β are per channel, so they are repeated over H×W.
    const [h, w] = xs;
    const size = c * h * w;
    const sc = new Float32Array(size);
    const bi = new Float32Array(size);
    for (let ch = 0; ch < c; ch++) {
      sc.fill(gamma[ch], ch * h * w, (ch + 1) * h * w);
      bi.fill(beta[ch], ch * h * w, (ch + 1) * h * w);
    }
    return g.node('LayerNormalization', n.name, [x, g.float(`${n.name}/scale`, [c, h, w], sc), g.float(`${n.name}/bias`, [c, h, w], bi)],
      shape, [{ name: 'axis', i: 1 }, { name: 'epsilon', f: spec.eps }], 'over (C, H, W) per image; per-channel γ/β repeated over H×W');
  }
  ctx.uses.groupNorm = true;
  const groups = spec.groups;
  if (!Number.isInteger(groups) || groups < 1 || c % groups !== 0) ctx.fail(`layer ${n.name} (norm): ${groups} groups do not divide ${c} channels`);
  if (ctx.opset >= 21 && xs.length === 3) {
    return g.node('GroupNormalization', n.name, [x, g.float(`${n.name}/gamma`, [c], gamma), g.float(`${n.name}/beta`, [c], beta)],
      shape, [{ name: 'num_groups', i: groups }, { name: 'epsilon', f: spec.eps }], `${groups} groups, per-channel γ/β`);
  }
  return decomposedNorm(n.name, x, xs, groups, spec.eps, gamma, beta, ctx);
}

function removedDropout(n: Of<'dropout'> | Of<'dropout2d'>, [x]: string[], ctx: LowerContext): string {
  ctx.dropoutRemoved.push(n.name);
  return x;
}

function lowerPool(op: 'MaxPool' | 'AveragePool', n: Of<'maxpool'> | Of<'avgpool'>, x: string, out: Shape, ctx: LowerContext): string {
  const geo = poolGeometry(n);
  const attrs: Attr[] = [{ name: 'kernel_shape', ints: geo.kernel }, { name: 'strides', ints: geo.stride }];
  const padded = geo.pads.some((p) => p > 0);
  if (padded) attrs.push({ name: 'pads', ints: [...geo.pads] });
  if (padded && op === 'AveragePool') attrs.push({ name: 'count_include_pad', i: 0 });
  return ctx.g.node(op, n.name, [x], onnxShape(out), attrs, padded && op === 'AveragePool' ? 'padded cells not counted' : undefined);
}

export const EXPORT: { [K in NodeOp]: ExportLowering<K> } = {
  conv2d: { lower: lowerConv },
  norm: { lower: lowerNorm },
  relu: { lower: (n, [x], _s, out, ctx) => ctx.g.node('Relu', n.name, [x], onnxShape(out)) },
  leaky_relu: { lower: (n, [x], _s, out, ctx) => ctx.g.node('LeakyRelu', n.name, [x], onnxShape(out), [{ name: 'alpha', f: n.alpha }]) },
  dropout: { lower: (n, xs, _s, _o, ctx) => removedDropout(n, xs, ctx) },
  dropout2d: { lower: (n, xs, _s, _o, ctx) => removedDropout(n, xs, ctx) },
  maxpool: { lower: (n, [x], _s, out, ctx) => lowerPool('MaxPool', n, x, out, ctx) },
  avgpool: { lower: (n, [x], _s, out, ctx) => lowerPool('AveragePool', n, x, out, ctx) },
  gap: {
    lower(n, [x], [xs], out, ctx) {
      const y = ctx.g.node('GlobalAveragePool', n.name, [x], ['N', xs[2], 1, 1]);
      return ctx.g.node('Flatten', n.name, [y], onnxShape(out), [{ name: 'axis', i: 1 }]);
    },
  },
  flatten: {
    // Already a vector: nothing to do. An NCHW Flatten is our (C, H, W) order.
    lower: (n, [x], [xs], out, ctx) => (xs.length === 1 ? x : ctx.g.node('Flatten', n.name, [x], onnxShape(out), [{ name: 'axis', i: 1 }], 'NCHW order (C, H, W), as PyTorch flattens')),
  },
  dense: { lower: lowerDense },
  add: { lower: (n, xs, _s, out, ctx) => ctx.g.node(xs.length === 2 ? 'Add' : 'Sum', n.name, xs, onnxShape(out)) },
  concat: { lower: (n, xs, _s, out, ctx) => ctx.g.node('Concat', n.name, xs, onnxShape(out), [{ name: 'axis', i: 1 }], 'along channels') },
};

/** Lowers one node through its kind's entry (the typed table dispatched on the node's op). */
export function lowerNode(node: ResolvedNode, inputs: string[], inShapes: Shape[], outShape: Shape, ctx: LowerContext): string {
  const l = EXPORT[node.op] as ExportLowering<NodeOp>;
  return l.lower(node as Of<NodeOp>, inputs, inShapes, outShape, ctx);
}
