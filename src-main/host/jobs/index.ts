/**
 * Job kinds the engine worker runs. A feature adds its handler here (one line).
 */
import type { JobHandler } from '../protocol';
import { trainJob } from './train';
import { bnInspectJob } from './bn';
import { exportJob, benchJob } from './onnx';
import { dropoutJob } from './dropout';
import { misclassifiedJob } from './misclassified';
import { weightsJob } from './weights';
import { landscapeJob, normLabJob } from './landscape';
import { dataProbeJob } from './data-probe';

export const JOBS: Record<string, JobHandler> = {
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
