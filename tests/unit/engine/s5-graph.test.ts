/**
 * The S5 net as a graph (the `s5` preset run by the graph executor and the chain lowering of the
 * ONNX step) trains exactly like the flat layer list it replaced: these numbers were recorded
 * with the flat-list engine (fair seeds already in, commit after a19637a) on the same settings.
 * The onnxruntime batch-BN case was re-recorded when the step's BN became a BatchNormalization
 * scale-and-shift (issue 20): the flat-list numbers were [2.126069039106369, 0.236328125,
 * 1.685679836898236, 0.375], the new ones differ by 3.3e-7 (train loss) and 7.6e-5 (test loss)
 * after 16 steps, float rounding of the same arithmetic (the ORT-vs-autodiff parity tests in
 * ort-trainer.test.ts and train-graph-kinds.test.ts bound one step).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../src-main/engine/backend';
import { trainRun } from '../../../src-main/host/step-engines';
import { DEFAULT_SETTINGS, type TrainSettings } from '../../../src-main/contract/settings';
import { loadDataset, type Dataset } from '../../../src-main/data/dataset';

let data: Dataset;
let backend = '';
beforeAll(async () => {
  backend = (await initBackend()).backend;
  data = await loadDataset('mnist-sample');
});

const cases: { o: Partial<TrainSettings>; m: [number, number, number, number] }[] = [
  { o: { engine: 'onnxruntime', dropout: 0.1, norm: 'batch' }, m: [2.1260687112808228, 0.236328125, 1.6857559717377528, 0.375] },
  { o: { engine: 'tfjs', dropout: 0.1, norm: 'ghost' }, m: [2.190861225128174, 0.2109375, 1.5471199750900269, 0.4609375] },
  { o: { engine: 'onnxruntime', dropout: 0, norm: 'none' }, m: [2.3072553128004074, 0.091796875, 2.2987752058659927, 0.1328125] },
];

describe('the s5 preset trains as the flat S5 list did', () => {
  for (const c of cases) {
    it(`${c.o.engine}, norm ${c.o.norm}, dropout ${c.o.dropout}: same epoch metrics`, async () => {
      const got: number[] = [];
      const r = await trainRun({ ...DEFAULT_SETTINGS, data: 'mnist-sample', epochs: 1, trainLimit: 512, testLimit: 256, valSplit: 0, batch: 32, lr: 0.1, ghostBatch: 8, ...c.o }, data, {
        onEpoch: (m) => { got.push(m.train_loss, m.train_acc, m.test_loss, m.test_acc); },
      });
      r.model.dispose();
      // Recorded on the wasm backend; other backends round differently.
      if (backend !== 'wasm') return;
      got.forEach((v, i) => expect(Math.abs(v - c.m[i])).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(c.m[i]))));
    });
  }
});
