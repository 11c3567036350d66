/** CPU threads for the onnxruntime engine (no tfjs import: the services use it too). */
import { availableParallelism } from 'node:os';

/**
 * CPUs Slurm gave this task (SLURM_CPUS_PER_TASK, set when the job asked --cpus-per-task), or
 * null outside Slurm. Inside an allocation, availableParallelism() may see the whole node.
 */
export function slurmCpus(env: Record<string, string | undefined> = process.env): number | null {
  const n = Number(env.SLURM_CPUS_PER_TASK);
  return Number.isInteger(n) && n > 0 ? n : null;
}

/** Runs the local queue trains at once by default: one per core. */
export function defaultParallel(): number {
  // NORMLAB_PARALLEL=N sets the default width (e.g. 1 for a queue that trains one run at a time).
  const fromEnv = Number(process.env.NORMLAB_PARALLEL);
  if (Number.isInteger(fromEnv) && fromEnv >= 1) return fromEnv;
  return Math.max(1, availableParallelism());
}

/**
 * Threads each run gets for `threads` 0 (auto) when `parallel` runs train at once: the cores
 * divided between them, at least one (one per run at the default of one run per core).
 */
export function threadsPerRun(parallel: number): number {
  return Math.max(1, Math.floor(availableParallelism() / Math.max(1, parallel)));
}

/** What `threads` 0 means in this thread; the engine worker sets it from its host's queue width. */
let autoThreads: number | null = null;

/** Sets what `threads` 0 resolves to in this thread (null: one per core). */
export function setAutoThreads(n: number | null): void {
  autoThreads = n === null ? null : Math.max(1, Math.floor(n));
}

/**
 * Threads the onnxruntime engine uses for a `threads` setting: the setting, or for 0 (auto) the
 * CPUs Slurm gave the task when set (SLURM_CPUS_PER_TASK wins), else the share of the cores this
 * worker's queue gives each run (one per core outside a worker).
 */
export function resolveThreads(setting: number, env: Record<string, string | undefined> = process.env): number {
  return setting > 0 ? setting : slurmCpus(env) ?? autoThreads ?? Math.max(1, availableParallelism());
}
