/** CPU threads for the onnxruntime engine (no tfjs import: the services use it too). */
import { availableParallelism } from 'node:os';

/** Threads the onnxruntime engine uses for a `threads` setting (0 = one per core). */
export function resolveThreads(setting: number): number {
  return setting > 0 ? setting : Math.max(1, availableParallelism());
}
