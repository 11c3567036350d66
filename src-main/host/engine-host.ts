/**
 * The main-thread side of the engine: one worker thread, a FIFO job queue with progress and
 * cancel, and recovery — a crashed worker fails its job (its run becomes `interrupted`), is
 * reported, and is restarted; queued jobs then continue.
 */
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import type { BackendInfo, JobInfo, JobKind, Progress } from '../contract/api';
import type { CancelReason, FromWorker, ToWorker } from './protocol';

export interface HostEvents {
  'job.updated': JobInfo;
  'engine.status': { state: 'ready' | 'crashed' | 'restarting'; message: string; backend?: string };
  /** Events emitted by job handlers (ctx.emit), forwarded as they are. */
  'job.event': { jobId: string; name: string; payload: unknown };
}
type Listener = <E extends keyof HostEvents>(event: E, payload: HostEvents[E]) => void;

interface Pending {
  info: JobInfo;
  kind: string;
  payload: unknown;
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
  /** Start the worker on the first request instead of at once (CLI commands that may need none). */
  lazy?: boolean;
}

export class EngineHost {
  private worker: Worker | undefined;
  private readyPromise!: Promise<{ backend: BackendInfo; versions: Record<string, string> }>;
  private queue: Pending[] = [];
  private running: Pending | null = null;
  private listeners = new Set<Listener>();
  private infoWaiters = new Map<string, (v: unknown) => void>();
  private closed = false;
  private isReady = false;
  private rejectReady: ((e: Error) => void) | null = null;
  /** Set when the worker died before it was ready; the next request tries a fresh one. */
  private startFailure: string | null = null;
  private readonly finished: JobInfo[] = [];
  readonly workerPath: string;
  crashes = 0;

  constructor(private readonly opts: EngineHostOptions) {
    this.workerPath = opts.workerPath ?? fileURLToPath(new URL('./worker.js', import.meta.url));
    if (!opts.lazy) this.spawn();
  }

  /** Starts the worker if a lazy host has not yet. */
  private ensureStarted(): void {
    if (!this.worker && !this.closed) this.spawn();
  }

