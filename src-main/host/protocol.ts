/**
 * The engine worker protocol: a tagged union on `type`, both directions.
 * Handled with exhaustive switches on both sides.
 */
import type { BackendInfo, Progress, RunRecord } from '../contract/api';
import type { BnInspectRequest, BnReport } from '../contract/bn';
import type { DropoutResult } from '../contract/dropout';
import type { LandscapeResult, NormLabReport } from '../contract/landscape';
import type { ExportResult, InferBenchResult } from '../contract/onnx';
import type { MisclassifiedResult, WeightsResult } from '../contract/study';
import type { Dataset, LoadOptions } from '../data/dataset';
import type { DataProbePayload, DataProbeResult } from './jobs/data-probe';
import type { DropoutJobPayload } from './jobs/dropout';
import type { LandscapeJobPayload, NormLabJobPayload } from './jobs/landscape';
import type { MisclassifiedJobPayload } from './jobs/misclassified';
import type { BenchJobPayload, ExportJobPayload } from './jobs/onnx';
import type { TrainJobPayload } from './jobs/train';
import type { WeightsJobPayload } from './jobs/weights';

/** What a job answers when it stopped on request (and what the host answers for a job cancelled in the queue). */
export type JobCancelled = { status: 'cancelled' };

/**
 * Job name → params and result: the worker's method map, as contract/api.ts's Api is the
 * services'. Handlers (jobs/index.ts), the host's submit and the services' runJob are typed
 * from it, so a job called with the wrong params, or a handler missing, is a compile error.
 */
export interface Jobs {
  train: { params: TrainJobPayload; result: { status: string; run: RunRecord } };
  'bn.inspect': { params: BnInspectRequest; result: BnReport | JobCancelled };
  'onnx.export': { params: ExportJobPayload; result: ExportResult | JobCancelled };
  'onnx.bench': { params: BenchJobPayload; result: InferBenchResult | JobCancelled };
  dropout: { params: DropoutJobPayload; result: DropoutResult | JobCancelled };
  misclassified: { params: MisclassifiedJobPayload; result: MisclassifiedResult };
  weights: { params: WeightsJobPayload; result: WeightsResult };
  landscape: { params: LandscapeJobPayload; result: LandscapeResult };
  'landscape.images': { params: NormLabJobPayload; result: NormLabReport };
  /** Which thread runs jobs and whether it sees the host's shared dataset (tests, bench). */
  'data.probe': { params: DataProbePayload; result: DataProbeResult };
}
export type JobName = keyof Jobs;
export type JobParams<K extends JobName> = Jobs[K]['params'];
export type JobResult<K extends JobName> = Jobs[K]['result'];

/** A dataset the host could not load, for the worker to throw as the same DatasetError. */
export interface DatasetFailure {
  message: string;
  /** Set for a DatasetError: the file it names and what is wrong with it. */
  file?: string;
  problem?: string;
}

/** A job's name and its params: one member per job name, so the two always go together. */
export type JobCall = { [K in JobName]: { kind: K; payload: JobParams<K> } }[JobName];
export type JobMessage = { type: 'job'; id: string } & JobCall;

export type ToWorker =
  | JobMessage
  /** Stop after the current step; 'interrupted' when a signal (SIGTERM: scancel, time limit) asked, not the user. */
  | { type: 'cancel'; id: string; reason?: CancelReason }
  | { type: 'info'; id: string }
  /** The answer to a worker's dataset request: the host's one copy, in shared memory. */
  | { type: 'dataset'; id: string; dataset?: Dataset; error?: DatasetFailure }
  /** Queue-wide settings: what `threads` 0 means now (the cores divided by the runs at once). */
  | { type: 'config'; autoThreads: number }
  /** Test hook: makes the worker crash hard, to exercise recovery. */
  | { type: 'crash'; how: 'throw' | 'exit' };

export type FromWorker =
  | { type: 'ready'; backend: BackendInfo; versions: Record<string, string> }
  | { type: 'init-failed'; message: string }
  /** Asks the host for a dataset by reference (loaded once there and shared by every worker). */
  | { type: 'dataset.request'; id: string; ref: string; opts: LoadOptions }
  | { type: 'progress'; id: string; progress: Progress }
  | { type: 'event'; id: string; name: string; payload: unknown }
  | { type: 'result'; id: string; value: unknown }
  | { type: 'error'; id: string; message: string; code?: string };

/** Why a job was asked to stop: the user cancelled it, or the process was told to end (SIGTERM). */
export type CancelReason = 'cancelled' | 'interrupted';

/** What a job handler gets from the worker. */
export interface JobContext {
  readonly jobId: string;
  readonly workspace: string;
  progress(p: Progress): void;
  /** Forwarded by the host as an app event (e.g. 'run.epoch', 'run.updated'). */
  emit(name: string, payload: unknown): void;
  cancelled(): boolean;
  /** Why it was cancelled (null while it was not). */
  cancelReason?(): CancelReason | null;
}

/** The handler of job K (jobs/index.ts lists one per name). */
export type JobHandler<K extends JobName> = (payload: JobParams<K>, ctx: JobContext) => Promise<JobResult<K>>;
