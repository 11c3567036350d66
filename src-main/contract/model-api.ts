/**
 * The Model view's methods and `normlab import-model` / `normlab model`: import a PyTorch ONNX
 * export, describe a model (preset, file or edited JSON) as a torchsummary-style table with every
 * problem named, save an edited graph into the workspace, list what can be chosen.
 */
import type { ModelGraph, ModelIssue, ModelSummary } from './model-graph';

/** What an import did (graph-level; the tensors stay on disk). */
export interface ModelImportReport {
  /** The .onnx path, or the name given with uploaded bytes. */
  source: string;
  producer: string;
  opset: number;
  /** ONNX op → how many nodes of it on the data path. */
  onnxOps: Record<string, number>;
  /** ONNX nodes that became no graph node, and why. */
  dropped: { node: string; op: string; why: string }[];
  notes: string[];
}

export interface ModelImportResult {
  graph: ModelGraph;
  summary: ModelSummary;
  /** The JSON spec written (null when nothing was saved). */
  spec: string | null;
  /** The NLCK weights file written beside it (null with `weights: 'reinit'` or nothing saved). */
  weightsFile: string | null;
  weights: 'keep' | 'reinit';
  report: ModelImportReport;
}

export interface ModelDescribeResult {
  /** Where the model came from: a preset name, a file path, or "edited JSON". */
  source: string;
  /** The graph when it could be read (even when it has problems). */
  graph: ModelGraph | null;
  /** The table, present only when the graph is valid. */
  summary: ModelSummary | null;
  /** Every problem, naming node, field and shape; empty when valid. */
  issues: ModelIssue[];
  /** True when the file names initial weights (an import kept them). */
  hasWeights: boolean;
}

export interface ModelEntry {
  /** What the `model` setting takes: a preset name or a JSON path. */
  value: string;
  label: string;
  kind: 'preset' | 'file';
  params: number | null;
  hasWeights: boolean;
}

export interface ModelApi {
  /** Imports an .onnx (a path, or base64 bytes from the renderer). `out` defaults to the workspace's models/ folder. */
  'model.import': {
    req: { file?: string; base64?: string; name?: string; weights?: 'keep' | 'reinit'; norm?: 'auto' | 'keep'; out?: string };
    res: ModelImportResult;
  };
  /** A preset name or JSON path (`model`), or a graph being edited (`graph`, untrusted JSON). */
  'model.describe': { req: { model?: string; graph?: unknown }; res: ModelDescribeResult };
  /** Saves a valid graph as models/NAME.json in the workspace; answers the path for the `model` setting. */
  'model.save': { req: { name: string; graph: unknown }; res: { path: string; summary: ModelSummary } };
  /** The presets, then the models saved in the workspace. */
  'model.list': { req: Record<string, never>; res: ModelEntry[] };
}

/** An output shape as the table shows it: [28, 28, 8] → "28×28×8", [10] → "10". */
export function formatShape(shape: readonly number[] | undefined): string {
  return shape && shape.length ? shape.join('×') : '—';
}
