/**
 * Every preset trains on real digits through trainRun (the `model` setting), and a model JSON
 * file is validated with errors that name the file, the node and the shape.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../src-main/engine/backend';
import { trainRun } from '../../../src-main/host/step-engines';
import { specForSettings } from '../../../src-main/engine/spec';
import { DEFAULT_SETTINGS, resolveSettings, type TrainSettings } from '../../../src-main/contract/settings';
import { MODEL_GRAPH_FORMAT, MODEL_PRESETS } from '../../../src-main/contract/model-graph';
import { loadDataset, type Dataset } from '../../../src-main/data/dataset';
import { countParams, presetGraph } from '../../../src-main/model';

let data: Dataset;
let dir: string;
beforeAll(async () => {
  await initBackend();
  data = await loadDataset('mnist-sample');
  dir = mkdtempSync(join(tmpdir(), 'normlab-model-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const settings = (o: Partial<TrainSettings>): TrainSettings => ({ ...DEFAULT_SETTINGS, data: 'mnist-sample', epochs: 1, trainLimit: 384, testLimit: 256, batch: 32, lr: 0.1, valSplit: 0, ...o });

describe('the model setting', () => {
  for (const model of MODEL_PRESETS) {
    it(`${model}: trains on real digits, loss falls, the run reports its parameter count`, async () => {
      const losses: number[] = [];
      const r = await trainRun(settings({ model, dropout: 0.1 }), data, { onProgress: (p) => losses.push(...(p.losses ?? []).map((l) => l[1])) }, undefined, undefined, { progressEveryMs: 0 });
      expect(r.status).toBe('done');
      expect(r.params).toBe(countParams(specForSettings(settings({ model, dropout: 0.1 }), [28, 28, 1], 10)));
      const head = losses.slice(0, 3).reduce((a, b) => a + b) / 3;
      const tail = losses.slice(-3).reduce((a, b) => a + b) / 3;
      expect(tail).toBeLessThan(head);
      expect(r.testLoss).toBeLessThan(Math.log(10));
      r.model.dispose();
    });
  }

  it('a model JSON file: loads, and bad ones name the file, node and shape', () => {
    const good = join(dir, 'good.json');
    writeFileSync(good, JSON.stringify(presetGraph('mlp', DEFAULT_SETTINGS)));
    expect(specForSettings(settings({ model: good, norm: 'none', dropout: 0 }), [28, 28, 1], 10).nodes.map((n) => n.name)).toEqual(['flatten', 'fc1', 'fc1_relu', 'fc2', 'fc2_relu', 'fc']);
    expect(() => specForSettings(settings({ model: good }), [32, 32, 3], 10)).toThrow(`model file ${good}: input is [28, 28, 1] but the dataset's images are [32, 32, 3]`);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ format: MODEL_GRAPH_FORMAT, name: 'bad', input: [28, 28, 1], classes: 10, nodes: [
      { name: 'c', op: 'conv2d', filters: 6, kernel: 3, inputs: ['input'] },
      { name: 'fc', op: 'dense', units: 10, inputs: ['c'] },
    ] }));
    expect(() => specForSettings(settings({ model: bad }), [28, 28, 1], 10)).toThrow(`model file ${bad}: node "fc" (inputs): dense needs a vector [units], got [26, 26, 6]: put flatten or gap before it`);
    expect(() => specForSettings(settings({ model: join(dir, 'none.json') }), [28, 28, 1], 10)).toThrow(/not found \(presets: s5, resnet-tiny, separable, mlp\)/);
    writeFileSync(bad, '{ nope');
    expect(() => specForSettings(settings({ model: bad }), [28, 28, 1], 10)).toThrow(/not valid JSON/);
    // Group norm is checked against the graph's channels, not the S5 net's.
    expect(() => specForSettings(settings({ model: 'resnet-tiny', norm: 'group', groups: 3 }), [28, 28, 1], 10)).toThrow(/node "stem_norm" \(inputs\): group norm: 3 groups do not divide the 8 channels of \[28, 28, 8\]/);
    expect(resolveSettings({ model: 'resnet-tiny', norm: 'group', groups: 3 }).ok).toBe(true);
    expect(resolveSettings({ norm: 'group', groups: 3 }).ok).toBe(false);
  });
});
