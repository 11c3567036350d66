/**
 * A run of a graph that is not a chain (the residual preset: adds, a strided conv, a 1×1
 * projection) through the doors: trained by the train job, exported by `onnx.export` (which checks
 * parity with tfjs on real test images before it writes the file), folded and unfolded, then read
 * back by `normlab import-model` to the graph the run trained. In-process (the job table is called
 * directly), so no build is needed.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import type { RunRecord } from '../../../src-main/contract/api';
import type { ResolvedGraph } from '../../../src-main/contract/model-graph';
import { resolveSettings } from '../../../src-main/contract/settings';
import type { ExportResult } from '../../../src-main/contract/onnx';
import { main } from '../../../src-main/cli/main';
import { initBackend } from '../../../src-main/engine/backend';
import { JOBS } from '../../../src-main/host/jobs';
import type { JobContext } from '../../../src-main/host/protocol';
import { jobOutcome } from '../../../src-main/services/features';
import { onnxFeature } from '../../../src-main/services/onnx';
import { dispatch } from '../../../src-main/services/registry';
import { Workspace } from '../../../src-main/store/workspace';
import { canonical } from './kind-cases';

let root: string;
let ws: Workspace;
let run: RunRecord;
let call: (method: string, params: unknown) => Promise<unknown>;

function jobCtx(): JobContext {
  return { jobId: 'j', workspace: root, progress: () => {}, emit: () => {}, cancelled: () => false };
}

beforeAll(async () => {
  await initBackend();
  root = mkdtempSync(join(tmpdir(), 'normlab-export-any-'));
  ws = new Workspace(root);
  const s = resolveSettings({ data: 'mnist-sample', model: 'resnet-tiny', engine: 'tfjs', epochs: 1, trainLimit: 300, testLimit: 200, batch: 50, norm: 'batch', dropout: 0.1 });
  if (!s.ok) throw new Error('settings');
  run = ws.createRun(s.value);
  await JOBS.train({ runId: run.id, resume: false }, jobCtx());
  run = ws.getRun(run.id);
  const table = onnxFeature({ workspace: ws, host: null as never, emit: () => {}, runJob: async (kind, payload, meta) => jobOutcome(await JOBS[kind](payload, jobCtx()), meta.title) });
  call = (m, p) => dispatch(table, m, p);
}, 300_000);
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('a residual run exports and imports back', () => {
  test('onnx.export (unfolded and BN folded) passes its parity check on real MNIST test images', async () => {
    expect(run.status).toBe('done');
    for (const foldBn of [false, true]) {
      const r = (await call('onnx.export', { runId: run.id, name: `res-${foldBn}.onnx`, foldBn })) as ExportResult;
      expect(r.parity.ok).toBe(true);
      expect(r.parity.maxAbsDiffLogits).toBeLessThanOrEqual(1e-4);
      expect(r.audit.ops.Add).toBe(3);
      expect(r.audit.ops.BatchNormalization ?? 0).toBe(foldBn ? 0 : 8);
      expect(r.audit.dropoutRemoved).toEqual(['drop']);
    }
  });

  test('normlab import-model reads the export back to the graph the run trained', async () => {
    const out = join(root, 'back.json');
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      expect(await main(['import-model', join(ws.exportsDir(run.id), 'res-false.onnx'), '--norm', 'keep', '--out', out])).toBe(0);
    } finally {
      vi.restoreAllMocks();
    }
    const back = JSON.parse(readFileSync(out, 'utf8')) as ResolvedGraph;
    expect(canonical(back)).toEqual(canonical(run.model!));
    expect(back.weights).toBe('back.weights');
  });
});
