/**
 * Issue 16 item 6: every analysis works on any model. A short real run of resnet-tiny (residual
 * adds, a strided projection) and of separable (depthwise + pointwise convs) is trained with
 * the tfjs engine on an mnist-sample slice, then each analysis job runs on it and its numbers
 * are checked against an independent eval-mode forward pass (graph-forward.ts: plain tfjs ops,
 * not the engine's lowering):
 * - BN inspector: every BN node listed; one-pass population statistics = moments of the node's
 *   input; the recalibrated checkpoint is self-consistent at every BN node.
 * - Dropout ensemble: the weight-scaled network = the deterministic forward; one mask = one
 *   seeded MC pass.
 * - Landscape: the centre (α = β = 0) and the grid's middle = the loss of the checkpoint; the
 *   interpolation at α = 0 = the loss of the initial weights.
 * - Weights: the kernels are the graph's conv/dense kernels with summarize()'s counts.
 * - Misclassified: the wrong images are the ones the reference forward gets wrong.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../../src-main/engine/backend';
import { inspectRun, RECALIBRATED_TAG } from '../../../src-main/analysis/bn-inspect';
import { bnTimeline } from '../../../src-main/analysis/bn-timeline';
import { dropoutEnsemble, maskSeed, mcLogits } from '../../../src-main/analysis/dropout';
import { loadRunDataset, type Split } from '../../../src-main/data/dataset';
import { gatherBatch } from '../../../src-main/data/normalize';
import { buildModel } from '../../../src-main/engine/model';
import type { NamedWeights } from '../../../src-main/engine/model-types';
import { limitSplit } from '../../../src-main/engine/train';
import { dropoutJob } from '../../../src-main/host/jobs/dropout';
import { landscapeJob } from '../../../src-main/host/jobs/landscape';
import { misclassifiedJob } from '../../../src-main/host/jobs/misclassified';
import { weightsOf } from '../../../src-main/host/jobs/weights';
import { paramSpecs, summarize } from '../../../src-main/model';
import type { ResolvedGraph } from '../../../src-main/contract/model-graph';
import type { LandscapeReport } from '../../../src-main/contract/landscape';
import type { DropoutResult } from '../../../src-main/contract/dropout';
import type { Workspace } from '../../../src-main/store/workspace';
import { fakeCtx, trainedRun } from '../bn/helpers';
import { channelMoments, referenceForward } from './graph-forward';

const TRAIN = 400;
const TEST = 150;

interface Fixture {
  ws: Workspace;
  id: string;
  root: string;
  graph: ResolvedGraph;
  train: Split;
  test: Split;
}

/** Normalized images [0, n) of a split as one tensor. */
function batchOf(split: Split, n: number, norm: { mean: number[]; std: number[] }): tf.Tensor4D {
  const x = gatherBatch(split.images, Uint32Array.from({ length: n }, (_, i) => i), 0, n, 784, norm.mean, norm.std);
  return tf.tensor4d(x, [n, 28, 28, 1]);
}

/** Reference logits → softmax probabilities and mean cross-entropy of the first n images. */
function referenceEval(graph: ResolvedGraph, w: NamedWeights, split: Split, n: number, norm: { mean: number[]; std: number[] }) {
  const x = batchOf(split, n, norm);
  const values = referenceForward(graph, w, x);
  const out = values[graph.output ?? graph.nodes[graph.nodes.length - 1].name];
  const probs = tf.softmax(out as tf.Tensor2D).dataSync() as Float32Array;
  tf.dispose([x, ...Object.values(values)]);
  const classes = graph.classes;
  let loss = 0;
  const preds: number[] = [];
  for (let i = 0; i < n; i++) {
    let arg = 0;
    for (let k = 1; k < classes; k++) if (probs[i * classes + k] > probs[i * classes + arg]) arg = k;
    preds.push(arg);
    loss -= Math.log(probs[i * classes + split.labels[i]]);
  }
  return { probs, preds, loss: loss / n };
}

