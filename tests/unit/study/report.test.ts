/**
 * The S6 study end to end in one process: the study service starts four real runs (2 epochs on
 * a slice of the embedded MNIST digits) through its 'runs.start' path, the jobs run in-process,
 * and the report folder is checked against the store: accuracies, galleries (re-evaluated),
 * PNG sizes, CSV rows.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { decode } from 'fast-png';
import type { JobInfo, RunRecord } from '../../../src-main/contract/api';
import type { CompareResult, MisclassifiedResult, StudyDetail, StudyStartResult, WeightsResult } from '../../../src-main/contract/study';
import { resolveSettings } from '../../../src-main/contract/settings';
import { initBackend } from '../../../src-main/engine/backend';
import { buildModel } from '../../../src-main/engine/model';
import { s5Spec } from '../../../src-main/engine/spec';
import { evaluate, limitSplit } from '../../../src-main/engine/train';
import { loadDataset } from '../../../src-main/data/dataset';
import { Workspace } from '../../../src-main/store/workspace';
import { trainJob } from '../../../src-main/host/jobs/train';
import { misclassifiedJob } from '../../../src-main/host/jobs/misclassified';
import { weightsJob } from '../../../src-main/host/jobs/weights';
import type { JobContext } from '../../../src-main/host/protocol';
import { studyFeature } from '../../../src-main/services/study';
import type { ServiceContext } from '../../../src-main/services/features';
import { dispatch, type MethodTable } from '../../../src-main/services/registry';
import { writeReport } from '../../../src-main/analysis/report';
import { galleryLayout } from '../../../src-main/analysis/gallery';
import { PALETTE } from '../../../src-main/contract/colors';

const EPOCHS = 2;
let dir: string;
let ws: Workspace;
let table: MethodTable;
let started: StudyStartResult;
let compare: CompareResult;
let gal: MisclassifiedResult[];
let weights: WeightsResult;
const out = () => join(dir, 'report');

function jobCtx(): JobContext {
  return { jobId: 'test', workspace: dir, progress: () => undefined, emit: () => undefined, cancelled: () => false };
}

beforeAll(async () => {
  await initBackend(process.env.NORMLAB_BACKEND ?? 'wasm');
  dir = mkdtempSync(join(tmpdir(), 'normlab-study-'));
  ws = new Workspace(dir, { warn: () => undefined });
  const trainQueue: string[] = [];
  const ctx: ServiceContext = {
    workspace: ws,
    host: { jobForRun: () => undefined } as unknown as ServiceContext['host'],
    emit: () => undefined,
    async runJob(kind, payload) {
      if (kind === 'misclassified') return (await misclassifiedJob(payload as never, jobCtx())) as never;
      if (kind === 'weights') return (await weightsJob(payload as never, jobCtx())) as never;
      throw new Error(`unexpected job ${kind}`);
    },
    // The real 'runs.start' validates, creates the run and queues training; here training runs after.
    async call(method, params) {
      expect(method).toBe('runs.start');
      const p = params as { settings: Record<string, unknown>; study: string };
      const r = resolveSettings(p.settings);
      if (!r.ok) throw new Error(r.issues.map((i) => i.message).join('; '));
      const run = ws.createRun(r.value, { study: p.study, name: r.value.name });
      trainQueue.push(run.id);
      return { run, job: { id: run.id, kind: 'train', title: run.name, state: 'queued' } as JobInfo };
    },
  };
  table = studyFeature(ctx);
  started = (await dispatch(table, 'study.start', {
    preset: 's6',
    overrides: { data: 'mnist-sample', epochs: EPOCHS, trainLimit: 600, testLimit: 300 },
    // Larger than the defaults so that two short epochs already show the effect.
    params: { l1: 1e-3, l2: 5e-3 },
  })) as StudyStartResult;
  for (const id of trainQueue) await trainJob({ runId: id, resume: false }, jobCtx());
  const ids = started.runs.map((r) => r.id);
  compare = (await dispatch(table, 'runs.compare', { runIds: ids })) as CompareResult;
  const l1 = started.runs.find((r) => r.settings.l1 > 0 && r.settings.l2 === 0)!;
  const l2 = started.runs.find((r) => r.settings.l2 > 0 && r.settings.l1 === 0)!;
  gal = [];
  for (const r of [l1, l2]) gal.push((await dispatch(table, 'analysis.misclassified', { runId: r.id })) as MisclassifiedResult);
  weights = (await dispatch(table, 'analysis.weights', { runIds: ids })) as WeightsResult;
  writeReport(out(), { title: 'S6 test', preset: 's6', study: started.study, compare, misclassified: gal, weights });
}, 600_000);

afterAll(() => {
  // NORMLAB_KEEP_REPORT=DIR keeps the generated report for a person to look at.
  if (dir && process.env.NORMLAB_KEEP_REPORT) cpSync(out(), process.env.NORMLAB_KEEP_REPORT, { recursive: true });
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('s6 study through the services', () => {
  it('creates a study of four runs (none, L1, L2, L1+L2) that can be reopened', async () => {
    expect(started.runs.map((r) => [r.settings.l1, r.settings.l2])).toEqual([[0, 0], [1e-3, 0], [0, 5e-3], [1e-3, 5e-3]]);
    const detail = (await dispatch(table, 'study.get', { id: started.study.id })) as StudyDetail;
    expect(detail.runs.map((r) => r.id)).toEqual(started.runs.map((r) => r.id));
    expect(detail.runs.every((r: RunRecord) => r.study === started.study.id && r.status === 'done')).toBe(true);
    expect(detail.groups).toHaveLength(4);
    expect(detail.study.preset).toBe('s6');
  });

  it('extends the study with a second seed without repeating the first', async () => {
    const ext = (await dispatch(table, 'study.start', {
      preset: 's6', studyId: started.study.id, seeds: 2, variants: ['none'],
      overrides: { data: 'mnist-sample', epochs: EPOCHS, trainLimit: 600, testLimit: 300 }, params: { l1: 1e-3, l2: 5e-3 },
    })) as StudyStartResult;
    // Seed 1 of 'none' exists already (same settings apart from the name): only seed 2 is new.
    expect(ext.runs.map((r) => r.settings.seed)).toEqual([2]);
    expect(ext.study.runIds).toHaveLength(5);
    const detail = (await dispatch(table, 'study.get', { id: started.study.id })) as StudyDetail;
    expect(detail.groups).toHaveLength(4);
    expect(detail.groups[0].runIds).toHaveLength(2);
    for (const r of ext.runs) ws.deleteRun(r.id);
  });

  it('report.json accuracies equal the runs\' stored metrics', () => {
    const report = JSON.parse(readFileSync(join(out(), 'report.json'), 'utf8'));
    expect(report.runs).toHaveLength(4);
    for (const r of report.runs) {
      const metrics = ws.readMetrics(r.id);
      expect(metrics).toHaveLength(EPOCHS);
      expect(r.metrics.map((m: { test_acc: number }) => m.test_acc)).toEqual(metrics.map((m) => m.test_acc));
      expect(r.summary.finalTestAcc).toBe(metrics.at(-1)!.test_acc);
      expect(r.summary.bestTestAcc).toBe(Math.max(...metrics.map((m) => m.test_acc)));
    }
    expect(report.runs.map((r: { variant: string }) => r.variant)).toEqual(['none', 'l1', 'l2', 'l1l2']);
    expect(report.explanation.length).toBeGreaterThanOrEqual(4);
    // The explanation quotes this study's measured numbers.
    const none = report.runs[0].summary.finalTestAcc;
    expect(report.explanation[0]).toContain(`${(100 * none).toFixed(2)}%`);
  });

  it('the galleries list 25 images that really are misclassified', async () => {
    const data = await loadDataset('mnist-sample');
    for (const m of gal) {
      expect(m.items).toHaveLength(25);
      const run = ws.getRun(m.runId);
      const state = ws.readCheckpoint(m.runId, m.checkpoint.tag)!;
      const model = buildModel(s5Spec(run.settings, [28, 28, 1], 10), run.settings.seed);
      model.setWeights(state.weights);
      const test = limitSplit(data.test, 300, 784);
      const idx = m.items.map((it) => it.index);
      // Evaluated as the job does (the whole limited test split in one batch): a barely trained
      // model's near-tied logits can flip between batch compositions.
      const full = evaluate(model, test, state.normalization);
      model.dispose();
      m.items.forEach((it) => {
        expect(it.actual).toBe(test.labels[it.index]);
        expect(it.predicted).toBe(full.preds[it.index]);
        expect(it.predicted).not.toBe(it.actual);
        expect(it.actualName).toBe(String(it.actual));
        expect(it.confidence).toBeCloseTo(full.probs[it.index * 10 + it.predicted], 5);
        expect(Buffer.from(it.pixels, 'base64')).toEqual(Buffer.from(test.images.subarray(it.index * 784, (it.index + 1) * 784)));
      });
      // "first N": no earlier index is misclassified and skipped.
      const firstWrong = [...full.preds].map((p, i) => (p !== test.labels[i] ? i : -1)).filter((i) => i >= 0).slice(0, 25);
      expect(idx).toEqual(firstWrong);
      expect(m.wrong).toBe(Math.round((1 - full.acc) * 300));
    }
    expect(tf.memory().numTensors).toBeLessThan(200);
  });

  it('writes the report files with the right image sizes', () => {
    for (const f of ['index.html', 'report.json', 'metrics.csv', 'val_accuracy.png', 'val_accuracy.svg', 'val_loss.png', 'val_loss.svg', 'misclassified_l1.png', 'misclassified_l2.png', 'weights_histograms.png', 'weights_histograms.svg', 'sparsity.png']) {
      expect(existsSync(join(out(), f)), f).toBe(true);
    }
    const g = decode(readFileSync(join(out(), 'misclassified_l1.png')));
    const L = galleryLayout(25);
    expect([g.width, g.height]).toEqual([L.width, L.height]);
    expect([L.cols, L.rows]).toEqual([5, 5]);
    const chart = decode(readFileSync(join(out(), 'val_accuracy.png')));
    const svg = readFileSync(join(out(), 'val_accuracy.svg'), 'utf8');
    const [, w, h] = /width="(\d+)" height="(\d+)"/.exec(svg)!;
    expect([chart.width, chart.height]).toEqual([Number(w), Number(h)]);
    expect(svg).toContain('validation accuracy (%)');
    expect(svg).toContain('>epoch<');
    for (const label of ['no L1/L2', 'L1 (λ=0.001)', 'L2 (λ=0.005)']) expect(svg).toContain(label);
    // The colour rule of the views: variants in study order take the palette's first four colours.
    const strokes = [...svg.matchAll(/<path d="M[^"]*" fill="none" stroke="(#[0-9a-f]{6})"/g)].map((m) => m[1]);
    expect(strokes).toEqual([...PALETTE.slice(0, 4)]);
    expect(svg).toContain('Raw values per epoch (not smoothed)');
    const html = readFileSync(join(out(), 'index.html'), 'utf8');
    // A run's name is not repeated in front of a note that starts with it.
    expect(html.replace(/<[^>]+>/g, '')).not.toMatch(/(L[12] \(λ=[\d.]+\)): \1/);
    expect(html).toContain('L1 (λ=0.001): a constant pull');
    expect(html).toContain('src="val_accuracy.png"');
    expect(html).not.toMatch(/(src|href)="(https?:|\/)/);
    const csv = readFileSync(join(out(), 'metrics.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe('run_id,run,variant,seed,epoch,train_loss,train_acc,test_loss,test_acc,lr,sparsity,seconds');
    expect(csv).toHaveLength(1 + 4 * EPOCHS);
  });

  it('weights: L1 makes more near-zero weights than no regularization; sparsity matches the metrics', () => {
    const [none, l1] = weights.runs;
    expect(l1.overall.sparsity['1e-3']).toBeGreaterThan(none.overall.sparsity['1e-3']);
    // metrics.jsonl records the same |w| < 1e-3 share after the last epoch.
    for (const r of weights.runs) expect(r.overall.sparsity['1e-3']).toBeCloseTo(ws.readMetrics(r.runId).at(-1)!.sparsity, 6);
    const h = l1.overall.hist;
    expect(h.counts.reduce((a, b) => a + b, 0) + h.zeros).toBe(h.total);
    expect(l1.layers.map((l) => l.name)).toContain('conv1/kernel');
  });
});
