/**
 * The dropout-ensemble job: loads a run's checkpoint and test split, samples K dropout masks and
 * compares their averaged prediction with the weight-scaled network.
 */
import { missingCheckpointMessage, readCheckpointByRule } from '../../store/checkpoint-rule';
import { noDropoutResult, type DropoutCheckpoint, type DropoutResult } from '../../contract/dropout';
import { loadRunDataset } from '../../data/dataset';
import { backendInfo } from '../../engine/backend';
import { buildModel } from '../../engine/model';
import { specForSettings } from '../../engine/spec';
import { limitSplit } from '../../engine/train';
import { Workspace } from '../../store/workspace';
import {
  dropoutEnsemble, dropoutLayers, entropyDeciles, entropyHistogram, galleryImages, hasActiveDropout, meanOf,
} from '../../analysis/dropout';
import type { JobContext } from '../protocol';

export interface DropoutJobPayload {
  runId: string;
  samples: number;
  /** 0 = whole test split. */
  testLimit: number;
  seed: number;
  checkpoint: DropoutCheckpoint;
  gallery: number;
}

/** Images of the most certain end shown after the uncertain ones, for contrast. */
const CERTAIN_IN_GALLERY = 6;

export async function dropoutJob(p: DropoutJobPayload, ctx: JobContext): Promise<DropoutResult | { status: 'cancelled' }> {
  const ws = new Workspace(ctx.workspace);
  const run = ws.getRun(p.runId);
  const runName = run.name || run.id;
  const { tag, state } = readCheckpointByRule(ws, p.runId, p.checkpoint);
  if (!state) {
    return {
      status: 'unavailable',
      reason: 'not-trained',
      runId: p.runId,
      message: `${missingCheckpointMessage(runName, p.checkpoint)}.`,
    };
  }
  ctx.progress({ fraction: 0, message: 'loading the test set' });
  const data = await loadRunDataset(run.settings, ctx.workspace);
  const shape: [number, number, number] = [data.info.height, data.info.width, data.info.channels];
  const spec = run.model ?? specForSettings(run.settings, shape, data.info.classNames.length);
  if (!hasActiveDropout(spec)) return noDropoutResult(p.runId, runName);
  const pixels = shape[0] * shape[1] * shape[2];
  const split = limitSplit(data.test, p.testLimit, pixels);
  const model = buildModel(spec, run.settings.seed);
  try {
    model.setWeights(state.weights);
    const outcome = await dropoutEnsemble(model, split, state.normalization, { samples: p.samples, seed: p.seed }, {
      progress: (fraction, mask, point) =>
        ctx.progress({
          fraction,
          message: point
            ? `mask ${mask}/${p.samples} · ensemble accuracy ${(100 * point.acc).toFixed(2)}%`
            : `mask ${mask}/${p.samples}`,
          step: mask,
          steps: p.samples,
        }),
      cancelled: () => ctx.cancelled(),
    });
    if (!outcome) return { status: 'cancelled' };
    const { stats, weightScaled } = outcome;
    const labels = split.labels;
    const correct = Array.from({ length: stats.n }, (_, i) => stats.pred[i] === labels[i]);
    let agree = 0;
    for (let i = 0; i < stats.n; i++) if (stats.pred[i] === weightScaled.pred[i]) agree++;
    const last = stats.curve[stats.curve.length - 1];
    const gallery = galleryImages(outcome, split, pixels, p.gallery, CERTAIN_IN_GALLERY);
    return {
      status: 'ok',
      runId: p.runId,
      runName,
      checkpoint: { tag, epoch: state.epoch, requested: p.checkpoint },
      dataset: data.info.name,
      classNames: data.info.classNames,
      imageShape: shape,
      images: stats.n,
      samples: stats.samples,
      seed: p.seed,
      dropoutLayers: dropoutLayers(spec),
      weightScaled: { acc: weightScaled.acc, loss: weightScaled.loss },
      curve: stats.curve,
      ensemble: {
        acc: last.acc,
        loss: last.loss,
        meanEntropy: meanOf(stats.entropy),
        meanMutualInfo: meanOf(stats.mutualInfo),
        meanDisagreement: meanOf(stats.disagreement),
        agreementWithWeightScaled: agree / stats.n,
        meanMemberAcc: meanOf(stats.curve.map((c) => c.memberAcc)),
      },
      deciles: entropyDeciles(stats.entropy, correct),
      entropyHistogram: entropyHistogram(stats.entropy, correct, stats.classes),
      gallery,
      certainInGallery: Math.max(0, gallery.length - Math.min(p.gallery, stats.n)),
      backend: backendInfo()?.backend ?? 'unknown',
      seconds: outcome.seconds,
    };
  } finally {
    model.dispose();
  }
}
