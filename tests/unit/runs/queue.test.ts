/**
 * The run queue through the services, in process, with the built engine worker
 * (out/main/worker.js; needs `npm run build`): two runs queued back to back both finish, in
 * order; a worker crash during training marks its run `interrupted`, the engine restarts, the
 * next queued run still trains, and the interrupted one resumes. Real data: MNIST sample slices.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EventName, JobInfo, RunRecord } from '../../../src-main/contract/api';
import { ApiError } from '../../../src-main/contract/api';
import { createServices, type Services } from '../../../src-main/services';
import { WORKER, notBuilt, tempDir, until } from './helpers';

const missing = notBuilt();
const SMALL = { epochs: 1, trainLimit: 500, testLimit: 200, batch: 64 };

interface Seen {
  event: EventName;
  payload: unknown;
}

let tmp: { dir: string; cleanup: () => void };
let services: Services | undefined;
let seen: Seen[];

beforeEach(async () => {
  tmp = tempDir('queue');
  seen = [];
});
afterEach(async () => {
  await services?.close();
  services = undefined;
  tmp.cleanup();
});

async function open(): Promise<Services> {
  services = await createServices({ workspace: tmp.dir, workerPath: WORKER, env: { NORMLAB_BACKEND: 'wasm' } });
  services.subscribe((event, payload) => seen.push({ event, payload }));
  return services;
}

const start = (s: Services, settings: Record<string, unknown>) => s.handle('runs.start', { settings: { data: 'mnist-sample', ...settings } }) as Promise<{ run: RunRecord; job: JobInfo }>;
/** Status changes of one run, in the order they were announced. */
const statuses = (runId: string) =>
  seen.filter((e) => e.event === 'run.updated' && (e.payload as RunRecord).id === runId).map((e) => (e.payload as RunRecord).status)
    .filter((s, i, a) => i === 0 || a[i - 1] !== s);
const index = (pred: (e: Seen) => boolean) => seen.findIndex(pred);
const jobFinished = (jobId: string) => seen.some((e) => e.event === 'job.updated' && (e.payload as JobInfo).id === jobId && ['done', 'failed', 'cancelled'].includes((e.payload as JobInfo).state));

