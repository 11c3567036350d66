/**
 * The preset models, written in the graph format with 'auto' placeholders so a study's variants
 * (norm kind, dropout rate) apply to them. `s5` keeps the parameter names of the original S5
 * net (conv1/kernel, norm1/gamma, …, fc/bias), so checkpoints and snapshots read the same.
 */
import { MODEL_GRAPH_FORMAT, MODEL_PRESETS, type GraphNode, type ModelGraph, type ModelPreset } from '../contract/model-graph';
import type { TrainSettings } from '../contract/settings';

export type PresetSettings = Pick<TrainSettings, 'norm' | 'bnPosition' | 'convBias'>;

export function isPreset(name: string): name is ModelPreset {
  return (MODEL_PRESETS as readonly string[]).includes(name);
}

/** A node whose inputs default to the previous node's output. */
type NodeSansInputs = GraphNode extends infer N ? (N extends GraphNode ? Omit<N, 'inputs'> & { inputs?: string[] } : never) : never;

/** A chain builder: each added node reads the previous one unless told otherwise. */
class Chain {
  readonly nodes: GraphNode[] = [];
  last = 'input';
  add(node: NodeSansInputs): string {
    const n = { ...node, inputs: node.inputs ?? [this.last] } as GraphNode;
    this.nodes.push(n);
    this.last = n.name;
    return n.name;
  }
}

/**
 * The S5 net (8.9k parameters with BN, no conv bias), twin of shared/reference/torch_reference.py:
 * conv3×3 1→8, conv3×3 8→16, conv1×1 16→8, maxpool 2, conv3×3 8→12, conv3×3 12→16,
 * conv3×3 16→16, conv3×3 16→16, GAP, dense 16→10. Every 3×3 conv: [bias], norm, ReLU, dropout
 * (norm after the ReLU when bnPosition = 'after'); a 3×3 conv has a bias when convBias is set or
 * there is no norm.
 */
function s5(s: PresetSettings, input: [number, number, number], classes: number): ModelGraph {
  const c = new Chain();
  let block = 0;
  const conv3 = (filters: number) => {
    block += 1;
    c.add({ name: `conv${block}`, op: 'conv2d', filters, kernel: 3, padding: 'valid', bias: s.convBias || s.norm === 'none' });
    if (s.bnPosition === 'before') c.add({ name: `norm${block}`, op: 'norm', norm: 'auto' });
    c.add({ name: `relu${block}`, op: 'relu' });
    if (s.bnPosition === 'after') c.add({ name: `norm${block}`, op: 'norm', norm: 'auto' });
    c.add({ name: `drop${block}`, op: 'dropout', rate: 'auto' });
  };
  conv3(8);
  conv3(16);
  c.add({ name: 'trans1', op: 'conv2d', filters: 8, kernel: 1, padding: 'valid', bias: false });
  c.add({ name: 'pool1', op: 'maxpool', kernel: 2 });
  conv3(12);
  conv3(16);
  conv3(16);
  conv3(16);
  c.add({ name: 'gap', op: 'gap' });
  c.add({ name: 'fc', op: 'dense', units: classes, bias: true });
  return { format: MODEL_GRAPH_FORMAT, name: 's5', input, classes, nodes: c.nodes };
}

/** A small residual net (≈10k parameters): stem, an identity block, a strided block with a 1×1 projection, an identity block. */
function resnetTiny(s: PresetSettings, input: [number, number, number], classes: number): ModelGraph {
  const c = new Chain();
  const bias = s.norm === 'none';
  const cbr = (name: string, filters: number, from: string, stride = 1, relu = true) => {
    c.add({ name, op: 'conv2d', filters, kernel: 3, stride, padding: stride === 1 ? 'same' : [1, 1, 1, 1], bias, inputs: [from] });
    c.add({ name: `${name}_norm`, op: 'norm', norm: 'auto' });
    if (relu) c.add({ name: `${name}_relu`, op: 'relu' });
    return c.last;
  };
  const stem = cbr('stem', 8, 'input');
  const identity = (name: string, filters: number, from: string) => {
    cbr(`${name}_a`, filters, from);
    const b = cbr(`${name}_b`, filters, c.last, 1, false);
    c.add({ name: `${name}_add`, op: 'add', inputs: [b, from] });
    return c.add({ name: `${name}_relu`, op: 'relu' });
  };
  const r1 = identity('block1', 8, stem);
  cbr('block2_a', 16, r1, 2);
  const b2 = cbr('block2_b', 16, c.last, 1, false);
  c.add({ name: 'block2_proj', op: 'conv2d', filters: 16, kernel: 1, stride: 2, padding: 'valid', bias: false, inputs: [r1] });
  const proj = c.add({ name: 'block2_proj_norm', op: 'norm', norm: 'auto' });
  c.add({ name: 'block2_add', op: 'add', inputs: [b2, proj] });
  const r2 = c.add({ name: 'block2_relu', op: 'relu' });
  identity('block3', 16, r2);
  c.add({ name: 'drop', op: 'dropout', rate: 'auto' });
  c.add({ name: 'gap', op: 'gap' });
  c.add({ name: 'fc', op: 'dense', units: classes, bias: true });
  return { format: MODEL_GRAPH_FORMAT, name: 'resnet-tiny', input, classes, nodes: c.nodes };
}

