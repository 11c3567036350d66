/**
 * The StepEngine seam (engine/step-engine.ts): trainRun holds no engine branches and takes its
 * engine from the caller. engine/ alone trains on tfjs, bit for bit like the tfjs engine that
 * host/step-engines.ts gives; `engine: onnxruntime` without an onnxruntime factory is an error that
 * leaves no tensors behind; and a factory sees every step (with the next step's dropout seed and
 * batch size, except after the last), every evaluation and one dispose.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../../src-main/engine/backend';
import { tfjsStepEngine, trainRun as trainLoop } from '../../../src-main/engine/train';
import type { StepBatch, StepEngineFactory } from '../../../src-main/engine/step-engine';
import { trainRun } from '../../../src-main/host/step-engines';
import { DEFAULT_SETTINGS, type TrainSettings } from '../../../src-main/contract/settings';
import type { EpochMetrics } from '../../../src-main/contract/api';
import { loadDataset, type Dataset } from '../../../src-main/data/dataset';

let data: Dataset;
beforeAll(async () => {
  await initBackend('wasm');
  data = await loadDataset('mnist-sample');
});

const settings = (o: Partial<TrainSettings>): TrainSettings => ({
  ...DEFAULT_SETTINGS, data: 'mnist-sample', epochs: 2, trainLimit: 100, testLimit: 40, valSplit: 0.2, batch: 32, lr: 0.05, dropout: 0.1, seed: 5, ...o,
});
const withoutTime = (ms: EpochMetrics[]) => ms.map(({ seconds: _s, ...m }) => m);

describe('StepEngine', () => {
  it('engine/ alone trains on tfjs, with the metrics of the tfjs engine host/ gives', async () => {
    const alone: EpochMetrics[] = [];
    const viaHost: EpochMetrics[] = [];
    const reasons: string[] = [];
    const a = await trainLoop(settings({ engine: 'auto' }), data, { onEpoch: (m) => { alone.push(m); }, onEngine: (e) => reasons.push(e.reason) });
    const b = await trainRun(settings({ engine: 'tfjs' }), data, { onEpoch: (m) => { viaHost.push(m); }, onEngine: (e) => reasons.push(e.reason) });
    expect(reasons).toEqual(['auto: this process trains on tfjs only', 'engine tfjs was chosen']);
    expect(a.engine.engine).toBe('tfjs');
    expect(alone.length).toBe(2);
    expect(withoutTime(alone)).toEqual(withoutTime(viaHost));
    expect([a.testLoss, a.testAcc, a.valLoss]).toEqual([b.testLoss, b.testAcc, b.valLoss]);
    expect(a.stepTiming).toBeUndefined();
    a.model.dispose();
    b.model.dispose();
  }, 120_000);

  it('engine onnxruntime with no onnxruntime factory fails before training and leaks no tensors', async () => {
    const before = tf.memory().numTensors;
    await expect(trainLoop(settings({ engine: 'onnxruntime' }), data)).rejects.toThrow(/engine onnxruntime is not available here/);
    expect(tf.memory().numTensors).toBe(before);
    const failing: StepEngineFactory = async () => { throw new Error('no engine today'); };
    await expect(trainLoop(settings({}), data, {}, undefined, undefined, { engines: failing })).rejects.toThrow('no engine today');
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a factory sees every step with the next one announced, each evaluation, and one dispose', async () => {
    const steps: StepBatch[] = [];
    const evaluated: number[] = [];
    let disposed = 0;
    const recording: StepEngineFactory = async (ctx) => {
      const inner = tfjsStepEngine(ctx, { engine: 'tfjs', reason: 'recorded' });
      return {
        ...inner,
        step: (b) => { steps.push({ ...b, x: b.x.slice(0, b.n * 784) }); return inner.step(b); },
        evaluate: (split, norm) => { evaluated.push(split.count); return inner.evaluate(split, norm); },
        dispose: async () => { disposed += 1; },
      };
    };
    const s = settings({});
    const r = await trainLoop(s, data, {}, undefined, undefined, { engines: recording });
    // 100 images, about a fifth held out for validation (stratified: 21), the rest in batches of 32.
    const { train, val, test } = r.splits;
    expect([train + val, test]).toEqual([100, 40]);
    const epoch = [32, 32, train - 64];
    expect(steps.map((b) => b.n)).toEqual([...epoch, ...epoch]);
    expect(steps.map((b) => b.next?.n)).toEqual([...epoch.slice(1), ...epoch, undefined]);
    for (let i = 0; i + 1 < steps.length; i++) expect(steps[i].next?.dropoutSeed).toBe(steps[i + 1].cfg.dropoutSeed);
    expect(new Set(steps.map((b) => b.cfg.dropoutSeed)).size).toBe(6);
    expect(evaluated).toEqual([test, val, test, val]);
    expect(disposed).toBe(1);
    expect(r.engine.reason).toBe('recorded');
    r.model.dispose();
  }, 120_000);
});
