/**
 * A whole training step as one ONNX graph, run by onnxruntime-node's native CPU kernels (MLAS):
 * forward pass in training mode, loss, and the backward pass written out op by op, for any
 * model graph (a DAG of named nodes, NCHW inside).
 *
 * Inputs : `x` [N, C, H, W] (normalized), `onehot` [N, K], `inv_n` [1] = 1/N, every trainable
 *          parameter under its stable name (conv kernels OIHW, dense kernels [in, out] as in tfjs),
 *          one `mask:<node>` per dropout node with rate > 0 (0 or 1/(1−p), drawn by the caller:
 *          [N, C, H, W] on images, [N, U] on vectors, [N, C, 1, 1] for dropout2d), and per ghost-BN
 *          virtual batch size V the virtual-batch matrices `ghost_avg:V` [G, N] (row j averages the
 *          images of virtual batch j) and `ghost_ind:V` [N, G] (image i → its virtual batch),
 *          G = ⌈N/V⌉ (see ghostMatrices).
 * Outputs: `loss` [] (mean data loss), `logits` [N, K], `grad:<param>` per parameter (same layout
 *          as its input), `mean:<bn>` and `var:<bn>` per batch norm (batch mean, biased variance):
 *          [C], or [G, C] for ghost BN, one row per virtual batch in batch order.
 *
 * Forward: nodes in graph (topological) order, each through its kind's lowering
 * (train-ops/table.ts), which keeps what its backward needs. Backward: nodes in reverse order;
 * a node's output gradient is the Sum of what its readers sent back (a tensor read twice, as by a
 * residual add, gets both), and an input's gradient is only built when some parameter lies
 * upstream of it. Backward rules, one module per kind under train-ops/ (details at its top):
 *   conv2d     dX = ConvTranspose(dY, W) (same pads, strides, dilations, groups; output_padding for
 *              rows no window reached); dW = batched MatMuls per kernel tap (stride 1, one group:
 *              every S5 conv) or a Conv of X with dY as kernel (strides ↔ dilations swapped);
 *              db = Σ dY
 *   norm       BN dX = γ/σ · (dY − dβ/M − x̂·dγ/M); ghost BN per virtual batch (ghost_avg/ind);
 *              layer/group norm per image and group; vectors as [N, C, 1, 1]
 *   relu       dY·sign(Y)        leaky_relu  dY where X > 0, else α·dY
 *   dropout    dY·mask           dropout2d   dY·mask [N, C, 1, 1]
 *   maxpool    MaxUnpool (non-overlapping, unpadded) or ScatterElements(add) of dY on the argmax
 *   avgpool    ConvTranspose of dY/count with a ones kernel      gap  dY/(H·W) broadcast
 *   flatten    Reshape           dense  dX = dY·Wᵀ, dW = Xᵀ·dY, db = Σ dY
 *   add        dY to every input concat  Split of dY along channels
 * Batch norm updates of the running statistics happen in the caller with the returned batch
 * statistics, under the same convention code as the tfjs engine.
 */
import onnxProto from 'onnx-proto';
import type { LossKind } from '../contract/settings';
import type { NodeOp, ResolvedGraph as ModelSpec } from '../contract/model-graph';
import { inferShapes, opDef, outputName } from '../model';
import { irVersionFor } from './export';
import { StepBuilder, type Lowered, type TrainGraphBatchNorm, type TrainGraphDropout, type TrainGraphParam, type TrainLowering, type NodeOfOp } from './train-ops/builder';
import { TRAIN_OPS } from './train-ops/table';

export type { TrainGraphParam, TrainGraphDropout, TrainGraphBatchNorm } from './train-ops/builder';

const { onnx } = onnxProto;

const OPSET = 17;

export interface TrainGraph {
  bytes: Uint8Array;
  params: TrainGraphParam[];
  /** Dropout nodes with rate > 0, in graph order. */
  dropouts: TrainGraphDropout[];
  /** Batch norm nodes (batch and ghost; they output batch statistics). */
  batchNorms: TrainGraphBatchNorm[];
  /** Distinct ghost-BN virtual batch sizes: each needs `ghost_avg:V` and `ghost_ind:V` fed. */
  ghostSizes: number[];
}

/**
 * Sizes of the virtual batches a batch of n images splits into, in order — as the tfjs ghost BN
 * splits it: ⌊n/V⌋ batches of V (V capped at n), then the rest if any.
 */
export function virtualBatchSizes(n: number, virtualBatch: number): number[] {
  const vb = Math.min(virtualBatch, n);
  const groups = Math.floor(n / vb);
  const sizes: number[] = new Array(groups).fill(vb);
  if (n - groups * vb > 0) sizes.push(n - groups * vb);
  return sizes;
}

/** The `ghost_avg:V` [G, N] and `ghost_ind:V` [N, G] inputs for a batch of n images. */
export function ghostMatrices(n: number, virtualBatch: number): { avg: Float32Array; ind: Float32Array; groups: number } {
  const sizes = virtualBatchSizes(n, virtualBatch);
  const G = sizes.length;
  const avg = new Float32Array(G * n);
  const ind = new Float32Array(n * G);
  let i = 0;
  sizes.forEach((size, j) => {
    for (let k = 0; k < size; k++, i++) {
      avg[j * n + i] = 1 / size;
      ind[i * G + j] = 1;
    }
  });
  return { avg, ind, groups: G };
}

