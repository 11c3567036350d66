/**
 * The step engine: what trainRun needs from whatever runs the forward and backward pass. One
 * implementation per engine — tfjs here (train.ts `tfjsStepEngine`), onnxruntime in host/
 * (host/step-engines.ts), since engine/ never imports onnx/. trainRun gets a factory from its
 * caller and holds no engine branches: the loop, the optimizer, penalties, clipping, BN records
 * and checkpoints are the same code for both.
 */
import type { LossKind, TrainSettings } from '../contract/settings';
import type { Split } from '../data/dataset';
import type { Model, ParamRef } from './model';
import type { EvalResult } from './model-types';
import type { Optimizer } from './optim';
import type { ModelSpec } from './spec';

export interface EngineChoice {
  engine: 'onnxruntime' | 'tfjs';
  /** Why this engine (shown with the run). */
  reason: string;
  /** ORT intra-op threads (onnxruntime only). */
  threads?: number;
}

/** The recipe of one optimizer step (learning rate, loss, dropout seed, penalties, clipping). */
export interface StepConfig {
  lr: number;
  loss: LossKind;
  dropoutSeed: number;
  penalized: Set<string>;
  l1: number;
  l2: number;
  clip: TrainSettings['clip'];
  clipValue: number;
}

/** One training batch: normalized NHWC images (the first `n` of `x`) and their labels. */
export interface StepBatch {
  x: Float32Array;
  labels: Int32Array;
  n: number;
  cfg: StepConfig;
  /**
   * The following step's dropout seed and batch size, when the run has one: an engine may
   * prepare that step (draw its masks) while this one runs.
   */
  next?: { dropoutSeed: number; n: number };
}

/** What one applied step reports: data loss, correct predictions, pre-clip gradient norm, clipped 0/1. */
export interface StepStats {
  loss: number;
  correct: number;
  norm: number;
  clipped: number;
}

export interface StepEngine {
  /** Which engine this is, and why it was chosen. */
  readonly choice: EngineChoice;
  /** Forward, backward and the optimizer update (penalties and clipping included) on one batch. */
  step(batch: StepBatch): Promise<StepStats>;
  /** Eval-mode pass (running BN statistics, no dropout) over a split. */
  evaluate(split: Split, normalization: { mean: number[]; std: number[] }): Promise<EvalResult>;
  /** Mean milliseconds per step in each part, when the engine measures them. */
  stepTiming(): Record<string, number> | undefined;
  dispose(): Promise<void>;
}

/** What a factory gets to build the engine of one run. */
export interface StepEngineContext {
  settings: TrainSettings;
  spec: ModelSpec;
  /** The run's model and its parameters, in the optimizer's order; the engine trains them in place. */
  model: Model;
  params: ParamRef[];
  optimizer: Optimizer;
  /** Image shape [h, w, c] and class count of the dataset. */
  input: [number, number, number];
  classes: number;
}

/**
 * Chooses and starts the engine for a run (honouring settings.engine: auto | tfjs | onnxruntime).
 * Throws when the engine the settings insist on cannot train the model or cannot start.
 */
export type StepEngineFactory = (ctx: StepEngineContext) => Promise<StepEngine>;
