/**
 * The weights job: per-layer histograms, quantiles and sparsity of each run's checkpoint, plus
 * norms and sparsity over epochs from metrics.jsonl (checkpoints are kept only as 'last' and
 * 'best', so the per-epoch view is the stored norms, not full histograms).
 */
import type { RunWeights, WeightsResult } from '../../contract/study';
import { Workspace } from '../../store/workspace';
import { decayInfo, layerWeights, logAbsHistogram, QUANTILE_LEVELS, SPARSITY_THRESHOLDS } from '../../analysis/weights';
import type { JobContext } from '../protocol';

export interface WeightsJobPayload {
  runIds: string[];
  checkpoint: 'best' | 'last';
}

export const WEIGHTS_NOTE =
  'Histograms are of the chosen checkpoint (only the last and best epochs are stored); per-layer norms and the sparsity (|w| < 1e-3) are recorded after every epoch.';

/** Weight statistics of several runs (pure reads of the store). */
export function weightsOf(ws: Workspace, p: WeightsJobPayload, progress?: (i: number) => void): WeightsResult {
  const runs: RunWeights[] = p.runIds.map((id, i) => {
    progress?.(i);
    const run = ws.getRun(id);
    let tag = p.checkpoint;
    let state = ws.readCheckpoint(id, tag);
    if (!state && tag === 'best') {
      tag = 'last';
      state = ws.readCheckpoint(id, tag);
    }
    const metrics = ws.readMetrics(id);
    const stats = state ? layerWeights(state.weights) : { layers: [], overall: { count: 0, norm: 0, sparsity: {}, hist: logAbsHistogram([]) } };
    const trainCount = run.dataset?.trainCount ?? run.settings.trainLimit;
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
