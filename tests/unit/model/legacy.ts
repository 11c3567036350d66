/**
 * Test helper: the flat layer lists older tests were written in, as resolved graphs (each layer
 * reads the one before; a dense layer on an image gets a flatten node `<name>_flatten` first).
 */
import { MODEL_GRAPH_FORMAT, type NormChoice, type ResolvedGraph, type ResolvedNode } from '../../../src-main/contract/model-graph';

export type LegacyLayer =
  | { type: 'conv'; name: string; filters: number; kernel: number; inChannels?: number; bias: boolean; padding: 'valid' | 'same' }
  | { type: 'norm'; name: string; channels?: number; norm: NormChoice }
  | { type: 'relu'; name: string }
  | { type: 'dropout'; name: string; rate: number }
  | { type: 'maxpool'; name: string; size: number }
  | { type: 'gap'; name: string }
  | { type: 'dense'; name: string; units: number; inUnits?: number; bias: boolean };

export function fromLayers(spec: { input: [number, number, number]; classes: number; layers: LegacyLayer[] }): ResolvedGraph {
  const nodes: ResolvedNode[] = [];
  let prev = 'input';
  let flat = false;
  const push = (n: ResolvedNode) => {
    nodes.push(n);
    prev = n.name;
  };
  for (const l of spec.layers) {
    const inputs = [prev];
    switch (l.type) {
      case 'conv': push({ name: l.name, op: 'conv2d', filters: l.filters, kernel: l.kernel, padding: l.padding, bias: l.bias, inputs }); break;
      case 'norm': push({ name: l.name, op: 'norm', norm: l.norm, inputs }); break;
      case 'relu': push({ name: l.name, op: 'relu', inputs }); break;
      case 'dropout': push({ name: l.name, op: 'dropout', rate: l.rate, inputs }); break;
      case 'maxpool': push({ name: l.name, op: 'maxpool', kernel: l.size, inputs }); break;
      case 'gap': push({ name: l.name, op: 'gap', inputs }); flat = true; break;
      case 'dense':
        if (!flat) push({ name: `${l.name}_flatten`, op: 'flatten', inputs });
        push({ name: l.name, op: 'dense', units: l.units, bias: l.bias, inputs: [prev] });
        flat = true;
        break;
    }
  }
  return { format: MODEL_GRAPH_FORMAT, name: 'test', input: spec.input, classes: spec.classes, nodes };
}
