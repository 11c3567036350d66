/**
 * Services: the one implementation behind every door (Electron IPC, WebSocket, CLI).
 * They validate requests, own the workspace and the engine host, and fan events out.
 */
import { availableParallelism } from 'node:os';
import { specForSettings } from '../engine/spec';
import { z } from 'zod';
import { ApiError, type EngineInfo, type EventName, type Events, type JobInfo, type QueueSettings, type ResumeReport, type RunRecord } from '../contract/api';
import { resolveSettings } from '../contract/settings';
import { EngineHost, JobError, MAX_PARALLEL } from '../host/engine-host';
import { Workspace } from '../store/workspace';
import type { RunLock } from '../store/owner';
import { checkDataPaths, resolveRoots } from './data-roots';
import { listKnownDatasets, loadRunDataset } from '../data/dataset';
import { checkPlannedSplits } from '../data/split';
import { dispatch, empty, runId, type MethodTable } from './registry';
import { FEATURES, jobOutcome, type ServiceContext } from './features';
import { localExecutor, type RunExecutor } from './executor';
import { cancelTask, installSlurmLiveness, mergeSlurm, readSubmissions, slurmInfo, SlurmError, watchSlurmRuns } from './slurm';
import type { CancelReason } from '../host/protocol';

/** The queue's limits, for the doors' flags and help (the widest queue, the default width). */
export { MAX_PARALLEL };
export { defaultParallel } from '../engine/threads';

/**
 * What the CLI door gets: the API, its events, and the few steps on the store the API does not
 * carry — no Workspace and no engine host, so the door goes through the services.
 */
export interface DoorServices {
  handle(method: string, params: unknown): Promise<unknown>;
  subscribe(listener: (event: EventName, payload: unknown) => void): () => void;
  close(): Promise<void>;
  /** The workspace folder. */
  readonly root: string;
  /** A run's record as written on disk (runs.get merges Slurm's live view of its task into it). */
  storedRun(id: string): RunRecord;
  /** Records a run stopped by a signal before it trained: SIGINT cancelled it, SIGTERM interrupted it. */
  stopUntrained(id: string, status: 'cancelled' | 'interrupted'): RunRecord;
  /** The folder a run's exports go to. */
  exportsDir(id: string): string;
  /** A study's Slurm submissions, oldest first (empty when it never went to Slurm). */
  studySubmissions(studyId: string): ReturnType<typeof readSubmissions>;
  /** Stops a job after its current step; 'interrupted' when a signal (SIGTERM) asked, not the user. */
  cancelJob(jobId: string, reason: CancelReason): boolean;
}

/** Everything, for the doors that carry the API themselves (Electron, the browser-mode server) and tests. */
export interface Services extends DoorServices {
  readonly workspace: Workspace;
  readonly host: EngineHost;
  /** Where runs train (the local queue). */
  readonly executor: RunExecutor;
}

export interface ServicesOptions {
  workspace: string;
  /** Make the folder a workspace even if it holds other files (CLI --init). */
  init?: boolean;
  /** Open the workspace for reading only: a missing one is not created (read-only CLI commands). */
  readOnly?: boolean;
  /** Start the engine worker on the first request that needs it (CLI). */
  lazyEngine?: boolean;
  /**
   * Browser mode: the only folders datasets and files may be read from (named datasets are always
   * allowed). Undefined: no restriction (Electron's own dialogs, the CLI).
   */
  dataRoots?: string[];
  workerPath?: string;
  env?: Record<string, string>;
  /** Runs trained at once (default: one per core); `queue.set` changes it later. */
  parallel?: number;
}

function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  const err = e as { name?: string; code?: string; message?: string };
  const message = err?.message ?? String(e);
  if (err?.name === 'DatasetError') return new ApiError('dataset', message);
  if (err?.name === 'StoreError') {
    const code = err.code === 'not-found' || err.code === 'conflict' || err.code === 'invalid' ? err.code : err.code === 'corrupt' ? 'invalid' : 'io';
    return new ApiError(code, message);
  }
  if (e instanceof JobError) return new ApiError(err.code === 'dataset' ? 'dataset' : 'engine', message);
  if (e instanceof SlurmError) return new ApiError('invalid', message);
  return new ApiError('internal', message);
}

