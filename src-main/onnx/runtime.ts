/**
 * onnxruntime-node: sessions, batched inference, input-shape validation and the parity check of
 * an export against the tfjs model it came from.
 */
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import * as tf from '@tensorflow/tfjs-core';
import type { ParityResult } from '../contract/onnx';
import { gatherBatch } from '../data/normalize';
import { readOnnxInfo, type OnnxInfo } from './export';
import { nhwcToNchw, sessionOptions } from './io';

export const PARITY_TOLERANCE = 1e-4;

export interface SessionOptions {
  /** ORT intra-op threads (default 1: the app shares the CPU with the engine worker). */
  threads?: number;
}

/** An ORT session plus what the file says about itself. */
export interface OnnxSession {
  session: ort.InferenceSession;
  info: OnnxInfo;
  file: string;
  inputName: string;
  /** [C, H, W] of the model input. */
  inputChw: [number, number, number];
}

/** Images the way the datasets hold them: count × H × W × C bytes (NHWC). */
export interface ImageBatchSource {
  images: Uint8Array;
  count: number;
  height: number;
  width: number;
  channels: number;
}

/**
 * Opens an ONNX model (bytes or a path) in onnxruntime-node.
 * @throws Error "FILE is not a valid ONNX model: …" for unreadable, corrupt or non-image models.
 */
export async function openSession(src: Uint8Array | string, opts: SessionOptions = {}): Promise<OnnxSession> {
  const file = typeof src === 'string' ? src : 'the exported model';
  let bytes: Uint8Array;
  if (typeof src === 'string') {
    try {
      bytes = readFileSync(src);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new Error(code === 'ENOENT' ? `${src}: file not found` : `${src}: cannot be read (${(e as Error).message})`);
    }
  } else bytes = src;
  const info = readOnnxInfo(bytes, file);
  const input = info.inputs[0];
  if (info.inputs.length !== 1 || input.shape.length !== 4) {
    throw new Error(`${file}: the model needs ${info.inputs.length} input(s) of shape [${input?.shape.join(', ') ?? ''}]; NormLab runs image classifiers with one [N, C, H, W] input`);
  }
  const [, c, h, w] = input.shape;
  if (typeof c !== 'number' || typeof h !== 'number' || typeof w !== 'number') {
    throw new Error(`${file}: input "${input.name}" has shape [${input.shape.join(', ')}]; channels, height and width must be fixed numbers`);
  }
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, sessionOptions(opts.threads ?? 1));
  } catch (e) {
    throw new Error(`${file} is not a valid ONNX model: ${firstLine((e as Error).message)}`);
  }
  return { session, info, file, inputName: input.name, inputChw: [c, h, w] };
}

function firstLine(s: string): string {
  return s.split('\n')[0].slice(0, 400);
}

/**
 * Checks that a model's input fits a dataset's images.
 * @throws Error naming the file, the model's input shape and the dataset's image shape.
 */
export function checkInputFits(s: OnnxSession, img: { height: number; width: number; channels: number }, dataset: string): void {
  const [c, h, w] = s.inputChw;
  if (c !== img.channels || h !== img.height || w !== img.width) {
    throw new Error(`${s.file}: the model takes [N, ${c}, ${h}, ${w}] images but ${dataset} has [N, ${img.channels}, ${img.height}, ${img.width}]`);
  }
}

/**
 * Runs a session over `count` NCHW float images in batches; returns probabilities and logits
 * ([count, classes] row-major) and the seconds spent inside ORT.
 */
