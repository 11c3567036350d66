/**
 * The misclassified-images job: loads a run's checkpoint, evaluates the test split in eval mode
 * and returns the first N images the model gets wrong.
 */
import { missingCheckpointMessage, readCheckpointByRule } from '../../store/checkpoint-rule';
import type { CheckpointTag } from '../../contract/checkpoint';
import type { MisclassifiedResult } from '../../contract/study';
import { loadRunDataset } from '../../data/dataset';
import { buildModel } from '../../engine/model';
import { specForSettings } from '../../engine/spec';
import { evaluate, limitSplit } from '../../engine/train';
import { Workspace } from '../../store/workspace';
import { pickMisclassified } from '../../analysis/misclassified';
import type { JobContext } from '../protocol';

export interface MisclassifiedJobPayload {
  runId: string;
  n: number;
  checkpoint: CheckpointTag;
  /** 0 = whole test split. */
  testLimit: number;
}

/** Worker job: first `n` misclassified test images of a run. */
export async function misclassifiedJob(p: MisclassifiedJobPayload, ctx: JobContext): Promise<MisclassifiedResult> {
  const ws = new Workspace(ctx.workspace);
  const run = ws.getRun(p.runId);
  const { tag, state } = readCheckpointByRule(ws, p.runId, p.checkpoint);
  if (!state) throw new Error(missingCheckpointMessage(run.name || run.id, p.checkpoint));
  ctx.progress({ fraction: 0.05, message: 'loading the test set' });
  const data = await loadRunDataset(run.settings, ctx.workspace);
  const shape: [number, number, number] = [data.info.height, data.info.width, data.info.channels];
  const pixels = shape[0] * shape[1] * shape[2];
  const spec = run.model ?? specForSettings(run.settings, shape, data.info.classNames.length);
  const split = limitSplit(data.test, p.testLimit, pixels);
  const model = buildModel(spec, run.settings.seed);
  try {
    model.setWeights(state.weights);
    ctx.progress({ fraction: 0.2, message: `evaluating ${split.count} test images` });
    const ev = evaluate(model, split, state.normalization, { batch: 500, loss: run.settings.loss });
    const { items, wrong } = pickMisclassified(ev, split.labels, split.images, pixels, data.info.classNames, p.n);
    ctx.progress({ fraction: 1, message: `${wrong} of ${split.count} misclassified` });
    return {
      runId: run.id,
      runName: run.name || run.id,
      checkpoint: { tag, epoch: state.epoch },
      dataset: data.info.name,
      classNames: data.info.classNames,
      imageShape: shape,
      evaluated: split.count,
      wrong,
      accuracy: ev.acc,
      items,
    };
  } finally {
    model.dispose();
  }
}