const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(1e-6, Math.abs(b));

beforeAll(async () => {
  await initBackend();
});

for (const preset of ['resnet-tiny', 'separable'] as const) {
  describe(`${preset}: every analysis on a trained run`, () => {
    let f: Fixture;
    beforeAll(async () => {
      const { ws, id, root } = await trainedRun({ model: preset, engine: 'tfjs', norm: 'batch', dropout: 0.1, trainLimit: TRAIN, testLimit: TEST, batch: 50, bnRecordEvery: 2 });
      const run = ws.getRun(id);
      const data = await loadRunDataset(run.settings, root);
      f = { ws, id, root, graph: run.model!, train: limitSplit(data.train, TRAIN, 784), test: limitSplit(data.test, TEST, 784) };
    }, 300_000);
    afterAll(() => f && rmSync(f.root, { recursive: true, force: true }));

    it('BN inspector: every BN node, population statistics = moments of each node\'s input, recalibration self-consistent', async () => {
      const norms = f.graph.nodes.filter((n) => n.op === 'norm').map((n) => n.name);
      expect(norms.length).toBeGreaterThanOrEqual(preset === 'resnet-tiny' ? 8 : 7);
      const timeline = bnTimeline(f.ws, f.id);
      expect(timeline.hasBn).toBe(true);
      expect(timeline.layers.map((l) => l.name)).toEqual(norms);
      for (const n of norms) expect(timeline.series[n].runningMean.length).toBeGreaterThan(0);

      const report = await inspectRun(f.ws, { id: f.id, recalibrate: true, limit: 200, testLimit: TEST, batchSizes: [1, 50] });
      expect(report.hasBn).toBe(true);
      expect(report.layers.map((l) => l.name)).toEqual(norms);
      expect(Object.keys(report.stats).sort()).toEqual([...norms].sort());

      // One pass (upstream running statistics): the moments of each node's input in the checkpoint's network.
      const last = f.ws.readCheckpoint(f.id, report.checkpoint)!;
      const x = batchOf(f.train, 200, last.normalization);
      let values = referenceForward(f.graph, last.weights, x);
      for (const name of norms) {
        const node = f.graph.nodes.find((n) => n.name === name)!;
        const ref = channelMoments(values[node.inputs[0]]);
        const got = report.stats[name].populationOnePass;
        expect(got.mean.length).toBe(ref.mean.length);
        ref.mean.forEach((m, c) => expect(Math.abs(got.mean[c] - m)).toBeLessThan(1e-4 * Math.max(1, Math.abs(m))));
        ref.var.forEach((v, c) => expect(rel(got.var[c], v)).toBeLessThan(1e-3));
      }
      tf.dispose(Object.values(values));

      // Sequential precise BN: in the recalibrated network every node's running statistics are the moments of its input.
      const recal = f.ws.readCheckpoint(f.id, RECALIBRATED_TAG)!;
      expect(recal).not.toBeNull();
      values = referenceForward(f.graph, recal.weights, x);
      for (const name of norms) {
        const node = f.graph.nodes.find((n) => n.name === name)!;
        const ref = channelMoments(values[node.inputs[0]]);
        const rm = recal.weights[`${name}/running_mean`].data;
        const rv = recal.weights[`${name}/running_var`].data;
        ref.mean.forEach((m, c) => expect(Math.abs(rm[c] - m)).toBeLessThan(1e-4 * Math.max(1, Math.abs(m))));
        ref.var.forEach((v, c) => expect(rel(rv[c], v)).toBeLessThan(1e-3));
        report.stats[name].population.mean.forEach((m, c) => expect(m).toBeCloseTo(rm[c], 6));
      }
      tf.dispose([x, ...Object.values(values)]);
      // Running-statistics accuracy = the reference forward's accuracy on the same test images.
      const ref = referenceEval(f.graph, last.weights, f.test, TEST, last.normalization);
      const refAcc = ref.preds.filter((p, i) => p === f.test.labels[i]).length / TEST;
      expect(report.accuracy[0].mode).toBe('running');
      expect(report.accuracy[0].acc).toBeCloseTo(refAcc, 10);
      expect(rel(report.accuracy[0].loss, ref.loss)).toBeLessThan(1e-4);
    }, 300_000);

    it('dropout ensemble: weight-scaled = the deterministic forward; one mask = one seeded MC pass', async () => {
      const r = (await dropoutJob({ runId: f.id, samples: 1, testLimit: TEST, seed: 5, checkpoint: 'last', gallery: 4 }, fakeCtx(f.root))) as Extract<DropoutResult, { status: 'ok' }>;
      expect(r.status).toBe('ok');
      expect(r.dropoutLayers).toEqual(f.graph.nodes.filter((n) => n.op === 'dropout').map((n) => ({ name: n.name, rate: 0.1 })));
      const last = f.ws.readCheckpoint(f.id, 'last')!;
      const ref = referenceEval(f.graph, last.weights, f.test, TEST, last.normalization);
      const refAcc = ref.preds.filter((p, i) => p === f.test.labels[i]).length / TEST;
      expect(r.weightScaled.acc).toBeCloseTo(refAcc, 10);
      expect(rel(r.weightScaled.loss, ref.loss)).toBeLessThan(1e-4);

      // K = 1: the ensemble's distribution is the softmax of one MC pass with mask seed (5, 0, batch 0).
      const model = buildModel(f.graph, 1);
      model.setWeights(last.weights);
      const out = await dropoutEnsemble(model, f.test, last.normalization, { samples: 1, seed: 5 });
      const x = batchOf(f.test, TEST, last.normalization);
      const mc = tf.tidy(() => tf.softmax(mcLogits(model, x, maskSeed(5, 0, 0))).dataSync() as Float32Array);
      let maxDiff = 0;
      for (let i = 0; i < mc.length; i++) maxDiff = Math.max(maxDiff, Math.abs(out!.stats.mean[i] - mc[i]));
      expect(maxDiff).toBeLessThan(1e-6);
      // …and the mask did something: the MC pass differs from the weight-scaled one.
      let moved = 0;
      for (let i = 0; i < mc.length; i++) moved = Math.max(moved, Math.abs(mc[i] - out!.weightScaled.probs[i]));
      expect(moved).toBeGreaterThan(1e-5);
      expect(out!.stats.curve[0].acc).toBe(r.curve[0].acc);
      x.dispose();
      model.dispose();
    }, 300_000);

    it('landscape: the centre and the grid middle are the checkpoint\'s loss; α = 0 is the initial weights\' loss', async () => {
      const r = (await landscapeJob(
        { runId: f.id, grid: 3, span: 0.5, evalLimit: 100, seed: 3, recomputeBn: false, trajectory: false, line: 5, checkpoint: 'last', engine: 'auto' },
        fakeCtx(f.root),
      )) as Extract<LandscapeReport, { status: 'ok' }>;
      expect(r.status).toBe('ok');
      const last = f.ws.readCheckpoint(f.id, 'last')!;
      const ref = referenceEval(f.graph, last.weights, f.test, 100, last.normalization);
      const tol = r.backend === 'onnxruntime' ? 1e-4 : 1e-5;
      expect(rel(r.centre.loss, ref.loss)).toBeLessThan(tol);
      expect(r.grid.xs[1]).toBe(0);
      expect(rel(r.grid.loss[4], r.centre.loss)).toBeLessThan(1e-6);
      expect(r.line!.alphas).toEqual([-0.5, 0, 0.5, 1, 1.5]);
      expect(rel(r.line!.loss[3], r.centre.loss)).toBeLessThan(1e-5);
      // No epoch-0 file: the job rebuilds the initial weights from the seed (fair seeds: name and seed only).
      const seeded = buildModel(f.graph, f.ws.getRun(f.id).settings.seed);
      const init = f.ws.readWeights(f.id, 'epoch-0') ?? seeded.getWeights();
      seeded.dispose();
      // The direction moves kernels, biases and γ/β; running statistics stay at the checkpoint's.
      const mixed: NamedWeights = { ...init };
      for (const k of Object.keys(last.weights)) if (/running_|\/count$/.test(k)) mixed[k] = last.weights[k];
      const refMixed = referenceEval(f.graph, mixed, f.test, 100, last.normalization);
      expect(rel(r.line!.loss[1], refMixed.loss)).toBeLessThan(tol * 10);
      expect(refMixed.loss).toBeGreaterThan(r.centre.loss);
      // Away from the minimum the loss rises somewhere on the grid.
      expect(Math.max(...r.grid.loss)).toBeGreaterThan(r.centre.loss);

      // BN statistics recomputed at every point: the centre then uses population statistics of a calibration batch.
      const rb = (await landscapeJob(
        { runId: f.id, grid: 2, span: 0.25, evalLimit: 50, seed: 3, recomputeBn: true, trajectory: false, line: 0, checkpoint: 'last', engine: 'auto' },
        fakeCtx(f.root),
      )) as Extract<LandscapeReport, { status: 'ok' }>;
      expect(rb.status).toBe('ok');
      expect(Number.isFinite(rb.centre.loss)).toBe(true);
    }, 300_000);

    it('weights: the graph\'s conv/dense kernels with summarize()\'s parameter counts', () => {
      const res = weightsOf(f.ws, { runIds: [f.id], checkpoint: 'best' });
      const rw = res.runs[0];
      const kernels = paramSpecs(f.graph).filter((p) => p.kind === 'kernel');
      expect(rw.layers.map((l) => l.name)).toEqual(kernels.map((k) => k.name));
      expect(rw.layers.map((l) => l.shape)).toEqual(kernels.map((k) => k.shape));
      const rows = new Map(summarize(f.graph).rows.map((r) => [r.node, r]));
      for (const l of rw.layers) {
        const node = f.graph.nodes.find((n) => `${n.name}/kernel` === l.name)!;
        const bias = 'bias' in node && node.bias ? (node.op === 'dense' ? node.units : (node as { filters: number }).filters) : 0;
        expect(l.count + bias).toBe(rows.get(node.name)!.params);
      }
      expect(rw.overall.count).toBe(kernels.reduce((s, k) => s + k.shape.reduce((a, b) => a * b, 1), 0));
      const ckpt = f.ws.readCheckpoint(f.id, rw.checkpoint!.tag)!;
      for (const l of rw.layers) {
        const d = ckpt.weights[l.name].data;
        expect(l.norm).toBeCloseTo(Math.sqrt(d.reduce((s, v) => s + v * v, 0)), 4);
      }
      // Norms over epochs name the same kernels.
      expect(Object.keys(rw.normsOverEpochs[0].norms).sort()).toEqual(kernels.map((k) => k.name).sort());
    });

    it('misclassified: exactly the images the reference forward gets wrong', async () => {
      const r = await misclassifiedJob({ runId: f.id, n: 10, checkpoint: 'last', testLimit: TEST }, fakeCtx(f.root));
      const last = f.ws.readCheckpoint(f.id, 'last')!;
      const ref = referenceEval(f.graph, last.weights, f.test, TEST, last.normalization);
      const wrong = ref.preds.flatMap((p, i) => (p === f.test.labels[i] ? [] : [i]));
      expect(r.evaluated).toBe(TEST);
      expect(r.wrong).toBe(wrong.length);
      expect(r.items.map((it) => it.index)).toEqual(wrong.slice(0, 10));
      for (const it of r.items) {
        expect(it.predicted).toBe(ref.preds[it.index]);
        expect(it.confidence).toBeCloseTo(ref.probs[it.index * 10 + it.predicted], 4);
      }
    }, 120_000);
  });
}
