/**
 * The main-thread side of the engine: a pool of worker threads (up to `parallel`, one per core by
 * default), a FIFO job queue with progress and cancel, and recovery — a crashed worker fails its
 * job (its run becomes `interrupted`), is reported, and is restarted; queued jobs then continue.
 *
 * Jobs start in queue order on the first free worker; with `parallel` 1 this is the one-worker
 * queue of before. Workers start when the queue needs them (the first at once). Datasets are
 * loaded once here and shared with every worker (SharedArrayBuffer), not copied per run, and
 * each worker resolves the `threads` setting 0 to its share of the cores.
 */
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import type { BackendInfo, JobInfo, JobKind, Progress } from '../contract/api';
import { loadDataset, type Dataset, type LoadOptions } from '../data/dataset';
import { defaultParallel, slurmCpus, threadsPerRun } from '../engine/threads';
import type { CancelReason, DatasetFailure, FromWorker, JobCall, JobCancelled, JobName, JobParams, JobResult, ToWorker } from './protocol';

export interface HostEvents {
  'job.updated': JobInfo;
  'engine.status': { state: 'ready' | 'crashed' | 'restarting'; message: string; backend?: string };
  /** Events emitted by job handlers (ctx.emit), forwarded as they are. */
  'job.event': { jobId: string; name: string; payload: unknown };
}
type Listener = <E extends keyof HostEvents>(event: E, payload: HostEvents[E]) => void;

interface Pending {
  info: JobInfo;
  /** The job's name and params, as the worker gets them. */
  call: JobCall;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  /** Called when the worker dies under this job (before reject). */
  onCrash?: (message: string) => void;
}

export class JobError extends Error {
  constructor(message: string, readonly code: string = 'engine') {
    super(message);
    this.name = 'JobError';
  }
}

export interface EngineHostOptions {
  workspace: string;
  workerPath?: string;
  /** Extra environment for the worker (e.g. NORMLAB_BACKEND in tests). */
  env?: Record<string, string>;
  /** Jobs run at once, each on its own worker (default: one per core). */
  parallel?: number;
  /** Where the host gets the datasets it shares with its workers (default: loadDataset). */
  datasets?: (ref: string, opts: LoadOptions) => Promise<Dataset>;
  /** Start the first worker on the first request instead of at once (CLI commands that may need none). */
  lazy?: boolean;
}

/** Most workers a host runs at once, whatever is asked. */
export const MAX_PARALLEL = 64;

type Ready = { backend: BackendInfo; versions: Record<string, string> };

/** One engine worker and the job it runs. */
class Slot {
  worker!: Worker;
  readyPromise!: Promise<Ready>;
  isReady = false;
  rejectReady: ((e: Error) => void) | null = null;
  running: Pending | null = null;
  constructor(readonly index: number) {}
}

function failureOf(e: unknown): DatasetFailure {
  const err = e as { name?: string; message?: string; file?: unknown; problem?: unknown };
  const message = err?.message ?? String(e);
  if (err?.name === 'DatasetError' && typeof err.file === 'string' && typeof err.problem === 'string') {
    return { message, file: err.file, problem: err.problem };
  }
  return { message };
}

export class EngineHost {
  private slots: Slot[] = [];
  private queue: Pending[] = [];
  private listeners = new Set<Listener>();
  private infoWaiters = new Map<string, { slot: Slot; answer: (v: unknown) => void }>();
  private closed = false;
  /** Set when a worker died before it was ready; the next request tries a fresh one. */
  private startFailure: string | null = null;
  private readonly finished: JobInfo[] = [];
  private width: number;
  readonly workerPath: string;
  crashes = 0;

  constructor(private readonly opts: EngineHostOptions) {
    this.workerPath = opts.workerPath ?? fileURLToPath(new URL('./worker.js', import.meta.url));
    this.width = clampParallel(opts.parallel ?? defaultParallel());
    if (!opts.lazy) this.ensureStarted();
  }

  /** The first worker, started if it is not yet (it answers ready() and ping()). */
  private ensureStarted(): Slot {
    let first = this.slots.find((s) => s.index === 0);
    if (!first) {
      first = this.spawn(new Slot(0));
      this.slots.unshift(first);
    }
    return first;
  }

