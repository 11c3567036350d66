/**
 * The ONNX Runtime landscape evaluator against the tfjs one on a real S5 net (BN) trained on 600
 * real MNIST digits: same loss/accuracy at several grid and line points, for CE and MSE; the
 * loss arithmetic on a hand example; the job picks ORT unless BN statistics are recomputed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { initBackend } from '../../../src-main/engine/backend';
import { loadDataset, type Dataset } from '../../../src-main/data/dataset';
import { buildModel } from '../../../src-main/engine/model';
import { s5Spec } from '../../../src-main/engine/spec';
import { limitSplit } from '../../../src-main/engine/train';
import type { TrainState } from '../../../src-main/engine/model-types';
import type { Workspace } from '../../../src-main/store/workspace';
import { differenceDirection, evaluateGrid, filterNormalizedDirection, LandscapeEvaluator, linspace } from '../../../src-main/analysis/landscape';
import { OrtLandscapeEvaluator } from '../../../src-main/analysis/landscape-ort';
import { lossAndCorrect } from '../../../src-main/onnx/io';
import { landscapeJob, type LandscapeJobPayload } from '../../../src-main/host/jobs/landscape';
import type { LandscapeReport } from '../../../src-main/contract/landscape';
import { jobContext, smallSettings, tempWorkspace, trainedRun } from './helpers';

let dir: string;
let ws: Workspace;
let runId: string;
let data: Dataset;
let state: TrainState;
const settings = smallSettings({ norm: 'batch' });
const spec = s5Spec(settings, [28, 28, 1], 10);

beforeAll(async () => {
  await initBackend();
  ({ dir, ws } = tempWorkspace('normlab-landscape-ort-'));
  data = await loadDataset('mnist-sample');
  runId = await trainedRun(ws, settings, false);
  state = ws.readCheckpoint(runId, 'last')!;
}, 240_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('lossAndCorrect', () => {
  it('matches hand-computed CE and MSE for logits [[0, ln 3], [2, 0]] and labels [1, 1]', () => {
    const logits = Float32Array.from([0, Math.log(3), 2, 0]);
    const labels = Uint8Array.from([1, 1]);
    const ce = lossAndCorrect(logits, 2, labels, 0, 2, 'ce');
    // Row 1: p = (1/4, 3/4) → −ln 3/4; row 2: −ln(1/(1+e²)).
    expect(ce.lossSum).toBeCloseTo(-Math.log(0.75) + Math.log(1 + Math.exp(2)), 6);
    expect(ce.correct).toBe(1);
    const mse = lossAndCorrect(logits, 2, labels, 0, 2, 'mse');
    const q = 1 / (1 + Math.exp(2));
    expect(mse.lossSum).toBeCloseTo((0.25 ** 2 + 0.25 ** 2) / 2 + ((1 - q) ** 2 + (q - 1) ** 2) / 2, 6);
    expect(() => lossAndCorrect(logits, 2, labels, 0, 2, 'hinge' as never)).toThrow(/unknown loss "hinge"/);
  });
});

describe('OrtLandscapeEvaluator against the tfjs evaluator', () => {
  for (const loss of ['ce', 'mse'] as const) {
    it(`gives the same ${loss} loss (relative 1e-4) and accuracy at grid and line points`, async () => {
      const slice = limitSplit(data.test, 200, 784);
      const init = buildModel(spec, 99).getWeights();
      const dirs = [filterNormalizedDirection(state.weights, 5, 1), filterNormalizedDirection(state.weights, 5, 2), differenceDirection(state.weights, init)];
      const model = buildModel(spec, settings.seed);
      const tfEv = new LandscapeEvaluator(model, state.weights, dirs, slice, state.normalization, { loss });
      const ortEv = new OrtLandscapeEvaluator(spec, state.weights, dirs, slice, state.normalization, { loss });
      expect(ortEv.foldBn).toBe(true);
      const points = [[0, 0, 0], [0.3, -0.2, 0], [-0.5, 0.4, 0], [0.1, 0.1, 0], [0, 0, 0.5], [0, 0, 1]];
      const accs: number[] = [];
      for (const c of points) {
        const a = tfEv.at(c);
        const b = await ortEv.at(c);
        expect(Math.abs(b.loss - a.loss) / a.loss).toBeLessThan(1e-4);
        expect(Math.abs(b.acc - a.acc)).toBeLessThanOrEqual(1e-4);
        accs.push(a.acc);
      }
      // The points are not all alike: the trained centre is better than the initial weights (c = 1).
      expect(accs[0]).toBeGreaterThan(accs[5] + 0.2);
      // Without folding (plain BatchNormalization nodes) the values agree too.
      const unfolded = new OrtLandscapeEvaluator(spec, state.weights, dirs, slice, state.normalization, { loss, foldBn: false, batch: 64 });
      const u = await unfolded.at(points[1]);
      const a = tfEv.at(points[1]);
      expect(Math.abs(u.loss - a.loss) / a.loss).toBeLessThan(1e-4);
      expect(u.acc).toBe(a.acc);
      tfEv.dispose(); ortEv.dispose(); unfolded.dispose(); model.dispose();
    }, 120_000);
  }

  it('evaluateGrid takes the ORT evaluator and fills the grid like the tfjs one', async () => {
    const slice = limitSplit(data.test, 100, 784);
    const dirs = [filterNormalizedDirection(state.weights, 1, 1), filterNormalizedDirection(state.weights, 1, 2)];
    const model = buildModel(spec, settings.seed);
    const tfEv = new LandscapeEvaluator(model, state.weights, dirs, slice, state.normalization);
    const ortEv = new OrtLandscapeEvaluator(spec, state.weights, dirs, slice, state.normalization);
    const xs = linspace(-1, 1, 3);
    const a = (await evaluateGrid(tfEv, xs, [0, 0.5]))!;
    const b = (await evaluateGrid(ortEv, xs, [0, 0.5]))!;
    for (let i = 0; i < 6; i++) expect(Math.abs(b.loss[i] - a.loss[i]) / a.loss[i]).toBeLessThan(1e-4);
    expect(Array.from(b.acc)).toEqual(Array.from(a.acc));
    tfEv.dispose(); ortEv.dispose(); model.dispose();
  }, 120_000);

  it('rejects a direction that lacks a weight, naming it', () => {
    const slice = limitSplit(data.test, 10, 784);
    const d = filterNormalizedDirection(state.weights, 1, 1);
    const d2 = { ...d };
    delete d2['conv2/kernel'];
    expect(() => new OrtLandscapeEvaluator(spec, state.weights, [d, d2], slice, state.normalization)).toThrow('landscape: direction 2 has no "conv2/kernel"');
  });
});

describe('the landscape job picks the engine', () => {
  const payload = (o: Partial<LandscapeJobPayload> = {}): LandscapeJobPayload => ({
    runId, grid: 3, span: 1, evalLimit: 100, seed: 3, recomputeBn: false, trajectory: false, line: 3, checkpoint: 'last', ...o,
  });

  it('ONNX Runtime with BN held fixed (default), matching the tfjs engine; tfjs when BN is recomputed', async () => {
    const o = (await landscapeJob(payload(), jobContext(dir))) as LandscapeReport;
    expect(o.backend).toBe('onnxruntime');
    expect(o.notes.join('\n')).toMatch(/^engine: onnxruntime-node \(CPU, 2 threads\).*folded into the convolutions/m);
    const t = (await landscapeJob(payload({ engine: 'tfjs' }), jobContext(dir))) as LandscapeReport;
    expect(t.notes.join('\n')).toMatch(/^engine: tfjs \(/m);
    expect(t.backend).not.toBe('onnxruntime');
    for (let i = 0; i < 9; i++) expect(Math.abs(o.grid.loss[i] - t.grid.loss[i]) / t.grid.loss[i]).toBeLessThan(1e-4);
    for (let i = 0; i < 3; i++) expect(Math.abs(o.line!.loss[i] - t.line!.loss[i]) / t.line!.loss[i]).toBeLessThan(1e-4);
    const r = (await landscapeJob(payload({ recomputeBn: true, line: 0, engine: 'onnxruntime' }), jobContext(dir))) as LandscapeReport;
    expect(r.notes.join('\n')).toMatch(/engine: tfjs, not onnxruntime: recomputing BN statistics needs batch statistics/);
    expect(r.backend).not.toBe('onnxruntime');
  }, 180_000);
});
