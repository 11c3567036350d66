/**
 * The tfjs lowering of every layer kind: build (the node's variables, from the layer table's
 * parameter specs and fair-seeded init) and apply (its forward pass on NHWC tensors; gradients
 * come from tfjs autodiff). Typed `Record<NodeOp, …>`: a kind without a lowering is a compile error.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { NodeOp, ResolvedNode } from '../contract/model-graph';
import { convGeometry, hashName, initialValue, poolGeometry, type ParamKind, type ParamSpec, type Shape } from '../model';
import { dropoutMask, ownedVariable } from './layers';
import { makeNorm, type NormLayer } from './norm';
import { fusedDropout } from './kernels/dropout';
import { deriveSeed } from './rng';

/** One trainable tensor. `name` is the stable weight name, e.g. "conv1/kernel". */
export interface ParamRef {
  name: string;
  layer: string;
  kind: ParamKind;
  variable: tf.Variable;
}

export interface ApplyContext {
  /** Dropout on (training, or MC dropout at eval time). */
  dropout: boolean;
  /** Seed of this pass's dropout masks; each node mixes in its name (fair seeds). */
  dropoutSeed: number;
  batchStats: boolean;
  updateStats: boolean;
}

/** A node's runtime part: its variables by param kind, and its norm layer when it is a norm. */
export interface BuiltNode {
  vars: Partial<Record<ParamKind, tf.Variable>>;
  norm: NormLayer | null;
}

type Of<K extends NodeOp> = Extract<ResolvedNode, { op: K }>;

export interface TfjsLowering<K extends NodeOp> {
  apply(node: Of<K>, xs: tf.Tensor[], built: BuiltNode, ctx: ApplyContext): tf.Tensor;
}

/** Variables for the node's trainable parameters, initialized from (seed, name). */
export function buildNode(node: ResolvedNode, params: ParamSpec[], inputs: Shape[], seed: number): BuiltNode {
  if (node.op === 'norm') {
    // The norm layer owns γ and β (initialized to 1 and 0, as the layer table says).
    const c = inputs[0][inputs[0].length - 1];
    return { vars: {}, norm: makeNorm(node.name, c, node.norm) };
  }
  const vars: BuiltNode['vars'] = {};
  for (const p of params) vars[p.kind] = ownedVariable(() => tf.tensor(initialValue(seed, p), p.shape, 'float32'), true);
  return { vars, norm: null };
}

const NEG = -3.4e38;
const explicit = (p: [number, number, number, number]): [[number, number], [number, number], [number, number], [number, number]] => [[0, 0], [p[0], p[2]], [p[1], p[3]], [0, 0]];

function conv(node: Of<'conv2d'>, x: tf.Tensor4D, b: BuiltNode): tf.Tensor {
  const g = convGeometry(node);
  const kernel = b.vars.kernel as tf.Tensor4D;
  const groups = node.groups ?? 1;
  const cin = x.shape[3];
  // tfjs takes strides or dilations > 1, not both: convolve densely, then keep every s-th row/column.
  const both = g.dilation.some((d) => d > 1) && g.stride.some((s) => s > 1);
  const stride: [number, number] = both ? [1, 1] : g.stride;
  const pad = explicit(g.pads);
  // Grouped and depthwise convs run as one dense conv with a block-diagonal kernel: input
  // channel i feeds output o when they are in the same group. Same values (the off-group taps
  // are zeros), gradients through the Conv2D kernels every backend has (wasm lacks the
  // depthwise backprop kernels); the extra multiplies are cheap at these sizes.
  const full = groups === 1 ? kernel : blockDiagonal(kernel, groups, cin);
  let y = tf.conv2d(x, full, stride, pad, 'NHWC', g.dilation);
  if (both) {
    const [n, h, w, c] = y.shape;
    y = tf.stridedSlice(y, [0, 0, 0, 0], [n, h, w, c], [1, g.stride[0], g.stride[1], 1]) as tf.Tensor4D;
  }
  return b.vars.bias ? tf.add(y, b.vars.bias) : y;
}

