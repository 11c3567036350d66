/**
 * The engine worker dies under a training job — the crash hook (process.exit in the worker) and
 * a real worker.terminate() from outside — while the services stay up: the run becomes
 * `interrupted`, every file is whole, another run's files are unchanged, the engine restarts,
 * and the run resumes to done with each epoch recorded once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EpochMetrics, JobInfo, RunRecord } from '../../../src-main/contract/api';
import { createServices, type Services } from '../../../src-main/services';
import { Workspace } from '../../../src-main/store/workspace';
import { WORKER_PATH, hashTree, integrityProblems, requireBuild } from './helpers';

let root: string;
let services: Services;
const events: { event: string; payload: unknown }[] = [];

/** Resolves with the first event (already seen or future) that satisfies `pred`. */
function waitFor<T>(pred: (event: string, payload: unknown) => T | undefined | false, timeoutMs = 60_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => { off(); reject(new Error('timed out waiting for an event')); }, timeoutMs);
    const off = services.subscribe((e, p) => {
      const v = pred(e, p);
      if (v) { clearTimeout(t); off(); resolve(v); }
    });
  });
}
const runStatus = (id: string, status: string) => (e: string, p: unknown) => e === 'run.updated' && (p as RunRecord).id === id && (p as RunRecord).status === status && (p as RunRecord);
const epochReached = (id: string, n: number) => (e: string, p: unknown) =>
  e === 'run.epoch' && (p as { runId: string }).runId === id && (p as { metrics: EpochMetrics }).metrics.epoch >= n && (p as { metrics: EpochMetrics }).metrics.epoch;

const tiny = (name: string, epochs: number) => ({ settings: { data: 'mnist-sample', epochs, trainLimit: 300, testLimit: 100, batch: 50, name } });

beforeAll(async () => {
  requireBuild();
  root = mkdtempSync(join(tmpdir(), 'normlab-crash-'));
  services = await createServices({ workspace: root, workerPath: WORKER_PATH, env: { NORMLAB_BACKEND: 'wasm' } });
  services.subscribe((event, payload) => events.push({ event, payload }));
});
afterAll(async () => {
  await services?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('engine worker crash during training', () => {
  it('crash hook and worker.terminate: interrupted, whole files, bystander unchanged, resumed to done', async () => {
    const { run: by } = (await services.handle('runs.start', tiny('bystander', 1))) as { run: RunRecord };
    await waitFor(runStatus(by.id, 'done'));
    // The job's end (not the run's last update) releases the run's writer lock.
    await waitFor((e, p) => e === 'job.updated' && (p as JobInfo).runId === by.id && (p as JobInfo).state === 'done');
    const bystander = hashTree(join(root, 'runs', by.id));

    const EPOCHS = 4;
    const { run } = (await services.handle('runs.start', tiny('victim', EPOCHS))) as { run: RunRecord };
    await waitFor(epochReached(run.id, 1));
    const crashes0 = services.host.crashes;
    const interrupted1 = waitFor(runStatus(run.id, 'interrupted'));
    services.host.crashForTest('exit');
    const r1 = await interrupted1;
    expect(r1.error).toMatch(/engine worker exited with code 70/);
    expect(services.host.crashes).toBe(crashes0 + 1);

    const check = (): Workspace => {
      const ws = new Workspace(root, { warn: () => {} });
      expect(integrityProblems(root)).toEqual([]);
      expect(hashTree(join(root, 'runs', by.id))).toEqual(bystander);
      return ws;
    };
    let ws = check();
    expect(ws.getRun(run.id).status).toBe('interrupted');
    const ck1 = ws.readCheckpoint(run.id, 'last')!;
    expect(ck1.epoch).toBeGreaterThanOrEqual(1);

    // The engine restarted on its own: a resume trains on, and a real terminate() kills it again.
    await services.handle('runs.resume', { id: run.id });
    await waitFor(epochReached(run.id, ck1.epoch + 1));
    const interrupted2 = waitFor(runStatus(run.id, 'interrupted'));
    await (services.host as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
    const r2 = await interrupted2;
    expect(r2.error).toMatch(/engine worker exited with code 1/);
    ws = check();
    expect(ws.readCheckpoint(run.id, 'last')!.epoch).toBeGreaterThan(ck1.epoch);

    await services.handle('runs.resume', { id: run.id });
    const done = await waitFor(runStatus(run.id, 'done'));
    expect(done.epochsDone).toBe(EPOCHS);
    ws = check();
    expect(ws.readMetrics(run.id).map((m) => m.epoch)).toEqual([1, 2, 3, 4]);
    expect(ws.readCheckpoint(run.id, 'last')!.epoch).toBe(EPOCHS);
    // The engine answers after two crashes, with nothing leaked by the finished jobs.
    const info = (await services.host.ping()) as { memory: { numTensors: number } };
    expect(info.memory.numTensors).toBeLessThan(50);
    console.log(`[faults] engine worker killed twice during training (crash hook, worker.terminate); resumed to done; tensors live after: ${info.memory.numTensors}`);
  });
});
