import type * as tf from '@tensorflow/tfjs-core';
import type { ModelSpec } from './spec';

import type { NamedWeights } from '../model';

export type { NamedWeights } from '../model';

export interface EngineModel {
  readonly spec: ModelSpec;
  /** Logits in eval mode (running statistics, dropout off). Input NHWC, already normalized. */
  predict(x: tf.Tensor4D): tf.Tensor2D;
  getWeights(): NamedWeights;
  setWeights(w: NamedWeights): void;
  dispose(): void;
}

/** Everything needed to continue a run exactly: stored as a checkpoint by the store. */
export interface TrainState {
  /** Epochs completed. */
  epoch: number;
  /** Model weights including BN running statistics. */
  weights: NamedWeights;
  /** Optimizer: step count and slot tensors (e.g. 'm/conv1/kernel', 'v/conv1/kernel'). */
  optimizer: { kind: string; step: number; slots: NamedWeights };
  /**
   * Best epoch so far by validation loss (early stopping and the 'best' checkpoint). valLoss and
   * valAcc are absent in checkpoints written before the validation split: there the test split
   * was the validation split, and testLoss is what was compared.
   */
  best: { epoch: number; testLoss: number; testAcc: number; valLoss?: number; valAcc?: number } | null;
  /** Epochs since the best one (early-stopping patience counter). */
  earlyStopWait: number;
  /** Input normalization of the training split, per channel, in [0,1] pixel units. */
  normalization: { mean: number[]; std: number[] };
}

/** One BN snapshot: per norm layer and channel, recorded every K training steps. */
export interface BnRecord {
  step: number;
  epoch: number;
  layers: Record<string, { batchMean: number[]; batchVar: number[]; runningMean: number[]; runningVar: number[] }>;
}

/** An eval-mode pass over a split (train.ts `evaluate`, OrtTrainer.evaluate). */
export interface EvalResult {
  loss: number;
  acc: number;
  /** Softmax probabilities, count × classes. */
  probs: Float32Array;
  preds: Uint8Array;
}
