/**
 * Momentum conventions: the translator, and the timeline recorded by real (short) runs under
 * Keras 0.9 and the cumulative average replayed through their formulas; ghost BN and runs without
 * BN are refused with a reason.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { rmSync } from 'node:fs';
import { initBackend } from '../../../src-main/engine/backend';
import { translateMomentum } from '../../../src-main/contract/bn';
import { replayTimeline } from '../../../src-main/analysis/bn-stats';
import { bnLayerInfosFromSpec, bnTimeline } from '../../../src-main/analysis/bn-timeline';
import { inspectRun } from '../../../src-main/analysis/bn-inspect';
import { s5Spec } from '../../../src-main/engine/spec';
import { DEFAULT_SETTINGS } from '../../../src-main/contract/settings';
import { Workspace } from '../../../src-main/store/workspace';
import { trainedRun } from './helpers';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const roots: string[] = [];
beforeAll(async () => {
  await initBackend();
});
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

test('translator: PyTorch 0.1 = Keras 0.9 = ONNX 0.9; Keras 0.99 = PyTorch 0.01; null = cumulative', () => {
  const a = translateMomentum('pytorch', 0.1);
  expect([a.pytorch, a.keras, a.onnx]).toEqual([0.1, 0.9, 0.9]);
  expect(a.halfLifeSteps).toBeCloseTo(Math.log(0.5) / Math.log(0.9), 3);
  expect(a.lines[0]).toContain('momentum=0.1');
  expect(a.lines[1]).toContain('momentum=0.9');
  expect(translateMomentum('keras', 0.9)).toEqual(a);
  const b = translateMomentum('keras', 0.99);
  expect([b.pytorch, b.keras, b.onnx]).toEqual([0.01, 0.99, 0.99]);
  expect(translateMomentum('onnx', 0.99)).toEqual(b);
  const c = translateMomentum('pytorch', null);
  expect(c.cumulative).toBe(true);
  expect(c.lines[0]).toContain('momentum=None');
  expect(c.lines[1]).toMatch(/no equivalent/);
  expect(() => translateMomentum('keras', 1.5)).toThrow(/momentum must be in \[0, 1\]/);
});

for (const [label, over] of [
  ['Keras 0.9 (biased batch variance, weight 0.9 on the old value)', { bnConvention: 'keras', bnMomentum: 0.9 }],
  ['cumulative average (momentum null)', { bnConvention: 'pytorch', bnMomentum: null }],
] as const) {
  test(`recorded timeline matches the formula: ${label}`, async () => {
    const { ws, id, root } = await trainedRun({ ...over, trainLimit: 230, batch: 50, testLimit: 100, bnRecordEvery: 1 });
    roots.push(root);
    const records = ws.readBnRecords(id);
    // 230 images at batch 50: four full steps and a last batch of 30.
    expect(records.map((r) => r.step)).toEqual([1, 2, 3, 4, 5]);
    const layers = bnLayerInfosFromSpec(s5Spec({ ...DEFAULT_SETTINGS, ...over }));
    const check = replayTimeline(records, layers, 50, 230);
    expect(check.possible).toBe(true);
    expect(check.maxAbsErrMean!).toBeLessThan(1e-5);
    expect(check.maxAbsErrVar!).toBeLessThan(1e-4);
    // Replaying with the other convention's variance or weights does NOT match: the check can fail.
    const wrong = replayTimeline(records, layers.map((l) => ({ ...l, momentum: 0.5 })), 50, 230);
    expect(wrong.maxAbsErrMean!).toBeGreaterThan(1e-3);
    if (over.bnMomentum === null) {
      // Cumulative: after k batches the running mean is the plain average of the k batch means.
      const avg = records.map((r) => r.layers.norm1.batchMean[0]).reduce((a, b) => a + b, 0) / 5;
      expect(records[4].layers.norm1.runningMean[0]).toBeCloseTo(avg, 5);
    }
  }, 120_000);
}

test('ghost BN and sparse records: the replay says why it cannot run', () => {
  const ghost = bnLayerInfosFromSpec(s5Spec({ ...DEFAULT_SETTINGS, norm: 'ghost', ghostBatch: 16 }));
  expect(ghost[0].virtualBatch).toBe(16);
  expect(replayTimeline([{ step: 1, epoch: 1, layers: {} }], ghost, 64, 64).reason).toMatch(/ghost BN/);
  const plain = bnLayerInfosFromSpec(s5Spec(DEFAULT_SETTINGS));
  const r = replayTimeline([{ step: 5, epoch: 1, layers: {} }], plain, 64, 640);
  expect(r.possible).toBe(false);
  expect(r.reason).toMatch(/--bn-record-every 1/);
});

test('a run without BN says so clearly', async () => {
  const root = mkdtempSync(join(tmpdir(), 'normlab-bn-none-'));
  roots.push(root);
  const ws = new Workspace(root, { warn: () => {} });
  for (const [norm, re] of [['none', /no normalization layers/], ['layer', /layer norm.*keeps no running statistics/]] as const) {
    const run = ws.createRun({ ...DEFAULT_SETTINGS, norm });
    const rep = await inspectRun(ws, { id: run.id });
    expect(rep.hasBn).toBe(false);
    expect(rep.message).toMatch(re);
    const t = bnTimeline(ws, run.id);
    expect(t.hasBn).toBe(false);
    expect(t.message).toMatch(re);
  }
  // A BN run that has not finished an epoch has no checkpoint yet.
  const run = ws.createRun({ ...DEFAULT_SETTINGS, norm: 'batch' });
  expect((await inspectRun(ws, { id: run.id })).message).toMatch(/no checkpoint "last" yet/);
});
