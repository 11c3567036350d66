/**
 * The landscape services in process (the worker job runs inline): validation messages, a run
 * without a checkpoint, the normalization lab on real MNIST test images.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { initBackend } from '../../../src-main/engine/backend';
import { ApiError } from '../../../src-main/contract/api';
import type { LandscapeReport, NormLabReport } from '../../../src-main/contract/landscape';
import type { Workspace } from '../../../src-main/store/workspace';
import { JOBS } from '../../../src-main/host/jobs';
import type { JobName, JobParams } from '../../../src-main/host/protocol';
import { dispatch, type MethodTable } from '../../../src-main/services/registry';
import { jobOutcome, type ServiceContext } from '../../../src-main/services/features';
import { landscapeFeature } from '../../../src-main/services/landscape';
import { histogramEqualize } from '../../../src-main/data/normalize';
import { imageVariants, meanStd, rangeHistogram } from '../../../src-main/analysis/image-norm';
import { jobContext, smallSettings, tempWorkspace, trainedRun } from './helpers';

let dir: string;
let ws: Workspace;
let table: MethodTable;
const titles: string[] = [];

beforeAll(async () => {
  await initBackend();
  ({ dir, ws } = tempWorkspace('normlab-landscape-svc-'));
  const ctx = {
    workspace: ws,
    host: { jobForRun: () => undefined },
    emit: () => {},
    runJob: async <K extends JobName>(kind: K, payload: JobParams<K>, meta: { title: string }) => {
      titles.push(meta.title);
      return jobOutcome(await JOBS[kind](payload, jobContext(dir)), meta.title);
    },
  } as unknown as ServiceContext;
  table = landscapeFeature(ctx);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const call = (method: string, params: unknown) => dispatch(table, method, params);

describe('landscape.compute', () => {
  it('rejects bad requests with messages naming the field', async () => {
    await expect(call('landscape.compute', { runId: 'x', grid: 2 })).rejects.toThrow(/grid: .*(>=|at least|≥)\s*3/i);
    await expect(call('landscape.compute', { runId: 'x', span: -1 })).rejects.toThrow(/span/);
    await expect(call('landscape.compute', { runId: 'x', line: 1 })).rejects.toThrow(/line: 0 \(no 1-D curve\) or at least 2 points/);
    await expect(call('landscape.compute', { runId: 'x', bogus: 1 })).rejects.toThrow(/bogus/);
  });

  it('answers a run without a checkpoint with a conflict error', async () => {
    const run = ws.createRun(smallSettings());
    const err = await call('landscape.compute', { runId: run.id }).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).code).toBe('conflict');
    expect((err as Error).message).toMatch(/no checkpoint yet/);
  });

  it('runs the job for a trained run with the defaults filled in', async () => {
    const id = await trainedRun(ws, smallSettings({ epochs: 1, trainLimit: 300, testLimit: 100 }), false);
    const r = (await call('landscape.compute', { runId: id, grid: 3, evalLimit: 60, line: 0 })) as LandscapeReport;
    expect(r.status).toBe('ok');
    expect(r.evalImages).toBe(60);
    expect(r.grid.xs).toEqual([-1, 0, 1]);
    expect(r.grid.loss[4]).toBe(r.centre.loss);
    expect(titles.at(-1)).toMatch(/^Loss landscape .*\(3×3\)$/);
  }, 120_000);
});

describe('normalization lab', () => {
  it('shows per-image and dataset standardization and equalization of real MNIST digits', async () => {
    const r = (await call('landscape.images', { count: 3, bins: 16 })) as NormLabReport;
    expect(r.dataset).toBe('mnist-sample');
    expect(r.images).toHaveLength(3);
    // MNIST is mostly black: mean ≈ 0.13, std ≈ 0.31 in [0, 1] units.
    expect(r.datasetMean).toBeGreaterThan(0.1);
    expect(r.datasetMean).toBeLessThan(0.16);
    expect(r.datasetStd).toBeGreaterThan(0.28);
    expect(r.datasetStd).toBeLessThan(0.34);
    for (const im of r.images) {
      const v = im.variants;
      expect(v.perImage.mean).toBeCloseTo(0, 10);
      expect(v.perImage.std).toBeCloseTo(1, 10);
      expect(v.dataset.mean).toBeCloseTo((v.original.mean - r.datasetMean) / r.datasetStd, 10);
      expect(v.dataset.std).toBeCloseTo(v.original.std / r.datasetStd, 10);
      for (const k of ['original', 'perImage', 'dataset', 'equalized'] as const) {
        expect(v[k].hist.reduce((a, b) => a + b, 0)).toBe(784);
        expect(v[k].pixels).toHaveLength(784);
      }
      // Standardizing is affine: the same pixels fall in the same bins (one shared range); equalizing reshapes.
      expect(v.perImage.range).toEqual(v.dataset.range);
    }
  }, 60_000);

  it('rejects an offset past the test split', async () => {
    await expect(call('landscape.images', { offset: 9_000_000 })).rejects.toThrow(/offset 9000000 is past the 2000 test images/);
  });

  it('imageVariants on a hand example: bytes 0,0,255,255 standardize to ±1 and equalize to 0 and 255', () => {
    const v = imageVariants(Uint8Array.from([0, 0, 255, 255]), 0.5, 0.5, 4);
    expect(v.perImage.pixels).toEqual([0, 0, 255, 255]);
    expect(v.perImage.range).toEqual([-1, 1]);
    expect(Array.from(histogramEqualize(Uint8Array.from([0, 0, 255, 255])))).toEqual([0, 0, 255, 255]);
    expect(v.dataset.mean).toBe(0);
    expect(v.original.hist).toEqual([2, 0, 0, 2]);
    expect(meanStd([1, 3])).toEqual({ mean: 2, std: 1 });
    expect(rangeHistogram([0, 0.5, 1], 0, 1, 2)).toEqual([1, 2]);
  });
});
