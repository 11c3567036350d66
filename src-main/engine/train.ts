/**
 * The training loop: seeded shuffling, augmentation and dropout per (seed, epoch, step), so a
 * run resumed from a checkpoint continues exactly like an uninterrupted one; per-epoch metrics,
 * early stopping, BN records and cooperative cancellation.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { EpochMetrics } from '../contract/api';
import type { LossKind, TrainSettings } from '../contract/settings';
import type { Dataset, Split } from '../data/dataset';
import { channelStats, gatherBatch } from '../data/normalize';
import { augmentBatch } from '../data/augment';
import { takeSplit, validationIndices } from '../data/split';
import type { BnRecord, EvalResult, NamedWeights, TrainState } from './model-types';
import { buildModel, type Model, type ParamRef } from './model';
import { Optimizer, lrAt } from './optim';
import { addPenaltyGrad, clipGrads, lossFn } from './regularize';
import { deriveSeed, mulberry32, permutation, STREAM } from './rng';
import { specForSettings, type ModelSpec } from './spec';
import { splitStart } from '../model/start-weights';
import type { EngineChoice, StepConfig, StepEngine, StepEngineContext, StepEngineFactory } from './step-engine';

export interface TrainProgress {
  /** 1-based epoch in progress. */
  epoch: number;
  epochs: number;
  /** 1-based step within the epoch. */
  step: number;
  steps: number;
  /** Share of the whole run done, 0..1. */
  fraction: number;
  etaSeconds: number;
  /**
   * Training loss per step since the previous call, thinned to at most STEP_POINTS_PER_EPOCH
   * points an epoch: [global step (1-based), mean loss of the steps it stands for].
   */
  losses?: [number, number][];
}

/** Most per-step loss points reported per epoch (each the mean of a run of neighbouring steps). */
export const STEP_POINTS_PER_EPOCH = 200;

/**
 * Thins per-step losses to at most STEP_POINTS_PER_EPOCH points an epoch: each point is the mean
 * loss of `stride` consecutive steps (fewer at the epoch's end), placed at the last of them.
 */
export class StepLossThinner {
  readonly stride: number;
  private pending: [number, number][] = [];
  private sum = 0;
  private n = 0;

  constructor(readonly stepsPerEpoch: number) {
    this.stride = Math.max(1, Math.ceil(stepsPerEpoch / STEP_POINTS_PER_EPOCH));
  }

  /** One step's loss; `step` is 0-based within the epoch, `globalStep` 1-based over the run. */
  add(step: number, globalStep: number, loss: number): void {
    this.sum += loss;
    this.n += 1;
    if (this.n === this.stride || step === this.stepsPerEpoch - 1) {
      this.pending.push([globalStep, this.sum / this.n]);
      this.sum = 0;
      this.n = 0;
    }
  }

  /** The points made since the previous call. */
  take(): [number, number][] {
    return this.pending.splice(0);
  }
}

export interface TrainerHooks {
  onProgress?(p: TrainProgress): void;
  /**
   * After every epoch. `state` is the checkpoint to write as 'last'; `bestWeights` is given when
   * this epoch is the best so far (write it as 'best'). Awaited before training goes on.
   */
  onEpoch?(m: EpochMetrics, state: TrainState, isBest: boolean, bestWeights?: NamedWeights): Promise<void> | void;
  onBnRecord?(r: BnRecord): void;
  /** Once, when the engine that trains this session is known (onnxruntime or tfjs, and why). */
  onEngine?(e: EngineChoice): void;
  /** Polled after every step; true stops the run after the current step. */
  isCancelled?(): boolean;
  /** Once, before the first step, when the run starts from given weights: how many were taken, which were seeded and why. */
  onStartWeights?(s: { taken: number; seeded: { name: string; why: string }[]; unused: string[] }): void;
}

