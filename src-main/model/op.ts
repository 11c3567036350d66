/**
 * What every layer kind declares: field checks, the output-shape rule, its parameters (names,
 * shapes, initialization) and running state, and its multiply-accumulates. One module per kind
 * under ops/ implements this; table.ts collects them in a `Record<NodeOp, …>` so a missing kind
 * is a compile error.
 */
import type { GraphNode, NodeOp, Pair, Pads, Padding } from '../contract/model-graph';

/** [h, w, c] for an image, [units] for a vector (one image; the batch axis is implicit). */
export type Shape = number[];

export type ParamKind = 'kernel' | 'bias' | 'gamma' | 'beta';

/** PyTorch's defaults: U(±1/√fan_in) for conv/dense kernels and biases; constants for norm affines. */
export type Init = { kind: 'uniform'; bound: number } | { kind: 'const'; value: number };

/** One trainable tensor, in tfjs layout: conv kernels [kh, kw, in/groups, out], dense kernels [in, out]. */
export interface ParamSpec {
  /** `<node>/<kind>`: the name checkpoints, snapshots, histograms and exports key on. */
  name: string;
  node: string;
  kind: ParamKind;
  shape: number[];
  init: Init;
}

/** Running state that is not trained (BN running statistics, the cumulative-average count). */
export interface StateSpec {
  name: string;
  node: string;
  kind: 'running_mean' | 'running_var' | 'count';
  shape: number[];
  value: number;
}

export interface FieldIssue {
  field?: string;
  message: string;
}

export type NodeOf<K extends NodeOp> = Extract<GraphNode, { op: K }>;

export interface OpDef<K extends NodeOp> {
  /** How many inputs the kind reads: exactly one, or two and more (add, concat). */
  arity: 'one' | 'many';
  /** Checks of the node's own fields (types and ranges), before any shape is known. */
  check(node: NodeOf<K>): FieldIssue[];
  /** Output shape from the input shapes, or a message saying which shape does not fit. */
  shape(node: NodeOf<K>, inputs: Shape[]): Shape | string;
  params(node: NodeOf<K>, inputs: Shape[]): ParamSpec[];
  state(node: NodeOf<K>, inputs: Shape[]): StateSpec[];
  /** Multiply-accumulates of one image's forward pass (convs and dense layers; 0 for the rest). */
  macs(node: NodeOf<K>, inputs: Shape[], output: Shape): number;
}

export const fmt = (s: Shape): string => `[${s.join(', ')}]`;

export function pair(p: Pair | undefined, fallback: [number, number]): [number, number] {
  if (p === undefined) return fallback;
  return typeof p === 'number' ? [p, p] : [p[0], p[1]];
}

const isPosInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 1;
const isNonNegInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

/** Issues for a Pair field (a positive whole number or [h, w] of them); none when absent and optional. */
export function checkPair(field: string, v: unknown, optional: boolean): FieldIssue[] {
  if (v === undefined) return optional ? [] : [{ field, message: `${field} is required` }];
  if (isPosInt(v)) return [];
  if (Array.isArray(v) && v.length === 2 && v.every(isPosInt)) return [];
  return [{ field, message: `${field} must be a whole number ≥ 1 or [height, width] of them, got ${JSON.stringify(v)}` }];
}

export function checkPads(field: string, v: unknown): FieldIssue[] {
  if (v === undefined) return [];
  if (Array.isArray(v) && v.length === 4 && v.every(isNonNegInt)) return [];
  return [{ field, message: `${field} must be [top, left, bottom, right] whole numbers ≥ 0, got ${JSON.stringify(v)}` }];
}

export function checkPadding(v: unknown): FieldIssue[] {
  if (v === undefined || v === 'valid' || v === 'same') return [];
  return checkPads('padding', v).map((i) => ({ ...i, message: `${i.message.replace(/^padding must be/, 'padding must be "valid", "same" or')}` }));
}

/** [top, left, bottom, right] of a conv's padding; 'same' splits d·(k−1) as PyTorch does (the smaller half first). */
export function convPads(padding: Padding | undefined, kernel: [number, number], dilation: [number, number]): Pads {
  if (padding === undefined || padding === 'valid') return [0, 0, 0, 0];
  if (padding === 'same') {
    const th = dilation[0] * (kernel[0] - 1);
    const tw = dilation[1] * (kernel[1] - 1);
    return [Math.floor(th / 2), Math.floor(tw / 2), th - Math.floor(th / 2), tw - Math.floor(tw / 2)];
  }
  return [padding[0], padding[1], padding[2], padding[3]];
}

/** Output length of a sliding window: ⌊(n + pads − d·(k−1) − 1)/s⌋ + 1. */
export function windowOut(n: number, padBefore: number, padAfter: number, k: number, s: number, d = 1): number {
  return Math.floor((n + padBefore + padAfter - d * (k - 1) - 1) / s) + 1;
}

export function needImage(op: string, s: Shape): string | null {
  return s.length === 3 ? null : `${op} needs an image [height, width, channels], got ${fmt(s)}`;
}

export const noParams = (): ParamSpec[] => [];
export const noState = (): StateSpec[] => [];
export const noMacs = (): number => 0;