  /** Jobs that run at once. */
  get parallel(): number {
    return this.width;
  }

  /**
   * Threads each run gets for the `threads` setting 0: the CPUs Slurm gave the task when set
   * (SLURM_CPUS_PER_TASK wins), else the cores divided by the current width.
   */
  get autoThreads(): number {
    return slurmCpus() ?? threadsPerRun(this.width);
  }

  /** Workers started (busy or idle). */
  get workerCount(): number {
    return this.slots.length;
  }

  /**
   * Changes how many jobs run at once. Running jobs go on; a wider queue starts queued jobs at
   * once, a narrower one lets its extra workers finish their job and then stops them.
   */
  setParallel(n: number): number {
    this.width = clampParallel(n);
    for (const slot of this.slots) slot.worker.postMessage({ type: 'config', autoThreads: this.autoThreads } satisfies ToWorker);
    this.trim();
    this.pump();
    return this.width;
  }

  /** The worker of the first job running (else the first worker, if started): tests terminate it from outside. */
  get worker(): Worker | undefined {
    return (this.slots.find((s) => s.running) ?? this.slots[0])?.worker;
  }

  private spawn(slot: Slot): Slot {
    const worker = new Worker(this.workerPath, {
      workerData: { workspace: this.opts.workspace, autoThreads: this.autoThreads },
      env: { ...process.env, ...this.opts.env },
      resourceLimits: { maxOldGenerationSizeMb: 8192 },
    });
    slot.worker = worker;
    slot.isReady = false;
    slot.readyPromise = new Promise<Ready>((resolve, reject) => {
      slot.rejectReady = reject;
      const onMessage = (m: FromWorker) => {
        if (m.type === 'ready') {
          worker.off('message', onMessage);
          slot.isReady = true;
          resolve({ backend: m.backend, versions: m.versions });
          this.emit('engine.status', { state: 'ready', message: `engine ready on ${m.backend.backend}`, backend: m.backend.backend });
          this.pump();
        } else if (m.type === 'init-failed') {
          worker.off('message', onMessage);
          reject(new JobError(`the engine could not start: ${m.message}`));
        }
      };
      worker.on('message', onMessage);
    });
    slot.readyPromise.catch(() => undefined);
    worker.on('message', (m: FromWorker) => this.onMessage(slot, worker, m));
    worker.on('error', (e) => {
      if (worker === slot.worker) this.onCrash(slot, `engine worker crashed: ${e.message}`);
    });
    worker.on('exit', (code) => {
      if (this.closed || worker !== slot.worker || !this.slots.includes(slot)) return;
      this.onCrash(slot, `engine worker exited with code ${code}`);
    });
    return slot;
  }

  private onCrash(slot: Slot, message: string): void {
    if (this.closed || !this.slots.includes(slot)) return;
    const dead = slot.worker;
    this.crashes += 1;
    for (const [id, w] of this.infoWaiters) {
      if (w.slot !== slot) continue;
      this.infoWaiters.delete(id);
      w.answer({ error: message });
    }
    if (!slot.isReady) {
      // Died while starting: restarting at once would loop. Fail what waits, retry on the next request.
      this.startFailure = message;
      slot.rejectReady?.(new JobError(`the engine could not start: ${message}`));
      this.emit('engine.status', { state: 'crashed', message: `the engine could not start: ${message}` });
      const waiting = [...(slot.running ? [slot.running] : []), ...this.queue];
      slot.running = null;
      this.queue = [];
      for (const job of waiting) {
        job.onCrash?.(message);
        this.settle(job, 'failed', message);
        job.reject(new JobError(`the engine could not start: ${message}`));
      }
      void dead.terminate().catch(() => undefined);
      return;
    }
    this.emit('engine.status', { state: 'crashed', message });
    const job = slot.running;
    slot.running = null;
    if (job) {
      job.onCrash?.(message);
      this.settle(job, 'failed', message);
      job.reject(new JobError(message));
    }
    void dead.terminate().catch(() => undefined);
    this.emit('engine.status', { state: 'restarting', message: 'restarting the engine worker' });
    this.spawn(slot);
  }