export interface TrainResult {
  status: 'done' | 'cancelled' | 'stopped-early';
  /** Epochs completed (including those before a resume). */
  epochs: number;
  testAcc: number;
  testLoss: number;
  /** Last validation loss/accuracy (the test split's when valSplit is 0). */
  valAcc: number;
  valLoss: number;
  /** Sizes of the splits trained and evaluated on. */
  splits: { train: number; val: number; test: number; valIsTest: boolean };
  params: number;
  seconds: number;
  /** 1-based epoch with the lowest validation loss, 0 if none finished. */
  bestEpoch: number;
  /** The engine that ran the training steps. */
  engine: EngineChoice;
  /** onnxruntime engine: mean milliseconds per step in each part (prepare, run, read, update). */
  stepTiming?: Record<string, number>;
  model: Model;
}

export interface TrainOptions {
  /** Model to train instead of the one the settings name (`model`, default the S5 net). */
  spec?: ModelSpec;
  /** Minimum milliseconds between onProgress calls (default 200). */
  progressEveryMs?: number;
  /**
   * Values to start from instead of the seeded ones (a model file's imported weights); only the
   * tensors whose name and shape fit the model are used (model/start-weights.ts). Ignored on resume.
   */
  initialWeights?: NamedWeights;
  /**
   * Chooses and starts the step engine (host/step-engines.ts gives onnxruntime or tfjs);
   * default tfjsEngines: this room alone trains on tfjs only.
   */
  engines?: StepEngineFactory;
}

/** The first `limit` images of a split (0 = all). */
export function limitSplit(s: Split, limit: number, pixels: number): Split {
  if (!limit || limit >= s.count) return s;
  return { images: s.images.subarray(0, limit * pixels), labels: s.labels.subarray(0, limit), count: limit };
}

/**
 * The order an epoch visits the training images in: a permutation drawn from (seed, epoch) only,
 * so every variant of a study (dropout, L1/L2, norm, momentum) sees the same batches.
 */
export function epochOrder(settings: Pick<TrainSettings, 'seed' | 'shuffle'>, count: number, epoch: number): Uint32Array {
  return settings.shuffle
    ? permutation(count, mulberry32(deriveSeed(settings.seed, STREAM.shuffle, epoch)))
    : Uint32Array.from({ length: count }, (_, i) => i);
}

/** Steps between BN records: the setting, or about 200 records per run when it is 0. */
export function bnRecordInterval(every: number, totalSteps: number): number {
  return every > 0 ? every : Math.max(1, Math.round(totalSteps / 200));
}

const yieldToEventLoop = () => new Promise<void>((r) => setImmediate(r));

/**
 * Trains (or resumes) one run. `resume` is the TrainState after epoch k (as given to onEpoch);
 * training continues with epoch k+1 and reproduces an uninterrupted run's metrics.
 * `bestWeights` (the 'best' checkpoint) lets early stopping restore the best epoch after a resume.
 * The returned model is the caller's to dispose.
 *
 * Reported train_loss is the data loss (cross-entropy or MSE) averaged over the epoch's
 * batches in training mode; the L1/L2 penalty is not included so that it compares with val_loss
 * and test_loss. The validation split (settings.valSplit of the training images, seeded and
 * stratified) is held out of training; the best checkpoint and early stopping use its loss.
 */
