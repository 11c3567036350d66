import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../../src-main/engine/backend';
import { evaluate, type TrainProgress } from '../../../src-main/engine/train';
import { trainRun } from '../../../src-main/host/step-engines';
import { DEFAULT_SETTINGS, type TrainSettings } from '../../../src-main/contract/settings';
import { loadDataset, type Dataset } from '../../../src-main/data/dataset';
import type { EpochMetrics } from '../../../src-main/contract/api';
import type { BnRecord, NamedWeights, TrainState } from '../../../src-main/engine/model-types';

let backend = '';
let data: Dataset;
beforeAll(async () => {
  backend = (await initBackend()).backend;
  data = await loadDataset('mnist-sample');
});

// valSplit 0: these cases count steps and batches over the whole training slice.
const settings = (o: Partial<TrainSettings>): TrainSettings => ({ ...DEFAULT_SETTINGS, valSplit: 0, ...o });

/** A deep copy with fresh arrays, as the store would write and read a checkpoint. */
function roundTrip(s: TrainState): TrainState {
  const w = (n: NamedWeights): NamedWeights => Object.fromEntries(Object.entries(n).map(([k, v]) => [k, { shape: [...v.shape], data: Float32Array.from(Array.from(v.data)) }]));
  const plain = JSON.parse(JSON.stringify({ ...s, weights: {}, optimizer: { ...s.optimizer, slots: {} } })) as TrainState;
  return { ...plain, weights: w(s.weights), optimizer: { ...plain.optimizer, slots: w(s.optimizer.slots) } };
}

