/**
 * Whole-graph rules: structure (names, inputs, order), shape inference, parameters, summary.
 * Every problem becomes a ModelIssue naming the node, the field and the shape that does not fit.
 */
import { MODEL_GRAPH_FORMAT, NODE_OPS, type GraphNode, type ModelGraph, type ModelIssue, type ModelSummary, type NodeOp, type ResolvedGraph } from '../contract/model-graph';
import type { OpDef, ParamSpec, Shape, StateSpec } from './op';
import { fmt } from './op';
import { OPS } from './table';

/** Thrown by the functions that need a valid graph; `issues` lists every problem found. */
export class ModelGraphError extends Error {
  constructor(
    readonly graphName: string,
    readonly issues: ModelIssue[],
  ) {
    super(`model ${JSON.stringify(graphName)}: ${issues.map(describeIssue).join('; ')}`);
    this.name = 'ModelGraphError';
  }
}

export function describeIssue(i: ModelIssue): string {
  const where = i.node ? `node "${i.node}"${i.field ? ` (${i.field})` : ''}` : i.field ? `${i.field}` : 'graph';
  return `${where}: ${i.message}`;
}

const NAME_RE = /^[A-Za-z0-9_.-]+$/;

/** The op module of a node, typed for generic callers. */
export function opDef(node: GraphNode): OpDef<NodeOp> {
  return OPS[node.op] as unknown as OpDef<NodeOp>;
}

/** Name of the logits node. */
export function outputName(g: Pick<ModelGraph, 'nodes' | 'output'>): string {
  return g.output ?? g.nodes[g.nodes.length - 1]?.name ?? '';
}

interface Checked {
  issues: ModelIssue[];
  shapes: Map<string, Shape>;
}

function check(graph: unknown): Checked {
  const issues: ModelIssue[] = [];
  const shapes = new Map<string, Shape>();
  const top = (field: string, message: string) => issues.push({ node: '', field, message });
  if (typeof graph !== 'object' || graph === null || Array.isArray(graph)) {
    top('graph', `a model is a JSON object with format, name, input, classes and nodes, got ${Array.isArray(graph) ? 'a list' : JSON.stringify(graph)}`);
    return { issues, shapes };
  }
  const g = graph as Partial<Record<keyof ModelGraph, unknown>>;
  if (g.format !== MODEL_GRAPH_FORMAT) top('format', `format must be "${MODEL_GRAPH_FORMAT}", got ${JSON.stringify(g.format)}`);
  if (typeof g.name !== 'string' || !g.name) top('name', `name must be a non-empty text, got ${JSON.stringify(g.name)}`);
  const input = g.input;
  const inputOk = Array.isArray(input) && input.length === 3 && input.every((d) => Number.isInteger(d) && d >= 1);
  if (!inputOk) top('input', `input must be [height, width, channels] whole numbers ≥ 1, got ${JSON.stringify(input)}`);
  const classesOk = Number.isInteger(g.classes) && (g.classes as number) >= 1;
  if (!classesOk) top('classes', `classes must be a whole number ≥ 1, got ${JSON.stringify(g.classes)}`);
  if (!Array.isArray(g.nodes) || g.nodes.length === 0) {
    top('nodes', 'nodes must be a non-empty list');
    return { issues, shapes };
  }
  if (inputOk) shapes.set('input', [...(input as number[])]);
  const seen = new Set<string>();
  const used = new Set<string>();
  (g.nodes as unknown[]).forEach((raw, i) => {
    if (typeof raw !== 'object' || raw === null) {
      top(`nodes[${i}]`, `every node is an object, got ${JSON.stringify(raw)}`);
      return;
    }
    const n = raw as GraphNode;
    const label = typeof n.name === 'string' && n.name ? n.name : `#${i}`;
    const bad = (message: string, field?: string) => issues.push({ node: label, field, message });
    if (typeof n.name !== 'string' || !NAME_RE.test(n.name) || n.name === 'input') bad(`name must use letters, digits, _ - . and not be "input", got ${JSON.stringify(n.name)}`, 'name');
    else if (seen.has(n.name)) bad(`the name is used by an earlier node`, 'name');
    if (!(NODE_OPS as readonly string[]).includes(n.op)) {
      bad(`unknown op ${JSON.stringify(n.op)}; known: ${NODE_OPS.join(', ')}`, 'op');
      if (typeof n.name === 'string') seen.add(n.name);
      return;
    }
    const def = opDef(n);
    let ok = true;
    if (!Array.isArray(n.inputs) || n.inputs.some((s) => typeof s !== 'string')) {
      bad(`inputs must be a list of node names, got ${JSON.stringify(n.inputs)}`, 'inputs');
      ok = false;
    } else {
      if (def.arity === 'one' && n.inputs.length !== 1) { bad(`${n.op} reads exactly one input, got ${n.inputs.length}`, 'inputs'); ok = false; }
      if (def.arity === 'many' && n.inputs.length < 2) { bad(`${n.op} reads two or more inputs, got ${n.inputs.length}`, 'inputs'); ok = false; }
      for (const src of n.inputs) {
        used.add(src);
        if (src !== 'input' && !seen.has(src)) { bad(`input "${src}" is not an earlier node (nodes are listed in order; "input" is the image)`, 'inputs'); ok = false; }
      }
    }
    const fieldIssues = def.check(n);
    for (const f of fieldIssues) bad(f.message, f.field);
    if (typeof n.name === 'string') seen.add(n.name);
    if (!ok || fieldIssues.length > 0) return;
    const ins = n.inputs.map((s) => shapes.get(s));
    if (ins.some((s) => s === undefined)) return; // an upstream problem is already reported
    const out = def.shape(n, ins as Shape[]);
    if (typeof out === 'string') bad(out, 'inputs');
    else shapes.set(n.name, out);
  });
  const nodes = g.nodes as GraphNode[];
  const outName = g.output === undefined ? nodes[nodes.length - 1]?.name : g.output;
  if (g.output !== undefined && (typeof g.output !== 'string' || !seen.has(g.output))) {
    top('output', `output must name a node, got ${JSON.stringify(g.output)}`);
  } else if (typeof outName === 'string') {
    const s = shapes.get(outName);
    if (s && classesOk && (s.length !== 1 || s[0] !== g.classes)) {
      issues.push({ node: outName, message: `the logits must be [${g.classes}] (classes), this output node gives ${fmt(s)}` });
    }
    // Nodes the output does not depend on would train nothing and confuse the exports.
    const needed = new Set<string>([outName]);
    for (let i = nodes.length - 1; i >= 0; i--) {
      const n = nodes[i];
      if (n && needed.has(n.name) && Array.isArray(n.inputs)) for (const s of n.inputs) needed.add(s);
    }
    for (const n of nodes) if (n && typeof n.name === 'string' && !needed.has(n.name) && n.name !== outName) issues.push({ node: n.name, message: `the output "${outName}" does not depend on this node; remove it or wire it in` });
    if (!needed.has('input')) top('nodes', 'no node reads "input" on the way to the output');
  }
  return { issues, shapes };
}

