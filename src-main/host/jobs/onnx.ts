/**
 * Worker jobs for ONNX: export a run's checkpoint (verified against the tfjs model on real test
 * images before it is written), and the inference benchmark (tfjs predict vs onnxruntime-node).
 */
import type { CheckpointTag } from '../../contract/checkpoint';
import { basename, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { Tensor as OrtTensor } from 'onnxruntime-node';
import type { ExportResult, InferBenchResult, InferBenchRow } from '../../contract/onnx';
import type { RunRecord } from '../../contract/api';
import { loadRunDataset, type Dataset } from '../../data/dataset';
import { backendInfo } from '../../engine/backend';
import { buildModel, type Model } from '../../engine/model';
import type { TrainState } from '../../engine/model-types';
import { specForSettings } from '../../engine/spec';
import { exportOnnx, DEFAULT_OPSET } from '../../onnx/export';
import { openSession, prepareInputs, verifyExport } from '../../onnx/runtime';
import { nodeFileLayer } from '../../store/file-layer';
import { Workspace } from '../../store/workspace';
import { normlabVersion } from '../versions';
import type { JobContext } from '../protocol';

export interface ExportJobPayload {
  runId: string;
  /** File name (no path) in the run's exports/ folder; default from the options. */
  name?: string;
  foldBn?: boolean;
  opset?: number;
  bakeNormalization?: boolean;
  checkpoint?: CheckpointTag;
}

export interface BenchJobPayload {
  runId: string;
  batch?: number;
  images?: number;
}

/** Real test images used by the parity check. */
const PARITY_IMAGES = 512;

const tick = () => new Promise<void>((r) => setImmediate(r));

class Cancelled extends Error {}

function cancelled(ctx: JobContext): void {
  if (ctx.cancelled()) throw new Cancelled('cancelled');
}

/** A cancelled job answers { status: 'cancelled' }, which the host and services treat as a clean cancel. */
function cancellable<P, R>(fn: (p: P, ctx: JobContext) => Promise<R>): (p: P, ctx: JobContext) => Promise<R | { status: 'cancelled' }> {
  return async (p, ctx) => {
    try {
      return await fn(p, ctx);
    } catch (e) {
      if (e instanceof Cancelled) return { status: 'cancelled' };
      throw e;
    }
  };
}

interface Loaded {
  ws: Workspace;
  run: RunRecord;
  data: Dataset;
  state: TrainState;
  tag: CheckpointTag;
  model: Model;
}

/** The run's checkpoint ('best' when it has one, else 'last') in a tfjs model, and its dataset. */
async function loadRunModel(workspace: string, runId: string, want?: CheckpointTag): Promise<Loaded> {
  const ws = new Workspace(workspace);
  const run = ws.getRun(runId);
  let tag: CheckpointTag = want ?? 'best';
  let state = ws.readCheckpoint(runId, tag);
  if (!state && (want === undefined || want === 'best')) {
    tag = 'last';
    state = ws.readCheckpoint(runId, tag);
  }
  if (!state) throw new Error(`run ${runId} has no ${want ?? 'best or last'} checkpoint yet; train at least one epoch first`);
  const data = await loadRunDataset(run.settings, workspace);
  const spec = run.model ?? specForSettings(run.settings, [data.info.height, data.info.width, data.info.channels], data.info.classNames.length);
  const model = buildModel(spec, run.settings.seed);
  try {
    model.setWeights(state.weights);
  } catch (e) {
    model.dispose();
    throw new Error(`run ${runId}: checkpoint ${tag} does not fit the run's model: ${(e as Error).message}`);
  }
  return { ws, run, data, state, tag, model };
}

function settingsSummary(run: RunRecord): string {
  const s = run.settings;
  return JSON.stringify({
    norm: s.norm, bnPosition: s.bnPosition, bnConvention: s.bnConvention, bnMomentum: s.bnMomentum, bnEps: s.bnEps,
    dropout: s.dropout, l1: s.l1, l2: s.l2, weightDecay: s.weightDecay, optimizer: s.optimizer, lr: s.lr, batch: s.batch,
    epochs: s.epochs, seed: s.seed, ...(s.norm === 'ghost' ? { ghostBatch: s.ghostBatch } : {}), ...(s.norm === 'group' ? { groups: s.groups } : {}),
  });
}

/** Exports a run to ONNX, checks parity on real test images, and stores file + report. */
async function exportRun(p: ExportJobPayload, ctx: JobContext): Promise<ExportResult> {
  ctx.progress({ fraction: 0.05, message: 'loading checkpoint and dataset' });
  const { ws, run, data, state, tag, model } = await loadRunModel(ctx.workspace, p.runId, p.checkpoint);
  try {
    cancelled(ctx);
    const foldBn = p.foldBn ?? false;
    const bake = p.bakeNormalization ?? false;
    const opset = p.opset ?? DEFAULT_OPSET;
    const norm = state.normalization;
    ctx.progress({ fraction: 0.25, message: 'building the ONNX graph' });
    await tick();
    const { bytes, audit } = exportOnnx(model.spec, state.weights, {
      foldBn,
      opset,
      normalization: bake ? norm : null,
      metadata: {
        dataset: data.info.name,
        dataset_source: data.info.source,
        class_names: JSON.stringify(data.info.classNames),
        mean: JSON.stringify(norm.mean),
        std: JSON.stringify(norm.std),
        run_id: run.id,
        run_name: run.name,
        checkpoint: tag,
        epoch: String(state.epoch),
        backend: run.backend,
        normlab_version: normlabVersion() ?? run.versions?.normlab ?? 'unknown',
        settings: settingsSummary(run),
      },
    });
    cancelled(ctx);
    ctx.progress({ fraction: 0.5, message: `checking parity with onnxruntime-node on ${PARITY_IMAGES} test images` });
    await tick();
    const { height, width, channels } = data.info;
    const parity = await verifyExport(bytes, model, { images: data.test.images, count: data.test.count, height, width, channels }, {
      mean: norm.mean, std: norm.std, baked: bake, limit: PARITY_IMAGES, dataset: `${data.info.name} (test split)`,
    });
    if (!parity.ok) {
      throw new Error(
        `parity check failed: max |Δ| of probabilities ${parity.maxAbsDiff.toExponential(2)} > ${parity.tolerance} on ${parity.images} test images; nothing was written`,
      );
    }
    cancelled(ctx);
    ctx.progress({ fraction: 0.9, message: 'writing the export' });
    const exportsDir = ws.exportsDir(run.id);
    const defaultName = `${run.id}-${tag}${foldBn ? '-folded' : ''}${bake ? '-baked' : ''}-opset${opset}.onnx`;
    const name = p.name ?? defaultName;
    if (basename(name) !== name || !name.toLowerCase().endsWith('.onnx') || name.startsWith('.')) {
      throw new Error(`export name "${name}" must be a file name ending in .onnx, not a path`);
    }
    const file = join(exportsDir, name);
    const fl = nodeFileLayer();
    fl.writeFileAtomic(file, bytes);
    const result: ExportResult = {
      runId: run.id,
      file,
      name: basename(file),
      checkpoint: tag,
      epoch: state.epoch,
      options: { foldBn, opset, bakeNormalization: bake },
      audit,
      parity,
      created: new Date().toISOString(),
      reportFile: `${file}.json`,
    };
    fl.writeFileAtomic(`${file}.json`, JSON.stringify(result, null, 1));
    ctx.progress({ fraction: 1, message: 'done' });
    return result;
  } finally {
    model.dispose();
  }
}

/** Images per second: tfjs predict, ORT with BN, ORT with BN folded; ORT threads 1 and 2. */
async function benchRun(p: BenchJobPayload, ctx: JobContext): Promise<InferBenchResult> {
  const batch = p.batch ?? 128;
  ctx.progress({ fraction: 0.02, message: 'loading checkpoint and dataset' });
  const { run, data, state, model } = await loadRunModel(ctx.workspace, p.runId);
  try {
    const { height, width, channels } = data.info;
    const count = Math.min(p.images ?? 1024, data.test.count);
    if (count < batch) throw new Error(`benchmark: the test split has ${data.test.count} images, fewer than one batch of ${batch}`);
    const { nhwc, nchw } = prepareInputs({ images: data.test.images, count, height, width, channels }, count, state.normalization, false);
    const per = height * width * channels;
    const batches = Math.floor(count / batch);
    const rows: InferBenchRow[] = [];
    const budgetMs = 1500;
    const time = async (fn: (i: number) => Promise<void> | void): Promise<number> => {
      for (let i = 0; i < 2; i++) await fn(i);
      let n = 0;
      const t0 = performance.now();
      while (performance.now() - t0 < budgetMs) {
        await fn(n % batches);
        n++;
        if (n % 4 === 0) { cancelled(ctx); await tick(); }
      }
      return (performance.now() - t0) / n;
    };
    ctx.progress({ fraction: 0.1, message: 'tfjs predict' });
    const msTf = await time((i) => {
      tf.tidy(() => model.predict(tf.tensor4d(nhwc.subarray(i * batch * per, (i + 1) * batch * per), [batch, height, width, channels])).dataSync());
    });
    rows.push({ engine: 'tfjs', label: `tfjs predict (${backendInfo()?.backend ?? 'unknown'})`, threads: null, imagesPerSecond: (batch * 1000) / msTf, msPerBatch: msTf });
    const hasBn = model.spec.nodes.some((l) => l.op === 'norm' && (l.norm.kind === 'batch' || l.norm.kind === 'ghost'));
    const variants: { engine: 'ort' | 'ort-folded'; foldBn: boolean; label: string }[] = [{ engine: 'ort', foldBn: false, label: 'ONNX Runtime, BN kept' }];
    if (hasBn) variants.push({ engine: 'ort-folded', foldBn: true, label: 'ONNX Runtime, BN folded' });
    let k = 0;
    for (const v of variants) {
      // Folding needs BN right after a conv; BN after ReLU cannot be folded and is skipped.
      let bytes: Uint8Array;
      try {
        bytes = exportOnnx(model.spec, state.weights, { foldBn: v.foldBn, metadata: {} }).bytes;
      } catch (e) {
        if (v.foldBn) continue;
        throw e;
      }
      for (const threads of [1, 2]) {
        k++;
        ctx.progress({ fraction: 0.1 + (0.9 * k) / (variants.length * 2), message: `${v.label}, ${threads} thread${threads > 1 ? 's' : ''}` });
        const s = await openSession(bytes, { threads });
        try {
          const ms = await time(async (i) => {
            await s.session.run({ [s.inputName]: new OrtTensor('float32', nchw.subarray(i * batch * per, (i + 1) * batch * per), [batch, channels, height, width]) });
          });
          rows.push({ engine: v.engine, label: v.label, threads, imagesPerSecond: (batch * 1000) / ms, msPerBatch: ms });
        } finally {
          await s.session.release();
        }
      }
    }
    return { runId: run.id, backend: backendInfo()?.backend ?? 'unknown', batch, images: count, rows };
  } finally {
    model.dispose();
  }
}

/** Job handlers (registered in host/jobs/index.ts). */
export const exportJob = cancellable(exportRun);
export const benchJob = cancellable(benchRun);
