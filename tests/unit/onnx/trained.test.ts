import { beforeAll, expect, test } from 'vitest';
import { initBackend } from '../../../src-main/engine/backend';
import { trainRun } from '../../../src-main/host/step-engines';
import { DEFAULT_SETTINGS } from '../../../src-main/contract/settings';
import { exportOnnx } from '../../../src-main/onnx/export';
import { inferOnnx, prepareInputs, scoreProbabilities, verifyExport } from '../../../src-main/onnx/runtime';
import { channelStats } from '../../../src-main/data/normalize';
import { sample, testImages } from './helpers';

beforeAll(async () => {
  await initBackend();
});

test('a truly trained model (1 epoch on 1,000 real MNIST digits): parity folded and unfolded, same accuracy', async () => {
  const data = await sample();
  const settings = { ...DEFAULT_SETTINGS, valSplit: 0, epochs: 1, trainLimit: 1000, testLimit: 300, batch: 50, lr: 0.05, norm: 'batch' as const };
  const result = await trainRun(settings, data, {});
  const model = result.model;
  const w = model.getWeights();
  // Training moved the running statistics away from their (0, 1) start.
  expect(Math.abs(w['norm1/running_mean'].data[0])).toBeGreaterThan(1e-3);
  const norm = channelStats(data.train.images, 1000, 28, 28, 1);
  const imgs = await testImages(300);
  for (const foldBn of [false, true]) {
    const { bytes } = exportOnnx(model.spec, w, { foldBn, metadata: {} });
    const p = await verifyExport(bytes, model, imgs, { ...norm, baked: false, dataset: 'mnist-sample' });
    expect(p.maxAbsDiff).toBeLessThanOrEqual(1e-4);
    expect(p.argmaxAgreement).toBe(1);
    const { nchw } = prepareInputs(imgs, 300, norm, false);
    const r = await inferOnnx(bytes, nchw, 128);
    const s = scoreProbabilities(r.probabilities, r.classes, imgs.labels, 300);
    // The trainer's own test accuracy on the same 300 images.
    expect(s.accuracy).toBeCloseTo(result.testAcc, 6);
    expect(s.loss).toBeCloseTo(result.testLoss, 3);
  }
  model.dispose();
});
