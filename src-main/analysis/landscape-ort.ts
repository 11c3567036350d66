/**
 * The loss-landscape evaluator on onnxruntime-node: the same points as LandscapeEvaluator
 * (base + Σ a_k·d_k on a fixed slice, BN running statistics held at the trained values), but each
 * point's weights are summed in Float32Arrays, exported to ONNX and run by ORT, which evaluates
 * the S5 net several times faster than the tfjs wasm backend. Batch statistics (recomputing BN at
 * every point) need the tfjs engine, so that mode has no ORT evaluator.
 */
import * as ort from 'onnxruntime-node';
import type { Split } from '../data/dataset';
import { gatherBatch } from '../data/normalize';
import type { LossKind } from '../contract/settings';
import type { NamedWeights } from '../engine/model-types';
import type { ModelSpec } from '../engine/spec';
import { ExportError, exportOnnx } from '../onnx/export';
import { lossAndCorrect, nhwcToNchw, sessionOptions } from '../onnx/io';
import type { Direction, PointValue } from './landscape';

export interface OrtEvaluatorOptions {
  loss?: LossKind;
  /**
   * Images per ORT run (default 250: on the S5 net a 250-image run is ~1.4× faster per image than
   * one of 1000, whose activations no longer fit in cache; see bench/landscape-bench.ts).
   */
  batch?: number;
  /** ORT intra-op threads (default 2). */
  threads?: number;
  /**
   * Fold BN into the preceding conv (default true: fewer nodes per run). Falls back to plain
   * BatchNormalization nodes when the spec has a BN that does not follow a conv.
   */
  foldBn?: boolean;
}

/**
 * Evaluates base + Σ coeffs[k]·d_k through ONNX Runtime. Each point exports the weights (BN at the
 * base's running statistics; folded into the convs when possible) and opens one session, which is
 * released after the slice has run. Same loss arithmetic as the engine: mean per-image loss.
 */
export class OrtLandscapeEvaluator {
  readonly count: number;
  readonly engine = 'onnxruntime';
  /** Whether BN is folded into the convs in the exported graphs. */
  readonly foldBn: boolean;
  private readonly batches: { x: Float32Array; start: number; n: number }[] = [];
  private readonly labels: Uint8Array;
  private readonly names: string[];
  private readonly work: NamedWeights;
  private readonly sessionOptions: ort.InferenceSession.SessionOptions;
  private readonly chw: [number, number, number];

  constructor(
    private readonly spec: ModelSpec,
    private readonly base: NamedWeights,
    private readonly directions: Direction[],
    slice: Split,
    normalization: { mean: number[]; std: number[] },
    private readonly opts: OrtEvaluatorOptions = {},
  ) {
    if (slice.count < 1) throw new Error('landscape: the evaluation slice is empty');
    const [h, w, c] = spec.input;
    this.chw = [c, h, w];
    const pixels = h * w * c;
    this.count = slice.count;
    this.labels = slice.labels;
    // Every tensor the direction moves; the rest (running statistics) stay at the base values.
    this.names = Object.keys(base).filter((k) => directions.some((d) => d[k] !== undefined)).sort();
    for (const [k, d] of directions.entries()) {
      for (const name of this.names) {
        const t = d[name];
        if (!t) throw new Error(`landscape: direction ${k + 1} has no "${name}"`);
        if (t.data.length !== base[name].data.length) throw new Error(`landscape: direction ${k + 1}'s "${name}" has ${t.data.length} values, the weights ${base[name].data.length}`);
      }
    }
    this.work = {};
    for (const [k, t] of Object.entries(base)) {
      this.work[k] = this.names.includes(k) ? { shape: [...t.shape], data: new Float32Array(t.data.length) } : t;
    }
    const batch = Math.max(1, opts.batch ?? Math.min(250, slice.count));
    const identity = Uint32Array.from({ length: slice.count }, (_, i) => i);
    for (let start = 0; start < slice.count; start += batch) {
      const n = Math.min(batch, slice.count - start);
      const nhwc = gatherBatch(slice.images, identity, start, n, pixels, normalization.mean, normalization.std);
      this.batches.push({ x: nhwcToNchw(nhwc, n, h, w, c), start, n });
    }
    let fold = opts.foldBn ?? true;
    if (fold) {
      try {
        exportOnnx(spec, base, { foldBn: true, normalization: null, metadata: {} });
      } catch (e) {
        if (!(e instanceof ExportError) || !/cannot fold/.test(e.message)) throw e;
        fold = false;
      }
    }
    this.foldBn = fold;
    // One options object for every session of the grid.
    this.sessionOptions = sessionOptions(opts.threads ?? 2);
  }

  /** Weights base + Σ coeffs[k]·d_k, in float32 like the tfjs evaluator's tensor sums. */
  weightsAt(coeffs: number[]): NamedWeights {
    if (coeffs.length > this.directions.length) throw new Error(`landscape: ${coeffs.length} coefficients for ${this.directions.length} directions`);
    for (const name of this.names) {
      const out = this.work[name].data;
      out.set(this.base[name].data);
      coeffs.forEach((a, k) => {
        if (a === 0) return;
        const d = this.directions[k][name].data;
        // Math.fround after each step: the same float32 rounding as tf.add(t, tf.mul(d, a)).
        const af = Math.fround(a);
        for (let i = 0; i < out.length; i++) out[i] = Math.fround(out[i] + Math.fround(d[i] * af));
      });
    }
    return this.work;
  }

  /** Loss and accuracy at base + Σ coeffs[k]·d_k. */
  async at(coeffs: number[]): Promise<PointValue> {
    const { bytes } = exportOnnx(this.spec, this.weightsAt(coeffs), { foldBn: this.foldBn, normalization: null, metadata: {} });
    const session = await ort.InferenceSession.create(bytes, this.sessionOptions);
    try {
      const [c, h, w] = this.chw;
      const kind = this.opts.loss ?? 'ce';
      let lossSum = 0;
      let correct = 0;
      for (const b of this.batches) {
        const out = await session.run({ input: new ort.Tensor('float32', b.x, [b.n, c, h, w]) }, ['logits']);
        const logits = out.logits as ort.Tensor;
        const classes = Number(logits.dims[1]);
        const r = lossAndCorrect(logits.data as Float32Array, classes, this.labels, b.start, b.n, kind);
        logits.dispose();
        lossSum += r.lossSum;
        correct += r.correct;
      }
      return { loss: lossSum / this.count, acc: correct / this.count };
    } finally {
      await session.release();
    }
  }

  dispose(): void {
    this.batches.length = 0;
  }
}
