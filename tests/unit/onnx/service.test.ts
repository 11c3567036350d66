/**
 * The ONNX services and worker jobs end to end, in-process: a run trained on real MNIST digits
 * (the train job itself), exported through `onnx.export` (the export job), listed, downloaded,
 * inferred on the sample and benchmarked. The worker's job table is called directly instead of
 * through a worker thread, so no build is needed.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ApiError, type RunRecord } from '../../../src-main/contract/api';
import { resolveSettings } from '../../../src-main/contract/settings';
import type { ExportResult, InferBenchResult, InferResult } from '../../../src-main/contract/onnx';
import { initBackend } from '../../../src-main/engine/backend';
import { JOBS } from '../../../src-main/host/jobs';
import { jobOutcome } from '../../../src-main/services/features';
import type { JobContext } from '../../../src-main/host/protocol';
import { onnxFeature, setRevealHandler } from '../../../src-main/services/onnx';
import { dispatch } from '../../../src-main/services/registry';
import { Workspace } from '../../../src-main/store/workspace';
import { readOnnxInfo } from '../../../src-main/onnx/export';

let root: string;
let ws: Workspace;
let run: RunRecord;
let call: (method: string, params: unknown) => Promise<unknown>;
const progress: number[] = [];

function jobCtx(): JobContext {
  return { jobId: 'j', workspace: root, progress: (p) => progress.push(p.fraction), emit: () => {}, cancelled: () => false };
}

beforeAll(async () => {
  await initBackend();
  root = mkdtempSync(join(tmpdir(), 'normlab-onnx-svc-'));
  ws = new Workspace(root);
  const s = resolveSettings({ data: 'mnist-sample', epochs: 1, trainLimit: 600, testLimit: 200, batch: 50, norm: 'batch', dropout: 0.05 });
  if (!s.ok) throw new Error('settings');
  run = ws.createRun(s.value);
  await JOBS.train({ runId: run.id, resume: false }, jobCtx());
  run = ws.getRun(run.id);
  const table = onnxFeature({
    workspace: ws,
    host: null as never,
    emit: () => {},
    runJob: async (kind, payload, meta) => jobOutcome(await JOBS[kind](payload, jobCtx()), meta.title),
  });
  call = (m, p) => dispatch(table, m, p);
});
afterAll(() => {
  setRevealHandler(null);
  rmSync(root, { recursive: true, force: true });
});

describe('onnx services', () => {
  let exported: ExportResult;

  test('onnx.export writes the file under its name in the run\'s exports/, with FILE.onnx.json holding the parity check', async () => {
    expect(run.status).toBe('done');
    const out = join(ws.exportsDir(run.id), 'model.onnx');
    progress.length = 0;
    exported = (await call('onnx.export', { runId: run.id, name: 'model.onnx', foldBn: true })) as ExportResult;
    expect(exported.file).toBe(out);
    expect(exported.checkpoint).toBe('best');
    expect(exported.epoch).toBe(1);
    expect(exported.parity.ok).toBe(true);
    expect(exported.parity.images).toBe(512);
    expect(exported.parity.maxAbsDiff).toBeLessThanOrEqual(1e-4);
    expect(exported.audit.bnFolded).toBe(true);
    expect(progress.at(-1)).toBe(1);
    const report = JSON.parse(readFileSync(`${out}.json`, 'utf8')) as ExportResult;
    expect(report.parity).toEqual(exported.parity);
    expect(existsSync(join(ws.exportsDir(run.id), 'model.onnx.json'))).toBe(true);
    const info = readOnnxInfo(readFileSync(out));
    expect(info.metadata.run_id).toBe(run.id);
    expect(info.metadata.dataset).toBe('mnist-sample');
    expect(JSON.parse(info.metadata.class_names)).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    expect(info.metadata.checkpoint).toBe('best');
    expect(JSON.parse(info.metadata.settings).norm).toBe('batch');
    const ckpt = ws.readCheckpoint(run.id, 'best')!;
    expect(JSON.parse(info.metadata.mean)).toEqual(ckpt.normalization.mean);
    expect(info.metadata.bn_folded).toBe('true');
  });

  test('onnx.exports lists it; onnx.download returns the same bytes; onnx.reveal answers with the path', async () => {
    const second = (await call('onnx.export', { runId: run.id, bakeNormalization: true, checkpoint: 'last' })) as ExportResult;
    expect(second.file).toBe(join(ws.exportsDir(run.id), `${run.id}-last-baked-opset17.onnx`));
    const list = (await call('onnx.exports', { runId: run.id })) as ExportResult[];
    expect(list.map((e) => e.name).sort()).toEqual([second.name, 'model.onnx'].sort());
    const dl = (await call('onnx.download', { runId: run.id, name: 'model.onnx' })) as { base64: string; bytes: number };
    expect(Buffer.from(dl.base64, 'base64').equals(readFileSync(exported.file))).toBe(true);
    expect(await call('onnx.reveal', { runId: run.id, name: 'model.onnx' })).toEqual({ revealed: false, path: exported.file });
    const shown: string[] = [];
    setRevealHandler((p) => shown.push(p));
    expect(await call('onnx.reveal', { runId: run.id, name: 'model.onnx' })).toEqual({ revealed: true, path: exported.file });
    expect(shown).toEqual([exported.file]);
    await expect(call('onnx.download', { runId: run.id, name: '../run.json' })).rejects.toThrow(/name: an export file name ending in \.onnx/);
    await expect(call('onnx.download', { runId: run.id, name: 'nope.onnx' })).rejects.toThrow(`run ${run.id} has no export named nope.onnx`);
  });

  test('onnx.infer on the sample reproduces the run\'s test accuracy (metadata mean/std and baked alike)', async () => {
    const metrics = ws.readMetrics(run.id);
    for (const file of [exported.file, join(ws.exportsDir(run.id), `${run.id}-last-baked-opset17.onnx`)]) {
      const r = (await call('onnx.infer', { file, data: 'mnist-sample', limit: 200 })) as InferResult;
      expect(r.images).toBe(200);
      expect(r.accuracy).toBeCloseTo(metrics[0].test_acc, 6);
      expect(r.loss).toBeCloseTo(metrics[0].test_loss, 3);
      expect(r.imagesPerSecond).toBeGreaterThan(0);
      expect(r.normalization).toBe(file === exported.file ? 'metadata' : 'baked');
    }
  });

  test('onnx.infer on a corrupt file or a mismatched dataset gives a clear error', async () => {
    const bad = join(root, 'corrupt.onnx');
    writeFileSync(bad, readFileSync(exported.file).subarray(0, 300));
    const err = await call('onnx.infer', { file: bad, data: 'mnist-sample' }).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).message).toMatch(new RegExp(`^${bad.replace(/[.]/g, '\\.')} is not a valid ONNX model: `));
    await expect(call('onnx.infer', { file: join(root, 'missing.onnx'), data: 'mnist-sample' })).rejects.toThrow(/missing\.onnx: file not found/);
  });

  test('onnx.bench: tfjs, ORT with BN and ORT with BN folded, threads 1 and 2', async () => {
    const r = (await call('onnx.bench', { runId: run.id, images: 256 })) as InferBenchResult;
    expect(r.batch).toBe(128);
    expect(r.rows.map((x) => `${x.engine}/${x.threads}`)).toEqual(['tfjs/null', 'ort/1', 'ort/2', 'ort-folded/1', 'ort-folded/2']);
    for (const x of r.rows) {
      expect(x.imagesPerSecond).toBeGreaterThan(0);
      expect(x.imagesPerSecond * x.msPerBatch).toBeCloseTo(128 * 1000, 3);
    }
  });

  test('bad requests are refused with the field named', async () => {
    await expect(call('onnx.export', { runId: run.id, opset: 9 })).rejects.toThrow(/opset/);
    // A door names a file, never a path: the export lands in the run's exports/ folder.
    await expect(call('onnx.export', { runId: run.id, out: '/tmp/x.onnx' })).rejects.toThrow(/out/);
    await expect(call('onnx.export', { runId: run.id, name: '../../x.onnx' })).rejects.toThrow(/name/);
    await expect(call('onnx.export', { runId: run.id, name: 'x.txt' })).rejects.toThrow(/name/);
    await expect(call('onnx.export', { runId: 'no-such-run' })).rejects.toThrow(/no-such-run/);
  });
});
