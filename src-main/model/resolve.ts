/**
 * Fills a graph's placeholders from the run's settings: `norm: 'auto'` nodes take the settings'
 * norm (and vanish, their readers reading their input, when it is `none`); `rate: 'auto'`
 * dropouts take the settings' rate (and vanish at 0).
 */
import type { TrainSettings } from '../contract/settings';
import type { GraphNode, ModelGraph, NormChoice, ResolvedGraph, ResolvedNode } from '../contract/model-graph';
import { outputName } from './graph';

export type GraphSettings = Pick<TrainSettings, 'norm' | 'ghostBatch' | 'groups' | 'bnConvention' | 'bnMomentum' | 'bnEps' | 'dropout'>;

/** The NormChoice the settings describe, or null for `none`. */
export function normFromSettings(s: GraphSettings): NormChoice | null {
  switch (s.norm) {
    case 'none':
      return null;
    case 'batch':
      return { kind: 'batch', momentum: s.bnMomentum, eps: s.bnEps, convention: s.bnConvention };
    case 'ghost':
      return { kind: 'ghost', virtualBatch: s.ghostBatch, momentum: s.bnMomentum, eps: s.bnEps, convention: s.bnConvention };
    case 'layer':
      return { kind: 'layer', eps: s.bnEps };
    case 'group':
      return { kind: 'group', groups: s.groups, eps: s.bnEps };
  }
}

/** A resolved copy of the graph (the input is not changed). Structure is not validated here. */
export function resolveGraph(graph: ModelGraph | ResolvedGraph, s: GraphSettings): ResolvedGraph {
  const norm = normFromSettings(s);
  const alias = new Map<string, string>();
  const target = (name: string) => alias.get(name) ?? name;
  const nodes: ResolvedNode[] = [];
  for (const raw of graph.nodes as GraphNode[]) {
    const n = { ...raw, inputs: raw.inputs.map(target) } as GraphNode;
    if (n.op === 'norm' && n.norm === 'auto') {
      if (!norm) { alias.set(n.name, n.inputs[0]); continue; }
      nodes.push({ ...n, norm: { ...norm } });
    } else if ((n.op === 'dropout' || n.op === 'dropout2d') && n.rate === 'auto') {
      if (!(s.dropout > 0)) { alias.set(n.name, n.inputs[0]); continue; }
      nodes.push({ ...n, rate: s.dropout });
    } else {
      nodes.push(n as ResolvedNode);
    }
  }
  const out: ResolvedGraph = { format: graph.format, name: graph.name, input: [...graph.input] as [number, number, number], classes: graph.classes, nodes };
  const o = outputName(graph);
  if (graph.output !== undefined || alias.has(o)) out.output = target(o);
  return out;
}

/** True when no placeholder is left. */
export function isResolved(graph: ModelGraph | ResolvedGraph): graph is ResolvedGraph {
  return (graph.nodes as GraphNode[]).every((n) => !((n.op === 'norm' && n.norm === 'auto') || ((n.op === 'dropout' || n.op === 'dropout2d') && n.rate === 'auto')));
}
