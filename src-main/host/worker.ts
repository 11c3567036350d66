/**
 * Engine worker: owns TensorFlow.js. Runs one job at a time (the host queues them; a parallel
 * queue runs several of these workers), answers `info` at any moment (training loops yield every
 * step), and never lets an exception escape without telling the host which job failed. Datasets
 * come from the host, which loads each once and shares its memory with every worker.
 */
import { randomUUID } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../engine/backend';
import { setAutoThreads } from '../engine/threads';
import { setDatasetSource, type Dataset } from '../data/dataset';
import { DatasetError } from '../data/idx';
import { engineVersions } from './versions';
import type { CancelReason, DatasetFailure, FromWorker, JobContext, JobHandler, JobName, JobParams, ToWorker } from './protocol';
import { isJobName, JOBS } from './jobs';

if (!parentPort) throw new Error('worker.ts must run in a worker thread');
const port = parentPort;
const send = (m: FromWorker) => port.postMessage(m);
const cancelled = new Map<string, CancelReason>();
const data = workerData as { workspace: string; autoThreads?: number; sharedData?: boolean };
const workspace: string = data.workspace;
if (data.autoThreads) setAutoThreads(data.autoThreads);

const datasetWaiters = new Map<string, { resolve: (d: Dataset) => void; reject: (e: Error) => void }>();
if (data.sharedData !== false) {
  setDatasetSource(
    (ref, opts) =>
      new Promise<Dataset>((resolve, reject) => {
        const id = randomUUID();
        datasetWaiters.set(id, { resolve, reject });
        send({ type: 'dataset.request', id, ref, opts });
      }),
  );
}

function datasetFailure(e: DatasetFailure): Error {
  if (e.file !== undefined && e.problem !== undefined) return new DatasetError(e.file, e.problem);
  return new Error(e.message);
}

function errorMessage(e: unknown): { message: string; code?: string } {
  if (e && typeof e === 'object' && 'message' in e) {
    const code = 'code' in e && typeof (e as { code: unknown }).code === 'string' ? (e as { code: string }).code : undefined;
    return { message: String((e as Error).message), code };
  }
  return { message: String(e) };
}

/** Runs job `kind`: its params and result are typed by the job map; a name off the wire is checked first. */
async function runJob<K extends JobName>(id: string, kind: K, payload: JobParams<K>): Promise<void> {
  if (!isJobName(kind)) {
    send({ type: 'error', id, message: `unknown job kind "${kind}"`, code: 'invalid' });
    return;
  }
  const handler: JobHandler<K> = JOBS[kind];
  const ctx: JobContext = {
    jobId: id,
    workspace,
    progress: (progress) => send({ type: 'progress', id, progress }),
    emit: (name, p) => send({ type: 'event', id, name, payload: p }),
    cancelled: () => cancelled.has(id),
    cancelReason: () => cancelled.get(id) ?? null,
  };
  try {
    const value = await handler(payload, ctx);
    send({ type: 'result', id, value });
  } catch (e) {
    send({ type: 'error', id, ...errorMessage(e) });
  } finally {
    cancelled.delete(id);
  }
}

port.on('message', (m: ToWorker) => {
  switch (m.type) {
    case 'job':
      void ready.then(() => runJob(m.id, m.kind, m.payload));
      break;
    case 'cancel':
      cancelled.set(m.id, m.reason ?? 'cancelled');
      break;
    case 'dataset': {
      const w = datasetWaiters.get(m.id);
      if (!w) break;
      datasetWaiters.delete(m.id);
      if (m.dataset) w.resolve(m.dataset);
      else w.reject(datasetFailure(m.error ?? { message: 'the host sent no dataset' }));
      break;
    }
    case 'config':
      setAutoThreads(m.autoThreads);
      break;
    case 'info':
      void ready.then(() => send({ type: 'result', id: m.id, value: { memory: tf.memory() } }));
      break;
    case 'crash':
      if (m.how === 'exit') process.exit(70);
      setImmediate(() => {
        throw new Error('crash requested by host (test hook)');
      });
      break;
    default: {
      const never: never = m;
      throw new Error(`unknown message ${JSON.stringify(never)}`);
    }
  }
});

const ready: Promise<void> = initBackend()
  .then((backend) => send({ type: 'ready', backend, versions: engineVersions() }))
  .catch((e) => {
    send({ type: 'init-failed', message: errorMessage(e).message });
    throw e;
  });
