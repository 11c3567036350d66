/**
 * Dropout ensemble (MC dropout against the weight-scaling rule): request/response types only.
 * Arrays are plain numbers because every door carries JSON. The one function here is pure data,
 * shared by the service (which answers before queuing a job) and the worker.
 */

import type { CheckpointTag } from './checkpoint';

/** Any checkpoint of the one rule (contract/checkpoint.ts). */
export type DropoutCheckpoint = CheckpointTag;

export interface DropoutRequest {
  runId: string;
  /** Number of sampled dropout masks K (1..256, default 64). */
  samples?: number;
  /** First N test images (0 = the whole test split; default 1000). */
  testLimit?: number;
  /** Seed of the masks (default: the run's own seed). */
  seed?: number;
  /** Which checkpoint to analyse (default 'best': lowest test loss; falls back to 'last'). */
  checkpoint?: DropoutCheckpoint;
  /** How many test images the gallery returns, most uncertain first (default 24, at most 64). */
  gallery?: number;
}

/** One point of the accuracy-vs-K curve. */
export interface DropoutCurvePoint {
  /** Masks averaged so far. */
  k: number;
  /** Accuracy of the mean of the first k masks' softmax outputs. */
  acc: number;
  /** Mean cross-entropy of that mean distribution. */
  loss: number;
  /** Accuracy of mask k alone (one thinned network). */
  memberAcc: number;
}

/** One test image, for the grid sorted by uncertainty. */
export interface DropoutImage {
  /** Index in the test split. */
  index: number;
  label: number;
  /** Argmax of the ensemble's mean probabilities. */
  pred: number;
  /** Argmax of the single weight-scaled network. */
  weightScaledPred: number;
  /** Predictive entropy of the mean distribution (nats). */
  entropy: number;
  /** Mutual information between prediction and mask (nats): entropy − mean per-mask entropy. */
  mutualInfo: number;
  /** Share of masks whose argmax differs from the ensemble's. */
  disagreement: number;
  /** Mean probability per class across masks. */
  mean: number[];
  /** Standard deviation per class across masks. */
  std: number[];
  /** Weight-scaled network's probabilities. */
  weightScaled: number[];
  /** height·width·channels bytes (0 = black), NHWC. */
  pixels: number[];
}

/** Accuracy on one tenth of the images ranked by entropy (decile 1 = most certain). */
export interface DropoutDecile {
  decile: number;
  count: number;
  acc: number;
  entropyFrom: number;
  entropyTo: number;
}

export interface DropoutReport {
  status: 'ok';
  runId: string;
  runName: string;
  /** The checkpoint analysed and the epoch it holds. */
  checkpoint: { tag: DropoutCheckpoint; epoch: number; requested: DropoutCheckpoint };
  dataset: string;
  classNames: string[];
  imageShape: [number, number, number];
  images: number;
  samples: number;
  seed: number;
  /** Dropout layers of the model and their rates. */
  dropoutLayers: { name: string; rate: number }[];
  /** The expected network (inverted dropout off): one deterministic pass. */
  weightScaled: { acc: number; loss: number };
  /** Ensemble of k masks, for k = 1..samples. */
  curve: DropoutCurvePoint[];
  /** The full K-mask ensemble. */
  ensemble: {
    acc: number;
    loss: number;
    meanEntropy: number;
    meanMutualInfo: number;
    meanDisagreement: number;
    /** Share of images where the ensemble and the weight-scaled network predict the same class. */
    agreementWithWeightScaled: number;
    /** Mean accuracy of single masks (thinned networks). */
    meanMemberAcc: number;
  };
  deciles: DropoutDecile[];
  /** Entropy histogram of the ensemble prediction, correct vs wrong images; edges span [0, ln classes]. */
  entropyHistogram: { edges: number[]; correct: number[]; wrong: number[] };
  /** Most uncertain images first (then a few of the most certain, marked by `certain`). */
  gallery: DropoutImage[];
  /** How many of `gallery` (from the end) are the most certain images, shown for contrast. */
  certainInGallery: number;
  backend: string;
  seconds: number;
}

/** Why the analysis cannot run for this run, with what to do about it. */
export interface DropoutUnavailable {
  status: 'unavailable';
  reason: 'no-dropout' | 'not-trained';
  runId: string;
  message: string;
  /** Settings for a copy of the run that can be analysed (e.g. { dropout: 0.1 }). */
  suggestion?: { label: string; settings: Record<string, number> };
}

export type DropoutResult = DropoutReport | DropoutUnavailable;

export interface DropoutApi {
  'dropout.analyze': { req: DropoutRequest; res: DropoutResult };
}

/** Message and suggestion for a run whose model has no active dropout layer. */
export function noDropoutResult(runId: string, runName: string): DropoutUnavailable {
  return {
    status: 'unavailable',
    reason: 'no-dropout',
    runId,
    message: `Run "${runName}" was trained without dropout (rate 0), so every mask is the same network and there is no ensemble to sample. Train a copy with dropout to compare MC dropout with the weight-scaling rule.`,
    suggestion: { label: 'Start a copy of this run with dropout 0.1', settings: { dropout: 0.1 } },
  };
}
