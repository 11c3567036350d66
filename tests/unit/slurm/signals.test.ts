/**
 * SIGTERM and SIGINT in `normlab train` (what scancel, a time limit or Ctrl-C send), through the
 * real command (needs `npm run build`): the current step finishes, the epoch in flight is dropped,
 * the record says interrupted (SIGTERM, exit 143) or cancelled (SIGINT, exit 130), and
 * `normlab train --run ID` (what a requeued Slurm task runs) resumes to the same curve as an
 * uninterrupted run. Real data: slices of the embedded MNIST sample.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { EpochMetrics, RunRecord } from '../../../src-main/contract/api';
import { Workspace } from '../../../src-main/store';
import { BIN, ROOT, cli, jsonLines, metricLines, notBuilt, tempDir, until } from '../runs/helpers';

const missing = notBuilt();
// 1200 images at batch 64 = 19 steps an epoch (about a second): a signal lands inside an epoch.
const FLAGS = ['--data', 'mnist-sample', '--epochs', '3', '--train-limit', '1200', '--test-limit', '300', '--batch', '64', '--seed', '11', '--threads', '1'];
const CURVE_KEYS = ['train_loss', 'train_acc', 'test_loss', 'test_acc', 'grad_norm', 'sparsity'] as const;

let tmp: { dir: string; cleanup: () => void };
beforeAll(() => {
  tmp = tempDir('signals');
});
afterAll(() => tmp?.cleanup());

/** Starts `normlab train`, sends `signal` once `when(ws, id)` holds, and returns the exit and the run. */
async function trainAndSignal(ws: string, signal: NodeJS.Signals, when: (id: string) => boolean, args = FLAGS) {
  const child = spawn(process.execPath, [BIN, 'train', ...args, '--workspace', ws, '--json'], { cwd: ROOT, env: { ...process.env, NORMLAB_BACKEND: 'wasm' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((ok) => child.on('exit', (code, sig) => ok({ code, signal: sig })));
  let id = '';
  await until(() => {
    const runs = existsSync(join(ws, 'runs')) ? readdirSync(join(ws, 'runs')).filter((n) => !n.startsWith('.')) : [];
    id = runs[0] ?? '';
    return Boolean(id) && when(id);
  }, 120_000, `the training process (stderr: ${stderr})`, 10);
  const linesAtSignal = metricLines(ws, id).length;
  child.kill(signal);
  const exit = await exited;
  return { ...exit, id, stdout, stderr, linesAtSignal };
}

describe.skipIf(missing)(`signals in normlab train${missing ? ` (skipped: ${missing})` : ''}`, () => {
  it('SIGTERM mid-epoch: exit 143, run interrupted after epoch 1; train --run resumes to the uninterrupted curve', async () => {
    const ws = join(tmp.dir, 'term');
    const r = await trainAndSignal(ws, 'SIGTERM', (id) => metricLines(ws, id).length >= 1);
    expect(r.signal).toBeNull(); // it exited on its own terms, not killed by the signal
    expect(r.code).toBe(143);
    expect(r.linesAtSignal).toBe(1);
    expect(r.stderr).toContain('SIGTERM: stopping after the current step');
    const store = new Workspace(ws, { warn: () => undefined });
    const run = store.getRun(r.id);
    expect(run.status).toBe('interrupted');
    expect(run.epochsDone).toBe(1);
    expect(run.owner).toBeUndefined();
    expect(run.error).toBe('interrupted by SIGTERM after 1 finished epoch; the epoch in flight was dropped, a resume continues from the checkpoint of epoch 1');
    expect(store.readMetrics(r.id).map((m) => m.epoch)).toEqual([1]);
    expect(store.readCheckpoint(r.id, 'last')?.epoch).toBe(1);
    const summary = jsonLines(r.stdout).at(-1);
    expect(summary).toMatchObject({ run_id: r.id, status: 'interrupted', epochs: 1 });

    const resumed = await cli(['train', '--run', r.id, '--workspace', ws, '--json']);
    expect(resumed.stderr).toBe('');
    expect(resumed.code).toBe(0);
    const lines = jsonLines(resumed.stdout);
    expect(lines.slice(0, -1).map((l) => l.epoch)).toEqual([2, 3]);
    expect(lines.at(-1)).toMatchObject({ run_id: r.id, status: 'done', epochs: 3 });
    // a finished run is not trained again (a requeued task that had already finished)
    const again = await cli(['train', '--run', r.id, '--workspace', ws]);
    expect(again.code).toBe(0);
    expect(again.stdout.trim()).toBe(`run ${r.id} is already done; nothing to train`);

    const ref = await cli(['train', ...FLAGS, '--workspace', join(tmp.dir, 'reference'), '--json']);
    expect(ref.code).toBe(0);
    const refMetrics = jsonLines(ref.stdout).slice(0, -1) as unknown as EpochMetrics[];
    const metrics = store.readMetrics(r.id);
    expect(metrics.map((m) => m.epoch)).toEqual([1, 2, 3]);
    for (let i = 0; i < 3; i++) {
      for (const k of CURVE_KEYS) expect(Math.abs(metrics[i][k] - refMetrics[i][k]), `epoch ${i + 1} ${k}`).toBeLessThanOrEqual(1e-5);
    }
  }, 300_000);

  it('SIGINT mid-epoch: exit 130, run cancelled by the user with its finished epochs kept', async () => {
    const ws = join(tmp.dir, 'int');
    const r = await trainAndSignal(ws, 'SIGINT', (id) => metricLines(ws, id).length >= 1);
    expect(r.signal).toBeNull();
    expect(r.code).toBe(130);
    expect(r.linesAtSignal).toBe(1);
    const run = new Workspace(ws, { warn: () => undefined }).getRun(r.id);
    expect(run).toMatchObject({ status: 'cancelled', epochsDone: 1 });
    expect(run.owner).toBeUndefined();
    expect(run.error).toBeUndefined();
  }, 180_000);

  it('SIGTERM before the first step: exit 143, the queued run is recorded interrupted, not left running', async () => {
    const ws = join(tmp.dir, 'early');
    const r = await trainAndSignal(ws, 'SIGTERM', () => true);
    expect(r.signal).toBeNull();
    expect(r.code).toBe(143);
    const listed = await cli(['runs', '--workspace', ws, '--json']);
    const runs = JSON.parse(listed.stdout) as RunRecord[];
    expect(runs.map((x) => [x.id, x.status, x.epochsDone])).toEqual([[r.id, 'interrupted', 0]]);
    expect(runs[0].error).toMatch(/SIGTERM/);
  }, 180_000);
});
