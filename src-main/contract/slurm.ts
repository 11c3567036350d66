/**
 * Studies on Slurm: the options of an array-job submission, a task's scheduler state and what
 * the app knows about the local Slurm client. Types only, plus the pure rule that merges Slurm's
 * view of a task with the run's own status in the workspace (shared by services, CLI and renderer).
 */
import type { RunStatus } from './api';

/** Where a study's runs are trained. */
export type ExecutorKind = 'local' | 'slurm';

/** sbatch options of a study handed to Slurm (`normlab study … --executor slurm`). */
export interface SlurmOptions {
  /** --partition (the cluster's default when absent). */
  partition?: string;
  /** --time, Slurm's formats: MM, HH:MM:SS, D-HH (the partition's default when absent). */
  time?: string;
  /** --cpus-per-task; each task trains with that many onnxruntime threads. */
  cpusPerTask?: number;
  /** Passed to sbatch as they are (e.g. "--account=lab", "--qos=short"). */
  sbatchArgs?: string[];
  /** --requeue: a task stopped by preemption or `scontrol requeue` restarts and resumes from its last checkpoint (default on). */
  requeue?: boolean;
}

/** Slurm's state of one array task, in the words the app shows. */
export type SlurmTaskState =
  | 'pending' | 'running' | 'completed' | 'failed' | 'cancelled' | 'timeout' | 'preempted' | 'suspended'
  /** Slurm answered but no longer knows the task (it ended longer ago than MinJobAge and there is no accounting). */
  | 'gone'
  /** Slurm could not be asked (no client here, controller unreachable): nothing is concluded. */
  | 'unknown';

/** The Slurm task that owns a run (recorded on the run), with the scheduler's state merged in when read. */
export interface RunSlurm {
  jobId: string;
  taskId: number;
  /** Filled in by the services when the run is read; never trusted from disk. */
  state?: SlurmTaskState;
  /** Slurm's reason or exit code, e.g. "Resources", "exit 130", "requeued (restart 1)". */
  note?: string;
}

/** Whether this machine can submit to Slurm, and why not. */
export interface SlurmInfo {
  available: boolean;
  /** One line a person can act on: "sbatch 22.05.8, partitions debug*" or "sbatch was not found on PATH". */
  reason: string;
  version?: string;
  partitions?: string[];
}

/** What `study.start` returns in addition when the study went to Slurm. */
export interface SlurmSubmission {
  /** The array job (one task per run, task i = the i-th new run). */
  jobId: string;
  /** The job that writes the report once every task has ended (afterany dependency). */
  reportJobId: string;
  /** Folder with the batch scripts and the tasks' logs (in the workspace). */
  dir: string;
  /** Report folder the dependent job writes. */
  reportDir: string;
}

const SLURM_END: readonly SlurmTaskState[] = ['completed', 'failed', 'cancelled', 'timeout', 'preempted', 'gone'];

/** Whether Slurm considers the task finished (it will not run again unless requeued). */
export function slurmEnded(state: SlurmTaskState | undefined): boolean {
  return state !== undefined && SLURM_END.includes(state);
}

/**
 * The status to show for a run owned by a Slurm task, from the workspace's status and Slurm's
 * state. The workspace wins when the run ended on its own terms (done, failed, cancelled, …).
 * A run the workspace still calls queued/running whose task Slurm has ended (or forgotten) was
 * killed without a word: it is interrupted. An interrupted run whose task Slurm has requeued
 * shows as queued (pending) or running again. `persist` says whether the status should be
 * written back to run.json (only the interrupted finding, which is a fact about the past).
 */
export function mergeSlurmStatus(
  status: RunStatus,
  state: SlurmTaskState,
): { status: RunStatus; persist: boolean } {
  if (state === 'unknown') return { status, persist: false };
  if (status === 'queued' || status === 'running') {
    if (state === 'pending' || state === 'suspended') return { status: 'queued', persist: false };
    if (state === 'running') return { status, persist: false };
    return { status: 'interrupted', persist: true };
  }
  if (status === 'interrupted') {
    if (state === 'pending') return { status: 'queued', persist: false };
    if (state === 'running') return { status: 'running', persist: false };
  }
  return { status, persist: false };
}
