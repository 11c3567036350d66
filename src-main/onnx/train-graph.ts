/**
 * A whole training step as one ONNX graph, run by onnxruntime-node's native CPU kernels (MLAS):
 * forward pass in training mode, loss, and the backward pass written out op by op.
 *
 * Inputs : `x` [N, C, H, W] (normalized), `onehot` [N, K], `inv_n` [1] = 1/N, every trainable
 *          parameter under its stable name (conv kernels OIHW, dense kernels [in, out] as in tfjs),
 *          one `mask:<layer>` [N, C, H, W] per dropout layer (0 or 1/(1−p), drawn by the caller),
 *          and per ghost-BN virtual batch size V the virtual-batch matrices `ghost_avg:V` [G, N]
 *          (row j averages the images of virtual batch j) and `ghost_ind:V` [N, G] (image i → its
 *          virtual batch), G = ⌈N/V⌉ (see ghostMatrices).
 * Outputs: `loss` [] (mean data loss), `logits` [N, K], `grad:<param>` per parameter (same layout
 *          as its input), `mean:<bn>` and `var:<bn>` per batch norm (batch mean, biased variance):
 *          [C], or [G, C] for ghost BN, one row per virtual batch in batch order.
 *
 * Backward rules (stride-1 convolutions, as every NormLab spec has):
 *   conv   dX = ConvTranspose(dY, W) with the forward pads; dW[:, :, a, b] = one batched MatMul
 *          per kernel offset, channel-major activations times dY in NHWC order (see below);
 *          db = Σ dY over N, H, W
 *   BN     dγ = Σ dY·x̂, dβ = Σ dY, dX = γ/σ · (dY − dβ/M − x̂·dγ/M), M = N·H·W
 *   ghost BN  the same per virtual batch: the means over a virtual batch's images are products
 *          with ghost_avg, broadcast back to its images with ghost_ind
 *   layer / group norm  per image and group of C/G channels (layer: G = 1), g = dY·γ:
 *          dX = 1/σ · (g − mean(g) − x̂·mean(g·x̂)); dγ, dβ as for BN
 *   ReLU   dX = dY · sign(Y)          dropout  dX = dY · mask
 *   max-pool  dX = MaxUnpool(dY, argmax indices)  (non-overlapping windows)
 *   GAP    dX = dY / (H·W) broadcast   dense  dX = dY·Wᵀ, dW = Xᵀ·dY, db = Σ dY
 * Batch norm updates of the running statistics happen in the caller with the returned batch
 * statistics, under the same convention code as the tfjs engine.
 */
import onnxProto from 'onnx-proto';
import type { LossKind } from '../contract/settings';
import type { ResolvedGraph as ModelSpec } from '../contract/model-graph';
import { chainOf, type Chain } from './chain';
import { Graph, irVersionFor, tensorType, type Attr } from './export';

const { onnx } = onnxProto;

const OPSET = 17;

export interface TrainGraphParam {
  /** Stable weight name (also the graph input name). */
  name: string;
  /** Shape as the graph takes it. */
  shape: number[];
  /** Conv kernels go in as OIHW; [kh, kw, in, out] is their tfjs shape. */
  hwio?: [number, number, number, number];
}

