/**
 * Li et al.'s landscape on a real S5 net trained on 600 real MNIST digits: filter normalization,
 * the grid's centre against evaluate(), the 1-D line's end points, PCA on a hand example and on
 * the trajectory, BN recomputation, cancellation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../../src-main/engine/backend';
import { loadDataset, type Dataset } from '../../../src-main/data/dataset';
import { buildModel } from '../../../src-main/engine/model';
import { s5Spec } from '../../../src-main/engine/spec';
import { evaluate, limitSplit } from '../../../src-main/engine/train';
import { gatherBatch } from '../../../src-main/data/normalize';
import type { TrainState } from '../../../src-main/engine/model-types';
import type { Workspace } from '../../../src-main/store/workspace';
import {
  filterNormalizedDirection, filterNorms, LandscapeEvaluator, symmetricEigen, trajectoryPca, evaluateGrid, linspace,
} from '../../../src-main/analysis/landscape';
import { landscapeJob, type LandscapeJobPayload } from '../../../src-main/host/jobs/landscape';
import type { LandscapeReport } from '../../../src-main/contract/landscape';
import { jobContext, smallSettings, tempWorkspace, trainedRun } from './helpers';

let dir: string;
let ws: Workspace;
let runId: string;
let data: Dataset;
let state: TrainState;
const settings = smallSettings();
const spec = s5Spec(settings, [28, 28, 1], 10);

beforeAll(async () => {
  await initBackend();
  ({ dir, ws } = tempWorkspace('normlab-landscape-'));
  data = await loadDataset('mnist-sample');
  runId = await trainedRun(ws, settings);
  state = ws.readCheckpoint(runId, 'last')!;
}, 240_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const payload = (o: Partial<LandscapeJobPayload> = {}): LandscapeJobPayload => ({
  runId, grid: 5, span: 1, evalLimit: 200, seed: 3, recomputeBn: false, trajectory: false, line: 5, checkpoint: 'last', ...o,
});

describe('filter-normalized directions', () => {
  it('give every kernel filter the norm of the matching weight filter, zero for biases and BN γ/β', () => {
    const d = filterNormalizedDirection(state.weights, 7, 1);
    let kernels = 0;
    for (const [name, w] of Object.entries(state.weights)) {
      if (/running_|count/.test(name)) { expect(d[name]).toBeUndefined(); continue; }
      expect(d[name].shape).toEqual(w.shape);
      if (name.endsWith('/kernel')) {
        kernels++;
        const wn = filterNorms(w);
        const dn = filterNorms(d[name]);
        expect(dn.length).toBe(w.shape[w.shape.length - 1]);
        for (let f = 0; f < wn.length; f++) expect(dn[f]).toBeCloseTo(wn[f], 5);
        // Not the weights themselves: noise of the same norm.
        expect(Array.from(d[name].data.slice(0, 5))).not.toEqual(Array.from(w.data.slice(0, 5)));
      } else {
        expect(d[name].data.every((v) => v === 0)).toBe(true);
      }
    }
    expect(kernels).toBe(8);
  });

  it('are reproducible by seed and index, and differ across them', () => {
    const a = filterNormalizedDirection(state.weights, 7, 1)['conv2/kernel'].data;
    expect(filterNormalizedDirection(state.weights, 7, 1)['conv2/kernel'].data).toEqual(a);
    expect(filterNormalizedDirection(state.weights, 7, 2)['conv2/kernel'].data).not.toEqual(a);
    expect(filterNormalizedDirection(state.weights, 8, 1)['conv2/kernel'].data).not.toEqual(a);
  });

  it('filterNorms on a hand example: kernel [1,1,2,2] = [[3,1],[4,1]] has filter norms 5 and √2', () => {
    const n = filterNorms({ shape: [1, 1, 2, 2], data: Float32Array.from([3, 1, 4, 1]) });
    expect(n[0]).toBeCloseTo(5, 12);
    expect(n[1]).toBeCloseTo(Math.SQRT2, 6);
  });
});

describe('PCA of the trajectory', () => {
  it('matches a hand example: rows (±2,0,0), (0,±1,0) explain 0.8 and 0.2', () => {
    const pts = [[2, 0, 0], [-2, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 0]].map((r) => Float64Array.from(r));
    const p = trajectoryPca(pts, Float64Array.from([0, 0, 0]));
    expect(p.explained[0]).toBeCloseTo(0.8, 10);
    expect(p.explained[1]).toBeCloseTo(0.2, 10);
    expect(Math.abs(p.directions[0][0])).toBeCloseTo(1, 10);
    expect(Math.abs(p.directions[1][1])).toBeCloseTo(1, 10);
    expect(p.coords.map((c) => [Math.abs(c[0]), Math.abs(c[1])])).toEqual([[2, 0], [2, 0], [0, 1], [0, 1], [0, 0]].map((r) => r.map((v) => expect.closeTo(v, 10))));
  });

  it('Jacobi eigenvalues of [[2,1],[1,2]] are 3 and 1', () => {
    const e = symmetricEigen([[2, 1], [1, 2]]);
    expect(e.values[0]).toBeCloseTo(3, 12);
    expect(e.values[1]).toBeCloseTo(1, 12);
  });

  it('needs two points', () => {
    expect(() => trajectoryPca([Float64Array.from([1])], Float64Array.from([0]))).toThrow(/at least 2/);
  });
});

describe('the landscape job on a trained run', () => {
  it("tfjs evaluator: puts the trained model's loss on the slice at the grid's centre (exactly, same batches)", async () => {
    // Exact equality needs the same engine as evaluate(); ORT's parity is tested in ort.test.ts.
    const r = (await landscapeJob(payload({ engine: 'tfjs' }), jobContext(dir))) as LandscapeReport;
    expect(r.status).toBe('ok');
    const model = buildModel(spec, settings.seed);
    model.setWeights(state.weights);
    const ev = evaluate(model, data.test, state.normalization, { limit: 200, batch: 200, loss: 'ce' });
    model.dispose();
    expect(r.centre.loss).toBe(ev.loss);
    expect(r.centre.acc).toBe(ev.acc);
    const mid = 2 * 5 + 2;
    expect(r.grid.xs[2]).toBe(0);
    expect(r.grid.loss[mid]).toBe(ev.loss);
    expect(r.grid.acc[mid]).toBe(ev.acc);
    // Away from the trained weights the loss rises (the corners are far out along filter-normalized noise).
    for (const k of [0, 4, 20, 24]) expect(r.grid.loss[k]).toBeGreaterThan(ev.loss);
    // The line: α = 1 is the final weights (same value), α = 0 the seeded initial weights.
    expect(r.line!.alphas[3]).toBe(1);
    expect(r.line!.loss[3]).toBeCloseTo(ev.loss, 5);
    expect(r.line!.loss[1]).toBeGreaterThan(ev.loss);
    expect(r.pointsPerSecond).toBeGreaterThan(0);
    expect(r.grid.loss).toHaveLength(25);
  }, 120_000);

  it('projects the trajectory on its PCA plane; the shares sum to at most 1; the final point is the origin', async () => {
    const r = (await landscapeJob(payload({ trajectory: true, grid: 3, line: 0 }), jobContext(dir))) as LandscapeReport;
    expect(r.grid.directions).toBe('pca');
    const t = r.trajectory!;
    expect(t.epochs).toEqual([0, 1, 2, 3]);
    expect(t.explained[0] + t.explained[1]).toBeLessThanOrEqual(1 + 1e-12);
    expect(t.explained[0]).toBeGreaterThanOrEqual(t.explained[1]);
    expect(t.explained[0]).toBeGreaterThan(0.3);
    expect(Math.hypot(...t.points[3])).toBeLessThan(1e-9);
    expect(r.grid.xLabel).toMatch(/^PC1 \(\d+\.\d% of variance/);
    // The grid covers every trajectory point.
    for (const [x, y] of t.points) {
      expect(x).toBeGreaterThanOrEqual(r.grid.xs[0]);
      expect(x).toBeLessThanOrEqual(r.grid.xs.at(-1)!);
      expect(y).toBeGreaterThanOrEqual(r.grid.ys[0]);
      expect(y).toBeLessThanOrEqual(r.grid.ys.at(-1)!);
    }
  }, 120_000);

  it('falls back to random directions with a note when the run has no per-epoch weights', async () => {
    // Two epochs: a checkpoint with an epoch before it, whose weights were not kept.
    const bare = await trainedRun(ws, smallSettings({ epochs: 2, trainLimit: 200 }), false);
    const r = (await landscapeJob(payload({ runId: bare, trajectory: true, grid: 3, line: 0, evalLimit: 50 }), jobContext(dir))) as LandscapeReport;
    expect(r.grid.directions).toBe('random');
    expect(r.trajectory).toBeNull();
    expect(r.notes[0]).toMatch(/no per-epoch weights/);
    // One epoch: nothing before the checkpoint, and the note says that instead.
    const single = await trainedRun(ws, smallSettings({ epochs: 1, trainLimit: 200 }), false);
    const r1 = (await landscapeJob(payload({ runId: single, trajectory: true, grid: 3, line: 0, evalLimit: 50 }), jobContext(dir))) as LandscapeReport;
    expect(r1.grid.directions).toBe('random');
    expect(r1.notes[0]).toMatch(/checkpoint is from epoch 1, and a training trajectory needs at least one stored epoch before it/);
  }, 120_000);

  it('cancels between points', async () => {
    const ctx = jobContext(dir, 2);
    const r = await landscapeJob(payload({ grid: 9 }), ctx);
    expect(r.status).toBe('cancelled');
  }, 120_000);
});

describe('recomputing BN statistics', () => {
  it('sets running statistics to the population statistics of the calibration batch', async () => {
    const model = buildModel(spec, settings.seed);
    const slice = limitSplit(data.test, 100, 784);
    const cal = limitSplit(data.train, 64, 784);
    const ev = new LandscapeEvaluator(model, state.weights, [], slice, state.normalization, { calibration: cal, calibrationLimit: 64 });
    const v = ev.at([]);
    expect(Number.isFinite(v.loss)).toBe(true);
    // Independent check for the first BN layer: conv1 output statistics over the 64 images.
    const bn1 = model.bnLayers()[0];
    const x = gatherBatch(cal.images, Uint32Array.from({ length: 64 }, (_, i) => i), 0, 64, 784, state.normalization.mean, state.normalization.std);
    const { mean, variance } = tf.tidy(() => {
      const { logits, inputs } = model.forwardWithTaps(tf.tensor4d(x, [64, 28, 28, 1]), [bn1.name], { training: false, batchStats: true, updateStats: false });
      logits.dispose();
      return tf.moments(inputs[bn1.name], [0, 1, 2]);
    });
    const n = 64 * 26 * 26;
    const rm = bn1.runningMean.dataSync();
    const rv = bn1.runningVar.dataSync();
    const m = mean.dataSync();
    const vv = variance.dataSync();
    for (let c = 0; c < rm.length; c++) {
      expect(rm[c]).toBeCloseTo(m[c], 5);
      expect(rv[c]).toBeCloseTo((vv[c] * n) / (n - 1), 4);
    }
    // Held-fixed statistics are the trained ones again at the next evaluator.
    const fixed = new LandscapeEvaluator(model, state.weights, [], slice, state.normalization);
    fixed.at([]);
    expect(Array.from(bn1.runningMean.dataSync())).toEqual(Array.from(state.weights[`${bn1.name}/running_mean`].data));
    mean.dispose(); variance.dispose(); ev.dispose(); fixed.dispose(); model.dispose();
  }, 120_000);

  it('evaluateGrid fills a row-major grid and the grid centre equals the fixed-stat centre', async () => {
    const model = buildModel(spec, settings.seed);
    const slice = limitSplit(data.test, 100, 784);
    const d1 = filterNormalizedDirection(state.weights, 1, 1);
    const d2 = filterNormalizedDirection(state.weights, 1, 2);
    const ev = new LandscapeEvaluator(model, state.weights, [d1, d2], slice, state.normalization);
    const xs = linspace(-1, 1, 3);
    const g = (await evaluateGrid(ev, xs, [0, 0.5]))!;
    expect(g.loss[1]).toBe(ev.at([0, 0]).loss);
    expect(g.loss[4]).toBe(ev.at([0, 0.5]).loss);
    ev.dispose(); model.dispose();
  }, 120_000);
});

describe('files for the CLI', () => {
  it('writes contour and curve plots as SVG and PNG plus the JSON report', async () => {
    const { writeLandscapeFiles } = await import('../../../src-main/analysis/landscape-render');
    const { decode } = await import('fast-png');
    const { readFileSync, mkdirSync, copyFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const r = (await landscapeJob(payload({ trajectory: true, grid: 9, line: 9, evalLimit: 100 }), jobContext(dir))) as LandscapeReport;
    const files = writeLandscapeFiles(join(dir, 'out'), [r]);
    expect(files.map((f) => f.split('/').pop())).toEqual([
      `landscape-${runId}.svg`, `landscape-${runId}.png`, 'landscape-line.svg', 'landscape-line.png', 'landscape.json',
    ]);
    const svg = readFileSync(files[0], 'utf8');
    expect(svg).toContain('PC1 (');
    expect(svg.match(/class="level"/g)!.length).toBeGreaterThan(3);
    expect(svg).toContain('class="legend"');
    const png = decode(readFileSync(files[1]));
    expect([png.width, png.height]).toEqual([520, 440]);
    expect(JSON.parse(readFileSync(files[4], 'utf8')).grid.loss).toHaveLength(81);
    mkdirSync('tests/artifacts', { recursive: true });
    copyFileSync(files[1], 'tests/artifacts/landscape-cli-contour.png');
    copyFileSync(files[3], 'tests/artifacts/landscape-cli-line.png');
  }, 120_000);
});