  private onMessage(slot: Slot, worker: Worker, m: FromWorker): void {
    if (worker !== slot.worker) return;
    switch (m.type) {
      case 'ready':
      case 'init-failed':
        return; // handled in spawn()
      case 'dataset.request':
        void this.shareDataset(slot, worker, m.id, m.ref, m.opts);
        return;
      case 'progress': {
        const job = slot.running;
        if (job && job.info.id === m.id) {
          job.info = { ...job.info, progress: m.progress };
          this.emit('job.updated', job.info);
        }
        return;
      }
      case 'event':
        this.emit('job.event', { jobId: m.id, name: m.name, payload: m.payload });
        return;
      case 'result': {
        const waiter = this.infoWaiters.get(m.id);
        if (waiter) {
          this.infoWaiters.delete(m.id);
          waiter.answer(m.value);
          return;
        }
        const job = slot.running;
        if (!job || job.info.id !== m.id) return;
        slot.running = null;
        const value = m.value as { status?: string } | undefined;
        this.settle(job, value && (value.status === 'cancelled' || value.status === 'interrupted') ? 'cancelled' : 'done');
        job.resolve(m.value);
        this.trim();
        this.pump();
        return;
      }
      case 'error': {
        const job = slot.running;
        if (!job || job.info.id !== m.id) return;
        slot.running = null;
        this.settle(job, 'failed', m.message);
        job.reject(new JobError(m.message, m.code));
        this.trim();
        this.pump();
        return;
      }
      default: {
        const never: never = m;
        throw new Error(`unknown worker message ${JSON.stringify(never)}`);
      }
    }
  }

  /** Answers a worker's dataset request with the host's one shared copy (loaded on first use). */
  private async shareDataset(slot: Slot, worker: Worker, id: string, ref: string, opts: LoadOptions): Promise<void> {
    let reply: ToWorker;
    try {
      const dataset = await (this.opts.datasets ?? loadDataset)(ref, opts);
      reply = { type: 'dataset', id, dataset };
    } catch (e) {
      reply = { type: 'dataset', id, error: failureOf(e) };
    }
    if (this.closed || slot.worker !== worker) return;
    worker.postMessage(reply);
  }

  private settle(job: Pending, state: JobInfo['state'], error?: string): void {
    job.info = { ...job.info, state, ...(error ? { error } : {}) };
    this.finished.unshift(job.info);
    this.finished.length = Math.min(this.finished.length, 100);
    this.emit('job.updated', job.info);
  }

  /** Starts queued jobs, in order, on free workers while fewer than `parallel` run. */
  private pump(): void {
    if (this.closed) return;
    while (this.queue.length > 0) {
      const busy = this.slots.filter((s) => s.running).length;
      if (busy >= this.width) return;
      let slot = this.slots.find((s) => !s.running && s.index < this.width);
      if (!slot) {
        const index = this.freeIndex();
        if (index === null) return;
        slot = this.spawn(new Slot(index));
        this.slots.push(slot);
        this.slots.sort((a, b) => a.index - b.index);
      }
      this.start(slot, this.queue.shift()!);
    }
  }

  private freeIndex(): number | null {
    for (let i = 0; i < this.width; i++) if (!this.slots.some((s) => s.index === i)) return i;
    return null;
  }

  private start(slot: Slot, next: Pending): void {
    slot.running = next;
    next.info = { ...next.info, state: 'running' };
    this.emit('job.updated', next.info);
    const worker = slot.worker;
    void slot.readyPromise.then(
      () => {
        if (slot.running === next && slot.worker === worker) worker.postMessage({ type: 'job', id: next.info.id, ...next.call } satisfies ToWorker);
      },
      (e: Error) => {
        if (slot.running !== next) return;
        slot.running = null;
        this.settle(next, 'failed', e.message);
        next.reject(e);
      },
    );
  }

  /** Stops idle workers beyond the current width (the first worker always stays). */
  private trim(): void {
    for (const slot of [...this.slots]) {
      if (slot.index === 0 || slot.index < this.width || slot.running) continue;
      this.slots = this.slots.filter((s) => s !== slot);
      void slot.worker.terminate().catch(() => undefined);
    }
  }

  private retryIfBroken(): void {
    if (!this.startFailure || this.closed) return;
    this.startFailure = null;
    for (const slot of this.slots) {
      if (!slot.isReady && !slot.running) this.spawn(slot);
    }
  }

