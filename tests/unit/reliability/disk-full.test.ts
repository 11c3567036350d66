/**
 * Disk full in the middle of training: the training job itself (run in-process, the same code the
 * worker runs) on a workspace whose file layer answers ENOSPC for the second epoch's checkpoint.
 * The job fails with a message that says what was being written and that the previous checkpoint
 * is kept; the run is `failed` with that message; checkpoint `last` is still epoch 1 and whole;
 * once space is back, resume finishes the run.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveSettings } from '../../../src-main/contract/settings';
import { initBackend } from '../../../src-main/engine/backend';
import type { JobContext } from '../../../src-main/host/protocol';
import { integrityProblems } from './helpers';

/** When set, writes whose path matches fail like a full disk. */
const fault: { match: RegExp | null; hits: string[] } = { match: null, hits: [] };

// The job opens its own Workspace with the default file layer: fault it at the module boundary.
vi.mock('../../../src-main/store/file-layer', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../../src-main/store/file-layer')>();
  return {
    ...real,
    nodeFileLayer: (...args: Parameters<typeof real.nodeFileLayer>) => {
      const inner = real.nodeFileLayer(...args);
      const enospc = (path: string): void => {
        if (fault.match?.test(path)) {
          fault.hits.push(path);
          throw Object.assign(new Error(`ENOSPC: no space left on device, write '${path}'`), { code: 'ENOSPC', errno: -28 });
        }
      };
      return {
        ...inner,
        writeFileAtomic: (path: string, data: string | Uint8Array, opts?: { keepPrevious?: string }) => { enospc(path); inner.writeFileAtomic(path, data, opts); },
        appendLine: (path: string, line: string) => { enospc(path); inner.appendLine(path, line); },
      };
    },
  };
});

const { Workspace } = await import('../../../src-main/store/workspace');
const { JOBS } = await import('../../../src-main/host/jobs');

let root: string;
beforeAll(async () => {
  await initBackend();
  root = mkdtempSync(join(tmpdir(), 'normlab-diskfull-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('disk full during training', () => {
  it('fails the run with a clear message and keeps the previous checkpoint; resume completes it later', async () => {
    const ws = new Workspace(root, { warn: () => {} });
    const s = resolveSettings({ data: 'mnist-sample', epochs: 3, trainLimit: 300, testLimit: 100, batch: 50 });
    if (!s.ok) throw new Error('settings');
    const run = ws.createRun(s.value);
    const epochs: number[] = [];
    const ctx: JobContext = {
      jobId: 'j1', workspace: root, progress: () => {}, cancelled: () => false,
      emit: (name, p) => {
        if (name !== 'run.epoch') return;
        epochs.push((p as { metrics: { epoch: number } }).metrics.epoch);
        // After epoch 1 is safely on disk, the disk fills up.
        if (epochs.length === 1) fault.match = /checkpoints\/last\.nlck$/;
      },
    };
    let error: Error | undefined;
    await JOBS.train({ runId: run.id, resume: false }, ctx).catch((e: Error) => (error = e));
    expect(fault.hits.length).toBe(1);
    expect(error?.name).toBe('StoreError');
    expect((error as { code?: string }).code).toBe('disk-full');
    expect(error!.message).toBe(`disk full while writing checkpoint last of run ${run.id}; the previous checkpoint is kept`);
    const failed = ws.getRun(run.id);
    expect(failed.status).toBe('failed');
    expect(failed.error).toBe(error!.message);
    expect(ws.readCheckpoint(run.id, 'last')!.epoch).toBe(1);
    fault.match = null;
    expect(integrityProblems(root)).toEqual([]);

    // Space is back: resume from epoch 1 to the end, epoch 2's orphaned metrics line dropped first.
    const r = (await JOBS.train({ runId: run.id, resume: true }, ctx)) as { status: string };
    expect(r.status).toBe('done');
    expect(ws.readMetrics(run.id).map((m) => m.epoch)).toEqual([1, 2, 3]);
    expect(ws.readCheckpoint(run.id, 'last')!.epoch).toBe(3);
    expect(integrityProblems(root)).toEqual([]);
    console.log(`[faults] disk full (ENOSPC at checkpoint write of epoch 2): "${error!.message}"`);
  });

  it('a full disk when the run record itself cannot be written still leaves whole files', async () => {
    const ws = new Workspace(root, { warn: () => {} });
    const s = resolveSettings({ data: 'mnist-sample', epochs: 2, trainLimit: 200, testLimit: 100, batch: 50 });
    if (!s.ok) throw new Error('settings');
    const run = ws.createRun(s.value);
    fault.hits = [];
    const ctx: JobContext = {
      jobId: 'j2', workspace: root, progress: () => {}, cancelled: () => false,
      emit: (name) => { if (name === 'run.epoch') fault.match = new RegExp(`${run.id}/`); },
    };
    const err = await JOBS.train({ runId: run.id, resume: false }, ctx).then(() => null, (e: Error) => e);
    fault.match = null;
    // The first failure is reported (what was being written and what was kept), not the failed status update after it.
    expect(err?.message).toMatch(/^disk full while writing (metrics of epoch 2|BN record of step \d+|checkpoint last|weights epoch-2) of run /);
    expect(integrityProblems(root)).toEqual([]);
    // Nothing could be recorded after the fault; the last good state is epoch 1 and it loads.
    expect(ws.readCheckpoint(run.id, 'last')!.epoch).toBe(1);
    const left = ws.getRun(run.id);
    expect(['running', 'failed']).toContain(left.status);
    console.log(`[faults] disk full for every write of the run: job error "${err?.message}"; run.json left ${left.status}`);
  });
});