/** Depthwise-separable convolutions: a 3×3 stem, then depthwise 3×3 + pointwise 1×1 pairs. */
function separable(s: PresetSettings, input: [number, number, number], classes: number): ModelGraph {
  const c = new Chain();
  const bias = s.norm === 'none';
  const nr = (name: string) => {
    c.add({ name: `${name}_norm`, op: 'norm', norm: 'auto' });
    c.add({ name: `${name}_relu`, op: 'relu' });
  };
  c.add({ name: 'stem', op: 'conv2d', filters: 16, kernel: 3, padding: 'valid', bias });
  nr('stem');
  const sep = (name: string, channels: number, filters: number, stride: number) => {
    c.add({ name: `${name}_dw`, op: 'conv2d', filters: channels, kernel: 3, stride, padding: stride === 1 ? 'same' : [1, 1, 1, 1], groups: channels, bias });
    nr(`${name}_dw`);
    c.add({ name: `${name}_pw`, op: 'conv2d', filters, kernel: 1, bias });
    nr(`${name}_pw`);
    c.add({ name: `${name}_drop`, op: 'dropout', rate: 'auto' });
  };
  sep('sep1', 16, 32, 1);
  sep('sep2', 32, 48, 2);
  sep('sep3', 48, 64, 1);
  c.add({ name: 'gap', op: 'gap' });
  c.add({ name: 'fc', op: 'dense', units: classes, bias: true });
  return { format: MODEL_GRAPH_FORMAT, name: 'separable', input, classes, nodes: c.nodes };
}

/** A multilayer perceptron: flatten, two hidden dense layers each with norm (BatchNorm1d), ReLU and dropout. */
function mlp(s: PresetSettings, input: [number, number, number], classes: number): ModelGraph {
  const c = new Chain();
  c.add({ name: 'flatten', op: 'flatten' });
  const hidden = (name: string, units: number) => {
    c.add({ name, op: 'dense', units, bias: true });
    if (s.bnPosition === 'before') c.add({ name: `${name}_norm`, op: 'norm', norm: 'auto' });
    c.add({ name: `${name}_relu`, op: 'relu' });
    if (s.bnPosition === 'after') c.add({ name: `${name}_norm`, op: 'norm', norm: 'auto' });
    c.add({ name: `${name}_drop`, op: 'dropout', rate: 'auto' });
  };
  hidden('fc1', 64);
  hidden('fc2', 32);
  c.add({ name: 'fc', op: 'dense', units: classes, bias: true });
  return { format: MODEL_GRAPH_FORMAT, name: 'mlp', input, classes, nodes: c.nodes };
}

const PRESETS: Record<ModelPreset, (s: PresetSettings, input: [number, number, number], classes: number) => ModelGraph> = {
  s5,
  'resnet-tiny': resnetTiny,
  separable,
  mlp,
};

/** A preset's graph for a dataset's input shape and class count (placeholders still 'auto'). */
export function presetGraph(name: ModelPreset, s: PresetSettings, input: [number, number, number] = [28, 28, 1], classes = 10): ModelGraph {
  const make = PRESETS[name];
  if (!make) throw new Error(`unknown model preset "${name}"; presets: ${MODEL_PRESETS.join(', ')}`);
  return make(s, input, classes);
}
