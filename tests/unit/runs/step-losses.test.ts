/**
 * Per-step training loss: the training job sends it live as run.steps events (thinned), writes
 * one steps.jsonl line per finished epoch beside metrics.jsonl, and a resume drops the epochs it
 * repeats. The points are the losses the trainer saw: their mean over an epoch equals the epoch's
 * train_loss (equal batches). A torn last line is ignored like metrics.jsonl's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StepLosses } from '../../../src-main/contract/api';
import { resolveSettings } from '../../../src-main/contract/settings';
import { initBackend } from '../../../src-main/engine/backend';
import { STEP_POINTS_PER_EPOCH, StepLossThinner } from '../../../src-main/engine/train';
import { JOBS } from '../../../src-main/host/jobs';
import type { JobContext } from '../../../src-main/host/protocol';
import { Workspace } from '../../../src-main/store/workspace';

let root: string;
beforeAll(async () => {
  await initBackend();
  root = mkdtempSync(join(tmpdir(), 'normlab-steps-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('per-step training loss', () => {
  it('streams thinned points, persists one line per epoch and survives a torn line and a resume', async () => {
    const ws = new Workspace(root, { warn: () => {} });
    // 400 images in batches of 50: 8 equal steps per epoch, so the per-step mean is the epoch mean.
    const s = resolveSettings({ data: 'mnist-sample', valSplit: 0, epochs: 2, trainLimit: 400, testLimit: 100, batch: 50 });
    if (!s.ok) throw new Error('settings');
    const run = ws.createRun(s.value);
    const live: StepLosses[] = [];
    const ctx: JobContext = {
      jobId: 'j', workspace: root, progress: () => {}, cancelled: () => false,
      emit: (name, p) => {
        if (name === 'run.steps') live.push(p as StepLosses);
      },
    };
    await JOBS.train({ runId: run.id, resume: false }, ctx);

    const saved = ws.readSteps(run.id);
    expect(saved.map((r) => r.epoch)).toEqual([1, 2]);
    expect(saved.every((r) => r.stepsPerEpoch === 8)).toBe(true);
    expect(saved.flatMap((r) => r.points.map((p) => p[0]))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
    // What was streamed is what was written.
    expect(live.flatMap((e) => e.points)).toEqual(saved.flatMap((r) => r.points));
    const metrics = ws.readMetrics(run.id);
    for (const r of saved) {
      const mean = r.points.reduce((a, p) => a + p[1], 0) / r.points.length;
      expect(mean).toBeCloseTo(metrics[r.epoch - 1].train_loss, 5);
    }
    const text = readFileSync(join(root, 'runs', run.id, 'steps.jsonl'), 'utf8');
    expect(text.trim().split('\n')).toHaveLength(2);

    // A crash mid-write leaves a torn line: ignored.
    appendFileSync(join(root, 'runs', run.id, 'steps.jsonl'), '{"epoch":3,"stepsPer');
    expect(ws.readSteps(run.id).map((r) => r.epoch)).toEqual([1, 2]);
    // A resume from epoch 1 drops what comes after it, then writes epoch 2 again (once).
    ws.truncateSteps(run.id, 1);
    expect(ws.readSteps(run.id).map((r) => r.epoch)).toEqual([1]);
    expect(readFileSync(join(root, 'runs', run.id, 'steps.jsonl'), 'utf8').trim().split('\n')).toHaveLength(1);
  });

  it('thins a long epoch to at most STEP_POINTS_PER_EPOCH points, each the mean of its steps', () => {
    // 469 steps (full MNIST at batch 128): stride 3, 157 points, the last one the mean of one step.
    const t = new StepLossThinner(469);
    expect(t.stride).toBe(3);
    const losses = Array.from({ length: 469 }, (_, i) => 2 - i / 469);
    losses.forEach((l, i) => t.add(i, 469 + i + 1, l));
    const pts = t.take();
    expect(pts.length).toBe(157);
    expect(pts.length).toBeLessThanOrEqual(STEP_POINTS_PER_EPOCH);
    expect(pts[0]).toEqual([472, (losses[0] + losses[1] + losses[2]) / 3]);
    expect(pts.at(-1)).toEqual([938, losses[468]]);
    expect(t.take()).toEqual([]);
    expect(new StepLossThinner(63).stride).toBe(1);
  });

  it('refuses a malformed record instead of writing it', () => {
    const ws = new Workspace(root, { warn: () => {} });
    const s = resolveSettings({});
    if (!s.ok) throw new Error('settings');
    const run = ws.createRun(s.value);
    expect(() => ws.appendSteps(run.id, { epoch: 1, stepsPerEpoch: 3, points: [[1, 'x']] } as never)).toThrow(/step losses for run/);
    expect(ws.readSteps(run.id)).toEqual([]);
  });
});