  private emit<E extends keyof HostEvents>(event: E, payload: HostEvents[E]): void {
    for (const l of this.listeners) l(event, payload);
  }

  on(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Backend and versions, after a round trip to the (first) worker. */
  async ready(): Promise<Ready> {
    this.retryIfBroken();
    return this.ensureStarted().readyPromise;
  }

  /** A live answer from the first worker (answers even while a job trains). */
  async ping(timeoutMs = 10_000): Promise<unknown> {
    const slot = this.ensureStarted();
    await slot.readyPromise;
    const id = randomUUID();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.infoWaiters.delete(id);
        reject(new JobError('the engine did not answer in time'));
      }, timeoutMs);
      this.infoWaiters.set(id, {
        slot,
        answer: (v) => {
          clearTimeout(t);
          resolve(v);
        },
      });
      slot.worker.postMessage({ type: 'info', id } satisfies ToWorker);
    });
  }

  /**
   * Queues a job; the promise settles with the job's result, or `{ status: 'cancelled' }` when
   * it was cancelled in the queue. Params and result are typed by the job map (protocol.ts `Jobs`).
   */
  submit<K extends JobName>(
    kind: K,
    payload: JobParams<K>,
    meta: { title: string; jobKind?: JobKind; runId?: string; onCrash?: (message: string) => void },
  ): { info: JobInfo; done: Promise<JobResult<K> | JobCancelled> } {
    if (this.closed) throw new JobError('the engine is shut down');
    this.retryIfBroken();
    const info: JobInfo = { id: randomUUID(), kind: meta.jobKind ?? 'analysis', title: meta.title, state: 'queued', ...(meta.runId ? { runId: meta.runId } : {}) };
    let pending!: Pending;
    const done = new Promise<unknown>((resolve, reject) => {
      // K and its params go together, which the compiler cannot see through the union.
      pending = { info, call: { kind, payload } as JobCall, resolve, reject, onCrash: meta.onCrash };
    });
    done.catch(() => undefined);
    this.queue.push(pending);
    this.emit('job.updated', info);
    this.pump();
    // The worker's answer is the handler's result (or the queue's cancel), typed by the map.
    return { info: pending.info, done: done as Promise<JobResult<K> | JobCancelled> };
  }

  /**
   * Cancels a queued job at once, or asks the running one to stop after its current step;
   * reason 'interrupted' (a SIGTERM) makes a training job record its run as interrupted.
   */
  cancel(jobId: string, reason: CancelReason = 'cancelled'): boolean {
    const i = this.queue.findIndex((j) => j.info.id === jobId);
    if (i >= 0) {
      const [job] = this.queue.splice(i, 1);
      this.settle(job, 'cancelled');
      job.resolve({ status: 'cancelled' });
      return true;
    }
    const slot = this.slots.find((s) => s.running?.info.id === jobId);
    if (slot) {
      slot.worker.postMessage({ type: 'cancel', id: jobId, reason } satisfies ToWorker);
      return true;
    }
    return false;
  }

  private runningJobs(): Pending[] {
    return this.slots.flatMap((s) => (s.running ? [s.running] : []));
  }

  jobs(): JobInfo[] {
    return [...this.runningJobs().map((j) => j.info), ...this.queue.map((j) => j.info), ...this.finished];
  }

  jobForRun(runId: string): JobInfo | undefined {
    return this.runningJobs().find((j) => j.info.runId === runId)?.info ?? this.queue.find((j) => j.info.runId === runId)?.info;
  }

  /** Test hook: crash the worker of the first running job (else the first worker). */
  crashForTest(how: 'throw' | 'exit' = 'exit'): void {
    this.worker?.postMessage({ type: 'crash', how } satisfies ToWorker);
  }

  progressOf(jobId: string): Progress | undefined {
    return this.jobs().find((j) => j.id === jobId)?.progress;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const j of this.queue) {
      this.settle(j, 'cancelled');
      j.resolve({ status: 'cancelled' });
    }
    this.queue = [];
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}

function clampParallel(n: number): number {
  if (!Number.isFinite(n)) return 1;
  return Math.min(MAX_PARALLEL, Math.max(1, Math.floor(n)));
}
