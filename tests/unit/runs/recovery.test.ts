/**
 * Runs that persist, through the real `normlab` command (needs `npm run build`):
 *  - kill -9 mid-epoch → the store reads, the run is `interrupted`, `normlab resume` finishes it,
 *    every file decodes, and the curve equals an uninterrupted run with the same seed;
 *  - a torn last line of metrics.jsonl → `normlab show` still lists the complete epochs;
 *  - a bad dataset → one error line naming the folder, non-zero exit, no run created.
 * Real data: slices of the embedded MNIST sample.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { EpochMetrics, RunDetail, RunRecord } from '../../../src-main/contract/api';
import { Workspace, decodeTrainState, decodeWeights } from '../../../src-main/store';
import { BIN, ROOT, cli, jsonLines, metricLines, notBuilt, tempDir, until } from './helpers';

const missing = notBuilt();
// 2000 images at batch 64 = 32 steps per epoch: long enough (seconds) to be killed inside one.
const FLAGS = ['--data', 'mnist-sample', '--epochs', '3', '--train-limit', '2000', '--test-limit', '300', '--batch', '64', '--seed', '7', '--dropout', '0.1'];
const CURVE_KEYS = ['train_loss', 'train_acc', 'test_loss', 'test_acc'] as const;

let tmp: { dir: string; cleanup: () => void };
beforeAll(() => {
  tmp = tempDir('recovery');
});
afterAll(() => tmp?.cleanup());

/** Every file under dir, relative paths. */
function walk(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`],
  );
}

describe.skipIf(missing)(`kill -9 mid-epoch, then resume${missing ? ` (skipped: ${missing})` : ''}`, () => {
  it('leaves a readable store and an interrupted run that resumes to the uninterrupted curve', async () => {
    const ws = join(tmp.dir, 'killed');
    const child = spawn(process.execPath, [BIN, 'train', ...FLAGS, '--workspace', ws, '--json'], {
      cwd: ROOT,
      env: { ...process.env, NORMLAB_BACKEND: 'wasm' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.resume();
    const exited = new Promise<NodeJS.Signals | null>((ok) => child.on('exit', (_c, s) => ok(s)));

    let id = '';
    await until(() => {
      const runs = existsSync(join(ws, 'runs')) ? readdirSync(join(ws, 'runs')).filter((n) => !n.startsWith('.')) : [];
      id = runs[0] ?? '';
      return Boolean(id) && metricLines(ws, id).length >= 1;
    }, 120_000, `the first epoch of the training process (stderr: ${stderr})`);
    const first = JSON.parse(metricLines(ws, id)[0]) as EpochMetrics;
    expect(first.epoch).toBe(1);
    // Epoch 2 takes about as long as epoch 1 did: kill at ~40 % of it, well inside the epoch.
    await new Promise((r) => setTimeout(r, Math.max(300, 400 * first.seconds)));
    const linesAtKill = metricLines(ws, id).length;
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    expect(linesAtKill).toBe(1); // the kill landed inside epoch 2, not after the run
    expect(metricLines(ws, id).length).toBe(1);

    // The store reads, and the run lists as interrupted (its owning process is gone).
    const listed = await cli(['runs', '--workspace', ws, '--json']);
    expect(listed.code).toBe(0);
    const runs = JSON.parse(listed.stdout) as RunRecord[];
    expect(runs.map((r) => [r.id, r.status])).toEqual([[id, 'interrupted']]);
    expect(runs[0].error).toMatch(/interrupted: process \d+ (on \S+ )?that owned this running run is gone/);
    const store = new Workspace(ws, { warn: () => undefined });
    expect(store.getRun(id).status).toBe('interrupted');
    expect(store.getRun(id).epochsDone).toBe(1);
    expect(store.readCheckpoint(id, 'last')?.epoch).toBe(1);
    expect(store.readMetrics(id).map((m) => m.epoch)).toEqual([1]);

    // Resume finishes it from epoch 1.
    const resumed = await cli(['resume', id, '--workspace', ws, '--json']);
    expect(resumed.stderr).toBe('');
    expect(resumed.code).toBe(0);
    const lines = jsonLines(resumed.stdout);
    expect(lines.slice(0, -1).map((l) => l.epoch)).toEqual([2, 3]);
    expect(lines.at(-1)).toMatchObject({ run_id: id, status: 'done', epochs: 3 });

    // No file is corrupt: run.json parses, metrics has epochs 1..3 once, every checkpoint decodes.
    const dir = join(ws, 'runs', id);
    const files = walk(dir);
    expect(files.filter((f) => f.endsWith('.tmp'))).toEqual([]);
    const record = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as RunRecord;
    expect(record).toMatchObject({ id, status: 'done', epochsDone: 3 });
    expect(record.owner).toBeUndefined();
    const metrics = metricLines(ws, id).map((l) => JSON.parse(l) as EpochMetrics);
    expect(metrics.map((m) => m.epoch)).toEqual([1, 2, 3]);
    const nlck = files.filter((f) => f.endsWith('.nlck'));
    expect(nlck).toContain('checkpoints/last.nlck');
    expect(nlck).toContain('checkpoints/best.nlck');
    for (const f of nlck) {
      const bytes = readFileSync(join(dir, f));
      const decoded = f.startsWith('weights/') ? decodeWeights(bytes, f) : decodeTrainState(bytes, f).weights;
      expect(Object.keys(decoded).length, f).toBeGreaterThan(10);
    }
    expect(decodeTrainState(readFileSync(join(dir, 'checkpoints/last.nlck')), 'last').epoch).toBe(3);
    for (const line of readFileSync(join(dir, 'bn.jsonl'), 'utf8').split('\n').filter(Boolean)) expect(() => JSON.parse(line)).not.toThrow();

    // The same run uninterrupted, in another workspace: the same curve within float tolerance.
    const ref = await cli(['train', ...FLAGS, '--workspace', join(tmp.dir, 'reference'), '--json']);
    expect(ref.code).toBe(0);
    const refMetrics = jsonLines(ref.stdout).slice(0, -1) as unknown as EpochMetrics[];
    expect(refMetrics.map((m) => m.epoch)).toEqual([1, 2, 3]);
    for (let i = 0; i < 3; i++) {
      for (const k of CURVE_KEYS) expect(Math.abs(metrics[i][k] - refMetrics[i][k]), `epoch ${i + 1} ${k}`).toBeLessThanOrEqual(1e-5);
    }
    // The run actually learned, so equal curves are not two flat lines.
    expect(metrics[2].train_loss).toBeLessThan(metrics[0].train_loss);
  });
});

describe.skipIf(missing)(`a torn metrics line${missing ? ` (skipped: ${missing})` : ''}`, () => {
  it('is ignored by normlab show, which lists the complete epochs', async () => {
    const ws = join(tmp.dir, 'torn');
    const trained = await cli(['train', '--data', 'mnist-sample', '--epochs', '2', '--train-limit', '500', '--test-limit', '200', '--workspace', ws, '--json']);
    expect(trained.code).toBe(0);
    const id = String(jsonLines(trained.stdout).at(-1)!.run_id);
    const whole = metricLines(ws, id);
    expect(whole.length).toBe(2);
    // Half of a real line, no newline: what a crash in the middle of an append leaves.
    appendFileSync(join(ws, 'runs', id, 'metrics.jsonl'), whole[1].replace('"epoch":2', '"epoch":3').slice(0, Math.floor(whole[1].length / 2)));

    const shown = await cli(['show', id, '--workspace', ws, '--json']);
    expect(shown.code).toBe(0);
    const detail = JSON.parse(shown.stdout) as RunDetail;
    expect(detail.run.status).toBe('done');
    expect(detail.metrics.map((m) => m.epoch)).toEqual([1, 2]);
    expect(detail.metrics[1].test_acc).toBe((JSON.parse(whole[1]) as EpochMetrics).test_acc);
    // The per-step loss was kept beside the metrics: 500 images in batches of 128 are 4 steps an epoch.
    expect(detail.steps?.map((e) => [e.epoch, e.stepsPerEpoch, e.points.map((p) => p[0])])).toEqual([[1, 4, [1, 2, 3, 4]], [2, 4, [5, 6, 7, 8]]]);

    const human = await cli(['show', id, '--workspace', ws]);
    expect(human.code).toBe(0);
    expect(human.stdout.split('\n').filter((l) => l.startsWith('epoch '))).toHaveLength(2);
    expect(human.stdout).toMatch(/per-step loss: 8 points over 2 epochs, \d\.\d{4} at step 1 → \d\.\d{4} at step 8/);
    const listed = await cli(['runs', '--workspace', ws, '--json']);
    expect((JSON.parse(listed.stdout) as RunRecord[])[0]).toMatchObject({ id, status: 'done', epochsDone: 2 });
  });
});

describe.skipIf(missing)(`a bad dataset${missing ? ` (skipped: ${missing})` : ''}`, () => {
  it('prints one error line naming the folder, exits non-zero, and creates no run', async () => {
    const ws = join(tmp.dir, 'bad');
    const empty = join(tmp.dir, 'empty-folder');
    mkdirSync(empty);
    for (const folder of ['/nonexistent', empty]) {
      const r = await cli(['train', '--data', folder, '--epochs', '1', '--workspace', ws]);
      expect(r.code, folder).not.toBe(0);
      expect(r.signal).toBeNull();
      expect(r.stdout).toBe('');
      const lines = r.stderr.split('\n').filter((l) => l.trim());
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toContain(folder);
      expect(r.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/);
    }
    expect(readdirSync(join(ws, 'runs'))).toEqual([]);
  });
});
