/**
 * Studies (groups of runs started together from a preset), run comparison, misclassified images
 * and weight analysis. Types only: shared by services, CLI and renderer.
 */
import type { CheckpointTag } from './checkpoint';
import type { ValidationSource } from './validation';
import type { EpochMetrics, JobInfo, RunRecord } from './api';
import type { TrainSettings } from './settings';
import type { ExecutorKind, SlurmOptions, SlurmSubmission } from './slurm';

/** A knob of a preset that feeds several variants (e.g. the s6 preset's L1 λ). */
export interface PresetParam {
  key: string;
  label: string;
  default: number;
  min: number;
  max: number;
  help: string;
}

/** One run configuration of a preset (before seeds are repeated). */
export interface StudyVariant {
  key: string;
  label: string;
  /** Settings this variant sets on top of the preset's base and the user's overrides. */
  settings: Partial<TrainSettings>;
}

export interface StudyPresetInfo {
  id: string;
  title: string;
  help: string;
  /** Settings every variant starts from (before the user's overrides). */
  base: Partial<TrainSettings>;
  params: PresetParam[];
  /** Variants with the params at their defaults. */
  variants: StudyVariant[];
  /** Settings the user may override for the whole study (the variants' own keys still win). */
  overridable: (keyof TrainSettings)[];
}

export interface StudyStartRequest {
  preset: string;
  /** Settings for every run (data, epochs, trainLimit, testLimit, lr, batch, seed, …). */
  overrides?: Partial<TrainSettings>;
  /** Values for the preset's params (e.g. { l1: 1e-4, l2: 5e-4 }). */
  params?: Record<string, number>;
  /** Repeat each variant with seeds seed, seed+1, … (default 1). */
  seeds?: number;
  name?: string;
  /** Extend this existing study instead of creating a new one (more seeds or variants). */
  studyId?: string;
  /** Only these variant keys (default all). */
  variants?: string[];
  /** Where the runs train: 'local' (default, this machine's queue) or 'slurm' (one array job). */
  executor?: ExecutorKind;
  /** sbatch options when executor is 'slurm'. */
  slurm?: SlurmOptions;
  /** Report folder the Slurm report job writes (default: <workspace>/slurm/<study id>/report). */
  reportDir?: string;
}

/** A group of runs started together (e.g. the S6 preset: none, L1, L2, L1+L2), as the store keeps it. */
export interface StudySummary {
  id: string;
  name: string;
  /** Preset it came from ('s6', 'custom', …). */
  preset: string;
  runIds: string[];
  created: string;
  updated: string;
  /** Set when studies/<id>.json could not be read; the other fields are then placeholders. */
  error?: string;
}

export interface StudyStartResult {
  study: StudySummary;
  runs: RunRecord[];
  /** Local jobs (empty when the runs went to Slurm). */
  jobs: JobInfo[];
  /** Set when the runs went to Slurm: the array job, the report job and where their files are. */
  slurm?: SlurmSubmission;
  /** Variants left out because on the study's model they train the same network as another (why). */
  notes?: string[];
}

/** Runs whose settings differ only in seed (and name) form one group: drawn as mean with a band. */
export interface RunGroup {
  key: string;
  label: string;
  runIds: string[];
}

export interface StudyDetail {
  study: StudySummary;
  runs: RunRecord[];
  groups: RunGroup[];
}

export interface ConfigDiffRow {
  key: string;
  label: string;
  /** Value per run id, in the order of the request. */
  values: Record<string, unknown>;
}

export interface CompareRow {
  runId: string;
  name: string;
  status: string;
  epochs: number;
  /**
   * Where validation numbers come from: a held-out split, or the test split (valSplit 0, or a
   * run recorded before the validation split existed).
   */
  valSource: ValidationSource;
  finalValAcc: number | null;
  finalValLoss: number | null;
  /** Highest validation accuracy over the epochs. */
  bestValAcc: number | null;
  finalTestAcc: number | null;
  finalTestLoss: number | null;
  /** Highest test accuracy over the epochs (for reference only: nothing is selected by it). */
  bestTestAcc: number | null;
  /** Test accuracy of the best checkpoint (the epoch with the lowest validation loss). */
  testAccAtBest: number | null;
  /** Epoch with the highest validation accuracy. */
  bestAccEpoch: number | null;
  /** Epoch with the lowest validation loss (the run's 'best' checkpoint). */
  bestLossEpoch: number | null;
  /** Share of kernel weights with |w| < 1e-3 after the last epoch. */
  sparsity: number | null;
  /** L2 norm over all conv/dense kernels after the last epoch. */
  kernelNorm: number | null;
}

export interface CompareResult {
  runs: { run: RunRecord; metrics: EpochMetrics[] }[];
  groups: RunGroup[];
  /** Only the settings that differ between the runs (seed and name included when they differ). */
  diff: ConfigDiffRow[];
  table: CompareRow[];
}

