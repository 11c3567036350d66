/**
 * The training job: loads the run's dataset, trains (or resumes from the last checkpoint), and
 * writes every epoch to the store as it happens — metrics appended and flushed, checkpoints
 * written atomically — so that a killed process loses at most the epoch in flight.
 */
import type { EpochMetrics, RunRecord, StepLosses } from '../../contract/api';
import { loadRunDataset } from '../../data/dataset';
import { plannedSplitSizes } from '../../data/split';
import { backendInfo } from '../../engine/backend';
import { countParams, specForSettings } from '../../engine/spec';
import { trainRun } from '../step-engines';
import { Workspace } from '../../store/workspace';
import { currentOwner } from '../../store/owner';
import { engineVersions } from '../versions';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { ModelGraph } from '../../contract/model-graph';
import { isPreset } from '../../model';
import { loadModelWeights } from '../../store/model-weights';
import type { JobContext } from '../protocol';

export interface TrainJobPayload {
  runId: string;
  resume: boolean;
}

/** The Slurm array task this process runs as (SLURM_ARRAY_JOB_ID / SLURM_ARRAY_TASK_ID), if any. */
export function slurmTaskFromEnv(env: Record<string, string | undefined> = process.env): { jobId: string; taskId: number } | null {
  const jobId = env.SLURM_ARRAY_JOB_ID;
  const taskId = Number(env.SLURM_ARRAY_TASK_ID);
  return jobId && /^\d+$/.test(jobId) && Number.isInteger(taskId) && taskId >= 0 ? { jobId, taskId } : null;
}

export async function trainJob(payload: TrainJobPayload, ctx: JobContext): Promise<{ status: string; run: RunRecord }> {
  const ws = new Workspace(ctx.workspace);
  const id = payload.runId;
  let run = ws.getRun(id);
  const settings = run.settings;
  const update = (patch: Partial<RunRecord>) => {
    run = ws.updateRun(id, patch);
    ctx.emit('run.updated', run);
    return run;
  };
  try {
    const data = await loadRunDataset(settings, ctx.workspace);
    // The service has already cut the records back under the run's lock; cutting again is a no-op
    // then, and makes a job started any other way just as safe.
    const point = payload.resume ? ws.resumePoint(id) : null;
    const resume = point?.state ?? null;
    if (payload.resume) ws.cutForResume(id, resume?.epoch ?? 0);
    // Per-step losses of the epoch in flight: sent live, written with the epoch's metrics.
    let epochSteps: StepLosses = { epoch: 0, stepsPerEpoch: 0, points: [] };
    // A resumed run keeps the graph it started with (its model file may have changed since).
    const spec = (payload.resume && run.model) || specForSettings(settings, [data.info.height, data.info.width, data.info.channels], data.info.classNames.length);
    const slurm = slurmTaskFromEnv();
    update({
      status: 'running',
      owner: currentOwner(),
      ...(slurm ? { slurm } : {}),
      started: run.started ?? new Date().toISOString(),
      backend: backendInfo()?.backend ?? 'unknown',
      versions: engineVersions(),
      dataset: data.info,
      splits: plannedSplitSizes(data.train, data.test.count, { ...settings, valSplit: settings.valSplit ?? 0 }),
      params: countParams(spec),
      model: spec,
      error: undefined,
      epochsDone: resume?.epoch ?? 0,
    });
    // A model file that names weights (an import that kept them): a new run starts from them.
    const modelFile = !payload.resume && settings.model && !isPreset(settings.model) ? resolve(settings.model) : null;
    const modelJson = modelFile ? (JSON.parse(readFileSync(modelFile, 'utf8')) as ModelGraph) : null;
    const initialWeights = modelFile && modelJson ? (loadModelWeights(modelFile, modelJson) ?? undefined) : undefined;
    const result = await trainRun(
      settings,
      data,
      {
        onProgress: (p) => {
          ctx.progress({
            fraction: p.fraction,
            message: `epoch ${p.epoch}/${p.epochs} · step ${p.step}/${p.steps} of the epoch`,
            epoch: p.epoch,
            epochs: p.epochs,
            step: p.step,
            steps: p.steps,
            etaSeconds: p.etaSeconds,
          });
          if (p.losses?.length) {
            if (epochSteps.epoch !== p.epoch) epochSteps = { epoch: p.epoch, stepsPerEpoch: p.steps, points: [] };
            epochSteps.points.push(...p.losses);
            ctx.emit('run.steps', { runId: id, epoch: p.epoch, stepsPerEpoch: p.steps, points: p.losses });
          }
        },
        onEpoch: async (m: EpochMetrics, state, isBest, bestWeights) => {
          ws.appendMetrics(id, m);
          if (epochSteps.epoch === m.epoch && epochSteps.points.length) ws.appendSteps(id, epochSteps);
          ws.writeCheckpoint(id, 'last', state);
          // Per-epoch weights (~36 KB for the S5 net): the landscape's training trajectory and per-epoch analyses.
          ws.writeWeights(id, `epoch-${m.epoch}`, state.weights);
          if (isBest) ws.writeCheckpoint(id, 'best', { ...state, weights: bestWeights ?? state.weights });
          update({
            epochsDone: m.epoch,
            finalTestAcc: m.test_acc,
            bestTestAcc: Math.max(run.bestTestAcc ?? 0, m.test_acc),
            ...(m.val_acc !== undefined ? { finalValAcc: m.val_acc, bestValAcc: Math.max(run.bestValAcc ?? 0, m.val_acc) } : {}),
            ...(state.best ? { bestEpoch: state.best.epoch } : {}),
          });
          ctx.emit('run.epoch', { runId: id, metrics: m });
        },
        onBnRecord: (r) => ws.appendBnRecord(id, r),
        onEngine: (e) => update({ backend: e.engine === 'onnxruntime' ? `onnxruntime (${e.threads} thread${e.threads === 1 ? '' : 's'})` : backendInfo()?.backend ?? 'unknown' }),
        isCancelled: () => ctx.cancelled(),
        onStartWeights: (s) => update({ startWeights: { file: resolve(dirname(modelFile!), modelJson!.weights!), ...s } }),
      },
      resume ?? undefined,
      point?.bestWeights,
      { spec, ...(initialWeights ? { initialWeights } : {}) },
    );
    result.model.dispose();
    // Stopped by a signal (SIGTERM: scancel, a time limit, preemption) rather than by the user:
    // the run is interrupted, and a resume (or Slurm's requeue) continues from the last checkpoint.
    const status = result.status === 'cancelled' && ctx.cancelReason?.() === 'interrupted' ? 'interrupted' : result.status;
    update({
      status,
      finished: new Date().toISOString(),
      owner: undefined,
      ...(status === 'interrupted'
        ? { error: `interrupted by SIGTERM after ${run.epochsDone} finished epoch${run.epochsDone === 1 ? '' : 's'}; the epoch in flight was dropped, a resume continues from the checkpoint of epoch ${run.epochsDone}` }
        : {}),
    });
    return { status, run };
  } catch (e) {
    try {
      update({ status: 'failed', error: (e as Error).message, owner: undefined, finished: new Date().toISOString() });
    } catch {
      // The disk is still full (or gone): report the first failure, which says what was lost and kept.
    }
    throw e;
  }
}
