/**
 * Helpers for feeding and reading ONNX Runtime that do not load onnxruntime-node themselves, so
 * that the training engine can import them and still load the runtime lazily.
 */
import type { InferenceSession } from 'onnxruntime-node';
import type { LossKind } from '../contract/settings';

/** The session options every NormLab session uses: `threads` intra-op threads, one op at a time. */
export function sessionOptions(threads: number): InferenceSession.SessionOptions {
  return { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' };
}

/** NHWC floats → NCHW floats (a copy; for one channel the layouts coincide). */
export function nhwcToNchw(x: Float32Array, n: number, h: number, w: number, c: number): Float32Array {
  if (c === 1) return x;
  const out = new Float32Array(x.length);
  for (let i = 0; i < n; i++)
    for (let y = 0; y < h; y++)
      for (let xx = 0; xx < w; xx++)
        for (let ch = 0; ch < c; ch++) out[((i * c + ch) * h + y) * w + xx] = x[((i * h + y) * w + xx) * c + ch];
  return out;
}

/**
 * Cross-entropy from logits (log-softmax in float64) or MSE on the softmax, summed over rows
 * start..start+n of `labels` (logits hold those n rows). `preds`, when given, receives each row's
 * argmax at the same index as its label.
 */
export function lossAndCorrect(
  logits: Float32Array,
  classes: number,
  labels: Uint8Array,
  start: number,
  n: number,
  kind: LossKind,
  preds?: Uint8Array,
): { lossSum: number; correct: number } {
  if (kind !== 'ce' && kind !== 'mse') throw new Error(`unknown loss ${JSON.stringify(kind)}; use ce or mse`);
  let lossSum = 0;
  let correct = 0;
  const p = new Float64Array(classes);
  for (let r = 0; r < n; r++) {
    const o = r * classes;
    const y = labels[start + r];
    let m = -Infinity;
    let arg = 0;
    for (let k = 0; k < classes; k++) {
      const v = logits[o + k];
      if (v > m) { m = v; arg = k; }
    }
    if (preds) preds[start + r] = arg;
    if (arg === y) correct++;
    let s = 0;
    for (let k = 0; k < classes; k++) { p[k] = Math.exp(logits[o + k] - m); s += p[k]; }
    if (kind === 'ce') lossSum += -(logits[o + y] - m - Math.log(s));
    else {
      // tfjs's mean over rows and classes: per row Σ_k (p_k − onehot_k)² / classes.
      let e = 0;
      for (let k = 0; k < classes; k++) { const d = p[k] / s - (k === y ? 1 : 0); e += d * d; }
      lossSum += e / classes;
    }
  }
  return { lossSum, correct };
}
