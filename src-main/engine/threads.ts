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

/** Threads the onnxruntime engine uses for a `threads` setting (0 = one per core, or per CPU Slurm gave the task). */
export function resolveThreads(setting: number, env: Record<string, string | undefined> = process.env): number {
  return setting > 0 ? setting : slurmCpus(env) ?? Math.max(1, availableParallelism());
}
