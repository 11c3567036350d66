/**
 * Loss landscape and normalization lab: request/response types only. Arrays are plain numbers
 * because every door carries JSON. Grids are row-major: value (i, j) at index j·n + i, with
 * column i = coordinate xs[i] along direction 1 and row j = ys[j] along direction 2.
 */

import type { CheckpointTag } from './checkpoint';

/** Any checkpoint of the one rule (contract/checkpoint.ts). */
export type LandscapeCheckpoint = CheckpointTag;

/**
 * 'random': two filter-normalized random directions around the trained weights (Li et al.);
 * 'pca': the two PCA directions of the training trajectory (needs per-epoch weights).
 */
export type LandscapeDirections = 'random' | 'pca';

export interface LandscapeRequest {
  runId: string;
  /** Points per axis of the 2-D grid (3..61, default 21; odd keeps the trained weights on the grid). */
  grid?: number;
  /** The grid spans [−span, span] along each direction (default 1; ignored for 'pca', which fits the trajectory). */
  span?: number;
  /** First N test images form the evaluation slice (default 1000). */
  evalLimit?: number;
  /** Seed of the random directions (default 1; the same seed gives two runs the same raw noise). */
  seed?: number;
  /** Recompute BN running statistics at every point (population statistics of 256 training images). */
  recomputeBn?: boolean;
  /** Use the trajectory's PCA plane and overlay the trajectory (needs per-epoch weights). */
  trajectory?: boolean;
  /** Points of the 1-D interpolation initial → final, α ∈ [−0.5, 1.5] (0 = skip; default 41). */
  line?: number;
  checkpoint?: LandscapeCheckpoint;
}

export interface LandscapeGrid {
  directions: LandscapeDirections;
  /** Points per axis. */
  n: number;
  xs: number[];
  ys: number[];
  loss: number[];
  acc: number[];
  /** Axis titles, e.g. "direction 1 (filter-normalized units)" or "PC1 (87.2% of variance)". */
  xLabel: string;
  yLabel: string;
}

export interface LandscapeLine {
  /** α: 0 = initial weights (epoch 0), 1 = final weights. */
  alphas: number[];
  loss: number[];
  acc: number[];
}

export interface LandscapeTrajectory {
  /** Epoch of each point (0 = initial weights). */
  epochs: number[];
  /** Coordinates (w_i − w_final) on PC1, PC2; the final point is (0, 0). */
  points: [number, number][];
  /** Share of variance explained by PC1 and PC2 (sum ≤ 1): how faithful the 2-D picture is. */
  explained: [number, number];
}

export interface LandscapeReport {
  status: 'ok';
  runId: string;
  runName: string;
  checkpoint: { tag: LandscapeCheckpoint; epoch: number };
  dataset: string;
  /** Normalization of the run's model: 'batch', 'none', … */
  norm: string;
  evalImages: number;
  seed: number;
  recomputeBn: boolean;
  /** Loss and accuracy of the trained weights on the slice (= the grid's centre). */
  centre: { loss: number; acc: number };
  grid: LandscapeGrid;
  line: LandscapeLine | null;
  trajectory: LandscapeTrajectory | null;
  /** Why the trajectory or the line is missing, when asked for. */
  notes: string[];
  backend: string;
  seconds: number;
  /** Grid points (and line points) evaluated per second. */
  pointsPerSecond: number;
}

export interface LandscapeCancelled {
  status: 'cancelled';
  runId: string;
}

export type LandscapeResult = LandscapeReport | LandscapeCancelled;

export type ImageVariant = 'original' | 'perImage' | 'dataset' | 'equalized';

export interface ImageVariantView {
  /** Bytes 0..255 for display (standardized values are mapped linearly from `range`). */
  pixels: number[];
  /** The values' own histogram over `range` (bins equal width). */
  hist: number[];
  /** Value range the histogram covers, in the variant's own units. */
  range: [number, number];
  mean: number;
  std: number;
}

export interface NormLabImage {
  index: number;
  label: number;
  className: string;
  variants: Record<ImageVariant, ImageVariantView>;
}

export interface NormLabRequest {
  /** Dataset reference (default: mnist-sample); or a run whose dataset to use. */
  data?: string;
  runId?: string;
  /** Test images to show (1..16, default 4) starting at `offset`. */
  count?: number;
  offset?: number;
  /** Histogram bins (8..256, default 32). */
  bins?: number;
}

export interface NormLabReport {
  dataset: string;
  shape: [number, number, number];
  /** Mean and std of the training split, in [0, 1] pixel units (what 'dataset' standardization uses). */
  datasetMean: number;
  datasetStd: number;
  images: NormLabImage[];
}

export interface LandscapeApi {
  'landscape.compute': { req: LandscapeRequest; res: LandscapeResult };
  'landscape.images': { req: NormLabRequest; res: NormLabReport };
}