export async function trainRun(
  settings: TrainSettings,
  data: Dataset,
  hooks: TrainerHooks = {},
  resume?: TrainState,
  bestWeights?: NamedWeights,
  options: TrainOptions = {},
): Promise<TrainResult> {
  const started = performance.now();
  const { height: h, width: w, channels: c } = data.info;
  const pixels = h * w * c;
  const classes = data.info.classNames.length;
  const spec = options.spec ?? specForSettings(settings, [h, w, c], classes);
  const limited = limitSplit(data.train, settings.trainLimit, pixels);
  const test = limitSplit(data.test, settings.testLimit, pixels);
  if (limited.count < 1) throw new Error(`dataset ${data.info.name}: the training split is empty`);
  if (test.count < 1) throw new Error(`dataset ${data.info.name}: the test split is empty`);
  // Held out of train (seeded, stratified): best checkpoint and early stopping look only at it.
  const valSplit = settings.valSplit ?? 0;
  // The training part stays a view of the dataset through an index list, so runs trained at once
  // share the host's one copy of the images; only the validation part (a tenth) is copied.
  const parts = validationIndices(limited, valSplit, settings.seed);
  const val = parts ? takeSplit(limited, parts.val, pixels) : null;
  const trainIndex = parts?.train ?? null;
  const train = { count: trainIndex ? trainIndex.length : limited.count };
  const valIsTest = val === null;
  if (resume && resume.epoch > settings.epochs) {
    throw new Error(`resume: the checkpoint is after epoch ${resume.epoch}, but the run has only ${settings.epochs} epochs`);
  }

  const normalization = resume?.normalization ??
    (settings.normalizeInput ? channelStats(limited.images, train.count, h, w, c, trainIndex ?? undefined) : { mean: new Array(c).fill(0), std: new Array(c).fill(1) });
  const fill = normalization.mean.map((m, i) => (0 - m) / (normalization.std[i] > 1e-12 ? normalization.std[i] : 1));

  const model = buildModel(spec, settings.seed);
  if (options.initialWeights && !resume) {
    const seeded = model.getWeights();
    const split = splitStart(Object.entries(seeded).map(([name, t]) => ({ name, shape: t.shape })), options.initialWeights);
    model.setWeights({ ...seeded, ...split.values });
    hooks.onStartWeights?.({ taken: split.taken.length, seeded: split.seeded, unused: split.unused });
  }
  const params = model.params();
  const penalized = new Set(params.filter((p) => settings.penalizeAll || p.kind === 'kernel').map((p) => p.name));
  const optimizer = new Optimizer(
    { kind: settings.optimizer, momentum: settings.momentum, nesterov: settings.nesterov, weightDecay: settings.weightDecay },
    params.map((p) => ({ name: p.name, variable: p.variable, decay: penalized.has(p.name) })),
  );
  let stepEngine: StepEngine;
  try {
    stepEngine = await (options.engines ?? tfjsEngines)({ settings, spec, model, params, optimizer, input: [h, w, c], classes });
  } catch (e) {
    model.dispose();
    optimizer.dispose();
    throw e;
  }
  const engine = stepEngine.choice;
  hooks.onEngine?.(engine);
  const evaluateSplit = (split: Split): Promise<EvalResult> => stepEngine.evaluate(split, normalization);
  const evaluateTest = () => evaluateSplit(test);
  let best = resume?.best ?? null;
  let wait = resume?.earlyStopWait ?? 0;
  let bestSnapshot = bestWeights;
  if (resume) {
    model.setWeights(resume.weights);
    optimizer.setState(resume.optimizer);
  }

  const batch = settings.batch;
  const steps = Math.ceil(train.count / batch);
  const startEpoch = resume?.epoch ?? 0;
  const totalSteps = settings.epochs * steps;
  const recordEvery = bnRecordInterval(settings.bnRecordEvery, totalSteps);
  const hasBn = model.bnLayers().length > 0;
  const augment = settings.augRotate > 0 || settings.augShift > 0 || settings.augErase > 0;
  const buf = new Float32Array(batch * pixels);
  const progressEvery = options.progressEveryMs ?? 200;
  let lastProgress = 0;
  let stepsThisSession = 0;
  const stepLosses = new StepLossThinner(steps);
  let status: TrainResult['status'] = 'done';
  let epochsDone = startEpoch;
  let lastTest = { loss: NaN, acc: NaN };
  let lastVal = { loss: NaN, acc: NaN };

  try {
    for (let epoch = startEpoch; epoch < settings.epochs; epoch++) {
      const t0 = performance.now();
      const order = epochOrder(settings, train.count, epoch);
      // Positions in the training part → images of the (shared) dataset.
      const pick = trainIndex ? order.map((i) => trainIndex[i]) : order;
      let lossSum = 0;
      let correctSum = 0;
      let normSum = 0;
      let clippedSteps = 0;
      let seen = 0;
      let lr = 0;
      let cancelled = false;
      for (let step = 0; step < steps; step++) {
        const start = step * batch;
        const n = Math.min(batch, train.count - start);
        const x = gatherBatch(limited.images, pick, start, n, pixels, normalization.mean, normalization.std, buf);
        if (augment) {
          augmentBatch(x, n, h, w, c, { rotate: settings.augRotate, shift: settings.augShift, erase: settings.augErase },
            mulberry32(deriveSeed(settings.seed, STREAM.augment, epoch, step)), fill);
        }
        const labels = new Int32Array(n);
        for (let i = 0; i < n; i++) labels[i] = limited.labels[pick[start + i]];
        lr = lrAt(settings, epoch, step, steps);
        const cfg: StepConfig = {
          lr,
          loss: settings.loss,
          dropoutSeed: deriveSeed(settings.seed, STREAM.dropout, epoch, step),
          penalized,
          l1: settings.l1,
          l2: settings.l2,
          clip: settings.clip,
          clipValue: settings.clipValue,
        };
        const nextStart = (step + 1) * batch;
        const next = step + 1 < steps
          ? { dropoutSeed: deriveSeed(settings.seed, STREAM.dropout, epoch, step + 1), n: Math.min(batch, train.count - nextStart) }
          : epoch + 1 < settings.epochs ? { dropoutSeed: deriveSeed(settings.seed, STREAM.dropout, epoch + 1, 0), n: Math.min(batch, train.count) } : undefined;
        const { loss, correct, norm, clipped } = await stepEngine.step({ x, labels, n, cfg, next });
        lossSum += loss * n;
        correctSum += correct;
        normSum += norm;
        clippedSteps += clipped;
        seen += n;
        stepsThisSession += 1;
        const globalStep = epoch * steps + step + 1;
        if (hooks.onProgress) stepLosses.add(step, globalStep, loss);
        if (hasBn && hooks.onBnRecord && globalStep % recordEvery === 0) {
          const layers: BnRecord['layers'] = {};
          for (const bn of model.bnLayers()) layers[bn.name] = bn.stats();
          hooks.onBnRecord({ step: globalStep, epoch: epoch + 1, layers });
        }
        const now = performance.now();
        if (hooks.onProgress && (now - lastProgress >= progressEvery || step === steps - 1)) {
          lastProgress = now;
          const elapsed = (now - started) / 1000;
          const remaining = totalSteps - globalStep;
          hooks.onProgress({
            epoch: epoch + 1, epochs: settings.epochs, step: step + 1, steps,
            fraction: globalStep / totalSteps,
            etaSeconds: (elapsed / stepsThisSession) * remaining,
            losses: stepLosses.take(),
          });
        }
        // A macrotask per step lets a worker receive a cancel message.
        await yieldToEventLoop();
        if (hooks.isCancelled?.()) {
          cancelled = true;
          break;
        }
      }
      if (cancelled) {
        status = 'cancelled';
        break;
      }

      const ev = await evaluateTest();
      const evVal = val ? await evaluateSplit(val) : ev;
      lastTest = { loss: ev.loss, acc: ev.acc };
      lastVal = { loss: evVal.loss, acc: evVal.acc };
      const events: string[] = [];
      const isBest = best === null || evVal.loss < (best.valLoss ?? best.testLoss);
      if (isBest) {
        best = { epoch: epoch + 1, testLoss: ev.loss, testAcc: ev.acc, valLoss: evVal.loss, valAcc: evVal.acc };
        wait = 0;
        events.push('best');
        bestSnapshot = model.getWeights();
      } else {
        wait += 1;
      }
      let stopNow = false;
      if (settings.earlyStop > 0 && wait >= settings.earlyStop) {
        stopNow = true;
        events.push('early-stop');
        if (bestSnapshot && best) {
          model.setWeights(bestSnapshot);
          events.push('restored-best');
          lastTest = { loss: best.testLoss, acc: best.testAcc };
          lastVal = { loss: best.valLoss ?? best.testLoss, acc: best.valAcc ?? best.testAcc };
        }
      }
      const { norms, sparsity } = weightSummary(params);
      const metrics: EpochMetrics = {
        epoch: epoch + 1,
        train_loss: lossSum / seen,
        train_acc: correctSum / seen,
        val_loss: evVal.loss,
        val_acc: evVal.acc,
        ...(valIsTest ? { val_is_test: true } : {}),
        test_loss: ev.loss,
        test_acc: ev.acc,
        lr,
        grad_norm: normSum / steps,
        clipped_steps: clippedSteps,
        weight_norms: norms,
        sparsity,
        seconds: (performance.now() - t0) / 1000,
        ...(events.length ? { events } : {}),
      };
      const state: TrainState = {
        epoch: epoch + 1,
        weights: model.getWeights(),
        optimizer: optimizer.getState(),
        best,
        earlyStopWait: wait,
        normalization: { mean: [...normalization.mean], std: [...normalization.std] },
      };
      epochsDone = epoch + 1;
      await hooks.onEpoch?.(metrics, state, isBest, isBest ? bestSnapshot : undefined);
      if (stopNow) {
        status = 'stopped-early';
        break;
      }
    }
    if (Number.isNaN(lastTest.loss)) {
      // Cancelled before finishing an epoch of this session: report the model as it stands.
      const ev = await evaluateTest();
      lastTest = { loss: ev.loss, acc: ev.acc };
      lastVal = val ? await evaluateSplit(val).then((r) => ({ loss: r.loss, acc: r.acc })) : lastTest;
    }
  } catch (e) {
    model.dispose();
    throw e;
  } finally {
    optimizer.dispose();
    await stepEngine.dispose();
  }
  const stepTiming = stepEngine.stepTiming();
  return {
    status,
    epochs: epochsDone,
    testAcc: lastTest.acc,
    testLoss: lastTest.loss,
    valAcc: lastVal.acc,
    valLoss: lastVal.loss,
    splits: { train: train.count, val: val?.count ?? test.count, test: test.count, valIsTest },
    params: model.paramCount(),
    seconds: (performance.now() - started) / 1000,
    bestEpoch: best?.epoch ?? 0,
    engine,
    ...(stepTiming ? { stepTiming } : {}),
    model,
  };
}