/** Why a spec cannot train through the ONNX graph, or null when it can (every valid graph, cross-entropy or MSE). */
export function trainGraphUnsupported(_spec: ModelSpec, loss: LossKind): string | null {
  if (loss !== 'ce' && loss !== 'mse') return `loss ${loss}`;
  return null;
}

/** Builds the training-step graph of a (valid, resolved) model graph. */
export function buildTrainGraph(spec: ModelSpec, loss: LossKind): TrainGraph {
  const why = trainGraphUnsupported(spec, loss);
  if (why) throw new Error(`the ONNX training graph cannot express ${why}`);
  const shapes = inferShapes(spec);
  const b = new StepBuilder();
  const [H0, W0, C0] = spec.input;
  const K = spec.classes;
  b.input('x', ['N', C0, H0, W0]);
  b.input('onehot', ['N', K]);
  b.input(b.invN, [1]);
  b.output('loss', []);
  b.output('logits', ['N', K]);
  const n = (op: string, layer: string, ins: string[], attrs: Parameters<StepBuilder['n']>[3] = [], out?: string) => b.n(op, layer, ins, attrs, out);
  const ints = (name: string, v: number[]) => b.ints(name, v);
  const scalar = (name: string, v: number) => b.scalar(name, v);

  // Forward, in graph order. `upstream`: a parameter lies on some path from the input to the tensor.
  const values = new Map<string, string>([['input', 'x']]);
  const upstream = new Map<string, boolean>([['input', false]]);
  const lowered: Lowered[] = [];
  for (const node of spec.nodes) {
    const xs = node.inputs.map((s) => values.get(s)!);
    const lowering = TRAIN_OPS[node.op] as TrainLowering<NodeOp>;
    const inShapes = node.inputs.map((s) => shapes[s]);
    const l = lowering.forward(node as NodeOfOp<NodeOp>, xs, { in: inShapes, out: shapes[node.name] }, b);
    lowered.push(l);
    values.set(node.name, l.y);
    upstream.set(node.name, opDef(node).params(node, inShapes).length > 0 || node.inputs.some((s) => upstream.get(s)));
  }
  // The output node is a vector of the classes (validateGraph holds every graph to that).
  const outName = outputName(spec);
  const logits = n('Identity', 'loss', [values.get(outName)!], [], 'logits');

  // Loss and its gradient with respect to the logits.
  const invN = b.invN;
  const probs = n('Softmax', 'loss', [logits], [{ name: 'axis', i: 1 }]);
  let grad: string;
  if (loss === 'ce') {
    const lse = n('ReduceLogSumExp', 'loss', [logits], [{ name: 'axes', ints: [1] }, { name: 'keepdims', i: 1 }]);
    const picked = n('ReduceSum', 'loss', [n('Mul', 'loss', [n('Sub', 'loss', [logits, lse]), 'onehot'])], [{ name: 'keepdims', i: 0 }]);
    n('Mul', 'loss', [n('Neg', 'loss', [picked]), n('Reshape', 'loss', [invN, ints('shape_scalar', [])])], [], 'loss');
    grad = n('Mul', 'loss', [n('Sub', 'loss', [probs, 'onehot']), invN]);
  } else {
    // mean over N·K of (p − y)²; dL/dp = 2(p − y)/(N·K); softmax backward dz = p·(dp − Σ dp·p).
    const d = n('Sub', 'loss', [probs, 'onehot']);
    const scale = n('Mul', 'loss', [invN, scalar('inv_k', 1 / K)]);
    const sum = n('ReduceSum', 'loss', [n('Mul', 'loss', [d, d])], [{ name: 'keepdims', i: 0 }]);
    n('Mul', 'loss', [sum, n('Reshape', 'loss', [scale, ints('shape_scalar', [])])], [], 'loss');
    const dp = n('Mul', 'loss', [d, n('Mul', 'loss', [scale, scalar('two', 2)])]);
    const dot = n('ReduceSum', 'loss', [n('Mul', 'loss', [dp, probs]), ints('axis_1', [1])], [{ name: 'keepdims', i: 1 }]);
    grad = n('Mul', 'loss', [probs, n('Sub', 'loss', [dp, dot])]);
  }

  // Backward, last node first; gradients reaching a tensor from several readers are summed.
  const sent = new Map<string, string[]>([[outName, [grad]]]);
  for (let i = spec.nodes.length - 1; i >= 0; i--) {
    const node = spec.nodes[i];
    const parts = sent.get(node.name);
    if (!parts) continue;
    const dy = parts.length === 1 ? parts[0] : n('Sum', node.name, parts);
    const need = node.inputs.map((s) => upstream.get(s) === true);
    const dxs = lowered[i].backward(dy, need);
    node.inputs.forEach((s, j) => {
      const dx = dxs[j];
      if (!need[j] || !dx) return;
      const list = sent.get(s);
      if (list) list.push(dx);
      else sent.set(s, [dx]);
    });
  }

  const model = onnx.ModelProto.create({
    irVersion: irVersionFor(OPSET),
    opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: OPSET })],
    producerName: 'normlab',
    docString: 'NormLab training step: forward, loss and backward of one batch',
    graph: onnx.GraphProto.create({ name: 'normlab_train_step', node: b.g.nodes, initializer: b.g.initializers, input: b.inputs, output: b.outputs }),
  });
  return { bytes: onnx.ModelProto.encode(model).finish(), params: b.params, dropouts: b.dropouts, batchNorms: b.batchNorms, ghostSizes: b.ghostSizes };
}
