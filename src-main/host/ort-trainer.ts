/**
 * The onnxruntime training engine: every step is one run of the training-step graph
 * (onnx/train-graph.ts) on onnxruntime-node's native CPU kernels. The model's tf variables stay
 * the source of truth, so checkpoints, BN records, the optimizer, penalties and clipping are the
 * very code the tfjs engine uses; only the forward and backward pass move.
 *
 * Same inputs as the tfjs step: the same normalized batch, the same dropout masks (drawn here with
 * the same seeded generator, in NHWC order, written to NCHW positions), the same BN momentum code
 * (BatchNorm.recordBatch). Results agree with the tfjs engine up to float rounding.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as Ort from 'onnxruntime-node';
import type { LossKind, TrainSettings } from '../contract/settings';
import type { EngineChoice } from '../engine/step-engine';
import { buildTrainGraph, ghostMatrices, trainGraphUnsupported, virtualBatchSizes, type TrainGraph } from '../onnx/train-graph';
import { exportOnnx, hwioToOihw } from '../onnx/export';
import { oihwToHwio } from '../onnx/import';
import { lossAndCorrect, nhwcToNchw, sessionOptions } from '../onnx/io';
import type { Split } from '../data/dataset';
import { gatherBatch } from '../data/normalize';
import type { Model, ParamRef } from '../engine/model';
import type { EvalResult } from '../engine/model-types';
import { deriveSeed } from '../engine/rng';
import type { ModelSpec } from '../engine/spec';
import { resolveThreads } from '../engine/threads';
import { hashName } from '../model';
import { SimdMasks } from './mask-simd';

export { resolveThreads };
export type { EngineChoice };

/** Which engine a run trains on, before anything is loaded. */
export function chooseEngine(settings: Pick<TrainSettings, 'engine' | 'loss' | 'threads'>, spec: ModelSpec): EngineChoice {
  if (settings.engine === 'tfjs') return { engine: 'tfjs', reason: 'engine tfjs was chosen' };
  const why = trainGraphUnsupported(spec, settings.loss);
  if (why) {
    if (settings.engine === 'onnxruntime') throw new Error(`engine onnxruntime cannot train this model: it has ${why}; use engine tfjs or auto`);
    return { engine: 'tfjs', reason: `the onnxruntime engine does not train ${why}` };
  }
  return {
    engine: 'onnxruntime',
    reason: settings.engine === 'onnxruntime' ? 'engine onnxruntime was chosen' : 'auto: onnxruntime trains every model graph',
    threads: resolveThreads(settings.threads),
  };
}

/** undefined: not tried yet; null: this runtime has no WebAssembly SIMD (or NORMLAB_SIMD_MASKS=0). */
let simdMasks: SimdMasks | null | undefined;
function defaultSimdMasks(): SimdMasks | null {
  if (simdMasks === undefined) simdMasks = process.env.NORMLAB_SIMD_MASKS === '0' ? null : SimdMasks.create();
  return simdMasks;
}

/**
 * Draws dropout masks exactly like layers.dropoutMask (mulberry32 in NHWC order, keep when
 * u ≥ rate) into an NCHW buffer. The test is done on the 32-bit integer (u ≥ rate·2³² ⟺
 * u ≥ ⌈rate·2³²⌉). Pixels in groups of four go through WebAssembly SIMD (host/mask-simd.ts,
 * 3–4× faster); the rest, and everything where SIMD is missing, through the inlined generator
 * below. mulberry32 is counter-based, so the state of draw i is seed + (i + 1)·0x6d2b79f5 and
 * any pixel can start its own run of draws. `simd` null draws everything in JavaScript.
 */
export function dropoutMaskNchw(out: Float32Array, n: number, [c, h, w]: [number, number, number], rate: number, seed: number, simd = defaultSimdMasks()): Float32Array {
  const threshold = Math.ceil(rate * 4294967296);
  const scale = Math.fround(1 / (1 - rate));
  const hw = h * w;
  const chw = c * hw;
  if (threshold > 0xffffffff) return out.fill(0, 0, n * chw);
  const from = simd ? simd.draw(out, n, c, hw, seed, threshold, scale) : 0;
  // Unsigned compare as signed: u ≥ T ⟺ (u ^ 2³¹) ≥ (T − 2³¹) in int32.
  const thr = (threshold - 2147483648) | 0;
  for (let b = 0; b < n; b++) {
    const base = b * chw;
    for (let p = from; p < hw; p++) {
      let a = (seed + Math.imul((b * hw + p) * c, 0x6d2b79f5)) | 0;
      for (let k = 0, o = base + p; k < c; k++, o += hw) {
        a = (a + 0x6d2b79f5) | 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        out[o] = ((t ^ (t >>> 14)) ^ -2147483648) >= thr ? scale : 0;
      }
    }
  }
  return out;
}


export interface OrtStepResult {
  loss: number;
  correct: number;
  /** Data gradients in tfjs layout, in the order of the params given to step(). */
  grads: Float32Array[];
}

