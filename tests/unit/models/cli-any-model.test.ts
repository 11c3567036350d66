/**
 * Through the built `normlab` command:
 * - issue 17 leftover: `bn --recalibrate` writes checkpoint `recalibrated`, and `export
 *   --checkpoint recalibrated` exports it: onnxruntime's logits are the recalibrated network's
 *   (checked against an independent forward with the recalibrated statistics, and unlike the
 *   logits with the trained running statistics);
 * - `study --model M --val-split F`: every run of the study trains M with that validation split;
 *   a study the model cannot tell apart is refused before any run exists;
 * - validation vs test named for what they are in the CLI tables (valSplit 0 → "=test").
 */
import { afterAll, describe, expect, it } from 'vitest';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as ort from 'onnxruntime-node';
import { cli, jsonLines, notBuilt, tempDir } from '../runs/helpers';
import { Workspace } from '../../../src-main/store/workspace';
import { loadDataset } from '../../../src-main/data/dataset';
import { gatherBatch } from '../../../src-main/data/normalize';
import { initBackend } from '../../../src-main/engine/backend';
import { MODEL_GRAPH_FORMAT } from '../../../src-main/contract/model-graph';
import type { BnReport } from '../../../src-main/contract/bn';
import type { CompareRow } from '../../../src-main/contract/study';
import { referenceForward } from './graph-forward';

const missing = notBuilt();
const tmp = tempDir('anymodel-cli');
afterAll(() => tmp.cleanup());
const ws = join(tmp.dir, 'ws');