export async function runBatches(s: OnnxSession, nchw: Float32Array, count: number, batch: number): Promise<{ probabilities: Float32Array; logits: Float32Array; classes: number; seconds: number }> {
  const [c, h, w] = s.inputChw;
  const per = c * h * w;
  if (nchw.length < count * per) throw new RangeError(`inference: ${count} images of ${c}×${h}×${w} need ${count * per} floats, got ${nchw.length}`);
  let probs: Float32Array | null = null;
  let logits: Float32Array | null = null;
  let classes = 0;
  let seconds = 0;
  for (let start = 0; start < count; start += batch) {
    const n = Math.min(batch, count - start);
    const input = new ort.Tensor('float32', nchw.subarray(start * per, (start + n) * per), [n, c, h, w]);
    const t0 = performance.now();
    let out: ort.InferenceSession.OnnxValueMapType;
    try {
      out = await s.session.run({ [s.inputName]: input });
    } catch (e) {
      // ORT's own message names a node, not the file; a damaged model must be named to be found.
      throw new Error(`${s.file}: onnxruntime could not run the model: ${firstLine((e as Error).message)}`);
    }
    seconds += (performance.now() - t0) / 1000;
    // Our exports name both outputs; another exporter's model (e.g. torch.onnx) gives logits only.
    const l = (out.logits ?? out[s.session.outputNames[0]]) as ort.Tensor;
    if (l.dims.length !== 2) throw new Error(`${s.file}: output "${s.session.outputNames[0]}" has shape [${l.dims.join(', ')}], expected [N, classes]`);
    if (Number(l.dims[0]) !== n || (probs && Number(l.dims[1]) !== classes)) {
      throw new Error(`${s.file}: output "${s.session.outputNames[0]}" has shape [${l.dims.join(', ')}] for a batch of ${n}${probs ? ` (earlier batches: ${classes} classes)` : ''}`);
    }
    classes = Number(l.dims[1]);
    const p = out.probabilities ? ((out.probabilities as ort.Tensor).data as Float32Array) : softmaxRows(l.data as Float32Array, classes);
    // A damaged model can give outputs of sizes that disagree; say so instead of a RangeError from set().
    if (p.length !== n * classes || l.data.length !== n * classes) {
      throw new Error(`${s.file}: outputs hold ${p.length} probabilities and ${l.data.length} logits, expected ${n} × ${classes} for a batch of ${n}`);
    }
    probs ??= new Float32Array(count * classes);
    logits ??= new Float32Array(count * classes);
    probs.set(p, start * classes);
    logits.set(l.data as Float32Array, start * classes);
  }
  return { probabilities: probs ?? new Float32Array(0), logits: logits ?? new Float32Array(0), classes, seconds };
}

/**
 * Inference through onnxruntime-node on NCHW float32 images.
 * @param src model bytes or a path
 */
export async function inferOnnx(
  src: Uint8Array | string,
  images: Float32Array,
  batch: number,
  opts: SessionOptions = {},
): Promise<{ probabilities: Float32Array; logits: Float32Array; classes: number; seconds: number; count: number }> {
  const s = await openSession(src, opts);
  try {
    const per = s.inputChw[0] * s.inputChw[1] * s.inputChw[2];
    if (images.length % per !== 0) throw new RangeError(`inference: ${images.length} floats is not a whole number of ${s.inputChw.join('×')} images`);
    const count = images.length / per;
    return { ...(await runBatches(s, images, count, batch)), count };
  } finally {
    await s.session.release();
  }
}

/** Model inputs for images[0..count): normalized NHWC (tfjs) and the NCHW input the export expects. */
export function prepareInputs(
  src: ImageBatchSource,
  count: number,
  norm: { mean: number[]; std: number[] },
  baked: boolean,
): { nhwc: Float32Array; nchw: Float32Array } {
  const { height: h, width: w, channels: c } = src;
  const idx = Int32Array.from({ length: count }, (_, i) => i);
  const nhwc = gatherBatch(src.images, idx, 0, count, h * w * c, norm.mean, norm.std);
  const raw = baked ? gatherBatch(src.images, idx, 0, count, h * w * c, new Array(c).fill(0), new Array(c).fill(1)) : nhwc;
  return { nhwc, nchw: nhwcToNchw(raw, count, h, w, c) };
}

/** What the parity check needs of a tfjs model (engine/model.ts's Model has it; onnx/ does not import engine/). */
export interface LogitsModel {
  readonly spec: { input: [number, number, number]; classes: number };
  /** Eval-mode logits of a normalized NHWC batch. */
  predict(x: tf.Tensor4D): tf.Tensor2D;
}

