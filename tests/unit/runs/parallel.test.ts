/**
 * The parallel queue through the services, in process, with the built engine worker
 * (out/main/worker.js; needs `npm run build`): two workers read the host's one copy of a dataset
 * (shared memory: a byte changed here is seen by both), runs trained two at a time give exactly
 * the metrics of the same runs trained one after the other, queue order and cancel hold, a worker
 * crash interrupts only its own run, and `threads` 0 means the cores divided between the runs.
 * Real data: MNIST sample slices.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EpochMetrics, EventName, JobInfo, QueueSettings, RunRecord } from '../../../src-main/contract/api';
import { loadDataset } from '../../../src-main/data/dataset';
import { isShared } from '../../../src-main/data/shared';
import { threadsPerRun } from '../../../src-main/engine/threads';
import type { DataProbeResult } from '../../../src-main/host/jobs/data-probe';
import { EngineHost } from '../../../src-main/host/engine-host';
import { createServices, type Services } from '../../../src-main/services';
import { WORKER, notBuilt, tempDir, until } from './helpers';

const missing = notBuilt();
const SMALL = { epochs: 1, trainLimit: 400, testLimit: 200, batch: 50, threads: 1 };

let tmp: { dir: string; cleanup: () => void };
let opened: Services[] = [];
let seen: { event: EventName; payload: unknown }[];

beforeEach(() => {
  tmp = tempDir('parallel');
  seen = [];
});
afterEach(async () => {
  for (const s of opened) await s.close();
  opened = [];
  tmp.cleanup();
});

async function open(parallel: number, dir = tmp.dir): Promise<Services> {
  const s = await createServices({ workspace: dir, workerPath: WORKER, env: { NORMLAB_BACKEND: 'wasm' }, parallel });
  s.subscribe((event, payload) => seen.push({ event, payload }));
  opened.push(s);
  return s;
}

const start = (s: Services, settings: Record<string, unknown>) => s.handle('runs.start', { settings }) as Promise<{ run: RunRecord; job: JobInfo }>;
const jobFinished = (jobId: string) =>
  seen.some((e) => e.event === 'job.updated' && (e.payload as JobInfo).id === jobId && ['done', 'failed', 'cancelled'].includes((e.payload as JobInfo).state));
const probe = (s: Services, index: number) => s.host.submit('data.probe', { ref: 'mnist-sample', index }, { title: 'probe' }).done as Promise<DataProbeResult>;
/** Metrics without the wall time (the one field allowed to differ between two trainings). */
const values = (ms: EpochMetrics[]) => ms.map(({ seconds: _s, ...rest }) => rest);

