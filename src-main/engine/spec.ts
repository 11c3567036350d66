/**
 * Declarative model specs. A model is a flat list of layers in NHWC (tfjs layout).
 * Parameter names are stable ("conv1/kernel", "bn1/gamma", "bn1/running_mean", …) because
 * checkpoints, BN snapshots, weight histograms and the ONNX exporter all key on them.
 */
import type { TrainSettings } from '../contract/settings';
import { newValueMomentum } from '../contract/settings';

export type NormSpec =
  | { kind: 'batch'; momentum: number | null; eps: number; convention: 'pytorch' | 'keras' }
  | { kind: 'ghost'; virtualBatch: number; momentum: number | null; eps: number; convention: 'pytorch' | 'keras' }
  | { kind: 'layer'; eps: number }
  | { kind: 'group'; groups: number; eps: number };

export type LayerSpec =
  | { type: 'conv'; name: string; filters: number; kernel: number; inChannels: number; bias: boolean; padding: 'valid' | 'same' }
  | { type: 'norm'; name: string; channels: number; norm: NormSpec }
  | { type: 'relu'; name: string }
  | { type: 'dropout'; name: string; rate: number }
  | { type: 'maxpool'; name: string; size: number }
  | { type: 'gap'; name: string }
  | { type: 'dense'; name: string; units: number; inUnits: number; bias: boolean };

export interface ModelSpec {
  /** [height, width, channels] */
  input: [number, number, number];
  classes: number;
  layers: LayerSpec[];
}

/** Momentum of a BN spec as PyTorch states it (weight on the new batch value); null = cumulative. */
export function specMomentumNew(n: Extract<NormSpec, { kind: 'batch' | 'ghost' }>): number | null {
  return newValueMomentum({ bnConvention: n.convention, bnMomentum: n.momentum });
}

export type NetOptions = Pick<
  TrainSettings,
  'norm' | 'ghostBatch' | 'groups' | 'bnPosition' | 'bnConvention' | 'bnMomentum' | 'bnEps' | 'convBias' | 'dropout'
>;

/**
 * The S5 net (8.9k parameters with BN and no conv bias), the PyTorch twin of
 * shared/reference/torch_reference.py:
 * conv3×3 1→8, conv3×3 8→16, conv1×1 16→8, maxpool 2, conv3×3 8→12, conv3×3 12→16,
 * conv3×3 16→16, conv3×3 16→16, GAP, dense 16→10.
 * Every 3×3 conv: [bias], norm, ReLU, dropout (norm after ReLU when bnPosition = 'after').
 */
export function s5Spec(o: NetOptions, input: [number, number, number] = [28, 28, 1], classes = 10): ModelSpec {
  const layers: LayerSpec[] = [];
  let inCh = input[2];
  let block = 0;
  const norm = (channels: number, name: string): LayerSpec | null => {
    switch (o.norm) {
      case 'none':
        return null;
      case 'batch':
        return { type: 'norm', name, channels, norm: { kind: 'batch', momentum: o.bnMomentum, eps: o.bnEps, convention: o.bnConvention } };
      case 'ghost':
        return { type: 'norm', name, channels, norm: { kind: 'ghost', virtualBatch: o.ghostBatch, momentum: o.bnMomentum, eps: o.bnEps, convention: o.bnConvention } };
      case 'layer':
        return { type: 'norm', name, channels, norm: { kind: 'layer', eps: o.bnEps } };
      case 'group':
        return { type: 'norm', name, channels, norm: { kind: 'group', groups: o.groups, eps: o.bnEps } };
    }
  };
  const conv3 = (filters: number) => {
    block += 1;
    layers.push({ type: 'conv', name: `conv${block}`, filters, kernel: 3, inChannels: inCh, bias: o.convBias || o.norm === 'none', padding: 'valid' });
    const n = norm(filters, `norm${block}`);
    if (o.bnPosition === 'before' && n) layers.push(n);
    layers.push({ type: 'relu', name: `relu${block}` });
    if (o.bnPosition === 'after' && n) layers.push(n);
    if (o.dropout > 0) layers.push({ type: 'dropout', name: `drop${block}`, rate: o.dropout });
    inCh = filters;
  };
  conv3(8);
  conv3(16);
  layers.push({ type: 'conv', name: 'trans1', filters: 8, kernel: 1, inChannels: inCh, bias: false, padding: 'valid' });
  inCh = 8;
  layers.push({ type: 'maxpool', name: 'pool1', size: 2 });
  conv3(12);
  conv3(16);
  conv3(16);
  conv3(16);
  layers.push({ type: 'gap', name: 'gap' });
  layers.push({ type: 'dense', name: 'fc', units: classes, inUnits: inCh, bias: true });
  return { input, classes, layers };
}

/** Trainable parameter count of a spec (running statistics excluded). */
export function countParams(spec: ModelSpec): number {
  let n = 0;
  for (const l of spec.layers) {
    if (l.type === 'conv') n += l.kernel * l.kernel * l.inChannels * l.filters + (l.bias ? l.filters : 0);
    else if (l.type === 'dense') n += l.inUnits * l.units + (l.bias ? l.units : 0);
    else if (l.type === 'norm') n += 2 * l.channels;
  }
  return n;
}

/** Output shape [h, w, c] of each layer, for audits and the ONNX exporter. */
export function layerShapes(spec: ModelSpec): [number, number, number][] {
  let [h, w, c] = spec.input;
  return spec.layers.map((l) => {
    if (l.type === 'conv') {
      if (l.padding === 'valid') { h = h - l.kernel + 1; w = w - l.kernel + 1; }
      c = l.filters;
    } else if (l.type === 'maxpool') { h = Math.floor(h / l.size); w = Math.floor(w / l.size); }
    else if (l.type === 'gap') { h = 1; w = 1; }
    else if (l.type === 'dense') { h = 1; w = 1; c = l.units; }
    return [h, w, c];
  });
}

/**
 * Multiply-accumulates of one image's forward pass through the convolutions and dense layers
 * (norms, activations and pooling left out: they are elementwise and a few percent of the work).
 * The speed ceiling in bench/onnx-bench.ts divides a measured GFLOP/s by 2 × this.
 */
export function forwardMacs(spec: ModelSpec): number {
  const shapes = layerShapes(spec);
  let macs = 0;
  spec.layers.forEach((l, i) => {
    const [h, w] = shapes[i];
    if (l.type === 'conv') macs += h * w * l.filters * l.kernel * l.kernel * l.inChannels;
    else if (l.type === 'dense') macs += l.inUnits * l.units;
  });
  return macs;
}
