/**
 * Input normalization: per-channel statistics of a training set, the batch gather that turns
 * bytes into normalized float NHWC (training's hot path), and per-image histogram equalization
 * for the "normalization vs equalization" lab.
 */

/**
 * Per-channel mean and population standard deviation of `count` images of h×w×c bytes (NHWC),
 * in [0, 1] pixel units. Exact: it counts byte values, then sums the 256-bin histograms.
 */
export function channelStats(
  images: Uint8Array,
  count: number,
  h: number,
  w: number,
  c: number,
  /** Only these images (indices into `images`, `count` of them), e.g. a training part kept as a view. */
  index?: ArrayLike<number>,
): { mean: number[]; std: number[] } {
  const pixels = h * w * c;
  const total = count * pixels;
  const hist = new Float64Array(256 * c);
  const count1 = (from: number, to: number) => {
    if (c === 1) {
      for (let i = from; i < to; i++) hist[images[i]]++;
    } else {
      for (let i = from; i < to; i += c) for (let ch = 0; ch < c; ch++) hist[ch * 256 + images[i + ch]]++;
    }
  };
  if (index) {
    if (index.length !== count) throw new RangeError(`channelStats: ${count} images but ${index.length} indices`);
    for (let k = 0; k < count; k++) {
      const j = index[k];
      if ((j + 1) * pixels > images.length) throw new RangeError(`channelStats: image ${j} is past the ${images.length / pixels} images given`);
      count1(j * pixels, (j + 1) * pixels);
    }
  } else {
    if (images.length < total) {
      throw new RangeError(`channelStats: ${count} images of ${h}x${w}x${c} need ${total} bytes, got ${images.length}`);
    }
    count1(0, total);
  }
  const perChannel = count * h * w;
  const mean: number[] = [];
  const std: number[] = [];
  for (let ch = 0; ch < c; ch++) {
    let s = 0;
    let s2 = 0;
    for (let v = 0; v < 256; v++) {
      const k = hist[ch * 256 + v];
      s += k * v;
      s2 += k * v * v;
    }
    const m = perChannel > 0 ? s / perChannel : 0;
    const variance = perChannel > 0 ? Math.max(0, s2 / perChannel - m * m) : 0;
    mean.push(m / 255);
    std.push(Math.sqrt(variance) / 255);
  }
  return { mean, std };
}

/**
 * Copies images indices[start..start+n) into float NHWC as (x/255 − mean[ch]) / std[ch], channel
 * being the last axis (pixels = h·w·c). Writes into `out` when given (it must hold n·pixels
 * floats; a longer one is filled from the start and a view of exactly n·pixels is returned).
 * A channel whose std is 0 is only centred, never divided by zero.
 */
export function gatherBatch(
  images: Uint8Array,
  indices: ArrayLike<number>,
  start: number,
  n: number,
  pixels: number,
  mean: number[],
  std: number[],
  out?: Float32Array,
): Float32Array {
  const size = n * pixels;
  if (start < 0 || start + n > indices.length) {
    throw new RangeError(`gatherBatch: rows ${start}..${start + n} are outside the ${indices.length} indices`);
  }
  if (out && out.length < size) throw new RangeError(`gatherBatch: out holds ${out.length} floats, the batch needs ${size}`);
  const dst = out ? (out.length === size ? out : out.subarray(0, size)) : new Float32Array(size);
  const c = mean.length;
  if (c === 0 || std.length !== c || pixels % c !== 0) {
    throw new RangeError(`gatherBatch: ${c} channel means, ${std.length} stds and ${pixels} values per image do not fit together`);
  }
  // One lookup per byte: 256 precomputed values per channel beat a multiply-add in the loop.
  const lut = new Float32Array(256 * c);
  for (let ch = 0; ch < c; ch++) {
    const s = std[ch] > 1e-12 ? std[ch] : 1;
    for (let v = 0; v < 256; v++) lut[ch * 256 + v] = (v / 255 - mean[ch]) / s;
  }
  const count = Math.floor(images.length / pixels);
  for (let i = 0; i < n; i++) {
    const j = indices[start + i];
    if (!(j >= 0 && j < count)) throw new RangeError(`gatherBatch: image index ${j} is outside 0..${count - 1}`);
    const src = j * pixels;
    const o = i * pixels;
    if (c === 1) {
      for (let p = 0; p < pixels; p++) dst[o + p] = lut[images[src + p]];
    } else {
      for (let p = 0; p < pixels; p += c) for (let ch = 0; ch < c; ch++) dst[o + p + ch] = lut[ch * 256 + images[src + p + ch]];
    }
  }
  return dst;
}

/**
 * Counts of byte values in `bins` equal-width bins over 0..255 (bin of v = ⌊v·bins/256⌋).
 */
export function histogram(img: Uint8Array, bins = 256): number[] {
  if (!(Number.isInteger(bins) && bins >= 1 && bins <= 256)) throw new RangeError(`histogram: bins must be an integer in 1..256, got ${bins}`);
  const h = new Array<number>(bins).fill(0);
  for (let i = 0; i < img.length; i++) h[((img[i] * bins) >> 8)]++;
  return h;
}

/**
 * Histogram equalization of one image: v ↦ round(255·(cdf(v) − cdf_min)/(N − cdf_min)), the
 * classic 256-bin mapping that spreads the grey levels so their CDF is close to a straight line.
 * A constant image is returned unchanged (copied).
 */
export function histogramEqualize(img: Uint8Array): Uint8Array {
  const n = img.length;
  const hist = new Uint32Array(256);
  for (let i = 0; i < n; i++) hist[img[i]]++;
  const map = new Uint8Array(256);
  let cdf = 0;
  let cdfMin = -1;
  for (let v = 0; v < 256; v++) {
    cdf += hist[v];
    if (cdfMin < 0 && cdf > 0) cdfMin = cdf;
    map[v] = n === cdfMin ? v : Math.round((255 * Math.max(0, cdf - cdfMin)) / (n - cdfMin));
  }
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = map[img[i]];
  return out;
}

/** Equalizes each of `count` images of `pixels` bytes on its own; returns a new buffer. */
export function histogramEqualizeAll(images: Uint8Array, count: number, pixels: number): Uint8Array {
  const out = new Uint8Array(count * pixels);
  for (let i = 0; i < count; i++) out.set(histogramEqualize(images.subarray(i * pixels, (i + 1) * pixels)), i * pixels);
  return out;
}
