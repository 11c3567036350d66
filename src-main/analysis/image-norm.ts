/**
 * The normalization lab (seed 003, "normalization is not equalization"): a few dataset images
 * shown raw, standardized by their own mean/std, standardized by the training set's mean/std
 * (what the trainer's input normalization does), and histogram-equalized, each with its pixel
 * histogram. Standardizing is affine: it moves and stretches the histogram but keeps its shape;
 * equalization remaps the grey levels so the cumulative histogram is close to a straight line.
 */
import type { ImageVariant, ImageVariantView, NormLabImage, NormLabReport } from '../contract/landscape';
import type { Dataset } from '../data/dataset';
import { channelStats, histogramEqualize } from '../data/normalize';

/** Mean and population std of values. */
export function meanStd(v: ArrayLike<number>): { mean: number; std: number } {
  let m = 0;
  for (let i = 0; i < v.length; i++) m += v[i];
  m /= v.length || 1;
  let s = 0;
  for (let i = 0; i < v.length; i++) s += (v[i] - m) ** 2;
  return { mean: m, std: Math.sqrt(s / (v.length || 1)) };
}

/** Counts of values in `bins` equal bins over [lo, hi] (values outside are clamped into the end bins). */
export function rangeHistogram(v: ArrayLike<number>, lo: number, hi: number, bins: number): number[] {
  const h = new Array<number>(bins).fill(0);
  const w = hi > lo ? (hi - lo) / bins : 1;
  for (let i = 0; i < v.length; i++) h[Math.min(bins - 1, Math.max(0, Math.floor((v[i] - lo) / w)))]++;
  return h;
}

function view(values: Float64Array, lo: number, hi: number, bins: number): ImageVariantView {
  const { mean, std } = meanStd(values);
  const span = hi > lo ? hi - lo : 1;
  const pixels = Array.from(values, (x) => Math.round(255 * Math.min(1, Math.max(0, (x - lo) / span))));
  return { pixels, hist: rangeHistogram(values, lo, hi, bins), range: [lo, hi], mean, std };
}

/**
 * The four versions of one single-channel image of bytes. `datasetMean`/`datasetStd` are in
 * [0, 1] pixel units. The two standardized versions share one value range so their histograms
 * compare directly.
 */
export function imageVariants(img: Uint8Array, datasetMean: number, datasetStd: number, bins: number): Record<ImageVariant, ImageVariantView> {
  const x = Float64Array.from(img, (b) => b / 255);
  const own = meanStd(x);
  const perImage = x.map((v) => (v - own.mean) / (own.std > 1e-12 ? own.std : 1));
  const dataset = x.map((v) => (v - datasetMean) / (datasetStd > 1e-12 ? datasetStd : 1));
  const eq = Float64Array.from(histogramEqualize(img), (b) => b / 255);
  let lo = Infinity;
  let hi = -Infinity;
  for (const a of [perImage, dataset]) for (const v of a) { if (v < lo) lo = v; if (v > hi) hi = v; }
  return {
    original: view(x, 0, 1, bins),
    perImage: view(perImage, lo, hi, bins),
    dataset: view(dataset, lo, hi, bins),
    equalized: view(eq, 0, 1, bins),
  };
}

/** The lab for test images offset..offset+count−1 of a single- or multi-channel dataset (first channel shown). */
export function normLab(data: Dataset, o: { count: number; offset: number; bins: number }): NormLabReport {
  const { height: h, width: w, channels: c } = data.info;
  const pixels = h * w * c;
  const train = data.train;
  const stats = channelStats(train.images, train.count, h, w, c);
  const images: NormLabImage[] = [];
  const end = Math.min(data.test.count, o.offset + o.count);
  if (o.offset >= data.test.count) throw new RangeError(`normalization lab: offset ${o.offset} is past the ${data.test.count} test images`);
  for (let i = o.offset; i < end; i++) {
    const src = data.test.images.subarray(i * pixels, (i + 1) * pixels);
    const img = c === 1 ? src : Uint8Array.from({ length: h * w }, (_, p) => src[p * c]);
    const label = data.test.labels[i];
    images.push({ index: i, label, className: data.info.classNames[label] ?? String(label), variants: imageVariants(img, stats.mean[0], stats.std[0], o.bins) });
  }
  return { dataset: data.info.name, shape: [h, w, 1], datasetMean: stats.mean[0], datasetStd: stats.std[0], images };
}
