/**
 * The BN inspector's whole report for one stored run: loads the run's checkpoint and dataset,
 * computes population statistics (sequential precise BN, and one-pass for comparison), the
 * accuracy table, the train/eval gap, virtual-batch spreads, the lag per epoch and the timeline
 * check, and optionally writes checkpoint 'recalibrated'.
 */
import type { BnAccuracyRow, BnInspectRequest, BnLagPoint, BnReport } from '../contract/bn';
import { translateMomentum } from '../contract/bn';
import type { TrainSettings } from '../contract/settings';
import { loadRunDataset, type Dataset } from '../data/dataset';
import { buildModel, type Model } from '../engine/model';
import type { BnRecord, TrainState } from '../engine/model-types';
import { specForSettings, type ModelSpec } from '../engine/spec';
import { limitSplit } from '../engine/train';
import type { Workspace } from '../store/workspace';
import { bnLayerInfos, evaluateWith, inputMoments, recalibrate, runningStats, setRunningStats, type PassControl } from './bn';
import { ghostSpreads, lagFromRecords, lagOf, replayTimeline } from './bn-stats';
import { bnLayerInfosFromSpec, graphNormKind, noBnMessage } from './bn-timeline';

export const DEFAULT_BATCH_SIZES = [1, 8, 32, 128, 512];
export const RECALIBRATED_TAG = 'recalibrated';

