/**
 * The engine worker protocol: a tagged union on `type`, both directions.
 * Handled with exhaustive switches on both sides.
 */
import type { BackendInfo, Progress } from '../contract/api';
import type { Dataset, LoadOptions } from '../data/dataset';

/** A dataset the host could not load, for the worker to throw as the same DatasetError. */
export interface DatasetFailure {
  message: string;
  /** Set for a DatasetError: the file it names and what is wrong with it. */
  file?: string;
  problem?: string;
}

export type ToWorker =
  | { type: 'job'; id: string; kind: string; payload: unknown }
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

// Each handler narrows its own payload; the worker only routes by kind.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type JobHandler = (payload: any, ctx: JobContext) => Promise<unknown>;
