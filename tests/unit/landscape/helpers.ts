/**
 * Fixtures for the landscape tests: a real run trained on real MNIST digits in a temp workspace,
 * writing what the proposed one-line change to host/jobs/train.ts writes — weights per epoch
 * (weights/epoch-N.nlck) — plus the initial weights (epoch-0), so the trajectory can be tested.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_SETTINGS, type TrainSettings } from '../../../src-main/contract/settings';
import { loadDataset } from '../../../src-main/data/dataset';
import { buildModel } from '../../../src-main/engine/model';
import { s5Spec } from '../../../src-main/engine/spec';
import { trainRun } from '../../../src-main/host/step-engines';
import { Workspace } from '../../../src-main/store/workspace';
import type { JobContext } from '../../../src-main/host/protocol';
import type { Progress } from '../../../src-main/contract/api';

export const smallSettings = (o: Partial<TrainSettings> = {}): TrainSettings => ({
  ...DEFAULT_SETTINGS, data: 'mnist-sample', epochs: 3, trainLimit: 600, testLimit: 200, batch: 50, lr: 0.05, dropout: 0, ...o,
});

/** Trains a run and stores it like the train job does (checkpoints, metrics), plus per-epoch weights when `trajectory`. */
export async function trainedRun(ws: Workspace, s: TrainSettings, trajectory = true): Promise<string> {
  const run = ws.createRun(s);
  const data = await loadDataset(s.data);
  if (trajectory) {
    const m = buildModel(s5Spec(s, [28, 28, 1], 10), s.seed);
    ws.writeWeights(run.id, 'epoch-0', m.getWeights());
    m.dispose();
  }
  const r = await trainRun(s, data, {
    onEpoch: (m, state, isBest, best) => {
      ws.appendMetrics(run.id, m);
      ws.writeCheckpoint(run.id, 'last', state);
      if (isBest) ws.writeCheckpoint(run.id, 'best', { ...state, weights: best ?? state.weights });
      if (trajectory) ws.writeWeights(run.id, `epoch-${m.epoch}`, state.weights);
    },
  });
  r.model.dispose();
  ws.updateRun(run.id, { status: 'done', epochsDone: r.epochs, dataset: data.info });
  return run.id;
}

export function tempWorkspace(prefix: string): { dir: string; ws: Workspace } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, ws: new Workspace(dir, { warn: () => {} }) };
}

/** A job context that records progress and cancels after `cancelAfter` progress calls. */
export function jobContext(dir: string, cancelAfter = Infinity): JobContext & { seen: Progress[] } {
  const seen: Progress[] = [];
  return {
    jobId: 'test',
    workspace: dir,
    seen,
    progress: (p) => { seen.push(p); },
    emit: () => {},
    cancelled: () => seen.length >= cancelAfter,
  };
}