/**
 * The tfjs step engine: autodiff on the model's tf variables, evaluation with `evaluate`.
 * `choice` says why tfjs trains this run (chosen, or the reason onnxruntime does not).
 */
export function tfjsStepEngine(ctx: StepEngineContext, choice: EngineChoice): StepEngine {
  const { model, params, optimizer, input, classes, settings } = ctx;
  return {
    choice,
    async step({ x, labels, n, cfg }) {
      const stats = trainStep(model, params, optimizer, x, labels, n, input, classes, cfg);
      const [loss, correct, norm, clipped] = await stats.data();
      stats.dispose();
      return { loss, correct, norm, clipped };
    },
    evaluate: async (split, normalization) => evaluate(model, split, normalization, { batch: 500, loss: settings.loss }),
    stepTiming: () => undefined,
    dispose: async () => {},
  };
}

/**
 * The factory of a process without onnxruntime: tfjs for `auto` and `tfjs`; `onnxruntime` is an
 * error, since no onnxruntime engine was given (host/step-engines.ts gives one).
 */
export const tfjsEngines: StepEngineFactory = async (ctx) => {
  if (ctx.settings.engine === 'onnxruntime') throw new Error('engine onnxruntime is not available here (trainRun was given no onnxruntime engine); use engine tfjs or auto');
  return tfjsStepEngine(ctx, { engine: 'tfjs', reason: ctx.settings.engine === 'tfjs' ? 'engine tfjs was chosen' : 'auto: this process trains on tfjs only' });
};

