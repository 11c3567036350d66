/**
 * The graphs the ONNX training step and exporter lower today: a chain (every node reads the one
 * before it) of stride-1 convolutions with square kernels, norms on images, ReLU, unit dropout on
 * images, non-overlapping max pooling, global average pooling and dense layers on the pooled
 * vector — every variant of the S5 net. Any other graph trains on the tfjs engine (the trainer
 * falls back with the reason `chainOf` gives) and exports raise an ExportError naming the node.
 */
import type { NormChoice, ResolvedGraph, ResolvedNode } from '../contract/model-graph';
import { convGeometry, inferShapes, outputName, poolGeometry } from '../model';

export type ChainLayer =
  | { type: 'conv'; name: string; filters: number; kernel: number; inChannels: number; bias: boolean; padding: 'valid' | 'same' }
  | { type: 'norm'; name: string; channels: number; norm: NormChoice }
  | { type: 'relu'; name: string }
  | { type: 'dropout'; name: string; rate: number }
  | { type: 'maxpool'; name: string; size: number }
  | { type: 'gap'; name: string }
  | { type: 'dense'; name: string; units: number; inUnits: number; bias: boolean };

export interface Chain {
  input: [number, number, number];
  classes: number;
  layers: ChainLayer[];
}

/** The graph as a chain of layers, or the reason (naming the node) it is not one this code lowers. */
export function chainOf(spec: ResolvedGraph): Chain | string {
  const shapes = inferShapes(spec);
  const layers: ChainLayer[] = [];
  let prev = 'input';
  for (const n of spec.nodes as ResolvedNode[]) {
    if (n.inputs.length !== 1 || n.inputs[0] !== prev) return `node ${n.name} (${n.op}) outside a plain chain of layers`;
    const x = shapes[n.inputs[0]];
    const image = x.length === 3;
    prev = n.name;
    switch (n.op) {
      case 'conv2d': {
        const g = convGeometry(n);
        const same = g.pads.every((p, i) => p === [Math.floor((g.kernel[0] - 1) / 2), Math.floor((g.kernel[1] - 1) / 2), Math.ceil((g.kernel[0] - 1) / 2), Math.ceil((g.kernel[1] - 1) / 2)][i]);
        const valid = g.pads.every((p) => p === 0);
        if (g.kernel[0] !== g.kernel[1] || g.stride.some((s) => s !== 1) || g.dilation.some((d) => d !== 1) || (n.groups ?? 1) !== 1 || !(same || valid)) {
          return `conv ${n.name} with a non-square kernel, stride, dilation, groups or uneven padding`;
        }
        layers.push({ type: 'conv', name: n.name, filters: n.filters, kernel: g.kernel[0], inChannels: x[2], bias: n.bias ?? true, padding: valid ? 'valid' : 'same' });
        break;
      }
      case 'norm':
        if (!image) return `norm ${n.name} after a dense layer`;
        layers.push({ type: 'norm', name: n.name, channels: x[2], norm: n.norm });
        break;
      case 'relu':
        layers.push({ type: 'relu', name: n.name });
        break;
      case 'dropout':
        if (!image && n.rate > 0) return `dropout ${n.name} on a vector`;
        layers.push({ type: 'dropout', name: n.name, rate: n.rate });
        break;
      case 'maxpool': {
        const g = poolGeometry(n);
        if (g.kernel[0] !== g.kernel[1] || g.stride[0] !== g.kernel[0] || g.stride[1] !== g.kernel[1] || g.pads.some((p) => p > 0)) return `maxpool ${n.name} with overlapping, non-square or padded windows`;
        layers.push({ type: 'maxpool', name: n.name, size: g.kernel[0] });
        break;
      }
      case 'gap':
        layers.push({ type: 'gap', name: n.name });
        break;
      case 'dense':
        layers.push({ type: 'dense', name: n.name, units: n.units, inUnits: x[0], bias: n.bias ?? true });
        break;
      default:
        return `${n.op} node ${n.name}`;
    }
  }
  if (outputName(spec) !== prev) return `an output (${outputName(spec)}) that is not the last node`;
  return { input: [...spec.input] as [number, number, number], classes: spec.classes, layers };
}
