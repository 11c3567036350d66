/**
 * Fair seeds (issue 17 item 4): with one seed, variants whose parameters have the same names and
 * shapes start from bit-identical weights and see the same shuffle order.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../src-main/engine/backend';
import { buildModel } from '../../../src-main/engine/model';
import { s5Spec } from '../../../src-main/engine/spec';
import { epochOrder } from '../../../src-main/engine/train';
import { trainRun } from '../../../src-main/host/step-engines';
import { DEFAULT_SETTINGS, type TrainSettings } from '../../../src-main/contract/settings';
import { loadDataset, type Dataset } from '../../../src-main/data/dataset';
import type { NamedWeights } from '../../../src-main/engine/model-types';

let data: Dataset;
beforeAll(async () => {
  await initBackend();
  data = await loadDataset('mnist-sample');
});

const settings = (o: Partial<TrainSettings>): TrainSettings => ({ ...DEFAULT_SETTINGS, data: 'mnist-sample', seed: 11, ...o });

function initial(o: Partial<TrainSettings>): NamedWeights {
  const m = buildModel(s5Spec(settings(o)), settings(o).seed);
  const w = m.getWeights();
  m.dispose();
  return w;
}

const same = (a: NamedWeights, b: NamedWeights, names: string[]) => {
  for (const n of names) expect(Buffer.from(a[n].data.buffer).equals(Buffer.from(b[n].data.buffer)), n).toBe(true);
};

describe('fair seeds', () => {
  it('dropout 0 vs 0.1, none vs L1, BN before vs after, another momentum: bit-identical initial weights', () => {
    const base = initial({ dropout: 0 });
    const names = Object.keys(base);
    expect(names).toContain('conv6/kernel');
    same(base, initial({ dropout: 0.1 }), names);
    same(base, initial({ dropout: 0, l1: 1e-4 }), names);
    same(base, initial({ dropout: 0, bnPosition: 'after' }), names);
    same(base, initial({ dropout: 0, bnMomentum: 0.3 }), names);
    // Without norm the convs gain biases; the kernels they share still start equal.
    const none = initial({ dropout: 0, norm: 'none' });
    same(base, none, names.filter((n) => n.endsWith('/kernel')));
    expect(Object.keys(none)).toContain('conv1/bias');
    // Another seed, other weights.
    expect(Buffer.from(initial({ dropout: 0, seed: 12 })['conv1/kernel'].data.buffer).equals(Buffer.from(base['conv1/kernel'].data.buffer))).toBe(false);
  });

  it('the shuffle order depends on the seed and epoch only', () => {
    const a = epochOrder(settings({ dropout: 0 }), 1000, 3);
    expect(Array.from(epochOrder(settings({ dropout: 0.1, l1: 1e-3 }), 1000, 3))).toEqual(Array.from(a));
    expect(Array.from(epochOrder(settings({}), 1000, 4))).not.toEqual(Array.from(a));
    expect([...a].sort((x, y) => x - y)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });

  for (const engine of ['tfjs', 'onnxruntime'] as const) {
    it(`${engine}: none vs L1 give the same first-step loss (same init, same first batch), with or without dropout (same masks)`, async () => {
      const firstLoss = async (o: Partial<TrainSettings>) => {
        const losses: [number, number][] = [];
        const r = await trainRun(settings({ engine, epochs: 1, trainLimit: 64, testLimit: 64, batch: 32, lr: 0.05, ...o }), data, {
          onProgress: (p) => losses.push(...(p.losses ?? [])),
        }, undefined, undefined, { progressEveryMs: 0 });
        r.model.dispose();
        return losses[0];
      };
      const a = await firstLoss({ dropout: 0 });
      const b = await firstLoss({ dropout: 0, l1: 1e-3 });
      expect(a[0]).toBe(1);
      expect(b[1]).toBe(a[1]);
      const c = await firstLoss({ dropout: 0.1, l1: 1e-3 });
      const d = await firstLoss({ dropout: 0.1 });
      expect(c[1]).toBe(d[1]);
      expect(c[1]).not.toBe(a[1]);
    });
  }
});
