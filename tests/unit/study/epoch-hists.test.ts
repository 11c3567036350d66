/**
 * Histograms over epochs in the weights job: a real S5 run trained 2 epochs on real MNIST digits,
 * stored the way host/jobs/train.ts stores it (metrics, 'last'/'best' checkpoints, weights/epoch-N),
 * and an older-style run without per-epoch weights.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_SETTINGS, type TrainSettings } from '../../../src-main/contract/settings';
import type { WeightsResult } from '../../../src-main/contract/study';
import { initBackend } from '../../../src-main/engine/backend';
import { loadDataset } from '../../../src-main/data/dataset';
import { trainRun } from '../../../src-main/host/step-engines';
import { Workspace } from '../../../src-main/store/workspace';
import { HIST_EPOCH_CAP, LOG_EDGES, logAbsHistogram, subsampleEpochs } from '../../../src-main/analysis/weights';
import { NO_EPOCH_WEIGHTS, weightsOf } from '../../../src-main/host/jobs/weights';

const settings: TrainSettings = {
  ...DEFAULT_SETTINGS, data: 'mnist-sample', epochs: 2, trainLimit: 400, testLimit: 200, batch: 50, lr: 0.05, dropout: 0,
};

let dir: string;
let ws: Workspace;
let withEpochs: string;
let older: string;
let res: WeightsResult;

async function train(epochWeights: boolean): Promise<string> {
  const run = ws.createRun(settings);
  const data = await loadDataset(settings.data);
  const r = await trainRun(settings, data, {
    onEpoch: (m, state, isBest, best) => {
      ws.appendMetrics(run.id, m);
      ws.writeCheckpoint(run.id, 'last', state);
      if (epochWeights) ws.writeWeights(run.id, `epoch-${m.epoch}`, state.weights);
      if (isBest) ws.writeCheckpoint(run.id, 'best', { ...state, weights: best ?? state.weights });
    },
  });
  r.model.dispose();
  ws.updateRun(run.id, { status: 'done', epochsDone: r.epochs, dataset: data.info });
  return run.id;
}

beforeAll(async () => {
  await initBackend(process.env.NORMLAB_BACKEND ?? 'wasm');
  dir = mkdtempSync(join(tmpdir(), 'normlab-epoch-hists-'));
  ws = new Workspace(dir, { warn: () => undefined });
  withEpochs = await train(true);
  older = await train(false);
  res = weightsOf(ws, { runIds: [withEpochs, older], checkpoint: 'last' });
}, 120_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('weights job: histograms over epochs', () => {
  it('has one histogram per stored epoch and kernel, counting every kernel weight', () => {
    const r = res.runs[0];
    expect(r.histsOverEpochsNote).toBeNull();
    expect(r.histsOverEpochs.map((e) => e.epoch)).toEqual([1, 2]);
    const kernels = r.layers.map((l) => [l.name, l.count] as const);
    expect(kernels.length).toBeGreaterThanOrEqual(2);
    for (const e of r.histsOverEpochs) {
      expect(Object.keys(e.layers)).toEqual(kernels.map(([n]) => n));
      for (const [name, count] of kernels) {
        const h = e.layers[name];
        expect(h.edges).toEqual(LOG_EDGES);
        expect(h.total).toBe(count);
        expect(h.counts.reduce((s, c) => s + c, 0) + h.zeros).toBe(count);
      }
    }
  });

  it("epoch 2's histograms equal the 'last' checkpoint's, and epoch 1's differ", () => {
    const r = res.runs[0];
    expect(r.checkpoint).toEqual({ tag: 'last', epoch: 2 });
    const [e1, e2] = r.histsOverEpochs;
    for (const l of r.layers) {
      expect(e2.layers[l.name]).toEqual(l.hist);
      // Straight from the stored file too, so the job did not just copy the checkpoint's stats.
      expect(e2.layers[l.name]).toEqual(logAbsHistogram(ws.readWeights(withEpochs, 'epoch-2')![l.name].data));
    }
    expect(r.layers.some((l) => JSON.stringify(e1.layers[l.name].counts) !== JSON.stringify(l.hist.counts))).toBe(true);
  });

  it('says so for a run without per-epoch weights, and keeps its checkpoint view', () => {
    const r = res.runs[1];
    expect(r.histsOverEpochs).toEqual([]);
    expect(r.histsOverEpochsNote).toBe(NO_EPOCH_WEIGHTS);
    expect(NO_EPOCH_WEIGHTS).toBe('per-epoch weights were not recorded for this run');
    expect(r.layers.length).toBe(res.runs[0].layers.length);
    expect(r.overall.count).toBe(res.runs[0].overall.count);
  });

  it('names the epochs whose weights are missing', () => {
    const part = weightsOf(ws, { runIds: [withEpochs], checkpoint: 'last' });
    expect(part.runs[0].histsOverEpochsNote).toBeNull();
    // A run whose metrics list an epoch with no weights file (e.g. written before the change mid-run).
    ws.appendMetrics(withEpochs, { ...ws.readMetrics(withEpochs)[1], epoch: 3 });
    const r = weightsOf(ws, { runIds: [withEpochs], checkpoint: 'last' }).runs[0];
    expect(r.histsOverEpochs.map((e) => e.epoch)).toEqual([1, 2]);
    expect(r.histsOverEpochsNote).toBe('per-epoch weights were not recorded for epoch 3');
  });
});

describe('subsampleEpochs', () => {
  it('keeps all epochs up to the cap', () => {
    expect(subsampleEpochs([1, 2, 3])).toEqual([1, 2, 3]);
    const forty = Array.from({ length: HIST_EPOCH_CAP }, (_, i) => i + 1);
    expect(subsampleEpochs(forty)).toEqual(forty);
  });

  it('spreads the cap evenly over more epochs, keeping the first and last', () => {
    const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
    const s = subsampleEpochs(hundred);
    expect(s.length).toBe(HIST_EPOCH_CAP);
    expect(s[0]).toBe(1);
    expect(s.at(-1)).toBe(100);
    const gaps = s.slice(1).map((v, i) => v - s[i]);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(2);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(3);
    expect(subsampleEpochs([1, 2, 3, 4, 5], 3)).toEqual([1, 3, 5]);
  });
});
