/**
 * The engine worker protocol: a tagged union on `type`, both directions.
 * Handled with exhaustive switches on both sides.
 */
import type { BackendInfo, Progress } from '../contract/api';

export type ToWorker =
  | { type: 'job'; id: string; kind: string; payload: unknown }
  /** Stop after the current step; 'interrupted' when a signal (SIGTERM: scancel, time limit) asked, not the user. */
  | { type: 'cancel'; id: string; reason?: CancelReason }
  | { type: 'info'; id: string }
  /** Test hook: makes the worker crash hard, to exercise recovery. */
  | { type: 'crash'; how: 'throw' | 'exit' };

export type FromWorker =
  | { type: 'ready'; backend: BackendInfo; versions: Record<string, string> }
  | { type: 'init-failed'; message: string }
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