export interface MisclassifiedRequest {
  runId: string;
  /** How many (default 25). */
  n?: number;
  checkpoint?: CheckpointTag;
  /** Test images searched (default: the run's own test limit, 0 = all). */
  testLimit?: number;
}

export interface MisclassifiedItem {
  /** Index in the test split. */
  index: number;
  actual: number;
  predicted: number;
  actualName: string;
  predictedName: string;
  /** Softmax probability of the predicted class. */
  confidence: number;
  /** Probability the model gave the true class. */
  actualProb: number;
  /** height·width·channels bytes (0 = black), base64. */
  pixels: string;
}

export interface MisclassifiedResult {
  runId: string;
  runName: string;
  checkpoint: { tag: CheckpointTag; epoch: number };
  dataset: string;
  classNames: string[];
  imageShape: [number, number, number];
  /** Test images evaluated. */
  evaluated: number;
  /** Misclassified among them. */
  wrong: number;
  accuracy: number;
  items: MisclassifiedItem[];
}

export interface WeightsRequest {
  runIds: string[];
  checkpoint?: CheckpointTag;
}

/** Histogram of log10|w| with a separate count of exact zeros, so L1's spike at zero is never hidden. */
export interface LogAbsHistogram {
  /** Bin edges in log10|w| (length bins+1); values below the first edge go to the first bin. */
  edges: number[];
  counts: number[];
  zeros: number;
  total: number;
}

export interface LayerWeights {
  name: string;
  shape: number[];
  count: number;
  norm: number;
  meanAbs: number;
  maxAbs: number;
  /** Share of |w| below each threshold, keyed '1e-4', '1e-3', '1e-2'. */
  sparsity: Record<string, number>;
  hist: LogAbsHistogram;
  /** Signed quantiles at QUANTILE_LEVELS (exact, from the sorted weights). */
  quantiles: number[];
}

export interface DecayInfo {
  /** Per-step multiplicative factor on w from L2 in the loss with SGD momentum (1 − lr·2λ/(1−β)); null when l2 = 0. */
  l2Factor: number | null;
  /** Same without the momentum amplification (one step, no history). */
  l2FactorNoMomentum: number | null;
  /** Per-step factor of decoupled weight decay (1 − lr·wd); null when wd = 0. */
  decoupledFactor: number | null;
  /** Per-step constant shrink of |w| toward 0 from L1 with momentum (lr·λ₁/(1−β)); null when l1 = 0. */
  l1Shrink: number | null;
  stepsPerEpoch: number;
  /** Factor over one epoch, from L2 (with momentum) and decoupled decay together. */
  epochFactor: number;
  /** Steps for the L2 + decay factor to halve a weight with no data gradient; null without decay. */
  halfLifeSteps: number | null;
  lr: number;
  momentum: number;
  optimizer: string;
  note: string;
}

export interface RunWeights {
  runId: string;
  runName: string;
  checkpoint: { tag: CheckpointTag; epoch: number } | null;
  layers: LayerWeights[];
  /** Over all conv/dense kernels. */
  overall: { count: number; norm: number; sparsity: Record<string, number>; hist: LogAbsHistogram };
  /** Per kernel, the L2 norm after each epoch (from metrics.jsonl). */
  normsOverEpochs: { epoch: number; norms: Record<string, number> }[];
  /** Share of kernel weights with |w| < 1e-3 after each epoch (metrics.jsonl). */
  sparsityOverEpochs: { epoch: number; sparsity: number }[];
  /**
   * Per kernel, the log10|w| histogram (LOG_EDGES bins) of each stored epoch's weights
   * (weights/epoch-N), at most HIST_EPOCH_CAP epochs, evenly subsampled; empty when none were stored.
   */
  histsOverEpochs: EpochHistograms[];
  /** Why histsOverEpochs is empty or partial (e.g. "per-epoch weights were not recorded for this run"); null when complete. */
  histsOverEpochsNote: string | null;
  decay: DecayInfo;
}

/** The kernel histograms of one epoch's stored weights, keyed by layer name (…/kernel). */
export interface EpochHistograms {
  epoch: number;
  layers: Record<string, LogAbsHistogram>;
}

export interface WeightsResult {
  runs: RunWeights[];
  thresholds: number[];
  quantileLevels: number[];
  /** What "over epochs" means here: only norms and sparsity are stored per epoch. */
  note: string;
}

export interface StudyApi {
  'study.presets': { req: Record<string, never>; res: StudyPresetInfo[] };
  'study.start': { req: StudyStartRequest; res: StudyStartResult };
  'study.list': { req: Record<string, never>; res: StudySummary[] };
  'study.get': { req: { id: string }; res: StudyDetail };
  'runs.compare': { req: { runIds: string[] }; res: CompareResult };
  'analysis.misclassified': { req: MisclassifiedRequest; res: MisclassifiedResult };
  'analysis.weights': { req: WeightsRequest; res: WeightsResult };
}