describe.skipIf(missing)(`the run queue${missing ? ` (skipped: ${missing})` : ''}`, () => {
  it('runs two runs queued back to back, one after the other, both to done', async () => {
    const s = await open();
    const a = await start(s, { ...SMALL, name: 'first', seed: 1 });
    const b = await start(s, { ...SMALL, name: 'second', seed: 2 });
    expect(a.job.state === 'queued' || a.job.state === 'running').toBe(true);
    expect(b.job.state).toBe('queued');
    // While the first trains, the second waits behind it.
    const jobs = (await s.handle('jobs.list', {})) as JobInfo[];
    expect(jobs.filter((j) => j.state === 'running' || j.state === 'queued').map((j) => j.runId)).toEqual([a.run.id, b.run.id]);

    await until(() => jobFinished(b.job.id), 120_000, 'the second run to finish', 100);
    expect(statuses(a.run.id)).toEqual(['queued', 'running', 'done']);
    expect(statuses(b.run.id)).toEqual(['queued', 'running', 'done']);
    const aDone = index((e) => e.event === 'run.updated' && (e.payload as RunRecord).id === a.run.id && (e.payload as RunRecord).status === 'done');
    const bRunning = index((e) => e.event === 'run.updated' && (e.payload as RunRecord).id === b.run.id && (e.payload as RunRecord).status === 'running');
    expect(aDone).toBeGreaterThan(0);
    expect(bRunning).toBeGreaterThan(aDone);
    // Each run announced its one epoch live, and the store agrees.
    const epochs = seen.filter((e) => e.event === 'run.epoch').map((e) => (e.payload as { runId: string; metrics: { epoch: number } }));
    expect(epochs.map((e) => [e.runId, e.metrics.epoch])).toEqual([[a.run.id, 1], [b.run.id, 1]]);
    const list = (await s.handle('runs.list', {})) as RunRecord[];
    for (const r of [a.run, b.run]) {
      const rec = list.find((x) => x.id === r.id)!;
      expect(rec).toMatchObject({ status: 'done', epochsDone: 1 });
      const [m] = s.workspace.readMetrics(r.id);
      expect(m.epoch).toBe(1);
      expect(rec.bestTestAcc).toBe(m.test_acc);
      expect(rec.finalTestAcc).toBe(m.test_acc);
    }
    // Different seeds, different runs: the queue did not train the same run twice.
    expect(s.workspace.readMetrics(a.run.id)[0].train_loss).not.toBe(s.workspace.readMetrics(b.run.id)[0].train_loss);
  });

  it('survives a worker crash mid-training: interrupted run, restarted engine, next queued run done, resume works', async () => {
    const s = await open();
    const a = await start(s, { epochs: 2, trainLimit: 2000, testLimit: 200, batch: 32, name: 'crashed' });
    const b = await start(s, { ...SMALL, name: 'after the crash' });
    // Crash once the first run is really training (a step has reported progress).
    await until(() => seen.some((e) => e.event === 'job.updated' && (e.payload as JobInfo).id === a.job.id && ((e.payload as JobInfo).progress?.step ?? 0) >= 2), 60_000, 'training steps of the first run');
    s.host.crashForTest('exit');

    await until(() => jobFinished(b.job.id), 120_000, 'the queued run after the crash', 100);
    expect(s.host.crashes).toBe(1);
    const engine = seen.filter((e) => e.event === 'engine.status').map((e) => (e.payload as { state: string }).state);
    expect(engine.slice(-3)).toEqual(['crashed', 'restarting', 'ready']);
    const aJob = seen.filter((e) => e.event === 'job.updated' && (e.payload as JobInfo).id === a.job.id).at(-1)!.payload as JobInfo;
    expect(aJob.state).toBe('failed');
    expect(aJob.error).toMatch(/engine worker exited/);
    const aRec = s.workspace.getRun(a.run.id);
    expect(aRec.status).toBe('interrupted');
    expect(aRec.error).toMatch(/engine worker exited/);
    expect(s.workspace.getRun(b.run.id)).toMatchObject({ status: 'done', epochsDone: 1 });

    // Resume from the button's method: it continues and finishes both epochs.
    const resumed = (await s.handle('runs.resume', { id: a.run.id })) as { run: RunRecord; job: JobInfo };
    expect(resumed.run.status).toBe('queued');
    await expect(s.handle('runs.delete', { id: a.run.id })).rejects.toThrow(/queued or running; cancel it first/);
    await until(() => jobFinished(resumed.job.id), 120_000, 'the resumed run', 100);
    const final = s.workspace.getRun(a.run.id);
    expect(final).toMatchObject({ status: 'done', epochsDone: 2 });
    expect(s.workspace.readMetrics(a.run.id).map((m) => m.epoch)).toEqual([1, 2]);
  });

  it('refuses a bad dataset before creating a run, and validates settings per field', async () => {
    const s = await open();
    const bad = await start(s, { data: '/nonexistent' }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(ApiError);
    expect((bad as ApiError).code).toBe('dataset');
    expect((bad as ApiError).message).toContain('/nonexistent');
    const invalid = await start(s, { epochs: 0, norm: 'foo' }).catch((e: unknown) => e);
    expect((invalid as ApiError).code).toBe('invalid');
    expect((invalid as ApiError).issues?.map((i) => i.key).sort()).toEqual(['epochs', 'norm']);
    expect((await s.handle('runs.list', {})) as RunRecord[]).toEqual([]);
  });

  it('cancels a queued run at once and a running one after its current step', async () => {
    const s = await open();
    const a = await start(s, { epochs: 3, trainLimit: 2000, testLimit: 200, batch: 32, name: 'long' });
    const b = await start(s, { ...SMALL, name: 'never runs' });
    expect(await s.handle('runs.cancel', { id: b.run.id })).toEqual({ cancelled: true });
    expect(s.workspace.getRun(b.run.id).status).toBe('cancelled');
    await until(() => seen.some((e) => e.event === 'job.updated' && (e.payload as JobInfo).id === a.job.id && ((e.payload as JobInfo).progress?.step ?? 0) >= 1), 60_000, 'training steps');
    expect(await s.handle('runs.cancel', { id: a.run.id })).toEqual({ cancelled: true });
    await until(() => jobFinished(a.job.id), 60_000, 'the cancelled run to stop', 50);
    const rec = s.workspace.getRun(a.run.id);
    expect(rec.status).toBe('cancelled');
    expect(rec.epochsDone).toBeLessThan(3);
    expect(await s.handle('runs.delete', { id: b.run.id })).toEqual({ deleted: true });
    expect(((await s.handle('runs.list', {})) as RunRecord[]).map((r) => r.id)).toEqual([a.run.id]);
  });
});