/** Every problem of a graph (structure, fields, shapes), empty when the graph is valid. Takes untrusted JSON. */
export function validateGraph(graph: unknown): ModelIssue[] {
  return check(graph).issues;
}

/** Asserts a graph is valid (throws ModelGraphError listing every problem). */
export function assertValidGraph<G extends Pick<ModelGraph, 'name'>>(graph: G): G {
  const { issues } = check(graph);
  if (issues.length) throw new ModelGraphError(graph?.name ?? '?', issues);
  return graph;
}

/** Output shape of `input` and every node ([h, w, c] or [units]); throws ModelGraphError on an invalid graph. */
export function inferShapes(graph: ModelGraph | ResolvedGraph): Record<string, Shape> {
  const { issues, shapes } = check(graph);
  if (issues.length) throw new ModelGraphError(graph.name, issues);
  return Object.fromEntries(shapes);
}

type AnyGraph = ModelGraph | ResolvedGraph;

function inputShapes(node: GraphNode, shapes: Record<string, Shape>): Shape[] {
  return node.inputs.map((s) => shapes[s]);
}

/** Trainable parameters, node by node in graph order (tfjs layouts). */
export function paramSpecs(graph: AnyGraph, shapes: Record<string, Shape> = inferShapes(graph)): ParamSpec[] {
  return (graph.nodes as GraphNode[]).flatMap((n) => opDef(n).params(n, inputShapes(n, shapes)));
}

/** Running state (BN running mean/var, cumulative counts). A norm still 'auto' has none until resolved. */
export function stateSpecs(graph: AnyGraph, shapes: Record<string, Shape> = inferShapes(graph)): StateSpec[] {
  return (graph.nodes as GraphNode[]).flatMap((n) => opDef(n).state(n, inputShapes(n, shapes)));
}

/** Number of trainable scalars (running statistics excluded). */
export function countParams(graph: AnyGraph): number {
  return paramSpecs(graph).reduce((s, p) => s + p.shape.reduce((a, b) => a * b, 1), 0);
}

/** The torchsummary-style table: node, op, inputs, output shape, parameters, MACs, totals. */
export function summarize(graph: AnyGraph): ModelSummary {
  const shapes = inferShapes(graph);
  const rows = (graph.nodes as GraphNode[]).map((n) => {
    const def = opDef(n);
    const ins = inputShapes(n, shapes);
    const params = def.params(n, ins).reduce((s, p) => s + p.shape.reduce((a, b) => a * b, 1), 0);
    return { node: n.name, op: n.op, inputs: [...n.inputs], outputShape: shapes[n.name], params, macs: def.macs(n, ins, shapes[n.name]) };
  });
  return {
    name: graph.name,
    input: [...graph.input] as [number, number, number],
    classes: graph.classes,
    rows,
    totalParams: rows.reduce((s, r) => s + r.params, 0),
    totalMacs: rows.reduce((s, r) => s + r.macs, 0),
  };
}

/** Nodes that read each node (the graph's fan-out; backward passes sum their gradients). */
export function consumers(graph: AnyGraph): Map<string, string[]> {
  const out = new Map<string, string[]>([['input', []]]);
  for (const n of graph.nodes) out.set(n.name, []);
  for (const n of graph.nodes) for (const s of n.inputs) out.get(s)?.push(n.name);
  return out;
}
