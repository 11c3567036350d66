/**
 * Job kinds the engine worker runs. A feature adds its handler here (one line).
 */
import type { JobHandler } from '../protocol';
import { trainJob } from './train';
import { dropoutJob } from './dropout';

export const JOBS: Record<string, JobHandler> = {
  train: trainJob,
  dropout: dropoutJob,
};
