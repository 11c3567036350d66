/**
 * Job kinds the engine worker runs: one handler per name of the job map (protocol.ts `Jobs`),
 * checked by the compiler both ways. A feature adds its map entry there and its handler here.
 */
import type { JobHandler, JobName } from '../protocol';
import { trainJob } from './train';
import { bnInspectJob } from './bn';
import { exportJob, benchJob } from './onnx';
import { dropoutJob } from './dropout';
import { misclassifiedJob } from './misclassified';
import { weightsJob } from './weights';
import { landscapeJob, normLabJob } from './landscape';
import { dataProbeJob } from './data-probe';

export const JOBS: { [K in JobName]: JobHandler<K> } = {
  train: trainJob,
  'bn.inspect': bnInspectJob,
  'onnx.export': exportJob,
  'onnx.bench': benchJob,
  dropout: dropoutJob,
  misclassified: misclassifiedJob,
  weights: weightsJob,
  landscape: landscapeJob, 'landscape.images': normLabJob,
  'data.probe': dataProbeJob,
};

/** Whether a name off the wire is a job this worker runs. */
export function isJobName(kind: string): kind is JobName {
  return Object.prototype.hasOwnProperty.call(JOBS, kind);
}
