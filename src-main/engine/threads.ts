/** CPU threads for the onnxruntime engine (no tfjs import: the services use it too). */
import { availableParallelism } from 'node:os';

/** Runs the local queue trains at once by default: one per core. */
export function defaultParallel(): number {
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
 * share of the cores this worker's queue gives each run (one per core outside a worker).
 */
export function resolveThreads(setting: number): number {
  return setting > 0 ? setting : autoThreads ?? Math.max(1, availableParallelism());
}
