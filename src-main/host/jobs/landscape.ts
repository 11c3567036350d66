/**
 * Loss-landscape jobs: the 2-D grid (random filter-normalized or trajectory-PCA directions), the
 * 1-D interpolation initial → final and the trajectory projection for one run; and the
 * normalization lab's images. The grid is the cost: progress per row, cancel per point.
 */
import { missingCheckpointMessage, readCheckpointByRule } from '../../store/checkpoint-rule';
import type { LandscapeCheckpoint, LandscapeReport, LandscapeResult, NormLabReport } from '../../contract/landscape';
import { loadDataset, loadRunDataset } from '../../data/dataset';
import { backendInfo } from '../../engine/backend';
import { buildModel } from '../../engine/model';
import type { NamedWeights } from '../../engine/model-types';
import { specForSettings } from '../../engine/spec';
import { limitSplit } from '../../engine/train';
import { Workspace } from '../../store/workspace';
import { decodeWeights } from '../../store/checkpoint-format';
import { splitStart } from '../../model/start-weights';
import type { RunRecord } from '../../contract/api';
import { readFileSync } from 'node:fs';
import {
  differenceDirection, evaluateGrid, filterNormalizedDirection, flatten, LandscapeEvaluator, linspace, trainableNames,
  trajectoryPca, unflatten, type Direction, type PointEvaluator,
} from '../../analysis/landscape';
import { OrtLandscapeEvaluator } from '../../analysis/landscape-ort';
import { ExportError } from '../../onnx/export';
import { normLab } from '../../analysis/image-norm';
import type { JobContext } from '../protocol';

export interface LandscapeJobPayload {
  runId: string;
  grid: number;
  span: number;
  evalLimit: number;
  seed: number;
  recomputeBn: boolean;
  trajectory: boolean;
  line: number;
  checkpoint: LandscapeCheckpoint;
  /** Images per predict call (default: the whole slice up to 1000). */
  batch?: number;
  /**
   * Which engine evaluates the points. 'auto' (default): ONNX Runtime while BN statistics are held
   * fixed, tfjs when they are recomputed (that needs batch statistics, which the export lacks).
   */
  engine?: 'auto' | 'onnxruntime' | 'tfjs';
}

/** Tag of the weights written after epoch n (0 = initial weights); see the report's note on train.ts. */
export const epochTag = (n: number): string => `epoch-${n}`;

const yieldNow = () => new Promise<void>((r) => setImmediate(r));

/**
 * Initial weights: the stored epoch-0 weights, else rebuilt from the seed (buildModel is seeded),
 * with the tensors a run that started from a model file's weights took from that file (the
 * same name-and-shape rule as training, model/start-weights.ts).
 */
function initialWeights(ws: Workspace, run: RunRecord, build: () => NamedWeights, notes: string[]): NamedWeights {
  const stored = ws.readWeights(run.id, epochTag(0));
  if (stored) return stored;
  const seeded = build();
  if (!run.startWeights) return seeded;
  let given: NamedWeights;
  try {
    given = decodeWeights(readFileSync(run.startWeights.file), run.startWeights.file);
  } catch (e) {
    notes.push(`initial weights: the run started from ${run.startWeights.file}, which cannot be read now (${(e as Error).message}); the 1-D interpolation starts from the seeded initialisation instead`);
    return seeded;
  }
  const { values } = splitStart(Object.entries(seeded).map(([name, t]) => ({ name, shape: t.shape })), given);
  return { ...seeded, ...values };
}