/** Builds the run's model (the graph it recorded, else the one its settings name) with the checkpoint's weights. */
export function modelForRun(settings: TrainSettings, data: Dataset, state: TrainState, graph?: ModelSpec): Model {
  const spec = graph ?? specForSettings(settings, [data.info.height, data.info.width, data.info.channels], data.info.classNames.length);
  const model = buildModel(spec, settings.seed);
  try {
    model.setWeights(state.weights);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}

/**
 * Everything the BN view and `normlab bn` show for one run. Reads checkpoint `req.checkpoint`
 * (default by the one rule: best, else last); with `recalibrate`, writes checkpoint 'recalibrated' (the same state with
 * population running statistics) and reports the test accuracy before and after.
 */
export async function inspectRun(ws: Workspace, req: BnInspectRequest, control: PassControl = {}): Promise<BnReport> {
  const started = performance.now();
  const run = ws.getRun(req.id);
  const s = run.settings;
  // The one checkpoint rule: best (lowest validation loss), else last; any other tag as asked.
  const tag = req.checkpoint ?? (ws.readCheckpoint(run.id, 'best') ? 'best' : 'last');
  const momentum = translateMomentum(s.bnConvention, s.bnMomentum);
  const empty = (message: string, epoch = 0): BnReport => ({
    runId: run.id, hasBn: false, message, checkpoint: tag, epoch, layers: [], populationImages: 0, testImages: 0,
    method: '', stats: {}, accuracy: [],
    gap: { trainMode: blankRow, batchStatsNoDropout: blankRow, evalMode: blankRow, lossGap: 0, accGap: 0 },
    ghost: [], lag: [], timelineCheck: { possible: false, reason: message }, momentum, seconds: 0,
  });
  const state = ws.readCheckpoint(run.id, tag);
  // The graph decides, not the norm setting: a model file's fixed norm nodes ignore it.
  const recorded = run.model;
  if (recorded && bnLayerInfosFromSpec(recorded).length === 0) return empty(noBnMessage(graphNormKind(recorded)));
  if (!recorded && s.norm !== 'batch' && s.norm !== 'ghost') return empty(noBnMessage(s.norm));
  if (!state) return empty(`Run ${run.id} has no checkpoint "${tag}" yet: train at least one epoch first.`);

  const data = await loadRunDataset(s, ws.root);
  const pixels = data.info.height * data.info.width * data.info.channels;
  const train = limitSplit(data.train, s.trainLimit, pixels);
  const test = limitSplit(data.test, s.testLimit, pixels);
  const popImages = req.limit && req.limit > 0 ? Math.min(req.limit, train.count) : train.count;
  const testImages = req.testLimit && req.testLimit > 0 ? Math.min(req.testLimit, test.count) : test.count;
  const sizes = [...new Set((req.batchSizes?.length ? req.batchSizes : DEFAULT_BATCH_SIZES).map((b) => Math.floor(b)))];
  for (const b of sizes) if (!(b >= 1)) throw new Error(`batch sizes must be whole numbers ≥ 1, got ${b}`);
  const norm = state.normalization;
  const records = ws.readBnRecords(run.id);

  // Progress: phases weighted roughly by their cost.
  const phases = { onePass: 0.15, sequential: 0.3, evals: 0.45, gap: 0.1 };
  let base = 0;
  const phase = (span: number) => {
    const b = base;
    base += span;
    return { ...control, onProgress: (f: number, m: string) => control.onProgress?.(b + span * Math.min(1, f), m) };
  };

  const model = modelForRun(s, data, state, run.model);
  try {
    const layers = bnLayerInfos(model);
    const names = layers.map((l) => l.name);
    const original = model.getWeights();
    const running = runningStats(model);

    const onePass = await inputMoments(model, train, norm, names, { ...phase(phases.onePass), limit: popImages, keepImages: true, label: 'population statistics (one pass)' });
    const seq = await recalibrate(model, train, norm, { ...phase(phases.sequential), limit: popImages });
    const recalibratedWeights = model.getWeights();
    model.setWeights(original);

    const accuracy: BnAccuracyRow[] = [];
    const evalPhase = phase(phases.evals);
    const evalCount = 3 + sizes.length;
    let done = 0;
    const sub = (label: string) => ({
      ...control, label,
      onProgress: (f: number, m: string) => evalPhase.onProgress((done + f) / evalCount, m),
    });
    const evalBatch = 500;
    const r0 = await evaluateWith(model, test, norm, { ...sub('test, running statistics'), mode: 'running', batchSize: evalBatch, limit: testImages, loss: s.loss });
    accuracy.push({ mode: 'running', label: 'running statistics (eval mode)', batchSize: null, ...r0 });
    done++;
    model.setWeights(recalibratedWeights);
    const r1 = await evaluateWith(model, test, norm, { ...sub('test, population statistics'), mode: 'running', batchSize: evalBatch, limit: testImages, loss: s.loss });
    accuracy.push({ mode: 'population', label: 'population statistics (precise BN, sequential)', batchSize: null, ...r1 });
    done++;
    model.setWeights(original);
    setRunningStats(model, onePass.stats);
    const r2 = await evaluateWith(model, test, norm, { ...sub('test, one-pass population statistics'), mode: 'running', batchSize: evalBatch, limit: testImages, loss: s.loss });
    accuracy.push({
      mode: 'population-one-pass', label: 'population statistics (one pass, upstream running)', batchSize: null, ...r2,
      note: 'each layer\'s statistics were taken with the OLD running statistics upstream, then all swapped at once',
    });
    done++;
    model.setWeights(original);
    for (const b of sizes) {
      const r = await evaluateWith(model, test, norm, { ...sub(`test, batch statistics at batch ${b}`), mode: 'batch', batchSize: b, limit: testImages, loss: s.loss });
      const rest = testImages % b;
      const notes: string[] = [];
      if (b === 1) notes.push('batch of 1: each image normalized over its own h×w positions (instance-norm-like); a channel constant over the image has variance 0 and outputs β');
      if (rest && b < testImages) notes.push(`last batch has ${rest} image${rest === 1 ? '' : 's'}`);
      if (b > testImages) notes.push(`only ${testImages} test images: one batch of ${testImages}`);
      accuracy.push({ mode: 'batch', label: `batch statistics, test batch ${b}`, batchSize: b, ...r, ...(notes.length ? { note: notes.join('; ') } : {}) });
      done++;
    }

    // Train-mode vs eval-mode on (up to 2,000 of) the training images the network learned from.
    const gapImages = Math.min(popImages, 2000);
    const gapPhase = phase(phases.gap);
    const g1 = await evaluateWith(model, train, norm, { ...control, onProgress: (f, m) => gapPhase.onProgress(f / 3, m), label: 'train mode', mode: 'batch', batchSize: s.batch, limit: gapImages, loss: s.loss, dropout: s.dropout > 0, dropoutSeed: s.seed });
    const g2 = await evaluateWith(model, train, norm, { ...control, onProgress: (f, m) => gapPhase.onProgress((1 + f) / 3, m), label: 'batch statistics, no dropout', mode: 'batch', batchSize: s.batch, limit: gapImages, loss: s.loss });
    const g3 = await evaluateWith(model, train, norm, { ...control, onProgress: (f, m) => gapPhase.onProgress((2 + f) / 3, m), label: 'eval mode', mode: 'running', batchSize: 500, limit: gapImages, loss: s.loss });
    const gap = {
      trainMode: { mode: 'train', label: `train mode (batch ${s.batch} statistics${s.dropout > 0 ? ', dropout on' : ''})`, batchSize: s.batch, ...g1 },
      batchStatsNoDropout: { mode: 'batch', label: `batch ${s.batch} statistics, dropout off`, batchSize: s.batch, ...g2 },
      evalMode: { mode: 'running', label: 'eval mode (running statistics, dropout off)', batchSize: null, ...g3 },
      lossGap: g3.loss - g1.loss,
      accGap: g3.acc - g1.acc,
    };

    const ghostSizes = [...new Set([2, 4, 8, 16, 32, 64, 128, 256, s.batch, ...(s.norm === 'ghost' ? [s.ghostBatch] : [])])]
      .filter((v) => v >= 1 && popImages / v >= 2).sort((a, b) => a - b);
    const per = onePass.perImage!;
    const ghost = ghostSpreads(
      Object.fromEntries(names.map((n) => [n, { ...per[n], population: onePass.stats[n] }])),
      ghostSizes,
    );

    // Exact lag where the network itself is stored: this checkpoint, and 'best' when it is another epoch
    // (one more eval pass: population statistics with that network's running statistics upstream).
    const stepsPerEpoch = Math.ceil(train.count / s.batch);
    const lag: BnLagPoint[] = lagFromRecords(records, layers);
    const exact: BnLagPoint = { epoch: state.epoch, step: state.epoch * stepsPerEpoch, source: `checkpoint:${tag}`, layers: {} };
    for (const n of names) exact.layers[n] = lagOf(running[n], onePass.stats[n]);
    lag.push(exact);
    const other = tag === 'best' ? 'last' : 'best';
    const otherState = ws.listCheckpoints(run.id).includes(other) ? ws.readCheckpoint(run.id, other) : null;
    if (otherState && otherState.epoch !== state.epoch) {
      model.setWeights(otherState.weights);
      const pop = await inputMoments(model, train, norm, names, { ...control, limit: popImages, label: `population statistics of checkpoint ${other}` });
      const otherRunning = runningStats(model);
      const point: BnLagPoint = { epoch: otherState.epoch, step: otherState.epoch * stepsPerEpoch, source: `checkpoint:${other}`, layers: {} };
      for (const n of names) point.layers[n] = lagOf(otherRunning[n], pop.stats[n]);
      lag.push(point);
      model.setWeights(original);
    }
    lag.sort((a, b) => a.epoch - b.epoch || (a.source < b.source ? 1 : -1));

    const stats: BnReport['stats'] = {};
    const lastRec: BnRecord | undefined = records.filter((r) => r.epoch <= state.epoch).at(-1);
    for (const n of names) {
      const lr = lastRec?.layers[n];
      stats[n] = {
        running: running[n],
        population: seq.stats[n],
        populationOnePass: onePass.stats[n],
        lastBatch: lr ? { mean: lr.batchMean, var: lr.batchVar } : null,
      };
    }

    let recalibrated: BnReport['recalibrated'];
    if (req.recalibrate) {
      ws.writeCheckpoint(run.id, RECALIBRATED_TAG, { ...state, weights: recalibratedWeights });
      recalibrated = { checkpoint: RECALIBRATED_TAG, accBefore: r0.acc, accAfter: r1.acc, lossBefore: r0.loss, lossAfter: r1.loss };
    }

    return {
      runId: run.id,
      hasBn: true,
      message: `${layers.length} BN layer${layers.length === 1 ? '' : 's'}, checkpoint ${tag} after epoch ${state.epoch}`,
      checkpoint: tag,
      epoch: state.epoch,
      layers,
      populationImages: popImages,
      testImages,
      method:
        'precise BN, sequential: layer by layer in order, each layer\'s input taken over the training images with the network in eval mode ' +
        '(dropout off) and every upstream BN layer already using its population statistics, so the recalibrated network is self-consistent; ' +
        'every spatial position of every image is a sample; variance with divisor N; no augmentation',
      stats,
      accuracy,
      gap,
      ghost,
      lag,
      timelineCheck: replayTimeline(records, layers, s.batch, train.count),
      momentum,
      ...(recalibrated ? { recalibrated } : {}),
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    model.dispose();
  }
}

const blankRow: BnAccuracyRow = { mode: '', label: '', batchSize: null, acc: 0, loss: 0, images: 0 };
