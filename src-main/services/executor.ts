/**
 * The seam between a run and where it trains. A study's runs are independent jobs: any executor
 * can take one. The local executor queues them on this machine's engine host (up to `parallel`
 * at once, sharing one copy of each dataset); another executor (a cluster scheduler) implements
 * the same three calls and the services treat its runs alike.
 */
import type { JobInfo, RunRecord } from '../contract/api';
import type { EngineHost } from '../host/engine-host';

export interface RunExecutor {
  /** Shown with the runs it trains ('local', 'slurm', …). */
  readonly kind: string;
  /** Queues training of a created run (or its resume from the last checkpoint); returns its job. */
  submit(run: RunRecord, resume: boolean): JobInfo;
  /** The job that trains (or will train) a run here, if any. */
  jobFor(runId: string): JobInfo | undefined;
  /** Cancels a run's job: at once when queued, after its current step when running. */
  cancel(runId: string): boolean;
}

/** This machine's queue: `queue` submits the training job the services build for a run. */
export function localExecutor(host: EngineHost, queue: (run: RunRecord, resume: boolean) => JobInfo): RunExecutor {
  return {
    kind: 'local',
    submit: queue,
    jobFor: (runId) => host.jobForRun(runId),
    cancel(runId) {
      const job = host.jobForRun(runId);
      return job ? host.cancel(job.id) : false;
    },
  };
}
