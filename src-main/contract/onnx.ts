/**
 * ONNX export, inference through onnxruntime-node, and the inference benchmark: request/response
 * types only (no runtime imports).
 */
import type { CheckpointTag } from './checkpoint';

/** One node of the exported graph, as the Export view's audit table shows it. */
export interface ExportAuditNode {
  name: string;
  op: string;
  /** The spec layer it came from ("normalize" and "output" for the added front and end). */
  layer: string;
  /** Output shape; 'N' is the dynamic batch dimension. */
  outputShape: string[];
  attributes: Record<string, number | number[]>;
  note?: string;
}

/** A batch (or ghost batch) norm layer as the export states it. */
export interface ExportAuditBn {
  layer: string;
  kind: 'batch' | 'ghost';
  epsilon: number;
  /** ONNX's momentum attribute (weight on the OLD running value = 1 − PyTorch momentum); null = cumulative, left out. */
  momentum: number | null;
  momentumNote: string;
  folded: boolean;
  /** The conv or dense layer it was folded into. */
  into?: string;
}

export interface ExportAudit {
  opset: number;
  irVersion: number;
  /** Why this opset, and how layer/group norm were expressed under it. */
  opsetReason: string;
  input: { name: string; shape: string[]; normalizationBaked: boolean };
  outputs: { name: string; shape: string[]; meaning: string }[];
  nodes: ExportAuditNode[];
  /** Node count per op type. */
  ops: Record<string, number>;
  /** Trainable parameters of the source model (countParams). */
  params: number;
  /** Float values stored in the file (folding removes BN tensors; layer norm repeats γ/β over H×W). */
  storedValues: number;
  bnFolded: boolean;
  batchNorms: ExportAuditBn[];
  dropoutRemoved: string[];
  notes: string[];
  bytes: number;
}

/** onnxruntime-node against the tfjs model on the same real test images. */
export interface ParityResult {
  /** max |Δ| of the softmax probabilities over all images and classes. */
  maxAbsDiff: number;
  maxAbsDiffLogits: number;
  /** Share of images whose predicted class agrees. */
  argmaxAgreement: number;
  images: number;
  tolerance: number;
  ok: boolean;
  /** Dataset the images came from (test split). */
  dataset: string;
}

export interface ExportOptionsReq {
  foldBn?: boolean;
  opset?: number;
  bakeNormalization?: boolean;
  /** Checkpoint to export: 'best' (default when the run has one) or 'last'. */
  checkpoint?: CheckpointTag;
}

export interface ExportResult {
  runId: string;
  /** Absolute path of the .onnx file (in the run's exports/ folder unless --out named another). */
  file: string;
  name: string;
  checkpoint: CheckpointTag;
  epoch: number;
  options: { foldBn: boolean; opset: number; bakeNormalization: boolean };
  audit: ExportAudit;
  parity: ParityResult;
  created: string;
  /** Where the parity/audit JSON was stored (FILE.onnx.json). */
  reportFile: string;
}

export interface InferResult {
  file: string;
  dataset: string;
  images: number;
  accuracy: number;
  /** Mean cross-entropy of the probabilities. */
  loss: number;
  imagesPerSecond: number;
  batch: number;
  threads: number;
  seconds: number;
  /** How inputs were normalized: baked into the graph, from the metadata mean/std, or not at all. */
  normalization: 'baked' | 'metadata' | 'none';
}

export interface InferBenchRow {
  engine: 'tfjs' | 'ort' | 'ort-folded';
  label: string;
  /** ORT intra-op threads; null for tfjs (its backend decides). */
  threads: number | null;
  imagesPerSecond: number;
  msPerBatch: number;
}

export interface InferBenchResult {
  runId: string;
  backend: string;
  batch: number;
  images: number;
  rows: InferBenchRow[];
}

export interface OnnxApi {
  /**
   * Exports into the run's exports/ folder under `name` (a file name, never a path; default from
   * the options). The UI hands the user a copy (download / save dialog); the CLI copies it to --out.
   */
  'onnx.export': { req: { runId: string; name?: string } & ExportOptionsReq; res: ExportResult };
  'onnx.exports': { req: { runId: string }; res: ExportResult[] };
  'onnx.download': { req: { runId: string; name: string }; res: { name: string; base64: string; bytes: number } };
  /** Electron: shows the file in the OS file manager. Elsewhere answers revealed = false with the path. */
  'onnx.reveal': { req: { runId: string; name: string }; res: { revealed: boolean; path: string } };
  'onnx.infer': { req: { file: string; data: string; limit?: number; threads?: number; batch?: number }; res: InferResult };
  'onnx.bench': { req: { runId: string; batch?: number; images?: number }; res: InferBenchResult };
}
