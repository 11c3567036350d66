/**
 * Feature services (analyses, export, studies). Each feature module exports a function that
 * returns its methods; adding a feature is one line in FEATURES.
 */
import { ApiError, type EventName, type Events } from '../contract/api';
import type { EngineHost } from '../host/engine-host';
import type { JobCancelled, JobName, JobParams, JobResult } from '../host/protocol';
import type { Workspace } from '../store/workspace';
import type { MethodTable } from './registry';
import { onnxFeature } from './onnx';
import { bnFeature } from './bn';
import { dropoutFeature } from './dropout';
import { studyFeature } from './study';
import { landscapeFeature } from './landscape';
import { modelsFeature } from './models';

export interface ServiceContext {
  workspace: Workspace;
  host: EngineHost;
  emit<E extends EventName>(event: E, payload: Events[E]): void;
  /**
   * Queues a worker job and resolves with its result (progress flows as job.updated events;
   * jobs.cancel stops it, and the promise then rejects with a 'cancelled' ApiError).
   */
  runJob<K extends JobName>(kind: K, payload: JobParams<K>, meta: { title: string; runId?: string }): Promise<JobOutcome<K>>;
  /** Calls another service method through the same validation (e.g. a study starting runs via 'runs.start'). */
  call?(method: string, params: unknown): Promise<unknown>;
  /** Starts the live view of runs trained by Slurm (events as their tasks write epochs). */
  watchSlurm?(): void;
}

/** A job's result once a cancel has become an error. */
export type JobOutcome<K extends JobName> = Exclude<JobResult<K>, JobCancelled>;

/** A job's answer as runJob gives it: the result, or a 'cancelled' ApiError named by `title`. */
export function jobOutcome<K extends JobName>(value: JobResult<K> | JobCancelled, title: string): JobOutcome<K> {
  if ((value as { status?: unknown } | undefined)?.status === 'cancelled') throw new ApiError('cancelled', `${title}: cancelled`);
  return value as JobOutcome<K>;
}

export type Feature = (ctx: ServiceContext) => MethodTable;

export const FEATURES: Feature[] = [bnFeature, dropoutFeature, onnxFeature, studyFeature, landscapeFeature, modelsFeature];