export async function landscapeJob(p: LandscapeJobPayload, ctx: JobContext): Promise<LandscapeResult> {
  const started = performance.now();
  const ws = new Workspace(ctx.workspace);
  const run = ws.getRun(p.runId);
  const runName = run.name || run.id;
  const { tag, state } = readCheckpointByRule(ws, p.runId, p.checkpoint);
  if (!state) throw new Error(missingCheckpointMessage(runName, p.checkpoint));
  ctx.progress({ fraction: 0, message: 'loading the evaluation slice' });
  const data = await loadRunDataset(run.settings, ctx.workspace);
  const shape: [number, number, number] = [data.info.height, data.info.width, data.info.channels];
  const spec = run.model ?? specForSettings(run.settings, shape, data.info.classNames.length);
  const slice = limitSplit(data.test, p.evalLimit, shape[0] * shape[1] * shape[2]);
  const final = state.weights;
  const notes: string[] = [];
  const model = buildModel(spec, run.settings.seed);
  const init = initialWeights(ws, run, () => model.getWeights(), notes);

  let directions: Direction[];
  let xs: number[];
  let ys: number[];
  let kind: 'random' | 'pca' = 'random';
  let xLabel = 'direction 1 (filter-normalized units)';
  let yLabel = 'direction 2 (filter-normalized units)';
  let trajectory: LandscapeReport['trajectory'] = null;
  if (p.trajectory) {
    const epochs: number[] = [0];
    const points: NamedWeights[] = [init];
    for (let e = 1; e < state.epoch; e++) {
      const w = ws.readWeights(p.runId, epochTag(e));
      if (w) { epochs.push(e); points.push(w); }
    }
    epochs.push(state.epoch);
    points.push(final);
    if (points.length < 3) {
      notes.push(`no trajectory: run "${runName}" has no per-epoch weights (weights/${epochTag(1)}.nlck …); random directions used instead`);
    } else {
      const names = trainableNames(final);
      const pca = trajectoryPca(points.map((w) => flatten(w, names)), flatten(final, names));
      directions = [unflatten(pca.directions[0], final, names), unflatten(pca.directions[1], final, names)];
      trajectory = { epochs, points: pca.coords, explained: pca.explained };
      kind = 'pca';
      const ext = (k: 0 | 1): [number, number] => {
        const v = pca.coords.map((c) => c[k]);
        const lo = Math.min(0, ...v);
        const hi = Math.max(0, ...v);
        const pad = 0.25 * Math.max(hi - lo, 1e-6);
        return [lo - pad, hi + pad];
      };
      const [x0, x1] = ext(0);
      const [y0, y1] = ext(1);
      xs = linspace(x0, x1, p.grid);
      ys = linspace(y0, y1, p.grid);
      xLabel = `PC1 (${(100 * pca.explained[0]).toFixed(1)}% of variance; weight-space distance)`;
      yLabel = `PC2 (${(100 * pca.explained[1]).toFixed(1)}% of variance; weight-space distance)`;
    }
  }
  if (kind === 'random') {
    directions = [filterNormalizedDirection(final, p.seed, 1), filterNormalizedDirection(final, p.seed, 2)];
    xs = linspace(-p.span, p.span, p.grid);
    ys = linspace(-p.span, p.span, p.grid);
  }
  // The third direction carries the 1-D interpolation: final + (1 − α)(init − final).
  const lineDir = differenceDirection(final, init);
  const allDirs = [...directions!, lineDir];
  let ev: PointEvaluator | null = null;
  const engine = p.engine ?? 'auto';
  if (engine === 'onnxruntime' && p.recomputeBn) {
    notes.push('engine: tfjs, not onnxruntime: recomputing BN statistics needs batch statistics, which the ONNX export (inference form) lacks');
  } else if (engine !== 'tfjs' && !p.recomputeBn) {
    try {
      const ort = new OrtLandscapeEvaluator(spec, final, allDirs, slice, state.normalization, { loss: run.settings.loss, batch: p.batch, threads: 2 });
      ev = ort;
      notes.push(`engine: onnxruntime-node (CPU, 2 threads), one ONNX export per point, BN at the running statistics${ort.foldBn ? ', folded into the convolutions' : ''}`);
    } catch (e) {
      // A spec the exporter cannot express still gets its landscape, on the slower engine.
      if (!(e instanceof ExportError)) throw e;
      notes.push(`engine: tfjs (${backendInfo()?.backend ?? 'unknown'}), because the model cannot be exported to ONNX: ${e.message}`);
    }
  }
  if (!ev) {
    if (!notes.some((n) => n.startsWith('engine:'))) {
      notes.push(`engine: tfjs (${backendInfo()?.backend ?? 'unknown'})${p.recomputeBn ? ', BN statistics recomputed at every point' : ''}`);
    }
    ev = new LandscapeEvaluator(model, final, allDirs, slice, state.normalization, {
      loss: run.settings.loss,
      batch: p.batch,
      ...(p.recomputeBn ? { calibration: data.train } : {}),
    });
  }
  try {
    const evalStart = performance.now();
    const total = p.grid * p.grid + p.line + 1;
    let done = 0;
    const centre = await ev.at([0, 0, 0]);
    done++;
    const grid = await evaluateGrid(ev, xs!, ys!, {
      onPoint: async () => { done++; await yieldNow(); },
      onRow: (row, rows) => {
        const secs = (performance.now() - evalStart) / 1000;
        ctx.progress({
          fraction: done / total,
          message: `grid row ${row}/${rows} · ${(done / secs).toFixed(1)} points/s`,
          step: row,
          steps: rows,
          etaSeconds: ((total - done) * secs) / done,
        });
      },
      cancelled: () => ctx.cancelled(),
    });
    if (!grid) return { status: 'cancelled', runId: p.runId };
    let line: LandscapeReport['line'] = null;
    if (p.line > 0) {
      const alphas = linspace(-0.5, 1.5, p.line);
      const loss: number[] = [];
      const acc: number[] = [];
      for (const a of alphas) {
        const v = await ev.at([0, 0, 1 - a]);
        loss.push(v.loss);
        acc.push(v.acc);
        done++;
        await yieldNow();
        if (ctx.cancelled()) return { status: 'cancelled', runId: p.runId };
      }
      ctx.progress({ fraction: done / total, message: '1-D interpolation done' });
      line = { alphas, loss, acc };
    }
    const evalSeconds = (performance.now() - evalStart) / 1000;
    return {
      status: 'ok',
      runId: p.runId,
      runName,
      checkpoint: { tag, epoch: state.epoch },
      dataset: data.info.name,
      norm: run.settings.norm,
      evalImages: slice.count,
      seed: p.seed,
      recomputeBn: p.recomputeBn,
      centre,
      grid: { directions: kind, n: p.grid, xs: xs!, ys: ys!, loss: Array.from(grid.loss), acc: Array.from(grid.acc), xLabel, yLabel },
      line,
      trajectory,
      notes,
      backend: ev.engine === 'onnxruntime' ? 'onnxruntime' : (backendInfo()?.backend ?? 'unknown'),
      seconds: (performance.now() - started) / 1000,
      pointsPerSecond: done / evalSeconds,
    };
  } finally {
    ev.dispose();
    model.dispose();
  }
}

export interface NormLabJobPayload {
  data: string;
  count: number;
  offset: number;
  bins: number;
}

export async function normLabJob(p: NormLabJobPayload, ctx: JobContext): Promise<NormLabReport> {
  ctx.progress({ fraction: 0, message: `loading ${p.data}` });
  const data = await loadDataset(p.data);
  return normLab(data, p);
}