/** [kh, kw, cin/groups, out] → [kh, kw, cin, out], zero where input and output are in different groups. */
function blockDiagonal(kernel: tf.Tensor4D, groups: number, cin: number): tf.Tensor4D {
  const out = kernel.shape[3];
  const cg = cin / groups;
  const og = out / groups;
  const mask = new Float32Array(cin * out);
  for (let i = 0; i < cin; i++) for (let o = 0; o < out; o++) if (Math.floor(i / cg) === Math.floor(o / og)) mask[i * out + o] = 1;
  return tf.mul(tf.tile(kernel, [1, 1, groups, 1]), tf.tensor4d(mask, [1, 1, cin, out])) as tf.Tensor4D;
}

/** Inverted dropout; `shape` is the mask's shape ([N, 1, 1, C] for whole channels). */
function drop(x: tf.Tensor, rate: number, name: string, ctx: ApplyContext, shape?: number[]): tf.Tensor {
  if (!ctx.dropout || rate <= 0) return x;
  const seed = deriveSeed(ctx.dropoutSeed, hashName(name));
  if (!shape) return fusedDropout(x, rate, seed) ?? tf.mul(x, dropoutMask(x.shape, rate, seed));
  return tf.mul(x, dropoutMask(shape, rate, seed));
}

export const TFJS: { [K in NodeOp]: TfjsLowering<K> } = {
  conv2d: { apply: (n, [x], b) => conv(n, x as tf.Tensor4D, b) },
  norm: {
    apply(_n, [x], b, ctx) {
      const mode = { batchStats: ctx.batchStats, updateStats: ctx.updateStats };
      // After a dense layer (BatchNorm1d): [N, C] is [N, 1, 1, C] with one position per image.
      if (x.rank === 2) return tf.reshape(b.norm!.apply(tf.reshape(x, [x.shape[0], 1, 1, x.shape[1]!]) as tf.Tensor4D, mode), x.shape);
      return b.norm!.apply(x as tf.Tensor4D, mode);
    },
  },
  relu: { apply: (_n, [x]) => tf.relu(x) },
  leaky_relu: { apply: (n, [x]) => tf.leakyRelu(x, n.alpha) },
  dropout: { apply: (n, [x], _b, ctx) => drop(x, n.rate, n.name, ctx) },
  dropout2d: { apply: (n, [x], _b, ctx) => drop(x, n.rate, n.name, ctx, [x.shape[0], 1, 1, x.shape[3]!]) },
  maxpool: {
    apply(n, [x]) {
      const g = poolGeometry(n);
      const xp = g.pads.some((p) => p > 0) ? tf.pad(x as tf.Tensor4D, explicit(g.pads), NEG) : (x as tf.Tensor4D);
      return tf.maxPool(xp, g.kernel, g.stride, 'valid');
    },
  },
  avgpool: {
    apply(n, [x]) {
      const g = poolGeometry(n);
      if (!g.pads.some((p) => p > 0)) return tf.avgPool(x as tf.Tensor4D, g.kernel, g.stride, 'valid');
      // Padded cells are not counted: sum of the padded input over the window / real cells in it.
      const sum = tf.avgPool(tf.pad(x as tf.Tensor4D, explicit(g.pads)), g.kernel, g.stride, 'valid');
      const count = tf.avgPool(tf.pad(tf.ones([1, x.shape[1]!, x.shape[2]!, 1]) as tf.Tensor4D, explicit(g.pads)), g.kernel, g.stride, 'valid');
      return tf.div(sum, count);
    },
  },
  gap: { apply: (_n, [x]) => tf.mean(x, [1, 2]) },
  // NHWC → NCHW order before flattening, so dense weights match PyTorch's flatten.
  flatten: { apply: (_n, [x]) => (x.rank === 2 ? x : tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [x.shape[0], -1])) },
  dense: {
    apply(_n, [x], b) {
      const y = tf.matMul(x as tf.Tensor2D, b.vars.kernel as tf.Tensor2D);
      return b.vars.bias ? tf.add(y, b.vars.bias) : y;
    },
  },
  add: { apply: (_n, xs) => (xs.length === 2 ? tf.add(xs[0], xs[1]) : tf.addN(xs)) },
  concat: { apply: (_n, xs) => tf.concat(xs, -1) },
};

/** Runs one node through its lowering (the typed table dispatched on the node's op). */
export function applyNode(node: ResolvedNode, xs: tf.Tensor[], built: BuiltNode, ctx: ApplyContext): tf.Tensor {
  const lowering = TFJS[node.op] as TfjsLowering<NodeOp>;
  return lowering.apply(node as Of<NodeOp>, xs, built, ctx);
}
