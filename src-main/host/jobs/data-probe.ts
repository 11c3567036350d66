/**
 * What a worker sees of a dataset: which thread it is, whether the pixels are in shared memory,
 * and the pixel byte at an index. The queue's check that every worker trains on the host's one
 * copy of the data (tests, `normlab bench --only study` memory notes), not a copy per run.
 */
import { threadId } from 'node:worker_threads';
import { loadDataset } from '../../data/dataset';
import { isShared } from '../../data/shared';

export interface DataProbePayload {
  ref: string;
  /** Index into the training pixels to read back. */
  index: number;
}

export interface DataProbeResult {
  threadId: number;
  shared: boolean;
  /** Bytes of the training pixel buffer this worker sees. */
  bytes: number;
  byte: number;
}

export async function dataProbeJob(payload: DataProbePayload): Promise<DataProbeResult> {
  const d = await loadDataset(payload.ref);
  const images = d.train.images;
  return { threadId, shared: isShared(images), bytes: images.buffer.byteLength, byte: images[payload.index] };
}
