/**
 * Feature services (analyses, export, studies). Each feature module exports a function that
 * returns its methods; adding a feature is one line in FEATURES.
 */
import type { EventName, Events } from '../contract/api';
import type { EngineHost } from '../host/engine-host';
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
  /** Queues a worker job and resolves with its result (progress flows as job.updated events; jobs.cancel stops it). */
  runJob(kind: string, payload: unknown, meta: { title: string; runId?: string }): Promise<unknown>;
  /** Calls another service method through the same validation (e.g. a study starting runs via 'runs.start'). */
  call?(method: string, params: unknown): Promise<unknown>;
  /** Starts the live view of runs trained by Slurm (events as their tasks write epochs). */
  watchSlurm?(): void;
}

export type Feature = (ctx: ServiceContext) => MethodTable;

export const FEATURES: Feature[] = [bnFeature, dropoutFeature, onnxFeature, studyFeature, landscapeFeature, modelsFeature];
