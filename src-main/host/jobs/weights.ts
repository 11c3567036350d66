/**
 * The weights job: per-layer histograms, quantiles and sparsity of each run's checkpoint, plus
 * norms and sparsity over epochs from metrics.jsonl, and per-layer histograms of each epoch's
 * stored weights (weights/epoch-N, written by the train job; older runs have none).
 */
import { readCheckpointByRule } from '../../store/checkpoint-rule';
import type { CheckpointTag } from '../../contract/checkpoint';
import type { EpochHistograms, RunWeights, WeightsResult } from '../../contract/study';
import { Workspace } from '../../store/workspace';
import {
  decayInfo, HIST_EPOCH_CAP, kernelHistograms, layerWeights, logAbsHistogram, QUANTILE_LEVELS, SPARSITY_THRESHOLDS, subsampleEpochs,
} from '../../analysis/weights';
import type { JobContext } from '../protocol';

export interface WeightsJobPayload {
  runIds: string[];
  checkpoint: CheckpointTag;
}

export const WEIGHTS_NOTE =
  `Histograms are of the chosen checkpoint; per-layer norms and the sparsity (|w| < 1e-3) are recorded after every epoch; histograms over epochs come from the per-epoch weights (at most ${HIST_EPOCH_CAP} epochs, evenly spaced).`;

export const NO_EPOCH_WEIGHTS = 'per-epoch weights were not recorded for this run';

/** Histograms of the stored per-epoch weights of a run's recorded epochs (subsampled to HIST_EPOCH_CAP). */
export function histsOverEpochs(ws: Workspace, id: string, epochs: readonly number[]): { hists: EpochHistograms[]; note: string | null } {
  const hists: EpochHistograms[] = [];
  const missing: number[] = [];
  const bad: number[] = [];
  for (const e of subsampleEpochs([...new Set(epochs)].sort((a, b) => a - b))) {
    let w;
    try {
      w = ws.readWeights(id, `epoch-${e}`);
    } catch {
      // A corrupt epoch file should not hide the other epochs; it is named in the note.
      bad.push(e);
      continue;
    }
    if (w) hists.push({ epoch: e, layers: kernelHistograms(w) });
    else missing.push(e);
  }
  if (!hists.length && !bad.length) return { hists, note: NO_EPOCH_WEIGHTS };
  const parts: string[] = [];
  if (missing.length) parts.push(`per-epoch weights were not recorded for epoch ${missing.join(', ')}`);
  if (bad.length) parts.push(`the weights of epoch ${bad.join(', ')} are unreadable`);
  return { hists, note: parts.length ? parts.join('; ') : null };
}

/** Weight statistics of several runs (pure reads of the store). */
export function weightsOf(ws: Workspace, p: WeightsJobPayload, progress?: (i: number) => void): WeightsResult {
  const runs: RunWeights[] = p.runIds.map((id, i) => {
    progress?.(i);
    const run = ws.getRun(id);
    const { tag, state } = readCheckpointByRule(ws, id, p.checkpoint);
    const metrics = ws.readMetrics(id);
    const stats = state ? layerWeights(state.weights) : { layers: [], overall: { count: 0, norm: 0, sparsity: {}, hist: logAbsHistogram([]) } };
    const trainCount = run.dataset?.trainCount ?? run.settings.trainLimit;
    const over = histsOverEpochs(ws, id, metrics.map((m) => m.epoch));
    return {
      runId: id,
      runName: run.name || id,
      checkpoint: state ? { tag, epoch: state.epoch } : null,
      layers: stats.layers,
      overall: stats.overall,
      normsOverEpochs: metrics.map((m) => ({
        epoch: m.epoch,
        norms: Object.fromEntries(Object.entries(m.weight_norms ?? {}).filter(([k]) => k.endsWith('/kernel'))),
      })),
      sparsityOverEpochs: metrics.map((m) => ({ epoch: m.epoch, sparsity: m.sparsity })),
      histsOverEpochs: over.hists,
      histsOverEpochsNote: over.note,
      decay: decayInfo(run.settings, trainCount),
    };
  });
  return { runs, thresholds: [...SPARSITY_THRESHOLDS], quantileLevels: [...QUANTILE_LEVELS], note: WEIGHTS_NOTE };
}

/** Worker job wrapper around weightsOf. */
export async function weightsJob(p: WeightsJobPayload, ctx: JobContext): Promise<WeightsResult> {
  const ws = new Workspace(ctx.workspace);
  return weightsOf(ws, p, (i) => ctx.progress({ fraction: i / p.runIds.length, message: `run ${i + 1}/${p.runIds.length}` }));
}