describe.skipIf(missing)(`the parallel queue${missing ? ` (skipped: ${missing})` : ''}`, () => {
  it('shares one copy of the dataset: two workers see the host\'s shared buffer, and a byte changed here', async () => {
    const s = await open(2);
    const host = await loadDataset('mnist-sample');
    expect(isShared(host.train.images)).toBe(true);
    const index = 1234 * 784 + 400; // a pixel in the middle of training image 1,234
    const old = host.train.images[index];
    const [a, b] = await Promise.all([probe(s, index), probe(s, index)]);
    expect(s.host.workerCount).toBe(2);
    expect(a.threadId).not.toBe(b.threadId);
    for (const r of [a, b]) expect(r).toMatchObject({ shared: true, bytes: host.train.images.buffer.byteLength, byte: old });
    const marker = (old + 77) % 256;
    host.train.images[index] = marker;
    try {
      const [c, d] = await Promise.all([probe(s, index), probe(s, index)]);
      expect(new Set([a.threadId, b.threadId])).toEqual(new Set([c.threadId, d.threadId]));
      expect([c.byte, d.byte]).toEqual([marker, marker]);
    } finally {
      host.train.images[index] = old;
    }
  });

  it('trains runs two at a time with exactly the metrics of one after the other (same seeds)', async () => {
    const runs = [{ ...SMALL, seed: 3, name: 'a' }, { ...SMALL, seed: 4, name: 'b', l1: 1e-4 }, { ...SMALL, seed: 5, name: 'c', dropout: 0.1 }];
    const train = async (parallel: number, dir: string) => {
      const s = await open(parallel, dir);
      const started: { run: RunRecord; job: JobInfo }[] = [];
      for (const r of runs) started.push(await start(s, r));
      await until(() => started.every((x) => jobFinished(x.job.id)), 180_000, `runs at parallel ${parallel}`, 50);
      return { s, ids: started.map((x) => x.run.id) };
    };
    const seq = tempDir('parallel-seq');
    try {
      const one = await train(1, seq.dir);
      const two = await train(2, tmp.dir);
      // The two-wide queue really ran two at once: some run started before another finished.
      const running = new Set<string>();
      let most = 0;
      for (const e of seen.filter((x) => x.event === 'job.updated')) {
        const j = e.payload as JobInfo;
        if (!two.ids.includes(j.runId ?? '')) continue;
        if (j.state === 'running') running.add(j.id);
        else running.delete(j.id);
        most = Math.max(most, running.size);
      }
      expect(most).toBe(2);
      for (let i = 0; i < runs.length; i++) {
        const a = one.s.workspace.readMetrics(one.ids[i]);
        const b = two.s.workspace.readMetrics(two.ids[i]);
        expect(a).toHaveLength(1);
        expect(values(b)).toEqual(values(a));
        expect(two.s.workspace.getRun(two.ids[i]).status).toBe('done');
      }
      // Different seeds and settings really trained different runs.
      expect(one.s.workspace.readMetrics(one.ids[0])[0].train_loss).not.toBe(one.s.workspace.readMetrics(one.ids[1])[0].train_loss);
    } finally {
      seq.cleanup();
    }
  });

  it('keeps queue order and cancel: two start, the third waits and is cancelled at once', async () => {
    const s = await open(2);
    const a = await start(s, { ...SMALL, epochs: 2, trainLimit: 1000, name: 'a' });
    const b = await start(s, { ...SMALL, epochs: 2, trainLimit: 1000, name: 'b' });
    const c = await start(s, { ...SMALL, name: 'c' });
    const jobs = (await s.handle('jobs.list', {})) as JobInfo[];
    const active = jobs.filter((j) => j.state === 'running' || j.state === 'queued');
    expect(active.map((j) => [j.runId, j.state])).toEqual([[a.run.id, 'running'], [b.run.id, 'running'], [c.run.id, 'queued']]);
    expect(await s.handle('runs.cancel', { id: c.run.id })).toEqual({ cancelled: true });
    expect(s.workspace.getRun(c.run.id).status).toBe('cancelled');
    await until(() => jobFinished(a.job.id) && jobFinished(b.job.id), 180_000, 'both runs', 50);
    for (const r of [a, b]) expect(s.workspace.getRun(r.run.id)).toMatchObject({ status: 'done', epochsDone: 2 });
    // Each run announced its own epochs live.
    const epochs = seen.filter((e) => e.event === 'run.epoch').map((e) => e.payload as { runId: string; metrics: EpochMetrics });
    for (const r of [a, b]) expect(epochs.filter((e) => e.runId === r.run.id).map((e) => e.metrics.epoch)).toEqual([1, 2]);
  });

  it('a crashed worker interrupts only its run; the other finishes, the engine restarts and the run resumes', async () => {
    const s = await open(2);
    const a = await start(s, { ...SMALL, epochs: 2, trainLimit: 2000, batch: 32, name: 'victim' });
    const b = await start(s, { ...SMALL, epochs: 2, trainLimit: 1000, name: 'bystander' });
    await until(() => seen.some((e) => e.event === 'job.updated' && (e.payload as JobInfo).id === a.job.id && ((e.payload as JobInfo).progress?.step ?? 0) >= 2), 60_000, 'steps of the victim');
    s.host.crashForTest('exit'); // the first running job's worker: the victim's
    await until(() => jobFinished(a.job.id) && jobFinished(b.job.id), 180_000, 'both jobs', 50);
    expect(s.host.crashes).toBe(1);
    expect(s.workspace.getRun(a.run.id)).toMatchObject({ status: 'interrupted' });
    expect(s.workspace.getRun(b.run.id)).toMatchObject({ status: 'done', epochsDone: 2 });
    const resumed = (await s.handle('runs.resume', { id: a.run.id })) as { job: JobInfo };
    await until(() => jobFinished(resumed.job.id), 180_000, 'the resumed run', 50);
    expect(s.workspace.getRun(a.run.id)).toMatchObject({ status: 'done', epochsDone: 2 });
    expect(s.workspace.readMetrics(a.run.id).map((m) => m.epoch)).toEqual([1, 2]);
  });

  it('a lazy host starts no worker until a job comes, then only as many as the jobs need', async () => {
    const host = new EngineHost({ workspace: tmp.dir, workerPath: WORKER, env: { NORMLAB_BACKEND: 'wasm' }, parallel: 3, lazy: true });
    try {
      expect(host.workerCount).toBe(0);
      const r = (await host.submit('data.probe', { ref: 'mnist-sample', index: 0 }, { title: 'probe' }).done) as DataProbeResult;
      expect(r.shared).toBe(true);
      expect(host.workerCount).toBe(1);
    } finally {
      await host.close();
    }
  });

  it('threads 0 (auto) gives each run the cores divided by the runs at once; queue.set changes the width', async () => {
    const s = await open(2);
    const q = (await s.handle('queue.get', {})) as QueueSettings;
    expect(q).toMatchObject({ parallel: 2, threadsPerRun: threadsPerRun(2) });
    const { run, job } = await start(s, { ...SMALL, threads: 0, name: 'auto' });
    await until(() => jobFinished(job.id), 120_000, 'the auto-threads run', 50);
    const n = threadsPerRun(2);
    expect(s.workspace.getRun(run.id).backend).toBe(`onnxruntime (${n} thread${n === 1 ? '' : 's'})`);
    const wider = (await s.handle('queue.set', { parallel: 3 })) as QueueSettings;
    expect(wider).toMatchObject({ parallel: 3, threadsPerRun: threadsPerRun(3) });
    await expect(s.handle('queue.set', { parallel: 0 })).rejects.toThrow(/parallel/);
  });
});