/**
 * One optimizer step on a normalized NHWC batch. Returns [loss, correct, pre-clip grad norm,
 * clipped 0/1] as one tensor so the loop reads back once per step.
 */
export function trainStep(
  model: Model,
  params: ParamRef[],
  optimizer: Optimizer,
  x: Float32Array,
  labels: Int32Array,
  n: number,
  [h, w, c]: [number, number, number],
  classes: number,
  cfg: StepConfig,
): tf.Tensor1D {
  return tf.tidy(() => {
    const xt = tf.tensor4d(x.subarray(0, n * h * w * c), [n, h, w, c]);
    const yt = tf.tensor1d(labels, 'int32');
    const onehot = tf.cast(tf.oneHot(yt, classes), 'float32') as tf.Tensor2D;
    const held: { correct?: tf.Tensor } = {};
    const { value, grads } = tf.variableGrads(() => {
      const logits = model.forward(xt, { training: true, dropoutSeed: cfg.dropoutSeed });
      held.correct = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), yt), 'float32')));
      return lossFn(cfg.loss, logits, onehot);
    }, params.map((p) => p.variable));
    const u = applyUpdate(params, optimizer, params.map((p) => grads[p.variable.name] ?? tf.zerosLike(p.variable)), cfg);
    const out = tf.stack([value, held.correct!, u.norm, u.clipped]) as tf.Tensor1D;
    held.correct!.dispose();
    return out;
  });
}

