/**
 * Issue 17 item 3: a held-out validation split — seeded, stratified by class, disjoint from the
 * images trained on — that the best checkpoint and early stopping use; valSplit 0 = test as validation.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS, resolveSettings, type TrainSettings } from '../../../src-main/contract/settings';
import { loadDataset, type Dataset } from '../../../src-main/data/dataset';
import { checkPlannedSplits, plannedSplitSizes, splitValidation, validationCounts } from '../../../src-main/data/split';
import { DatasetError } from '../../../src-main/data/idx';
import { initBackend } from '../../../src-main/engine/backend';
import { trainRun } from '../../../src-main/host/step-engines';
import type { EpochMetrics } from '../../../src-main/contract/api';
import { validationSource, valMetrics } from '../../../src-main/contract/validation';

let data: Dataset;
beforeAll(async () => {
  await initBackend();
  data = await loadDataset('mnist-sample');
});

const counts = (labels: Uint8Array) => {
  const h = new Array<number>(10).fill(0);
  for (const l of labels) h[l]++;
  return h;
};

describe('splitValidation', () => {
  it('is a setting: --val-split, default 0.1, 0 allowed', () => {
    expect(DEFAULT_SETTINGS.valSplit).toBe(0.1);
    expect(resolveSettings({ valSplit: 0 })).toMatchObject({ ok: true, value: { valSplit: 0 } });
    expect(resolveSettings({ valSplit: 0.9 })).toMatchObject({ ok: false });
  });

  it('holds out round(10%) of every class of the 8,000 sample digits, disjoint from train', () => {
    const { train, val } = splitValidation(data.train, 0.1, 1, 784);
    const all = counts(data.train.labels);
    expect(counts(val!.labels)).toEqual(all.map((n) => Math.round(n * 0.1)));
    expect(counts(train.labels)).toEqual(all.map((n) => n - Math.round(n * 0.1)));
    expect(train.count + val!.count).toBe(8000);
    // Disjoint: every image appears exactly once across the two parts (compare by content hash).
    const key = (imgs: Uint8Array, i: number) => {
      let h = 0;
      for (let p = 0; p < 784; p++) h = (Math.imul(h, 31) + imgs[i * 784 + p]) | 0;
      return h;
    };
    const source = new Map<number, number>();
    for (let i = 0; i < 8000; i++) source.set(key(data.train.images, i), (source.get(key(data.train.images, i)) ?? 0) + 1);
    const seen = new Map<number, number>();
    for (const s of [train, val!]) for (let i = 0; i < s.count; i++) seen.set(key(s.images, i), (seen.get(key(s.images, i)) ?? 0) + 1);
    expect(seen).toEqual(source);
  });

  it('is seeded: the same seed draws the same split, another seed another', () => {
    const a = splitValidation(data.train, 0.1, 7, 784).val!;
    const b = splitValidation(data.train, 0.1, 7, 784).val!;
    const c = splitValidation(data.train, 0.1, 8, 784).val!;
    expect(Buffer.from(a.images).equals(Buffer.from(b.images))).toBe(true);
    expect(Buffer.from(a.images).equals(Buffer.from(c.images))).toBe(false);
  });

  it('never takes all of a class, and 0 means no validation split', () => {
    expect(validationCounts([1, 2, 10, 0], 0.5)).toEqual([0, 1, 5, 0]);
    expect(validationCounts([3, 40], 0.01)).toEqual([1, 1]);
    expect(splitValidation(data.train, 0, 1, 784)).toEqual({ train: data.train, val: null });
    expect(plannedSplitSizes(data.train, 2000, { trainLimit: 0, testLimit: 0, valSplit: 0.1 })).toEqual({ train: 7199, val: 801, test: 2000, valIsTest: false });
  });

  it('a split that would be empty is refused before a run is created, naming the dataset', () => {
    const s = { trainLimit: 1, testLimit: 0, valSplit: 0.1 };
    expect(() => checkPlannedSplits(data, s)).toThrow(DatasetError);
    expect(() => checkPlannedSplits(data, s)).toThrow('mnist-sample: --val-split 0.1 of 1 training images leaves no validation image (each class needs at least two images); use more images or --val-split 0');
    expect(() => checkPlannedSplits(data, { ...s, valSplit: 0 })).not.toThrow();
  });
});

describe('training with a validation split', () => {
  const base = (o: Partial<TrainSettings>): TrainSettings => ({ ...DEFAULT_SETTINGS, data: 'mnist-sample', epochs: 2, trainLimit: 600, testLimit: 300, batch: 50, ...o });

  it('reports train, validation and test per epoch; best and early stopping follow validation loss', async () => {
    const ms: EpochMetrics[] = [];
    const r = await trainRun(base({ valSplit: 0.2, earlyStop: 1 }), data, { onEpoch: (m) => { ms.push(m); } });
    expect(r.splits).toEqual({ train: 479, val: 121, test: 300, valIsTest: false });
    for (const m of ms) {
      expect(m.val_loss).toBeGreaterThan(0);
      expect(m.val_is_test).toBeUndefined();
      expect(m.val_loss).not.toBe(m.test_loss);
    }
    const bestByVal = ms.reduce((b, m) => (m.val_loss! < b.val_loss! ? m : b));
    expect(r.bestEpoch).toBe(bestByVal.epoch);
    expect(ms.find((m) => m.events?.includes('best'))?.epoch).toBe(1);
    expect(validationSource(ms)).toBe('held-out');
    r.model.dispose();
  });

  it('--val-split 0 uses the test split as validation and says so', async () => {
    const ms: EpochMetrics[] = [];
    const r = await trainRun(base({ valSplit: 0, epochs: 1 }), data, { onEpoch: (m) => { ms.push(m); } });
    expect(r.splits).toEqual({ train: 600, val: 300, test: 300, valIsTest: true });
    expect(ms[0].val_is_test).toBe(true);
    expect(ms[0].val_loss).toBe(ms[0].test_loss);
    expect(validationSource(ms)).toBe('test');
    // A record written before the split existed reads as validation = test.
    const { val_loss: _l, val_acc: _a, val_is_test: _t, ...legacy } = ms[0];
    expect(validationSource([legacy])).toBe('legacy-test');
    expect(valMetrics(legacy)).toEqual({ loss: ms[0].test_loss, acc: ms[0].test_acc });
    r.model.dispose();
  });
});