export async function createServices(opts: ServicesOptions): Promise<Services> {
  const dataRoots = opts.dataRoots ? resolveRoots(opts.dataRoots) : null;
  const workspace = new Workspace(opts.workspace, { init: opts.init, readOnly: opts.readOnly });
  const host = new EngineHost({ workspace: workspace.root, workerPath: opts.workerPath, env: opts.env, lazy: opts.lazyEngine, parallel: opts.parallel });
  const listeners = new Set<(event: EventName, payload: unknown) => void>();
  const emit = <E extends EventName>(event: E, payload: Events[E]) => {
    for (const l of listeners) l(event, payload);
  };
  /** Run locks held by this process, by training job id: released the moment the job ends. */
  const jobLocks = new Map<string, RunLock>();
  host.on((event, payload) => {
    if (event === 'job.updated') {
      const j = payload as JobInfo;
      if ((j.state === 'done' || j.state === 'failed' || j.state === 'cancelled') && jobLocks.has(j.id)) {
        jobLocks.get(j.id)!.release();
        jobLocks.delete(j.id);
      }
    }
    if (event === 'job.event') {
      const p = payload as { name: string; payload: unknown };
      emit(p.name as EventName, p.payload as never);
    } else {
      emit(event as EventName, payload as never);
    }
  });

  // Runs trained by Slurm tasks (other processes, maybe other nodes) show live through polling;
  // the store asks Slurm whether a Slurm owner is still alive (squeue, cached for a moment).
  installSlurmLiveness();
  const slurmWatch = watchSlurmRuns(workspace, (event, payload) => emit(event, payload as never));
  const withSlurm = async (runs: RunRecord[]): Promise<RunRecord[]> => {
    if (!runs.some((r) => r.slurm)) return runs;
    const merged = await mergeSlurm(workspace, runs);
    if (merged.some((r) => r.slurm && (r.status === 'queued' || r.status === 'running'))) slurmWatch.touch();
    return merged;
  };

  /**
   * Queues a training job for a run (new or resumed) whose lock this process holds; the lock is
   * released when the job ends, however it ends. A crash marks the run interrupted.
   */
  function queueTrain(run: RunRecord, resume: boolean, lock: RunLock): JobInfo {
    const { info, done } = host.submit('train', { runId: run.id, resume }, {
      title: `${resume ? 'Resume' : 'Train'} ${run.name || run.id}`,
      jobKind: 'train',
      runId: run.id,
      onCrash: (message) => {
        try {
          const r = workspace.updateRun(run.id, { status: 'interrupted', error: message });
          emit('run.updated', r);
        } catch {
          // the run may have been deleted meanwhile
        }
      },
    });
    done.catch((e: Error) => {
      try {
        const cur = workspace.getRun(run.id);
        if (cur.status === 'running' || cur.status === 'queued') {
          const r = workspace.updateRun(run.id, { status: 'failed', error: e.message, owner: undefined });
          emit('run.updated', r);
        }
      } catch {
        // deleted
      }
    }).finally(() => {
      lock.release();
      jobLocks.delete(info.id);
    });
    jobLocks.set(info.id, lock);
    return info;
  }

  /** Takes a run's lock and runs `fn`; releases the lock if `fn` throws. */
  function underLock<T>(id: string, fn: (lock: RunLock) => T): T {
    const lock = workspace.lockRun(id);
    try {
      return fn(lock);
    } catch (e) {
      lock.release();
      throw e;
    }
  }

  // The seam other executors plug into (a study's runs are independent jobs); runs.* use the local
  // queue directly (they take the run's lock themselves), the executor takes it for its caller.
  const executor = localExecutor(host, (run, resume) => underLock(run.id, (lock) => queueTrain(run, resume, lock)));
  const queueSettings = (): QueueSettings => ({
    parallel: host.parallel,
    cores: availableParallelism(),
    max: MAX_PARALLEL,
    threadsPerRun: host.autoThreads,
    workers: host.workerCount,
  });

  const table: MethodTable = {
    'engine.info': {
      schema: empty,
      handler: async (): Promise<EngineInfo> => {
        const { backend, versions } = await host.ready();
        await host.ping();
        const threads = host.autoThreads;
        const at = host.parallel;
        const training = {
          engine: 'onnxruntime' as const,
          threads,
          note: `runs train through onnxruntime-node (one ONNX graph per step, ${threads} thread${threads === 1 ? '' : 's'} per run by default, up to ${at} run${at === 1 ? '' : 's'} at once), with every norm; engine tfjs trains on tfjs ${backend.backend}`,
        };
        return { ...backend, training, queue: queueSettings(), versions, datasets: listKnownDatasets(), workspace: workspace.root };
      },
    },
    // Runs owned by Slurm tasks get the scheduler's state merged in (services/slurm.ts).
    'runs.list': { schema: empty, handler: async () => withSlurm(workspace.listRuns()) },
    'runs.get': {
      schema: z.object({ id: runId }).strict(),
      handler: async ({ id }) => {
        const [run] = await withSlurm([workspace.getRun(id)]);
        // Damage beyond run.json (a metrics line that is not a record) is reported with the run.
        const damaged = run.damaged ?? workspace.damage(id) ?? undefined;
        return { run: damaged ? { ...run, damaged } : run, metrics: workspace.readMetrics(id), files: workspace.listFiles(id), steps: workspace.readSteps(id) };
      },
    },
    'runs.start': {
      schema: z.object({ settings: z.record(z.string(), z.unknown()), study: z.string().max(200).optional() }).strict() as never,
      handler: async ({ settings, study }) => {
        const r = resolveSettings(settings as Record<string, unknown>);
        if (!r.ok) throw new ApiError('invalid', r.issues.map((i) => i.message).join('; '), r.issues);
        // Fail fast on a bad dataset or model, before a run is created for it.
        const data = await loadRunDataset(r.value, workspace.root);
        checkPlannedSplits(data, r.value);
        try {
          specForSettings(r.value, [data.info.height, data.info.width, data.info.channels], data.info.classNames.length);
        } catch (e) {
          const message = (e as Error).message;
          throw new ApiError('invalid', message, [{ key: 'model', message }]);
        }
        workspace.cleanup();
        const created = workspace.createRun(r.value, { study, name: r.value.name });
        return underLock(created.id, (lock) => {
          // The owner makes a run queued here show as interrupted if this process dies before it starts.
          const run = workspace.updateRun(created.id, { owner: lock.owner });
          emit('run.updated', run);
          return { run, job: queueTrain(run, false, lock) };
        });
      },
    },
    'runs.resume': {
      schema: z.object({ id: runId }).strict(),
      handler: async ({ id }) => {
        if (host.jobForRun(id)) throw new ApiError('conflict', `run ${id} is already queued or running here`);
        const run = workspace.getRun(id);
        // A run.json that cannot say what the run trained cannot be resumed; a damaged metrics line
        // can: resume moves it to metrics.jsonl.damaged and cuts the records back to the checkpoint.
        if (run.damaged) throw new ApiError('invalid', `resume refused: run ${id} is damaged (${run.damaged}); nothing is guessed around it`);
        if (run.status === 'done') throw new ApiError('conflict', `run ${id} is done; nothing to resume`);
        workspace.cleanup();
        return underLock(id, (lock) => {
          // Under the lock: cut every append-only record back to the checkpoint the job will start from.
          const point = workspace.resumePoint(id);
          const cut = workspace.cutForResume(id, point.state?.epoch ?? 0);
          const resume: ResumeReport = { ...cut, notes: point.notes };
          const queued = workspace.updateRun(id, { status: 'queued', error: undefined, owner: lock.owner, epochsDone: cut.epoch });
          emit('run.updated', queued);
          return { run: queued, job: queueTrain(queued, true, lock), resume };
        });
      },
    },
    'runs.cancel': {
      schema: z.object({ id: runId }).strict(),
      handler: async ({ id }) => {
        const job = host.jobForRun(id);
        if (!job) {
          // A run owned by a Slurm task (any node): scancel, SIGINT first so it records itself cancelled.
          const run = workspace.getRun(id);
          if (!run.slurm) return { cancelled: false };
          const ok = await cancelTask(workspace, run);
          if (ok) emit('run.updated', (await mergeSlurm(workspace, [workspace.getRun(id)]))[0]);
          return { cancelled: ok };
        }
        const queued = job.state === 'queued';
        const ok = host.cancel(job.id);
        if (ok && queued) emit('run.updated', workspace.updateRun(id, { status: 'cancelled', owner: undefined }));
        return { cancelled: ok };
      },
    },
    'runs.delete': {
      schema: z.object({ id: runId }).strict(),
      handler: async ({ id }) => {
        if (host.jobForRun(id)) throw new ApiError('conflict', `run ${id} is queued or running; cancel it first`);
        workspace.deleteRun(id);
        return { deleted: true };
      },
    },
    'jobs.list': { schema: empty, handler: async () => host.jobs() },
    'slurm.info': { schema: empty, handler: async () => slurmInfo() },
    'jobs.cancel': {
      schema: z.object({ id: z.string().max(100) }).strict(),
      handler: async ({ id }) => ({ cancelled: host.cancel(id) }),
    },
    'queue.get': { schema: empty, handler: async () => queueSettings() },
    'queue.set': {
      schema: z.object({ parallel: z.number().int().min(1).max(MAX_PARALLEL) }).strict(),
      handler: async ({ parallel }) => {
        host.setParallel(parallel);
        return queueSettings();
      },
    },
  };

  const ctx: ServiceContext = {
    workspace,
    host,
    emit,
    async runJob(kind, payload, meta) {
      const { done } = host.submit(kind, payload, { title: meta.title, jobKind: 'analysis', runId: meta.runId });
      return jobOutcome(await done, meta.title);
    },
    call: (method, params) => dispatch(table, method, params),
    watchSlurm: () => slurmWatch.touch(),
  };
  for (const feature of FEATURES) Object.assign(table, feature(ctx));

  return {
    workspace,
    host,
    executor,
    async handle(method, params) {
      try {
        if (dataRoots) checkDataPaths(method, params, dataRoots);
        return await dispatch(table, method, params);
      } catch (e) {
        throw toApiError(e);
      }
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    root: workspace.root,
    storedRun: (id) => workspace.getRun(id),
    stopUntrained: (id, status) =>
      workspace.updateRun(id, { status, owner: undefined, ...(status === 'interrupted' ? { error: 'interrupted by SIGTERM before training started' } : {}) }),
    exportsDir: (id) => workspace.exportsDir(id),
    studySubmissions: (studyId) => readSubmissions(workspace, studyId),
    cancelJob: (jobId, reason) => host.cancel(jobId, reason),
    async close() {
      slurmWatch.close();
      listeners.clear();
      await host.close();
    },
  };
}