/** Eval-mode logits of a tfjs model on NHWC floats, in chunks so memory stays small. */
export function tfjsLogits(model: LogitsModel, nhwc: Float32Array, count: number, chunk = 256): { logits: Float32Array; classes: number } {
  const [h, w, c] = model.spec.input;
  const classes = model.spec.classes;
  const out = new Float32Array(count * classes);
  for (let start = 0; start < count; start += chunk) {
    const n = Math.min(chunk, count - start);
    const data = tf.tidy(() => model.predict(tf.tensor4d(nhwc.subarray(start * h * w * c, (start + n) * h * w * c), [n, h, w, c])).dataSync() as Float32Array);
    out.set(data, start * classes);
  }
  return { logits: out, classes };
}

/** Row-wise softmax in float64 (the reference the ORT probabilities are compared against). */
export function softmaxRows(logits: Float32Array, classes: number): Float32Array {
  const out = new Float32Array(logits.length);
  for (let r = 0; r < logits.length / classes; r++) {
    let m = -Infinity;
    for (let k = 0; k < classes; k++) m = Math.max(m, logits[r * classes + k]);
    let s = 0;
    for (let k = 0; k < classes; k++) s += Math.exp(logits[r * classes + k] - m);
    for (let k = 0; k < classes; k++) out[r * classes + k] = Math.exp(logits[r * classes + k] - m) / s;
  }
  return out;
}

function argmaxRow(a: Float32Array, r: number, classes: number): number {
  let best = 0;
  for (let k = 1; k < classes; k++) if (a[r * classes + k] > a[r * classes + best]) best = k;
  return best;
}

/**
 * Parity of an export with the tfjs model: both run on the same real images (ORT gets raw pixels
 * when the normalization is baked in); ok when max |Δ| of the probabilities ≤ tolerance (1e-4).
 */
export async function verifyExport(
  bytes: Uint8Array,
  model: LogitsModel,
  test: ImageBatchSource,
  opts: { mean: number[]; std: number[]; baked: boolean; limit?: number; tolerance?: number; dataset?: string; threads?: number },
): Promise<ParityResult> {
  const count = Math.min(opts.limit ?? 512, test.count);
  if (count < 1) throw new Error('parity check: the dataset has no test images');
  const { nhwc, nchw } = prepareInputs(test, count, opts, opts.baked);
  const ref = tfjsLogits(model, nhwc, count);
  const refProbs = softmaxRows(ref.logits, ref.classes);
  const s = await openSession(bytes, { threads: opts.threads });
  try {
    checkInputFits(s, test, opts.dataset ?? 'the test set');
    const got = await runBatches(s, nchw, count, 128);
    if (got.classes !== ref.classes) throw new Error(`parity check: the export gives ${got.classes} classes, the model ${ref.classes}`);
    let maxP = 0;
    let maxL = 0;
    let agree = 0;
    for (let i = 0; i < refProbs.length; i++) {
      maxP = Math.max(maxP, Math.abs(refProbs[i] - got.probabilities[i]));
      maxL = Math.max(maxL, Math.abs(ref.logits[i] - got.logits[i]));
    }
    for (let r = 0; r < count; r++) if (argmaxRow(refProbs, r, ref.classes) === argmaxRow(got.probabilities, r, ref.classes)) agree++;
    const tolerance = opts.tolerance ?? PARITY_TOLERANCE;
    const finite = Number.isFinite(maxP) && Number.isFinite(maxL);
    return {
      maxAbsDiff: maxP,
      maxAbsDiffLogits: maxL,
      argmaxAgreement: agree / count,
      images: count,
      tolerance,
      ok: finite && maxP <= tolerance,
      dataset: opts.dataset ?? 'test set',
    };
  } finally {
    await s.session.release();
  }
}

/** Accuracy and mean cross-entropy of probabilities against labels. */
export function scoreProbabilities(probs: Float32Array, classes: number, labels: Uint8Array, count: number): { accuracy: number; loss: number } {
  let correct = 0;
  let loss = 0;
  for (let r = 0; r < count; r++) {
    if (argmaxRow(probs, r, classes) === labels[r]) correct++;
    loss -= Math.log(Math.max(probs[r * classes + labels[r]], 1e-12));
  }
  return { accuracy: count ? correct / count : 0, loss: count ? loss / count : 0 };
}
