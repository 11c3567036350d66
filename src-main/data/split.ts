/**
 * The validation split: held out of the training split, seeded and stratified by class, so that
 * model selection and early stopping never look at the test split. With fraction 0 there is no
 * validation split and the test split stands in for it (the course notebooks' way).
 */
import { deriveSeed, mulberry32, permutation } from '../contract/math/rng';
import type { Dataset, Split } from './dataset';
import { DatasetError } from './idx';

/** Stream id of the validation draw (apart from the engine's init/shuffle/dropout streams). */
const VAL_STREAM = 0x7a1;

export interface TrainValSplit {
  train: Split;
  /** Null when the fraction is 0: the test split is used as validation. */
  val: Split | null;
}

/** Copies the images and labels at `idx` (ascending) into a new split. */
export function takeSplit(s: Split, idx: ArrayLike<number>, pixels: number): Split {
  const images = new Uint8Array(idx.length * pixels);
  const labels = new Uint8Array(idx.length);
  for (let i = 0; i < idx.length; i++) {
    const j = idx[i];
    images.set(s.images.subarray(j * pixels, (j + 1) * pixels), i * pixels);
    labels[i] = s.labels[j];
  }
  return { images, labels, count: idx.length };
}

/**
 * How many images of each class go to validation: round(count · fraction), at least one for every
 * class with two or more images when the fraction is above 0, never all of a class.
 */
export function validationCounts(classCounts: number[], fraction: number): number[] {
  if (fraction <= 0) return classCounts.map(() => 0);
  return classCounts.map((n) => (n < 2 ? 0 : Math.min(n - 1, Math.max(1, Math.round(n * fraction)))));
}

/**
 * Splits a training split into train and validation: per class, a seeded permutation of that
 * class's images picks validationCounts() of them; both parts keep the original order. The draw
 * depends only on `seed` and the labels, so every variant of a study sees the same split.
 * @throws RangeError when the fraction leaves no validation or no training image.
 */
export function splitValidation(s: Split, fraction: number, seed: number, pixels: number): TrainValSplit {
  const parts = validationIndices(s, fraction, seed);
  if (!parts) return { train: s, val: null };
  return { train: takeSplit(s, parts.train, pixels), val: takeSplit(s, parts.val, pixels) };
}

/**
 * The draw of splitValidation as image indices into `s` (each part ascending), without copying
 * images: the trainer keeps its training part as a view of the shared dataset (runs trained at
 * once then share one copy of the images). Null when the fraction is 0.
 * @throws RangeError when the fraction leaves no validation or no training image.
 */
export function validationIndices(s: Split, fraction: number, seed: number): { train: Uint32Array; val: Uint32Array } | null {
  if (!(fraction >= 0 && fraction < 1)) throw new RangeError(`validation fraction must be in [0, 1), got ${fraction}`);
  if (fraction === 0) return null;
  let classes = 0;
  for (let i = 0; i < s.count; i++) if (s.labels[i] + 1 > classes) classes = s.labels[i] + 1;
  const byClass: number[][] = Array.from({ length: classes }, () => []);
  for (let i = 0; i < s.count; i++) byClass[s.labels[i]].push(i);
  const want = validationCounts(byClass.map((c) => c.length), fraction);
  const isVal = new Uint8Array(s.count);
  byClass.forEach((members, k) => {
    if (want[k] === 0) return;
    const order = permutation(members.length, mulberry32(deriveSeed(seed, VAL_STREAM, k)));
    for (let i = 0; i < want[k]; i++) isVal[members[order[i]]] = 1;
  });
  const valIdx: number[] = [];
  const trainIdx: number[] = [];
  for (let i = 0; i < s.count; i++) (isVal[i] ? valIdx : trainIdx).push(i);
  if (valIdx.length === 0) {
    throw new RangeError(`a validation fraction of ${fraction} of ${s.count} training images leaves no validation image; use more images or --val-split 0`);
  }
  if (trainIdx.length === 0) throw new RangeError(`a validation fraction of ${fraction} leaves no training image`);
  return { train: Uint32Array.from(trainIdx), val: Uint32Array.from(valIdx) };
}

/** Sizes of the three splits a run will use (after the train/test limits and the validation split). */
export function plannedSplitSizes(
  train: Split,
  testCount: number,
  settings: { trainLimit: number; testLimit: number; valSplit: number },
): { train: number; val: number; test: number; valIsTest: boolean } {
  const n = settings.trainLimit > 0 ? Math.min(settings.trainLimit, train.count) : train.count;
  const counts: number[] = [];
  for (let i = 0; i < n; i++) counts[train.labels[i]] = (counts[train.labels[i]] ?? 0) + 1;
  const val = validationCounts(Array.from(counts, (c) => c ?? 0), settings.valSplit).reduce((a, b) => a + b, 0);
  const test = settings.testLimit > 0 ? Math.min(settings.testLimit, testCount) : testCount;
  return { train: n - val, val: settings.valSplit > 0 ? val : test, test, valIsTest: settings.valSplit === 0 };
}

/**
 * Checks, before a run is created, that every split it would use holds at least one image.
 * @throws DatasetError naming the dataset's source and the split that would be empty.
 */
export function checkPlannedSplits(data: Dataset, settings: { trainLimit: number; testLimit: number; valSplit: number }): void {
  const p = plannedSplitSizes(data.train, data.test.count, settings);
  const where = data.info.source === 'embedded' ? data.info.name : data.info.source;
  if (p.test < 1) throw new DatasetError(where, 'the test split holds no image');
  if (p.train < 1) {
    throw new DatasetError(where, `the training split holds no image after holding out ${p.val} for validation (--val-split ${settings.valSplit}, --train-limit ${settings.trainLimit})`);
  }
  if (settings.valSplit > 0 && p.val < 1) {
    throw new DatasetError(where, `--val-split ${settings.valSplit} of ${p.train} training images leaves no validation image (each class needs at least two images); use more images or --val-split 0`);
  }
}