describe.skipIf(missing)(`any model through the CLI${missing ? ` (skipped: ${missing})` : ''}`, () => {
  it('bn --recalibrate, then export --checkpoint recalibrated: onnxruntime computes the recalibrated network', async () => {
    const t = await cli(['train', '--data', 'mnist-sample', '--epochs', '1', '--train-limit', '400', '--test-limit', '200', '--batch', '50', '--val-split', '0', '--workspace', ws, '--init', '--json']);
    expect(t.code, t.stderr).toBe(0);
    const runId = jsonLines(t.stdout).at(-1)!.run_id as string;
    const bn = await cli(['bn', runId, '--recalibrate', '--test-limit', '200', '--json', '--workspace', ws]);
    expect(bn.code, bn.stderr).toBe(0);
    expect((JSON.parse(bn.stdout) as BnReport).recalibrated!.checkpoint).toBe('recalibrated');
    const file = join(tmp.dir, 'recal.onnx');
    const ex = await cli(['export', runId, '--checkpoint', 'recalibrated', '--out', file, '--json', '--workspace', ws]);
    expect(ex.code, ex.stderr).toBe(0);
    const rep = JSON.parse(ex.stdout) as { checkpoint: string; parity: { maxAbsDiff: number } };
    expect(rep.checkpoint).toBe('recalibrated');

    const store = new Workspace(ws, { warn: () => {} });
    const run = store.getRun(runId);
    const recal = store.readCheckpoint(runId, 'recalibrated')!;
    const last = store.readCheckpoint(runId, 'last')!;
    const moved = Math.max(...Array.from(recal.weights['norm3/running_var'].data, (v, c) => Math.abs(v - last.weights['norm3/running_var'].data[c])));
    expect(moved).toBeGreaterThan(1e-4);

    await initBackend();
    const data = await loadDataset('mnist-sample');
    const n = 64;
    const x = gatherBatch(data.test.images, Uint32Array.from({ length: n }, (_, i) => i), 0, n, 784, recal.normalization.mean, recal.normalization.std);
    const session = await ort.InferenceSession.create(file);
    // The export takes NCHW; one grey channel makes NHWC and NCHW the same bytes.
    const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', Float32Array.from(x), [n, 1, 28, 28]) };
    expect(session.outputNames).toContain('logits');
    const got = (await session.run(feeds)).logits.data as Float32Array;
    const logits = (w: typeof recal.weights) => {
      const xt = tf.tensor4d(x, [n, 28, 28, 1]);
      const v = referenceForward(run.model!, w, xt);
      const out = Float32Array.from(v.fc.dataSync());
      tf.dispose([xt, ...Object.values(v)]);
      return out;
    };
    const want = logits(recal.weights);
    const before = logits(last.weights);
    let err = 0;
    let gap = 0;
    for (let i = 0; i < want.length; i++) {
      err = Math.max(err, Math.abs(got[i] - want[i]));
      gap = Math.max(gap, Math.abs(got[i] - before[i]));
    }
    expect(err).toBeLessThan(1e-4);
    expect(gap).toBeGreaterThan(100 * err);

    // valSplit 0: the tables say the validation numbers are the test split's.
    const runs = await cli(['runs', '--workspace', ws]);
    expect(runs.stdout).toMatch(/\(=test\)/);
    const cmp = await cli(['compare', runId, '--workspace', ws]);
    expect(cmp.stdout).toContain('val(=test) final');
    expect(cmp.stdout).not.toMatch(/ val final/);
  }, 600_000);

  it('study --model resnet-tiny --val-split 0.2: every run trains that model with a held-out validation split', async () => {
    const outDir = join(tmp.dir, 'report');
    const r = await cli(['study', 's6', '--model', 'resnet-tiny', '--val-split', '0.2', '--data', 'mnist-sample', '--epochs', '1', '--train-limit', '200',
      '--test-limit', '100', '--batch', '50', '--out', outDir, '--workspace', ws, '--json', '--parallel', '2'], 600_000);
    expect(r.code, r.stderr).toBe(0);
    const summary = jsonLines(r.stdout).at(-1) as { study_id: string; runs: CompareRow[] };
    expect(summary.runs).toHaveLength(4);
    const store = new Workspace(ws, { warn: () => {} });
    for (const row of summary.runs) {
      expect(row.valSource).toBe('held-out');
      const run = store.getRun(row.runId);
      expect(run.settings.model).toBe('resnet-tiny');
      expect(run.settings.valSplit).toBe(0.2);
      expect(run.model!.name).toBe('resnet-tiny');
      expect(run.model!.nodes.some((n) => n.op === 'add')).toBe(true);
      expect(run.splits).toMatchObject({ train: 160, val: 40, test: 100, valIsTest: false });
      const m = store.readMetrics(row.runId);
      expect(m[0].val_is_test).not.toBe(true);
      expect(m[0].val_loss).toBeGreaterThan(0);
    }
    const cmp = await cli(['compare', ...summary.runs.map((x) => x.runId), '--workspace', ws]);
    expect(cmp.stdout).toContain(' val final');
    expect(cmp.stdout).not.toContain('=test');
  }, 600_000);

  it('study norms on a model without norm nodes is refused before any run exists', async () => {
    const file = join(tmp.dir, 'plain.json');
    writeFileSync(file, JSON.stringify({ format: MODEL_GRAPH_FORMAT, name: 'plain', input: [28, 28, 1], classes: 10, nodes: [
      { name: 'c1', op: 'conv2d', filters: 4, kernel: 3, inputs: ['input'] },
      { name: 'r1', op: 'relu', inputs: ['c1'] },
      { name: 'gap', op: 'gap', inputs: ['r1'] },
      { name: 'fc', op: 'dense', units: 10, inputs: ['gap'] },
    ] }));
    const empty = join(tmp.dir, 'ws-empty');
    const r = await cli(['study', 'norms', '--model', file, '--data', 'mnist-sample', '--epochs', '1', '--out', join(tmp.dir, 'r2'), '--workspace', empty, '--init']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`study norms: every variant would train the same network, because model ${file} has no node that follows norm`);
    let runs: string[] = [];
    try {
      runs = readdirSync(join(empty, 'runs'));
    } catch {
      /* no runs folder: nothing was created */
    }
    expect(runs).toEqual([]);
  }, 120_000);
});