export interface TrainGraph {
  bytes: Uint8Array;
  params: TrainGraphParam[];
  /** Dropout layers with rate > 0: index in spec.layers (seeds the mask), rate, NCHW shape without N. */
  dropouts: { name: string; index: number; rate: number; chw: [number, number, number] }[];
  /**
   * Batch norm layers: name, elements per channel per image (H·W), and for ghost BN the virtual
   * batch size (its statistics come out one row per virtual batch).
   */
  batchNorms: { name: string; channels: number; perImage: number; virtualBatch?: number }[];
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

/**
 * Why a spec cannot train through the ONNX graph, or null when it can: it must be a chain this
 * code lowers (chain.ts); anything else trains on tfjs instead.
 */
export function trainGraphUnsupported(spec: ModelSpec, loss: LossKind): string | null {
  if (loss !== 'ce' && loss !== 'mse') return `loss ${loss}`;
  const chain = chainOf(spec);
  return typeof chain === 'string' ? chain : null;
}

interface Saved {
  layer: number;
  x: string;
  y: string;
  extra: Record<string, string>;
  chw: [number, number, number];
}

/** Builds the training-step graph of a spec. Throws when trainGraphUnsupported says so. */
export function buildTrainGraph(graph: ModelSpec, loss: LossKind): TrainGraph {
  const why = trainGraphUnsupported(graph, loss);
  if (why) throw new Error(`the ONNX training graph cannot express ${why}`);
  const spec = chainOf(graph) as Chain;
  const g = new Graph();
  const [H0, W0, C0] = spec.input;
  const K = spec.classes;
  const inputs = [
    onnx.ValueInfoProto.create({ name: 'x', type: tensorType(['N', C0, H0, W0]) }),
    onnx.ValueInfoProto.create({ name: 'onehot', type: tensorType(['N', K]) }),
    onnx.ValueInfoProto.create({ name: 'inv_n', type: tensorType([1]) }),
  ];
  const outputs = [
    onnx.ValueInfoProto.create({ name: 'loss', type: tensorType([]) }),
    onnx.ValueInfoProto.create({ name: 'logits', type: tensorType(['N', K]) }),
  ];
  const params: TrainGraphParam[] = [];
  const dropouts: TrainGraph['dropouts'] = [];
  const batchNorms: TrainGraph['batchNorms'] = [];
  const ghostSizes: number[] = [];
  const addParam = (p: TrainGraphParam) => {
    params.push(p);
    inputs.push(onnx.ValueInfoProto.create({ name: p.name, type: tensorType(p.shape) }));
    outputs.push(onnx.ValueInfoProto.create({ name: `grad:${p.name}`, type: tensorType(p.shape) }));
    return p.name;
  };
  const scalar = (name: string, v: number) => g.float(name, [], new Float32Array([v]));
  const ints = (name: string, v: number[]) => g.int64(name, v);
  let channelShapeName = '';
  /** [1, -1, 1, 1], created on first use (an unused initializer makes ORT warn). */
  const channelShape = () => (channelShapeName ||= ints('shape_1c11', [1, -1, 1, 1]));
  let nc11Name = '';
  /** [N, C] → [N, C, 1, 1] (Reshape's 0 keeps a dimension). */
  const nc11 = () => (nc11Name ||= ints('shape_nc11', [0, 0, 1, 1]));
  const n = (op: string, layer: string, ins: string[], attrs: Attr[] = [], out?: string) => g.node(op, layer, ins, [], attrs, undefined, out);

  // Forward.
  const saved: Saved[] = [];
  let t = 'x';
  let [c, h, w] = [C0, H0, W0];
  spec.layers.forEach((l, i) => {
    const x = t;
    const extra: Record<string, string> = {};
    const chwIn: [number, number, number] = [c, h, w];
    switch (l.type) {
      case 'conv': {
        const k = l.kernel;
        const pads = l.padding === 'same' ? [Math.floor((k - 1) / 2), Math.floor((k - 1) / 2), Math.ceil((k - 1) / 2), Math.ceil((k - 1) / 2)] : [0, 0, 0, 0];
        const W = addParam({ name: `${l.name}/kernel`, shape: [l.filters, l.inChannels, k, k], hwio: [k, k, l.inChannels, l.filters] });
        const ins = [x, W];
        if (l.bias) ins.push(addParam({ name: `${l.name}/bias`, shape: [l.filters] }));
        t = n('Conv', l.name, ins, [{ name: 'pads', ints: pads }]);
        extra.W = W;
        extra.pads = pads.join(',');
        if (l.padding === 'valid') { h -= k - 1; w -= k - 1; }
        c = l.filters;
        break;
      }
      case 'norm': {
        const gamma = addParam({ name: `${l.name}/gamma`, shape: [c] });
        const beta = addParam({ name: `${l.name}/beta`, shape: [c] });
        if (l.norm.kind === 'layer' || l.norm.kind === 'group') {
          // Per image over [N, G, C/G·H·W] (layer norm: one group), affine per channel.
          const groups = l.norm.kind === 'layer' ? 1 : l.norm.groups;
          const lastAxis = [{ name: 'axes', ints: [2] }];
          const xg = n('Reshape', l.name, [x, ints(`${l.name}/shape_ng`, [0, groups, -1])]);
          const mean = n('ReduceMean', l.name, [xg], lastAxis);
          const xc = n('Sub', l.name, [xg, mean]);
          const variance = n('ReduceMean', l.name, [n('Mul', l.name, [xc, xc])], lastAxis);
          const inv = n('Reciprocal', l.name, [n('Sqrt', l.name, [n('Add', l.name, [variance, scalar(`${l.name}/eps`, l.norm.eps)])])]);
          const xhatG = n('Mul', l.name, [xc, inv]);
          const xhat = n('Reshape', l.name, [xhatG, n('Shape', l.name, [x])]);
          const gr = n('Reshape', l.name, [gamma, channelShape()]);
          t = n('Add', l.name, [n('Mul', l.name, [xhat, gr]), n('Reshape', l.name, [beta, channelShape()])]);
          Object.assign(extra, { xhat, xhatG, inv, gr, groups: String(groups) });
          break;
        }
        if (l.norm.kind === 'ghost') {
          // Per virtual batch: per-image spatial means, averaged over the virtual batch (ghost_avg),
          // broadcast back to its images (ghost_ind).
          const vb = l.norm.virtualBatch;
          const avg = `ghost_avg:${vb}`;
          const ind = `ghost_ind:${vb}`;
          if (!ghostSizes.includes(vb)) {
            ghostSizes.push(vb);
            inputs.push(onnx.ValueInfoProto.create({ name: avg, type: tensorType(['G', 'N']) }));
            inputs.push(onnx.ValueInfoProto.create({ name: ind, type: tensorType(['N', 'G']) }));
          }
          const hwMean = (v: string) => n('ReduceMean', l.name, [v], [{ name: 'axes', ints: [2, 3] }, { name: 'keepdims', i: 0 }]);
          const perImage = (groupRows: string) => n('Reshape', l.name, [n('MatMul', l.name, [ind, groupRows]), nc11()]);
          const mean = n('MatMul', l.name, [avg, hwMean(x)], [], `mean:${l.name}`);
          const xc = n('Sub', l.name, [x, perImage(mean)]);
          const variance = n('MatMul', l.name, [avg, hwMean(n('Mul', l.name, [xc, xc]))], [], `var:${l.name}`);
          const invG = n('Reciprocal', l.name, [n('Sqrt', l.name, [n('Add', l.name, [variance, scalar(`${l.name}/eps`, l.norm.eps)])])]);
          const inv = perImage(invG);
          const xhat = n('Mul', l.name, [xc, inv]);
          const gr = n('Reshape', l.name, [gamma, channelShape()]);
          t = n('Add', l.name, [n('Mul', l.name, [xhat, gr]), n('Reshape', l.name, [beta, channelShape()])]);
          outputs.push(onnx.ValueInfoProto.create({ name: `mean:${l.name}`, type: tensorType(['G', c]) }));
          outputs.push(onnx.ValueInfoProto.create({ name: `var:${l.name}`, type: tensorType(['G', c]) }));
          batchNorms.push({ name: l.name, channels: c, perImage: h * w, virtualBatch: vb });
          Object.assign(extra, { xhat, inv, gr, avg, ind });
          break;
        }
        const axes = [{ name: 'axes', ints: [0, 2, 3] }];
        const mean = n('ReduceMean', l.name, [x], axes);
        const xc = n('Sub', l.name, [x, mean]);
        const variance = n('ReduceMean', l.name, [n('Mul', l.name, [xc, xc])], axes);
        const inv = n('Reciprocal', l.name, [n('Sqrt', l.name, [n('Add', l.name, [variance, scalar(`${l.name}/eps`, l.norm.eps)])])]);
        const xhat = n('Mul', l.name, [xc, inv]);
        const gr = n('Reshape', l.name, [gamma, channelShape()]);
        t = n('Add', l.name, [n('Mul', l.name, [xhat, gr]), n('Reshape', l.name, [beta, channelShape()])]);
        const flatC = ints(`${l.name}/shape_c`, [c]);
        n('Reshape', l.name, [mean, flatC], [], `mean:${l.name}`);
        n('Reshape', l.name, [variance, flatC], [], `var:${l.name}`);
        outputs.push(onnx.ValueInfoProto.create({ name: `mean:${l.name}`, type: tensorType([c]) }));
        outputs.push(onnx.ValueInfoProto.create({ name: `var:${l.name}`, type: tensorType([c]) }));
        batchNorms.push({ name: l.name, channels: c, perImage: h * w });
        Object.assign(extra, { xhat, inv, gr });
        break;
      }
      case 'relu':
        t = n('Relu', l.name, [x]);
        break;
      case 'dropout':
        if (l.rate > 0) {
          const mask = `mask:${l.name}`;
          inputs.push(onnx.ValueInfoProto.create({ name: mask, type: tensorType(['N', c, h, w]) }));
          dropouts.push({ name: l.name, index: i, rate: l.rate, chw: [c, h, w] });
          t = n('Mul', l.name, [x, mask]);
          extra.mask = mask;
        }
        break;
      case 'maxpool': {
        const s = l.size;
        const [y, idx] = g.nodeOutputs('MaxPool', l.name, [x], [], [{ name: 'kernel_shape', ints: [s, s] }, { name: 'strides', ints: [s, s] }], undefined, [undefined, undefined]);
        t = y;
        extra.idx = idx;
        h = Math.floor(h / s);
        w = Math.floor(w / s);
        break;
      }
      case 'gap':
        t = n('ReduceMean', l.name, [x], [{ name: 'axes', ints: [2, 3] }, { name: 'keepdims', i: 0 }]);
        extra.area = String(h * w);
        h = 1;
        w = 1;
        break;
      case 'dense': {
        const W = addParam({ name: `${l.name}/kernel`, shape: [l.inUnits, l.units] });
        const ins = [x, W];
        if (l.bias) ins.push(addParam({ name: `${l.name}/bias`, shape: [l.units] }));
        t = n('Gemm', l.name, ins);
        extra.W = W;
        c = l.units;
        break;
      }
    }
    saved.push({ layer: i, x, y: t, extra, chw: chwIn });
  });
  const logits = n('Identity', 'loss', [t], [], 'logits');

  // Loss and its gradient with respect to the logits.
  const invN = 'inv_n';
  const probs = n('Softmax', 'loss', [logits], [{ name: 'axis', i: 1 }]);
  let grad: string;
  if (loss === 'ce') {
    const lse = n('ReduceLogSumExp', 'loss', [logits], [{ name: 'axes', ints: [1] }, { name: 'keepdims', i: 1 }]);
    const picked = n('ReduceSum', 'loss', [n('Mul', 'loss', [g.node('Sub', 'loss', [logits, lse], []), 'onehot'])], [{ name: 'keepdims', i: 0 }]);
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

  // Backward, last layer first.
  let nhwAxesName = '';
  const nhwAxes = () => (nhwAxesName ||= ints('axes_nhw', [0, 2, 3]));
  let splitName = '';
  /** S = 2 − N mod 2 as int64 [1]: the batch halves the filter-gradient products run on. */
  const batchSplit = () => {
    if (splitName) return splitName;
    const two = ints('two', [2]);
    const batch = n('Shape', 'split', ['x'], [{ name: 'end', i: 1 }]);
    return (splitName = n('Sub', 'split', [two, n('Mod', 'split', [batch, two])]));
  };
  for (let j = saved.length - 1; j >= 0; j--) {
    const s = saved[j];
    const l = spec.layers[s.layer];
    const needInput = s.x !== 'x';
    switch (l.type) {
      case 'dense': {
        n('Gemm', l.name, [s.x, grad], [{ name: 'transA', i: 1 }], `grad:${l.name}/kernel`);
        if (l.bias) n('ReduceSum', l.name, [grad, ints(`${l.name}/axis0`, [0])], [{ name: 'keepdims', i: 0 }], `grad:${l.name}/bias`);
        if (needInput) grad = n('Gemm', l.name, [grad, s.extra.W], [{ name: 'transB', i: 1 }]);
        break;
      }
      case 'gap': {
        const g4 = n('Reshape', l.name, [grad, nc11()]);
        grad = n('Expand', l.name, [n('Mul', l.name, [g4, scalar(`${l.name}/inv_area`, 1 / Number(s.extra.area))]), n('Shape', l.name, [s.x])]);
        break;
      }
      case 'maxpool': {
        const sz = l.size;
        grad = n('MaxUnpool', l.name, [grad, s.extra.idx, n('Shape', l.name, [s.x])], [{ name: 'kernel_shape', ints: [sz, sz] }, { name: 'strides', ints: [sz, sz] }]);
        break;
      }
      case 'dropout':
        if (s.extra.mask) grad = n('Mul', l.name, [grad, s.extra.mask]);
        break;
      case 'relu':
        grad = n('Mul', l.name, [grad, n('Sign', l.name, [s.y])]);
        break;
      case 'norm': {
        const keep = [{ name: 'keepdims', i: 0 }];
        const dbeta = n('ReduceSum', l.name, [grad, nhwAxes()], keep, `grad:${l.name}/beta`);
        const dyXhat = n('Mul', l.name, [grad, s.extra.xhat]);
        const dgamma = n('ReduceSum', l.name, [dyXhat, nhwAxes()], keep, `grad:${l.name}/gamma`);
        if (!needInput) break;
        if (s.extra.xhatG) {
          // Layer / group norm: dX = inv · (g − mean(g) − x̂·mean(g·x̂)) per image and group, g = dY·γ.
          const lastAxis = [{ name: 'axes', ints: [2] }];
          const gy = n('Reshape', l.name, [n('Mul', l.name, [grad, s.extra.gr]), ints(`${l.name}/shape_ng_back`, [0, Number(s.extra.groups), -1])]);
          const m1 = n('ReduceMean', l.name, [gy], lastAxis);
          const m2 = n('ReduceMean', l.name, [n('Mul', l.name, [gy, s.extra.xhatG])], lastAxis);
          const dxG = n('Mul', l.name, [s.extra.inv, n('Sub', l.name, [n('Sub', l.name, [gy, m1]), n('Mul', l.name, [s.extra.xhatG, m2])])]);
          grad = n('Reshape', l.name, [dxG, n('Shape', l.name, [s.x])]);
          break;
        }
        if (s.extra.avg) {
          // Ghost: dX = γ/σ_g · (dY − mean_g(dY) − x̂·mean_g(dY·x̂)), means over each virtual batch.
          const groupMean = (v: string) => {
            const hw = n('ReduceMean', l.name, [v], [{ name: 'axes', ints: [2, 3] }, { name: 'keepdims', i: 0 }]);
            return n('Reshape', l.name, [n('MatMul', l.name, [s.extra.ind, n('MatMul', l.name, [s.extra.avg, hw])]), nc11()]);
          };
          const inner = n('Sub', l.name, [n('Sub', l.name, [grad, groupMean(grad)]), n('Mul', l.name, [s.extra.xhat, groupMean(dyXhat)])]);
          grad = n('Mul', l.name, [inner, n('Mul', l.name, [s.extra.gr, s.extra.inv])]);
          break;
        }
        // 1/M = inv_n / (H·W)
        const invM = n('Mul', l.name, [invN, scalar(`${l.name}/inv_hw`, 1 / (s.chw[1] * s.chw[2]))]);
        const b4 = n('Mul', l.name, [n('Reshape', l.name, [dbeta, channelShape()]), invM]);
        const g4 = n('Mul', l.name, [n('Reshape', l.name, [dgamma, channelShape()]), invM]);
        const inner = n('Sub', l.name, [n('Sub', l.name, [grad, b4]), n('Mul', l.name, [s.extra.xhat, g4])]);
        grad = n('Mul', l.name, [inner, n('Mul', l.name, [s.extra.gr, s.extra.inv])]);
        break;
      }
      case 'conv': {
        const pads = s.extra.pads.split(',').map(Number);
        if (l.bias) n('ReduceSum', l.name, [grad, nhwAxes()], [{ name: 'keepdims', i: 0 }], `grad:${l.name}/bias`);
        // dW from matrix products. With X channel-major and padded to Hp×Wp, and dY zero-padded
        // to the same grid, both flattened over images·Hp·Wp, the shift (a, b) of the kernel is an
        // offset of a·Wp + b: dW[:, :, a, b] = Xf[:, off:off+L] · dYf[0:L, :], where L stops where
        // dYf holds only padding. The batch is split in S = 2 halves (1 for an odd batch): the
        // products become one batched MatMul [S, Cin, L]·[S, L, Cout], whose halves MLAS runs on
        // separate threads, summed over S.
        const k = l.kernel;
        const [cin, hin, win] = s.chw;
        const [hp, wp] = [hin + pads[0] + pads[2], win + pads[1] + pads[3]];
        const [ho, wo] = [hp - k + 1, wp - k + 1];
        const maxOff = (k - 1) * wp + (k - 1);
        const S = batchSplit();
        const shapeOf = (dims: number[]) => n('Concat', l.name, [S, ints(`${l.name}/dims`, dims)], [{ name: 'axis', i: 0 }]);
        // X: [N, Cin, H, W] → [S, Cin, N/S, Hp, Wp] → [S, Cin, L]
        let xt = n('Transpose', l.name, [n('Reshape', l.name, [s.x, shapeOf([-1, cin, hin, win])])], [{ name: 'perm', ints: [0, 2, 1, 3, 4] }]);
        if (pads.some((p) => p > 0)) xt = n('Pad', l.name, [xt, ints(`${l.name}/pads_x`, [0, 0, 0, pads[0], pads[1], 0, 0, 0, pads[2], pads[3]])]);
        const xf = n('Reshape', l.name, [xt, ints(`${l.name}/shape_s_cin_flat`, [0, cin, -1])]);
        // dY: [N, Cout, Ho, Wo] → [N, Ho, Wo, Cout], zero-padded to [N, Hp, Wp, Cout] → [S, L, Cout]
        let gt = n('Transpose', l.name, [grad], [{ name: 'perm', ints: [0, 2, 3, 1] }]);
        if (ho !== hp || wo !== wp) gt = n('Pad', l.name, [gt, ints(`${l.name}/pads_dy`, [0, 0, 0, 0, 0, hp - ho, wp - wo, 0])]);
        const gf = n('Reshape', l.name, [gt, shapeOf([-1, l.filters])]);
        const shifted: string[] = [];
        let gL = gf;
        if (maxOff === 0) shifted.push(xf);
        else {
          // L = (N/S)·Hp·Wp − maxOff, from the dynamic batch.
          const len = n('Sub', l.name, [n('Shape', l.name, [xf], [{ name: 'start', i: 2 }]), ints(`${l.name}/max_off`, [maxOff])]);
          gL = n('Slice', l.name, [gf, ints(`${l.name}/zero`, [0]), len, ints(`${l.name}/axis1`, [1])]);
          const axis2 = ints(`${l.name}/axis2`, [2]);
          for (let a = 0; a < k; a++)
            for (let b = 0; b < k; b++) {
              const st = ints(`${l.name}/off${a}_${b}`, [a * wp + b]);
              shifted.push(n('Slice', l.name, [xf, st, n('Add', l.name, [len, st]), axis2]));
            }
        }
        // One product per shift, [Cin, Cout] each after the sum over S, stacked offset-major:
        // [k·k·Cin, Cout] is the HWIO kernel, transposed to the OIHW layout the input has.
        const axis0 = ints(`${l.name}/axis0`, [0]);
        const perShift = shifted.map((sh) => n('ReduceSum', l.name, [n('MatMul', l.name, [sh, gL]), axis0], [{ name: 'keepdims', i: 0 }]));
        const dw = perShift.length === 1 ? perShift[0] : n('Concat', l.name, perShift, [{ name: 'axis', i: 0 }]);
        const dw4 = n('Reshape', l.name, [dw, ints(`${l.name}/shape_kkio`, [k, k, cin, l.filters])]);
        n('Transpose', l.name, [dw4], [{ name: 'perm', ints: [3, 2, 0, 1] }], `grad:${l.name}/kernel`);
        if (needInput) grad = n('ConvTranspose', l.name, [grad, s.extra.W], [{ name: 'pads', ints: pads }]);
        break;
      }
    }
  }

  const model = onnx.ModelProto.create({
    irVersion: irVersionFor(OPSET),
    opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: OPSET })],
    producerName: 'normlab',
    docString: 'NormLab training step: forward, loss and backward of one batch',
    graph: onnx.GraphProto.create({ name: 'normlab_train_step', node: g.nodes, initializer: g.initializers, input: inputs, output: outputs }),
  });
  return { bytes: onnx.ModelProto.encode(model).finish(), params, dropouts, batchNorms, ghostSizes };
}