export class OrtTrainer {
  /** Milliseconds spent so far: feeds and masks, the ORT run, reading outputs back; and steps. */
  readonly timing = { prepare: 0, run: 0, read: 0, steps: 0 };
  /** Two sets of mask buffers: one feeds the running step while the next step's are drawn. */
  private readonly maskSlots: Float32Array[][] = [[], []];
  private prepared: { key: string; slot: number } | null = null;
  private readonly paramIndex: Map<string, number>;
  private readonly bnInfo: Map<string, TrainGraph['batchNorms'][number]>;
  /** ghost_avg / ghost_ind feeds per virtual batch size, for the last batch size seen. */
  private ghostFeeds: { n: number; feeds: Record<string, Ort.Tensor> } | null = null;

  private constructor(
    private readonly ort: typeof Ort,
    private readonly session: Ort.InferenceSession,
    readonly graph: TrainGraph,
    readonly threads: number,
    private readonly spec: ModelSpec,
  ) {
    this.paramIndex = new Map(graph.params.map((p, i) => [p.name, i]));
    this.bnInfo = new Map(graph.batchNorms.map((b) => [b.name, b]));
  }

  static async create(spec: ModelSpec, loss: LossKind, threads: number): Promise<OrtTrainer> {
    const graph = buildTrainGraph(spec, loss);
    const ort = await import('onnxruntime-node');
    const session = await ort.InferenceSession.create(graph.bytes, sessionOptions(threads));
    return new OrtTrainer(ort, session, graph, threads, spec);
  }

  /** Fills mask slot `slot` for (seed, n). */
  private drawMasks(slot: number, dropoutSeed: number, n: number): Float32Array[] {
    const bufs = this.maskSlots[slot];
    this.graph.dropouts.forEach((d, i) => {
      const size = n * d.chw[0] * d.chw[1] * d.chw[2];
      if (!bufs[i] || bufs[i].length !== size) bufs[i] = new Float32Array(size);
      dropoutMaskNchw(bufs[i], n, d.chw, d.rate, deriveSeed(dropoutSeed, hashName(d.name)));
    });
    return bufs;
  }

  /**
   * Forward + backward of one batch (normalized NHWC `x`, `n` images). Folds the batch
   * statistics into the model's BN layers and returns the loss, the correct count and the data
   * gradients of `params` (tfjs layout); the caller applies penalties, clipping and the update.
   * `next` (the following step's dropout seed and batch size) lets the masks of that step be
   * drawn on this thread while onnxruntime runs this one on its own threads.
   */
  async step(model: Model, params: ParamRef[], x: Float32Array, labels: Int32Array, n: number, dropoutSeed: number, next?: { dropoutSeed: number; n: number }): Promise<OrtStepResult> {
    const { ort, spec } = this;
    const t0 = performance.now();
    const [h, w, c] = spec.input;
    const K = spec.classes;
    const pixels = h * w * c;
    const feeds: Record<string, Ort.Tensor> = {};
    const xn = nhwcToNchw(x.length === n * pixels ? x : x.slice(0, n * pixels), n, h, w, c);
    feeds.x = new ort.Tensor('float32', xn, [n, c, h, w]);
    const onehot = new Float32Array(n * K);
    for (let i = 0; i < n; i++) onehot[i * K + labels[i]] = 1;
    feeds.onehot = new ort.Tensor('float32', onehot, [n, K]);
    feeds.inv_n = new ort.Tensor('float32', new Float32Array([1 / n]), [1]);
    const byName = new Map(params.map((p) => [p.name, p]));
    for (const gp of this.graph.params) {
      const p = byName.get(gp.name);
      if (!p) throw new Error(`onnxruntime engine: the model has no parameter ${gp.name}`);
      let data = p.variable.dataSync() as Float32Array;
      if (gp.hwio) data = hwioToOihw(data, ...gp.hwio);
      feeds[gp.name] = new ort.Tensor('float32', data, gp.shape);
    }
    if (this.graph.ghostSizes.length > 0) {
      if (this.ghostFeeds?.n !== n) {
        const gf: Record<string, Ort.Tensor> = {};
        for (const vb of this.graph.ghostSizes) {
          const { avg, ind, groups } = ghostMatrices(n, vb);
          gf[`ghost_avg:${vb}`] = new ort.Tensor('float32', avg, [groups, n]);
          gf[`ghost_ind:${vb}`] = new ort.Tensor('float32', ind, [n, groups]);
        }
        this.ghostFeeds = { n, feeds: gf };
      }
      Object.assign(feeds, this.ghostFeeds.feeds);
    }
    let slot = 0;
    if (this.graph.dropouts.length > 0) {
      const key = `${dropoutSeed}:${n}`;
      slot = this.prepared?.key === key ? this.prepared.slot : 0;
      const masks = this.prepared?.key === key ? this.maskSlots[slot] : this.drawMasks(slot, dropoutSeed, n);
      this.graph.dropouts.forEach((d, i) => { feeds[`mask:${d.name}`] = new ort.Tensor('float32', masks[i], [n, ...d.dims]); });
    }
    const running = this.session.run(feeds);
    this.prepared = null;
    if (next && this.graph.dropouts.length > 0) {
      this.drawMasks(1 - slot, next.dropoutSeed, next.n);
      this.prepared = { key: `${next.dropoutSeed}:${next.n}`, slot: 1 - slot };
    }
    const t1b = performance.now();
    const out = await running;
    const t2 = performance.now();
    try {
      const logits = out.logits.data as Float32Array;
      let correct = 0;
      for (let i = 0; i < n; i++) {
        let arg = 0;
        for (let k = 1; k < K; k++) if (logits[i * K + k] > logits[i * K + arg]) arg = k;
        if (arg === labels[i]) correct++;
      }
      for (const bn of model.bnLayers()) {
        const info = this.bnInfo.get(bn.name);
        if (info === undefined) throw new Error(`onnxruntime engine: the graph has no batch norm ${bn.name}`);
        const mean = out[`mean:${bn.name}`].data as Float32Array;
        const variance = out[`var:${bn.name}`].data as Float32Array;
        if (info.virtualBatch === undefined) bn.recordBatch(mean, variance, n * info.perImage);
        else {
          // One row per virtual batch, folded in batch order as the tfjs ghost BN does.
          const ch = info.channels;
          virtualBatchSizes(n, info.virtualBatch).forEach((size, j) => {
            bn.recordBatch(mean.subarray(j * ch, (j + 1) * ch), variance.subarray(j * ch, (j + 1) * ch), size * info.perImage);
          });
        }
      }
      const grads = params.map((p) => {
        const i = this.paramIndex.get(p.name);
        if (i === undefined) throw new Error(`onnxruntime engine: the graph has no gradient for ${p.name}`);
        const gp = this.graph.params[i];
        const g = new Float32Array(out[`grad:${p.name}`].data as Float32Array);
        if (!gp.hwio) return g;
        const [kh, kw, cin, cout] = gp.hwio;
        return oihwToHwio(g, cout, cin, kh, kw);
      });
      return { loss: (out.loss.data as Float32Array)[0], correct, grads };
    } finally {
      for (const t of Object.values(out)) t.dispose?.();
      // Drawing the next step's masks overlaps the run: it counts as preparation, the rest as run.
      this.timing.prepare += t1b - t0;
      this.timing.run += t2 - t1b;
      this.timing.read += performance.now() - t2;
      this.timing.steps += 1;
    }
  }

