/**
 * The one typed API shared by every door (Electron IPC, WebSocket, CLI) and the renderer.
 * Types only, plus the list of method and event names the transports check against.
 */
import type { TrainSettings, SettingIssue } from './settings';
import type { ResolvedGraph } from './model-graph';
import type { OnnxApi } from './onnx';
import type { ModelApi } from './model-api';
import type { DropoutApi } from './dropout';
import type { StudyApi } from './study';
import type { BnApi } from './bn';
import type { LandscapeApi } from './landscape';
import type { RunSlurm, SlurmInfo } from './slurm';

export type RunStatus = 'queued' | 'running' | 'done' | 'failed' | 'cancelled' | 'interrupted' | 'stopped-early';

export interface EpochMetrics {
  epoch: number;
  train_loss: number;
  train_acc: number;
  /**
   * Validation split (held out of train): model selection and early stopping use it. Absent in
   * records written before the split existed: there validation = test, and readers say so.
   * With valSplit 0 the engine writes the test numbers here (and `val_is_test: true`).
   */
  val_loss?: number;
  val_acc?: number;
  /** True when the run had no validation split (valSplit 0): val_* are the test split's numbers. */
  val_is_test?: boolean;
  test_loss: number;
  test_acc: number;
  lr: number;
  /** Mean global gradient norm over the epoch's steps (before clipping). */
  grad_norm: number;
  /** Steps whose gradient was clipped this epoch. */
  clipped_steps: number;
  /** L2 norm of each parameter tensor, by parameter name. */
  weight_norms: Record<string, number>;
  /** Share of conv/dense kernel weights with |w| < 1e-3. */
  sparsity: number;
  seconds: number;
  /** Things worth marking on a chart: 'best', 'early-stop', 'restored-best'. */
  events?: string[];
}

/**
 * Training loss per step of one epoch, thinned (the engine averages runs of neighbouring steps so
 * that an epoch has at most a few hundred points); steps.jsonl keeps one such line per epoch.
 */
export interface StepLosses {
  epoch: number;
  /** Steps in one epoch, so that a global step maps back to its epoch. */
  stepsPerEpoch: number;
  /** [global step (1-based), mean training loss of the steps since the previous point]. */
  points: [number, number][];
}

export interface DatasetInfo {
  name: string;
  /** Where it came from: 'embedded', a folder path. */
  source: string;
  classNames: string[];
  trainCount: number;
  testCount: number;
  height: number;
  width: number;
  channels: number;
}

export interface RunRecord {
  id: string;
  name: string;
  status: RunStatus;
  settings: TrainSettings;
  /** Study this run belongs to, if any. */
  study?: string;
  backend: string;
  versions: Record<string, string>;
  dataset?: DatasetInfo;
  params?: number;
  /** The graph the run trains (its settings' model, placeholders resolved), written when it starts. */
  model?: ResolvedGraph;
  /**
   * When the run started from the weights its model file names (`import-model --weights keep`):
   * that file, how many tensors came from it, and those seeded instead (with why) or not used.
   */
  startWeights?: { file: string; taken: number; seeded: { name: string; why: string }[]; unused: string[] };
  created: string;
  updated: string;
  started?: string;
  finished?: string;
  /** Last completed epoch (0 before the first). */
  epochsDone: number;
  /** Epoch with the lowest validation loss (the best checkpoint). */
  bestEpoch?: number;
  bestTestAcc?: number;
  finalTestAcc?: number;
  /** Highest and last validation accuracy; absent for runs recorded before the validation split. */
  bestValAcc?: number;
  finalValAcc?: number;
  /** Images in each split as trained; valIsTest when valSplit was 0 (validation = test). */
  splits?: { train: number; val: number; test: number; valIsTest: boolean };
  error?: string;
  /** Who writes a queued or running run (its lock holder); a gone owner makes the run 'interrupted'. */
  owner?: RunOwner;
  /**
   * Set when a file of the run does not match its schema: names the file and the field. A damaged
   * run is listed, but analyses, exports and resume refuse it instead of guessing.
   */
  damaged?: string;
  /**
   * The Slurm array task a study submitted this run to (`--executor slurm`). Kept after the run
   * ends (unlike `owner`), so the record always names its job and task; the scheduler's state is
   * merged in when the run is read (state, note), never trusted from disk.
   */
  slurm?: RunSlurm;
}

/** What a resume kept and dropped when it cut the run's append-only records back to its checkpoint. */
export interface ResumeReport {
  /** Epoch of the checkpoint the run resumes from; 0 = no usable checkpoint, the run starts over. */
  epoch: number;
  kept: { metrics: number; steps: number; bn: number; weights: number };
  dropped: { metrics: number; steps: number; bn: number; weights: number };
  /** Unreadable lines moved aside (to `<file>.damaged`), by file. */
  damagedLines: { file: string; lines: number }[];
  /** Why an earlier checkpoint than the newest was chosen, or none at all (empty when the newest was used). */
  notes: string[];
}

/**
 * The one writer of a run. A process is named by pid, start time ("<boot id>:<ticks>", absent
 * where it cannot be read) and host, so a reused pid is recognised; a Slurm task by job id and
 * array task id.
 */
export type RunOwner =
  | { kind: 'process'; pid: number; startTime?: string; host: string }
  | { kind: 'slurm'; jobId: string; arrayTaskId?: number; host?: string };

export interface RunDetail {
  run: RunRecord;
  metrics: EpochMetrics[];
  files: { name: string; bytes: number }[];
  /** Per-step training loss of the finished epochs (absent for runs trained before it was kept). */
  steps?: StepLosses[];
}

export interface BackendInfo {
  backend: string;
  reason: string;
  tried: { name: string; ok: boolean; error?: string }[];
  threads?: number;
}