/**
 * Penalty gradients, clipping and the optimizer update from the data gradients (in the order of
 * `params`), shared by both engines. Returns the pre-clip global norm and the 0/1 clipped flag.
 */
export function applyUpdate(params: ParamRef[], optimizer: Optimizer, grads: tf.Tensor[], cfg: StepConfig): { norm: tf.Scalar; clipped: tf.Scalar } {
  const pen = { l1: cfg.l1, l2: cfg.l2 };
  const list = params.map((p, i) => (cfg.penalized.has(p.name) && (pen.l1 > 0 || pen.l2 > 0) ? addPenaltyGrad(grads[i], p.variable, pen) : grads[i]));
  const clipped = clipGrads(list, cfg.clip, cfg.clipValue);
  optimizer.apply(Object.fromEntries(params.map((p, i) => [p.name, clipped.grads[i]])), cfg.lr);
  return { norm: clipped.norm, clipped: clipped.clipped };
}

/** Per-parameter L2 norms and the share of kernel weights with |w| < 1e-3. */
function weightSummary(params: ParamRef[]): { norms: Record<string, number>; sparsity: number } {
  const norms: Record<string, number> = {};
  let small = 0;
  let total = 0;
  for (const p of params) {
    const d = p.variable.dataSync();
    let s = 0;
    for (let i = 0; i < d.length; i++) s += d[i] * d[i];
    norms[p.name] = Math.sqrt(s);
    if (p.kind === 'kernel') {
      for (let i = 0; i < d.length; i++) if (Math.abs(d[i]) < 1e-3) small++;
      total += d.length;
    }
  }
  return { norms, sparsity: total ? small / total : 0 };
}


/**
 * Eval-mode pass (running statistics, no dropout) over the first `limit` images of a split
 * (0 or absent = all), in batches.
 */
export function evaluate(
  model: Model,
  split: Split,
  normalization: { mean: number[]; std: number[] },
  opts: { limit?: number; batch?: number; loss?: LossKind } = {},
): EvalResult {
  const [h, w, c] = model.spec.input;
  const classes = model.spec.classes;
  const pixels = h * w * c;
  const count = opts.limit && opts.limit > 0 ? Math.min(opts.limit, split.count) : split.count;
  const batch = Math.max(1, opts.batch ?? 500);
  const kind = opts.loss ?? 'ce';
  const probs = new Float32Array(count * classes);
  const preds = new Uint8Array(count);
  const identity = Uint32Array.from({ length: count }, (_, i) => i);
  const buf = new Float32Array(Math.min(batch, count) * pixels);
  let lossSum = 0;
  let correct = 0;
  for (let start = 0; start < count; start += batch) {
    const n = Math.min(batch, count - start);
    const x = gatherBatch(split.images, identity, start, n, pixels, normalization.mean, normalization.std, buf);
    const labels = split.labels.subarray(start, start + n);
    const [p, l] = tf.tidy(() => {
      const logits = model.predict(tf.tensor4d(x.subarray(0, n * pixels), [n, h, w, c]));
      const onehot = tf.cast(tf.oneHot(tf.tensor1d(Int32Array.from(labels), 'int32'), classes), 'float32') as tf.Tensor2D;
      return [tf.softmax(logits), tf.mul(lossFn(kind, logits, onehot), n)];
    });
    const pd = p.dataSync() as Float32Array;
    lossSum += l.dataSync()[0];
    p.dispose();
    l.dispose();
    probs.set(pd, start * classes);
    for (let i = 0; i < n; i++) {
      let arg = 0;
      for (let k = 1; k < classes; k++) if (pd[i * classes + k] > pd[i * classes + arg]) arg = k;
      preds[start + i] = arg;
      if (arg === labels[i]) correct++;
    }
  }
  return { loss: lossSum / count, acc: correct / count, probs, preds };
}
