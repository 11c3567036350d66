/**
 * Where the Model view draws each node: rows by depth (longest path from the input), columns so
 * that a chain stays in one column and parallel branches sit side by side. Edges that skip rows
 * in the same column (residual connections) are marked so the drawing bends them aside.
 * Pure functions: tested in Node.
 */
import type { ModelSummaryRow } from '../../../../src-main/contract/model-graph';

export interface LaidNode {
  name: string;
  op: string;
  row: number;
  col: number;
  shape: number[];
  params: number;
}
export interface LaidEdge {
  from: string;
  to: string;
  /** Rows skipped with both ends in one column: drawn as an arc beside the column. */
  skip: boolean;
}
export interface Layout {
  nodes: LaidNode[];
  edges: LaidEdge[];
  rows: number;
  cols: number;
}

/** Lays out `input` and the summary's rows (in graph order, inputs before readers). */
export function layoutGraph(input: number[], rows: readonly ModelSummaryRow[]): Layout {
  const at = new Map<string, LaidNode>();
  const taken = new Set<string>();
  const inputNode: LaidNode = { name: 'input', op: 'input', row: 0, col: 0, shape: [...input], params: 0 };
  at.set('input', inputNode);
  taken.add('0:0');
  const nodes: LaidNode[] = [inputNode];
  const edges: LaidEdge[] = [];
  for (const r of rows) {
    const parents = r.inputs.map((i) => at.get(i)).filter((p): p is LaidNode => p !== undefined);
    const row = 1 + Math.max(0, ...parents.map((p) => p.row));
    // The first input's column, so a chain and the main path of a residual block stay straight.
    let col = parents.length ? parents[0].col : 0;
    while (taken.has(`${row}:${col}`)) col++;
    taken.add(`${row}:${col}`);
    const n: LaidNode = { name: r.node, op: r.op, row, col, shape: [...r.outputShape], params: r.params };
    at.set(r.node, n);
    nodes.push(n);
    for (const p of parents) edges.push({ from: p.name, to: n.name, skip: p.col === col && row - p.row > 1 });
  }
  return {
    nodes,
    edges,
    rows: 1 + Math.max(0, ...nodes.map((n) => n.row)),
    cols: 1 + Math.max(0, ...nodes.map((n) => n.col)),
  };
}

/** Colour group of an op in the drawing and the table. */
export function opGroup(op: string): 'input' | 'conv' | 'norm' | 'act' | 'pool' | 'dense' | 'merge' | 'drop' | 'shape' {
  switch (op) {
    case 'input': return 'input';
    case 'conv2d': return 'conv';
    case 'norm': return 'norm';
    case 'relu': case 'leaky_relu': return 'act';
    case 'maxpool': case 'avgpool': case 'gap': return 'pool';
    case 'dense': return 'dense';
    case 'add': case 'concat': return 'merge';
    case 'dropout': case 'dropout2d': return 'drop';
    default: return 'shape';
  }
}