export interface EngineInfo extends BackendInfo {
  /** Default training engine: onnxruntime (training-step graph, `threads` threads) for batch norm and no norm; `backend` otherwise. */
  training: { engine: 'onnxruntime'; threads: number; note: string };
  /** The local queue: runs at once and threads per run. */
  queue?: QueueSettings;
  versions: Record<string, string>;
  datasets: { name: string; available: boolean; source: string; note?: string }[];
  workspace: string;
}

/** The local queue's width: queue-wide, not a per-run setting. */
export interface QueueSettings {
  /** Runs (jobs) trained at once, each on its own engine worker. */
  parallel: number;
  /** Cores of this machine (the default width). */
  cores: number;
  /** Largest width the queue accepts. */
  max: number;
  /** onnxruntime threads a run with `threads` 0 (auto) gets at this width: the cores divided between the runs. */
  threadsPerRun: number;
  /** Engine workers started now (busy or idle). */
  workers: number;
}

export type JobKind = 'train' | 'analysis';
export type JobState = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';

export interface JobInfo {
  id: string;
  kind: JobKind;
  title: string;
  state: JobState;
  runId?: string;
  progress?: Progress;
  error?: string;
}

export interface Progress {
  /** 0..1 */
  fraction: number;
  message: string;
  epoch?: number;
  epochs?: number;
  step?: number;
  steps?: number;
  etaSeconds?: number;
}

export interface ApiErrorShape {
  code: 'invalid' | 'not-found' | 'conflict' | 'engine' | 'dataset' | 'io' | 'cancelled' | 'internal';
  message: string;
  issues?: SettingIssue[];
}

/** Method name → request and response. Every door carries exactly these. */
export interface CoreApi {
  'engine.info': { req: Record<string, never>; res: EngineInfo };
  'runs.list': { req: Record<string, never>; res: RunRecord[] };
  'runs.get': { req: { id: string }; res: RunDetail };
  'runs.start': { req: { settings: Partial<TrainSettings>; study?: string }; res: { run: RunRecord; job: JobInfo } };
  'runs.resume': { req: { id: string }; res: { run: RunRecord; job: JobInfo; resume: ResumeReport } };
  'runs.cancel': { req: { id: string }; res: { cancelled: boolean } };
  'runs.delete': { req: { id: string }; res: { deleted: boolean } };
  'jobs.list': { req: Record<string, never>; res: JobInfo[] };
  'jobs.cancel': { req: { id: string }; res: { cancelled: boolean } };
  'queue.get': { req: Record<string, never>; res: QueueSettings };
  /** Sets how many runs train at once; running runs go on, queued ones start as workers free up. */
  'queue.set': { req: { parallel: number }; res: QueueSettings };
  /** Whether studies can go to Slurm here (sbatch found and answering), and why not. */
  'slurm.info': { req: Record<string, never>; res: SlurmInfo };
}

export type Api = CoreApi & BnApi & DropoutApi & OnnxApi & StudyApi & LandscapeApi & ModelApi;
export type Method = keyof Api;
export type Req<M extends Method> = Api[M]['req'];
export type Res<M extends Method> = Api[M]['res'];

/** Event name → payload, pushed from services to every connected renderer. */
export interface Events {
  'job.updated': JobInfo;
  'run.updated': RunRecord;
  'run.epoch': { runId: string; metrics: EpochMetrics };
  /** New per-step loss points of the epoch in progress (several times a second while training). */
  'run.steps': { runId: string } & StepLosses;
  'engine.status': { state: 'ready' | 'crashed' | 'restarting'; message: string; backend?: string };
}
export type EventName = keyof Events;

/** Runtime lists the transports check names against (kept in sync by the type below). */
export const METHODS = [
  'engine.info', 'runs.list', 'runs.get', 'runs.start', 'runs.resume', 'runs.cancel', 'runs.delete',
  'jobs.list', 'jobs.cancel', 'queue.get', 'queue.set', 'slurm.info',
  'bn.timeline', 'bn.inspect',
  'dropout.analyze',
  'study.presets', 'study.start', 'study.list', 'study.get', 'runs.compare', 'analysis.misclassified', 'analysis.weights',
  'onnx.export', 'onnx.exports', 'onnx.download', 'onnx.reveal', 'onnx.infer', 'onnx.bench',
  'landscape.compute', 'landscape.images',
  'model.import', 'model.describe', 'model.save', 'model.list',
] as const satisfies readonly Method[];
export const EVENTS = ['job.updated', 'run.updated', 'run.epoch', 'run.steps', 'engine.status'] as const satisfies readonly EventName[];

// Compile-time check that METHODS lists every method exactly.
type Missing = Exclude<Method, (typeof METHODS)[number]>;
const _allMethodsListed: Missing extends never ? true : Missing = true;
void _allMethodsListed;

/** What a door sends and receives on the wire (WebSocket, IPC). */
export type WireRequest = { id: number; method: string; params: unknown };
export type WireResponse =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: ApiErrorShape };
export type WireEvent = { event: string; payload: unknown };

/** The renderer's only view of the app: one interface, several transports. */
export interface Host {
  readonly kind: 'electron' | 'browser' | 'test';
  call<M extends Method>(method: M, params: Req<M>): Promise<Res<M>>;
  on<E extends EventName>(event: E, listener: (payload: Events[E]) => void): () => void;
}

export class ApiError extends Error {
  constructor(readonly code: ApiErrorShape['code'], message: string, readonly issues?: SettingIssue[]) {
    super(message);
    this.name = 'ApiError';
  }
  toShape(): ApiErrorShape {
    return { code: this.code, message: this.message, ...(this.issues ? { issues: this.issues } : {}) };
  }
}
