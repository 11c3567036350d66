/**
 * What a layer kind's training lowering works with: the graph under construction (NCHW tensors,
 * dynamic batch N), the step's inputs and outputs it registers (parameters, dropout masks, BN
 * statistics, ghost-BN matrices), shared constants, and the shape of its lowering.
 *
 * A lowering's forward returns its output tensor and a backward closure. The closure holds the
 * tensors and numbers the backward pass needs as typed values (what a string bag used to carry),
 * and maps the gradient of the output to the gradients of the inputs (null where not needed).
 */
import onnxProto from 'onnx-proto';
import type { NodeOp, ResolvedNode } from '../../contract/model-graph';
import type { Shape } from '../../model';
import { Graph, tensorType, type Attr } from '../export';

const { onnx } = onnxProto;

export interface TrainGraphParam {
  /** Stable weight name (also the graph input name). */
  name: string;
  /** Shape as the graph takes it. */
  shape: number[];
  /** Conv kernels go in as OIHW; [kh, kw, in/groups, out] is their tfjs shape. */
  hwio?: [number, number, number, number];
}

export interface TrainGraphDropout {
  /** Node name (the mask is `mask:<name>`, seeded by the name). */
  name: string;
  rate: number;
  /** The tfjs mask's shape without N, as [C, H, W] of an NHWC draw (a vector of U units: [U, 1, 1]; Dropout2d: [C, 1, 1]). */
  chw: [number, number, number];
  /** The mask input's shape without N ([C, H, W], [U] or [C, 1, 1]). */
  dims: number[];
}

export interface TrainGraphBatchNorm {
  name: string;
  channels: number;
  /** Elements per channel per image (H·W; 1 after a dense layer). */
  perImage: number;
  /** Ghost BN: statistics come out one row per virtual batch. */
  virtualBatch?: number;
}

/** Maps the gradient of a node's output to the gradients of its inputs (null where `need` is false). */
export type Backward = (dy: string, need: boolean[]) => (string | null)[];

export interface Lowered {
  y: string;
  backward: Backward;
}

export type NodeOfOp<K extends NodeOp> = Extract<ResolvedNode, { op: K }>;

/** Shapes in the layer table's terms: [h, w, c] images, [units] vectors, one image (no N). */
export interface IoShapes {
  in: Shape[];
  out: Shape;
}

export interface TrainLowering<K extends NodeOp> {
  forward(node: NodeOfOp<K>, xs: string[], shapes: IoShapes, b: StepBuilder): Lowered;
}

/** NCHW dims (without N) of a layer-table shape. */
export const nchw = (s: Shape): number[] => (s.length === 3 ? [s[2], s[0], s[1]] : [...s]);

export class StepBuilder {
  readonly g = new Graph();
  readonly inputs: InstanceType<typeof onnx.ValueInfoProto>[] = [];
  readonly outputs: InstanceType<typeof onnx.ValueInfoProto>[] = [];
  readonly params: TrainGraphParam[] = [];
  readonly dropouts: TrainGraphDropout[] = [];
  readonly batchNorms: TrainGraphBatchNorm[] = [];
  readonly ghostSizes: number[] = [];
  /** 1/N, fed by the caller. */
  readonly invN = 'inv_n';
  private readonly once = new Map<string, string>();

  /** A node with one output; `out` fixes the output's name (a graph output). */
  n(op: string, layer: string, ins: string[], attrs: Attr[] = [], out?: string): string {
    return this.g.node(op, layer, ins, [], attrs, undefined, out);
  }

  /** A node with `count` outputs. */
  nOuts(op: string, layer: string, ins: string[], attrs: Attr[], count: number): string[] {
    return this.g.nodeOutputs(op, layer, ins, [], attrs, undefined, new Array<undefined>(count).fill(undefined));
  }

  ints(name: string, v: number[]): string {
    return this.g.int64(name, v);
  }

  floats(name: string, dims: number[], v: Float32Array): string {
    return this.g.float(name, dims, v);
  }

  scalar(name: string, v: number): string {
    return this.g.float(name, [], new Float32Array([v]));
  }

  /** A constant made once per graph (an unused initializer makes ORT warn, so only on first use). */
  shared(key: string, make: () => string): string {
    let v = this.once.get(key);
    if (v === undefined) this.once.set(key, (v = make()));
    return v;
  }

  /** [1, -1, 1, 1]: a per-channel vector broadcast over NCHW. */
  channelShape(): string {
    return this.shared('shape_1c11', () => this.ints('shape_1c11', [1, -1, 1, 1]));
  }

  /** [N, C] → [N, C, 1, 1] (Reshape's 0 keeps a dimension). */
  nc11(): string {
    return this.shared('shape_nc11', () => this.ints('shape_nc11', [0, 0, 1, 1]));
  }

  /** [N, C, 1, 1] → [N, C] and [N, C, H, W] → [N, C·H·W]. */
  flat(): string {
    return this.shared('shape_n_flat', () => this.ints('shape_n_flat', [0, -1]));
  }

  /** Axes N, H, W of an NCHW tensor (as an input, for ReduceSum). */
  nhwAxes(): string {
    return this.shared('axes_nhw', () => this.ints('axes_nhw', [0, 2, 3]));
  }

  /** S = 2 − N mod 2 as int64 [1]: the batch halves the filter-gradient products run on. */
  batchSplit(): string {
    return this.shared('batch_split', () => {
      const two = this.ints('two', [2]);
      const batch = this.n('Shape', 'split', ['x'], [{ name: 'end', i: 1 }]);
      return this.n('Sub', 'split', [two, this.n('Mod', 'split', [batch, two])]);
    });
  }

  /** Σ over N, H, W of an NCHW tensor, [C]; `out` names it. */
  sumNhw(layer: string, t: string, out?: string): string {
    return this.n('ReduceSum', layer, [t, this.nhwAxes()], [{ name: 'keepdims', i: 0 }], out);
  }

  input(name: string, dims: (number | string)[]): string {
    this.inputs.push(onnx.ValueInfoProto.create({ name, type: tensorType(dims) }));
    return name;
  }

  output(name: string, dims: (number | string)[]): void {
    this.outputs.push(onnx.ValueInfoProto.create({ name, type: tensorType(dims) }));
  }

  /** A trainable parameter: a graph input under its name and a `grad:<name>` output. */
  param(p: TrainGraphParam): string {
    this.params.push(p);
    this.input(p.name, p.shape);
    this.output(`grad:${p.name}`, p.shape);
    return p.name;
  }

  /** The `mask:<name>` input of a dropout node, [N, ...dims]. */
  dropoutMask(d: TrainGraphDropout): string {
    this.dropouts.push(d);
    return this.input(`mask:${d.name}`, ['N', ...d.dims]);
  }

  /** The `ghost_avg:V` [G, N] and `ghost_ind:V` [N, G] inputs of virtual batch size V. */
  ghost(vb: number): { avg: string; ind: string } {
    const avg = `ghost_avg:${vb}`;
    const ind = `ghost_ind:${vb}`;
    if (!this.ghostSizes.includes(vb)) {
      this.ghostSizes.push(vb);
      this.input(avg, ['G', 'N']);
      this.input(ind, ['N', 'G']);
    }
    return { avg, ind };
  }
}