  /**
   * Eval-mode pass over a split through onnxruntime: the model exported as the export command
   * does (BN with its running statistics, dropout removed) and run on this trainer's threads.
   * Same result as train.ts `evaluate` on tfjs up to float rounding; the loss is computed in
   * float64 from the logits (cross-entropy, or MSE of the softmax as lossFn defines it).
   */
  async evaluate(model: Model, split: Split, normalization: { mean: number[]; std: number[] }, opts: { batch: number; loss: LossKind }): Promise<EvalResult> {
    const { ort, spec } = this;
    const [h, w, c] = spec.input;
    const K = spec.classes;
    const pixels = h * w * c;
    const { bytes } = exportOnnx(spec, model.getWeights(), { metadata: {} });
    const session = await ort.InferenceSession.create(bytes, sessionOptions(this.threads));
    try {
      const count = split.count;
      const batch = Math.max(1, Math.min(opts.batch, count));
      const order = Uint32Array.from({ length: count }, (_, i) => i);
      const buf = new Float32Array(batch * pixels);
      const probs = new Float32Array(count * K);
      const preds = new Uint8Array(count);
      let lossSum = 0;
      let correct = 0;
      for (let start = 0; start < count; start += batch) {
        const n = Math.min(batch, count - start);
        const x = gatherBatch(split.images, order, start, n, pixels, normalization.mean, normalization.std, buf);
        const input = new ort.Tensor('float32', nhwcToNchw(x.subarray(0, n * pixels), n, h, w, c), [n, c, h, w]);
        const out = await session.run({ input });
        probs.set(out.probabilities.data as Float32Array, start * K);
        const r = lossAndCorrect(out.logits.data as Float32Array, K, split.labels, start, n, opts.loss, preds);
        lossSum += r.lossSum;
        correct += r.correct;
        for (const t of Object.values(out)) t.dispose?.();
      }
      return { loss: lossSum / count, acc: correct / count, probs, preds };
    } finally {
      await session.release();
    }
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}

/** Data gradients as tf tensors in the params' shapes (the caller disposes them). */
export function gradTensors(params: ParamRef[], grads: Float32Array[]): tf.Tensor[] {
  return params.map((p, i) => tf.tensor(grads[i], p.variable.shape, 'float32'));
}