  private spawn(): void {
    const worker = new Worker(this.workerPath, {
      workerData: { workspace: this.opts.workspace },
      env: { ...process.env, ...this.opts.env },
      resourceLimits: { maxOldGenerationSizeMb: 8192 },
    });
    this.worker = worker;
    this.isReady = false;
    this.startFailure = null;
    this.readyPromise = new Promise((resolve, reject) => {
      this.rejectReady = reject;
      const onMessage = (m: FromWorker) => {
        if (m.type === 'ready') {
          worker.off('message', onMessage);
          this.isReady = true;
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
    this.readyPromise.catch(() => undefined);
    worker.on('message', (m: FromWorker) => this.onMessage(m));
    worker.on('error', (e) => this.onCrash(`engine worker crashed: ${e.message}`));
    worker.on('exit', (code) => {
      if (this.closed || worker !== this.worker) return;
      this.onCrash(`engine worker exited with code ${code}`);
    });
  }

  private onCrash(message: string): void {
    if (this.closed || !this.worker) return;
    const dead = this.worker;
    this.crashes += 1;
    if (!this.isReady) {
      // Died while starting: restarting at once would loop. Fail what waits, retry on the next request.
      this.startFailure = message;
      this.rejectReady?.(new JobError(`the engine could not start: ${message}`));
      this.emit('engine.status', { state: 'crashed', message: `the engine could not start: ${message}` });
      const waiting = [...(this.running ? [this.running] : []), ...this.queue];
      this.running = null;
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
    const job = this.running;
    this.running = null;
    if (job) {
      job.onCrash?.(message);
      this.settle(job, 'failed', message);
      job.reject(new JobError(message));
    }
    for (const [, w] of this.infoWaiters) w({ error: message });
    this.infoWaiters.clear();
    void dead.terminate().catch(() => undefined);
    this.emit('engine.status', { state: 'restarting', message: 'restarting the engine worker' });
    this.spawn();
  }

  private onMessage(m: FromWorker): void {
    switch (m.type) {
      case 'ready':
      case 'init-failed':
        return; // handled in spawn()
      case 'progress': {
        const job = this.running;
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
          waiter(m.value);
          return;
        }
        const job = this.running;
        if (!job || job.info.id !== m.id) return;
        this.running = null;
        const value = m.value as { status?: string } | undefined;
        this.settle(job, value && (value.status === 'cancelled' || value.status === 'interrupted') ? 'cancelled' : 'done');
        job.resolve(m.value);
        this.pump();
        return;
      }
      case 'error': {
        const job = this.running;
        if (!job || job.info.id !== m.id) return;
        this.running = null;
        this.settle(job, 'failed', m.message);
        job.reject(new JobError(m.message, m.code));
        this.pump();
        return;
      }
      default: {
        const never: never = m;
        throw new Error(`unknown worker message ${JSON.stringify(never)}`);
      }
    }
  }

  private settle(job: Pending, state: JobInfo['state'], error?: string): void {
    job.info = { ...job.info, state, ...(error ? { error } : {}) };
    this.finished.unshift(job.info);
    this.finished.length = Math.min(this.finished.length, 100);
    this.emit('job.updated', job.info);
  }

  private pump(): void {
    if (this.running || this.closed) return;
    const next = this.queue.shift();
    if (!next) return;
    this.running = next;
    next.info = { ...next.info, state: 'running' };
    this.emit('job.updated', next.info);
    void this.readyPromise.then(
      () => this.post({ type: 'job', id: next.info.id, kind: next.kind, payload: next.payload }),
      (e: Error) => {
        if (this.running !== next) return;
        this.running = null;
        this.settle(next, 'failed', e.message);
        next.reject(e);
      },
    );
  }

  private retryIfBroken(): void {
    if (this.startFailure && !this.closed) this.spawn();
  }

  private post(m: ToWorker): void {
    this.ensureStarted();
    this.worker!.postMessage(m);
  }

  private emit<E extends keyof HostEvents>(event: E, payload: HostEvents[E]): void {
    for (const l of this.listeners) l(event, payload);
  }

  on(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Backend and versions, after a round trip to the worker. */
  async ready(): Promise<{ backend: BackendInfo; versions: Record<string, string> }> {
    this.ensureStarted();
    this.retryIfBroken();
    return this.readyPromise;
  }

  /** A live answer from the worker (answers even while a job trains). */
  async ping(timeoutMs = 10_000): Promise<unknown> {
    this.ensureStarted();
    await this.readyPromise;
    const id = randomUUID();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.infoWaiters.delete(id);
        reject(new JobError('the engine did not answer in time'));
      }, timeoutMs);
      this.infoWaiters.set(id, (v) => {
        clearTimeout(t);
        resolve(v);
      });
      this.post({ type: 'info', id });
    });
  }

  /** Queues a job; the promise settles with the job's result. */
  submit(kind: string, payload: unknown, meta: { title: string; jobKind?: JobKind; runId?: string; onCrash?: (message: string) => void }): { info: JobInfo; done: Promise<unknown> } {
    if (this.closed) throw new JobError('the engine is shut down');
    this.ensureStarted();
    this.retryIfBroken();
    const info: JobInfo = { id: randomUUID(), kind: meta.jobKind ?? 'analysis', title: meta.title, state: 'queued', ...(meta.runId ? { runId: meta.runId } : {}) };
    let pending!: Pending;
    const done = new Promise<unknown>((resolve, reject) => {
      pending = { info, kind, payload, resolve, reject, onCrash: meta.onCrash };
    });
    done.catch(() => undefined);
    this.queue.push(pending);
    this.emit('job.updated', info);
    this.pump();
    return { info: pending.info, done };
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
    if (this.running?.info.id === jobId) {
      this.post({ type: 'cancel', id: jobId, reason });
      return true;
    }
    return false;
  }

  jobs(): JobInfo[] {
    return [...(this.running ? [this.running.info] : []), ...this.queue.map((j) => j.info), ...this.finished];
  }

  jobForRun(runId: string): JobInfo | undefined {
    if (this.running?.info.runId === runId) return this.running.info;
    return this.queue.find((j) => j.info.runId === runId)?.info;
  }

  /** Test hook: crash the worker. */
  crashForTest(how: 'throw' | 'exit' = 'exit'): void {
    this.post({ type: 'crash', how });
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
    await this.worker?.terminate();
  }
}
