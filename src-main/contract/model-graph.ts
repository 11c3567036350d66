/**
 * Models as graphs: the file format users write (`--model FILE`), `import-model` produces, the
 * presets are written in, and every run records (run.json keeps the resolved graph, so a run is
 * self-describing). Pure data: no Node, DOM or library imports.
 *
 * Layout is NHWC throughout ([height, width, channels]), as tfjs and our checkpoints use; the
 * ONNX exporter and importer transpose at the border.
 *
 * A graph is a list of named nodes in topological order. Each node names its inputs: `input`
 * is the image, any other name is an earlier node. The last node (or `output`) is the logits.
 * Parameter names are `<node>/<param>` ("conv1/kernel", "bn1/gamma", "bn1/running_mean", …),
 * the same names checkpoints, BN snapshots, histograms and exports key on. Initial values depend
 * on the seed and the parameter name only (fair seeds), never on a node's position.
 *
 * Two placeholders let one architecture follow a study's variants: a `norm` node with
 * `norm: 'auto'` takes its kind, momentum and epsilon from the run's settings (and disappears,
 * its consumers reading its input, when the settings say `none`); a `dropout`/`dropout2d` node
 * with `rate: 'auto'` takes the settings' dropout rate (and disappears at 0).
 */

export const MODEL_GRAPH_FORMAT = 'normlab-model/1';

/** [top, left, bottom, right], as ONNX's pads for 2-D ([t, l, b, r] = pads[0], pads[1], pads[2], pads[3]). */
export type Pads = [number, number, number, number];
export type Padding = 'valid' | 'same' | Pads;
/** [height, width]; a single number means square. */
export type Pair = number | [number, number];

export type NormChoice =
  | { kind: 'batch'; momentum: number | null; eps: number; convention: 'pytorch' | 'keras' }
  | { kind: 'ghost'; virtualBatch: number; momentum: number | null; eps: number; convention: 'pytorch' | 'keras' }
  | { kind: 'layer'; eps: number }
  | { kind: 'group'; groups: number; eps: number };

interface NodeBase {
  /** Unique; letters, digits, `_`, `-`, `.`; not `input`. Prefix of the node's parameter names. */
  name: string;
  /** Names of the nodes (or `input`) this node reads; one for every op but add and concat. */
  inputs: string[];
}

export interface Conv2dNode extends NodeBase { op: 'conv2d'; filters: number; kernel: Pair; stride?: Pair; padding?: Padding; dilation?: Pair; groups?: number; bias?: boolean }
/** BatchNorm2d after a conv, BatchNorm1d after a dense layer (the input's rank decides). */
export interface NormNode extends NodeBase { op: 'norm'; norm: NormChoice | 'auto' }
export interface ReluNode extends NodeBase { op: 'relu' }
export interface LeakyReluNode extends NodeBase { op: 'leaky_relu'; alpha: number }
/** Inverted dropout of single units. */
export interface DropoutNode extends NodeBase { op: 'dropout'; rate: number | 'auto' }
/** Inverted dropout of whole channels (PyTorch's Dropout2d). */
export interface Dropout2dNode extends NodeBase { op: 'dropout2d'; rate: number | 'auto' }
export interface MaxPoolNode extends NodeBase { op: 'maxpool'; kernel: Pair; stride?: Pair; padding?: Pads }
/** Average pooling; padded cells are not counted (count_include_pad = false). */
export interface AvgPoolNode extends NodeBase { op: 'avgpool'; kernel: Pair; stride?: Pair; padding?: Pads }
export interface GapNode extends NodeBase { op: 'gap' }
/** NHWC → [N, H·W·C] in NCHW order (C, then H, then W), so weights match PyTorch's flatten. */
export interface FlattenNode extends NodeBase { op: 'flatten' }
export interface DenseNode extends NodeBase { op: 'dense'; units: number; bias?: boolean }
export interface AddNode extends NodeBase { op: 'add' }
/** Concatenation along channels. */
export interface ConcatNode extends NodeBase { op: 'concat' }

export type GraphNode =
  | Conv2dNode | NormNode | ReluNode | LeakyReluNode | DropoutNode | Dropout2dNode
  | MaxPoolNode | AvgPoolNode | GapNode | FlattenNode | DenseNode | AddNode | ConcatNode;

export type NodeOp = GraphNode['op'];

/** Every op, in one list the compiler checks against the union (a missing or extra op is an error). */
export const NODE_OPS = [
  'conv2d', 'norm', 'relu', 'leaky_relu', 'dropout', 'dropout2d', 'maxpool', 'avgpool', 'gap', 'flatten', 'dense', 'add', 'concat',
] as const satisfies readonly NodeOp[];
type _AllOpsListed = Exclude<NodeOp, (typeof NODE_OPS)[number]> extends never ? true : never;
export const ALL_OPS_LISTED: _AllOpsListed = true;

export interface ModelGraph {
  format: typeof MODEL_GRAPH_FORMAT;
  /** Shown in the Model view and recorded with the run. */
  name: string;
  /** [height, width, channels] of one input image. */
  input: [number, number, number];
  /** Number of classes = units of the logits. */
  classes: number;
  nodes: GraphNode[];
  /** Name of the logits node; default: the last node. */
  output?: string;
  /**
   * Initial weights (a model file only): an NLCK weights file, its path relative to the JSON
   * file, written by `import-model --weights keep`. A run of this model starts from these values
   * (every parameter and running statistic under its `<node>/<param>` name) instead of the seeded
   * initialisation. A run records the graph without it (the run's checkpoints hold its weights).
   */
  weights?: string;
}

/** The presets, by name (`--model s5`); a path to a JSON file is the other choice. */
export const MODEL_PRESETS = ['s5', 'resnet-tiny', 'separable', 'mlp'] as const;
export type ModelPreset = (typeof MODEL_PRESETS)[number];

/** One row of the torchsummary-style table (Model view, `normlab model`). */
export interface ModelSummaryRow {
  node: string;
  op: NodeOp;
  inputs: string[];
  /** [h, w, c] after this node, or [units] after flatten/dense. */
  outputShape: number[];
  params: number;
  macs: number;
}
export interface ModelSummary {
  name: string;
  input: [number, number, number];
  classes: number;
  rows: ModelSummaryRow[];
  totalParams: number;
  totalMacs: number;
}

/**
 * A graph whose placeholders are filled in from the run's settings (`resolveGraph` in model/):
 * every norm node names its kind and every dropout its rate. This is what engines train and
 * what a run records.
 */
export type ResolvedNode =
  | Exclude<GraphNode, NormNode | DropoutNode | Dropout2dNode>
  | (NormNode & { norm: NormChoice })
  | (DropoutNode & { rate: number })
  | (Dropout2dNode & { rate: number });
export interface ResolvedGraph extends Omit<ModelGraph, 'nodes'> {
  nodes: ResolvedNode[];
}

/** One problem with a graph, phrased for a person: the node ('' for the graph itself), the field, what does not fit. */
export interface ModelIssue {
  node: string;
  field?: string;
  message: string;
}