describe('trainRun', () => {
  it('learns: 2 epochs on 2,000 real digits reach ≥ 90% test accuracy', async () => {
    const epochs: EpochMetrics[] = [];
    const progress: TrainProgress[] = [];
    const t0 = performance.now();
    const r = await trainRun(settings({ epochs: 2, trainLimit: 2000, testLimit: 1000, batch: 32, lr: 0.2, schedule: 'onecycle' }), data, {
      onEpoch: (m) => { epochs.push(m); },
      onProgress: (p) => progress.push(p),
    });
    const secs = (performance.now() - t0) / 1000;
    console.log(`[${backend}] 2 epochs × 2000 images: ${secs.toFixed(1)} s, ${((2 * 2000) / epochs.reduce((s, e) => s + e.seconds, 0)).toFixed(0)} img/s incl. eval; test acc ${r.testAcc}`, epochs.map((e) => [e.train_loss, e.train_acc, e.test_loss, e.test_acc, e.seconds]));
    expect(r.status).toBe('done');
    expect(r.params).toBe(8890);
    expect(r.testAcc).toBeGreaterThanOrEqual(0.9);
    expect(epochs).toHaveLength(2);
    expect(epochs[1].train_loss).toBeLessThan(epochs[0].train_loss);
    expect(epochs[0].grad_norm).toBeGreaterThan(0);
    expect(Object.keys(epochs[0].weight_norms)).toContain('norm1/gamma');
    expect(epochs[0].weight_norms['conv1/kernel']).toBeGreaterThan(0);
    expect(epochs[0].sparsity).toBeGreaterThanOrEqual(0);
    expect(epochs[0].sparsity).toBeLessThan(0.05);
    expect(progress.at(-1)).toMatchObject({ epoch: 2, epochs: 2, step: 63, steps: 63, fraction: 1 });
    const ev = evaluate(r.model, data.test, { mean: [0.1307], std: [0.3081] }, { limit: 300, batch: 128 });
    expect(ev.probs.length).toBe(3000);
    expect(ev.preds.length).toBe(300);
    expect(ev.acc).toBeGreaterThan(0.85);
    r.model.dispose();
  });

  it('a resumed run reproduces an uninterrupted one; tensors stay flat across epochs', async () => {
    const s = settings({ epochs: 3, trainLimit: 320, testLimit: 200, batch: 32, augRotate: 10, augShift: 2, augErase: 0.2, dropout: 0.1, l1: 1e-4, optimizer: 'adamw', lr: 0.003, weightDecay: 0.01, bnMomentum: null, schedule: 'onecycle', clip: 'norm', clipValue: 2 });
    const full: EpochMetrics[] = [];
    const tensors: number[] = [];
    let state2: TrainState | null = null;
    const r1 = await trainRun(s, data, {
      onEpoch: (m, st) => {
        full.push(m);
        tensors.push(tf.memory().numTensors);
        if (st.epoch === 2) state2 = roundTrip(st);
      },
    });
    expect(tensors[1]).toBe(tensors[0]);
    expect(tensors[2]).toBe(tensors[0]);
    const w1 = r1.model.getWeights();
    r1.model.dispose();
    expect(state2).not.toBeNull();
    expect(state2!.weights['norm1/count'].data[0]).toBe(20);
    const resumed: EpochMetrics[] = [];
    const r2 = await trainRun(s, data, { onEpoch: (m) => { resumed.push(m); } }, state2!);
    expect(resumed.map((m) => m.epoch)).toEqual([3]);
    const a = full[2];
    const b = resumed[0];
    for (const k of ['train_loss', 'train_acc', 'test_loss', 'test_acc', 'lr', 'grad_norm', 'sparsity'] as const) {
      expect(Math.abs(a[k] - b[k]), k).toBeLessThan(1e-5);
    }
    const w2 = r2.model.getWeights();
    for (const k of Object.keys(w1)) {
      let d = 0;
      for (let i = 0; i < w1[k].data.length; i++) d = Math.max(d, Math.abs(w1[k].data[i] - w2[k].data[i]));
      expect(d, k).toBeLessThan(1e-5);
    }
    expect(r2.epochs).toBe(3);
    r2.model.dispose();
  });

  it('early stopping restores the best epoch and reports it', async () => {
    // A learning rate far too high for plain SGD without BN makes the test loss rise after the
    // first epochs; patience 1 stops at the first rise.
    const s = settings({ epochs: 8, trainLimit: 256, testLimit: 200, batch: 32, lr: 0.5, norm: 'none', dropout: 0, earlyStop: 1 });
    const seen: { m: EpochMetrics; best?: NamedWeights }[] = [];
    const r = await trainRun(s, data, { onEpoch: (m, _st, isBest, best) => { seen.push({ m, best }); expect(!!best).toBe(isBest); } });
    console.log('early stop test losses', seen.map((x) => x.m.test_loss));
    expect(r.status).toBe('stopped-early');
    const last = seen.at(-1)!.m;
    expect(last.events).toEqual(expect.arrayContaining(['early-stop', 'restored-best']));
    const bestIdx = seen.findLastIndex((x) => x.best);
    expect(r.bestEpoch).toBe(seen[bestIdx].m.epoch);
    expect(r.epochs).toBe(seen[bestIdx].m.epoch + 1);
    expect(r.testLoss).toBe(seen[bestIdx].m.test_loss);
    const w = r.model.getWeights();
    expect(Array.from(w['conv1/kernel'].data)).toEqual(Array.from(seen[bestIdx].best!['conv1/kernel'].data));
    const ev = evaluate(r.model, data.test, { mean: [0.1307], std: [0.3081] }, { limit: 200 });
    expect(ev.loss).toBeGreaterThan(0);
    r.model.dispose();
  });

  it('cancels after the current step and records BN statistics every K steps', async () => {
    let steps = 0;
    const records: BnRecord[] = [];
    const s = settings({ epochs: 2, trainLimit: 320, testLimit: 100, batch: 32, bnRecordEvery: 3 });
    const r = await trainRun(s, data, {
      onProgress: () => {},
      onBnRecord: (rec) => records.push(rec),
      isCancelled: () => ++steps >= 7,
    }, undefined, undefined, { progressEveryMs: 0 });
    expect(r.status).toBe('cancelled');
    expect(r.epochs).toBe(0);
    expect(steps).toBe(7);
    expect(records.map((x) => x.step)).toEqual([3, 6]);
    expect(Object.keys(records[0].layers)).toEqual(['norm1', 'norm2', 'norm3', 'norm4', 'norm5', 'norm6']);
    const l = records[1].layers.norm2;
    expect(l.runningVar).toHaveLength(16);
    // Six PyTorch updates from running var 1 toward positive batch variances: still positive.
    expect(Math.min(...l.runningVar)).toBeGreaterThan(0);
    expect(Math.max(...l.batchVar)).toBeGreaterThan(0);
    r.model.dispose();
  });
});
