/**
 * The dropout.analyze service and its worker job, in process: a real run trained for one epoch
 * on 1,000 real MNIST digits with dropout 0.1, a run without dropout, an untrained run, bad
 * requests and cancellation.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../../../src-main/engine/backend';
import { DEFAULT_SETTINGS, type TrainSettings } from '../../../src-main/contract/settings';
import { ApiError, type Progress } from '../../../src-main/contract/api';
import type { DropoutReport, DropoutResult } from '../../../src-main/contract/dropout';
import { Workspace } from '../../../src-main/store/workspace';
import { JOBS } from '../../../src-main/host/jobs';
import type { JobContext, JobName, JobParams } from '../../../src-main/host/protocol';
import { dispatch, type MethodTable } from '../../../src-main/services/registry';
import { jobOutcome, type ServiceContext } from '../../../src-main/services/features';
import { dropoutFeature } from '../../../src-main/services/dropout';

let dir: string;
let ws: Workspace;
let table: MethodTable;
let trained: string;
let noDropout: string;
let untrained: string;
let cancelAfter = Infinity;
const progress: Progress[] = [];
const titles: string[] = [];

function jobCtx(): JobContext {
  let calls = 0;
  return {
    jobId: 'test',
    workspace: dir,
    progress: (p) => {
      progress.push(p);
      calls++;
    },
    emit: () => {},
    cancelled: () => calls >= cancelAfter,
  };
}

const settings = (o: Partial<TrainSettings>): TrainSettings => ({
  ...DEFAULT_SETTINGS, data: 'mnist-sample', epochs: 1, trainLimit: 3000, testLimit: 300, batch: 50, lr: 0.05, norm: 'batch', ...o,
});

const analyze = (params: unknown) => dispatch(table, 'dropout.analyze', params) as Promise<DropoutResult>;

beforeAll(async () => {
  await initBackend();
  dir = mkdtempSync(join(tmpdir(), 'normlab-dropout-'));
  ws = new Workspace(dir, { warn: () => {} });
  const ctx = {
    workspace: ws,
    host: { jobForRun: () => undefined },
    emit: () => {},
    runJob: async <K extends JobName>(kind: K, payload: JobParams<K>, meta: { title: string }) => {
      titles.push(meta.title);
      return jobOutcome(await JOBS[kind](payload, jobCtx()), meta.title);
    },
  } as unknown as ServiceContext;
  table = dropoutFeature(ctx);
  trained = ws.createRun(settings({ dropout: 0.1, name: 'with-dropout' })).id;
  await JOBS.train({ runId: trained, resume: false }, jobCtx());
  noDropout = ws.createRun(settings({ dropout: 0, name: 'plain' })).id;
  untrained = ws.createRun(settings({ dropout: 0.1, name: 'fresh' })).id;
}, 300_000);

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('dropout.analyze', () => {
  test('a run without dropout gets a clear typed answer with an action, not an empty analysis', async () => {
    const r = await analyze({ runId: noDropout });
    expect(r.status).toBe('unavailable');
    if (r.status !== 'unavailable') return;
    expect(r.reason).toBe('no-dropout');
    expect(r.message).toContain('"plain" was trained without dropout');
    expect(r.suggestion).toEqual({ label: 'Start a copy of this run with dropout 0.1', settings: { dropout: 0.1 } });
    expect(titles).toHaveLength(0); // answered without queuing a job
  });

  test('a run with no checkpoint yet says it needs a finished epoch', async () => {
    const r = await analyze({ runId: untrained, samples: 2 });
    expect(r).toMatchObject({ status: 'unavailable', reason: 'not-trained' });
    expect((r as { message: string }).message).toMatch(/has no checkpoint yet: it needs at least one finished epoch/);
  });

  test('bad requests name the field', async () => {
    await expect(analyze({ runId: trained, samples: 0 })).rejects.toThrow(/samples: .*>=1/);
    await expect(analyze({ runId: trained, samples: 257 })).rejects.toThrow(/samples: .*<=256/);
    await expect(analyze({ runId: trained, checkpoint: 'middle' })).rejects.toThrow(/checkpoint/);
    await expect(analyze({ runId: trained, k: 3 })).rejects.toThrow(/k/);
    await expect(analyze({ runId: '../etc' })).rejects.toThrow(/runId/);
    await expect(analyze({ runId: 'no-such-run' })).rejects.toThrow(/no-such-run/);
  });

  test('trained run: K-mask curve, weight-scaled line equal to the trainer\'s own test metrics, uncertainty summaries', async () => {
    progress.length = 0;
    const r = (await analyze({ runId: trained, samples: 16, testLimit: 300, seed: 5 })) as DropoutReport;
    expect(r.status).toBe('ok');
    expect(r.checkpoint).toEqual({ tag: 'best', epoch: 1, requested: 'best' });
    expect(r.images).toBe(300);
    expect(r.samples).toBe(16);
    expect(r.dropoutLayers.map((l) => l.rate)).toEqual([0.1, 0.1, 0.1, 0.1, 0.1, 0.1]);
    // The weight-scaled network is exactly what the trainer evaluated after epoch 1 on the same 300 images.
    const m = ws.readMetrics(trained)[0];
    expect(r.weightScaled.acc).toBeCloseTo(m.test_acc, 10);
    expect(r.weightScaled.loss).toBeCloseTo(m.test_loss, 3);
    expect(r.curve.map((c) => c.k)).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
    expect(r.curve[15].acc).toBe(r.ensemble.acc);
    expect(r.ensemble.meanMemberAcc).toBeCloseTo(r.curve.reduce((s, c) => s + c.memberAcc, 0) / 16, 12);
    // Averaging masks helps the ensemble over a single thinned network, on average.
    expect(r.ensemble.loss).toBeLessThan(r.curve[0].loss);
    expect(r.ensemble.meanDisagreement).toBeGreaterThan(0);
    expect(r.ensemble.meanMutualInfo).toBeGreaterThan(0);
    expect(r.ensemble.meanMutualInfo).toBeLessThan(r.ensemble.meanEntropy);
    expect(r.ensemble.agreementWithWeightScaled).toBeGreaterThan(0.8);
    // Deciles and histogram account for every image; the wrong ones are the ensemble's errors.
    expect(r.deciles.reduce((s, d) => s + d.count, 0)).toBe(300);
    const wrong = r.entropyHistogram.wrong.reduce((a, b) => a + b, 0);
    expect(wrong).toBe(Math.round((1 - r.ensemble.acc) * 300));
    expect(r.entropyHistogram.correct.reduce((a, b) => a + b, 0) + wrong).toBe(300);
    expect(r.entropyHistogram.edges.at(-1)).toBeCloseTo(Math.log(10), 12);
    // The most certain tenth is at least as accurate as the least certain tenth.
    expect(r.deciles[0].acc).toBeGreaterThanOrEqual(r.deciles[9].acc);
    // Gallery: 24 most uncertain, descending, then 6 most certain; each with its own image.
    expect(r.gallery).toHaveLength(30);
    expect(r.certainInGallery).toBe(6);
    const top = r.gallery.slice(0, 24).map((g) => g.entropy);
    expect(top).toEqual([...top].sort((a, b) => b - a));
    expect(r.gallery[29].entropy).toBeLessThanOrEqual(r.gallery[23].entropy);
    for (const g of r.gallery) {
      expect(g.pixels).toHaveLength(784);
      expect(g.mean.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
      expect(g.pred).toBe(g.mean.indexOf(Math.max(...g.mean)));
    }
    // Progress went to 1 and named the masks.
    expect(progress.at(-1)?.fraction).toBe(1);
    expect(progress.at(-1)?.message).toMatch(/^mask 16\/16 · ensemble accuracy \d+\.\d\d%$/);
  });

  test('same seed reproduces the report; the last checkpoint can be asked for', async () => {
    const a = (await analyze({ runId: trained, samples: 4, testLimit: 100, seed: 9 })) as DropoutReport;
    const b = (await analyze({ runId: trained, samples: 4, testLimit: 100, seed: 9, checkpoint: 'last' })) as DropoutReport;
    expect(b.checkpoint).toEqual({ tag: 'last', epoch: 1, requested: 'last' });
    // After one epoch best and last hold the same weights.
    expect(b.curve).toEqual(a.curve);
    expect(b.gallery).toEqual(a.gallery);
  });

  test('cancel: the job stops and the service answers a cancelled error', async () => {
    cancelAfter = 3;
    try {
      const err = await analyze({ runId: trained, samples: 64 }).catch((e) => e);
      expect(err).toBeInstanceOf(ApiError);
      expect((err as ApiError).code).toBe('cancelled');
    } finally {
      cancelAfter = Infinity;
    }
  });
});
