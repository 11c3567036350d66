/**
 * A model built from a ModelSpec: a flat list of layers run in order. Parameters and running
 * statistics live in tf.Variables keyed by the stable names of model-types.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core registers no gradients by itself (the @tensorflow/tfjs union package does).
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import type { LayerSpec, ModelSpec } from './spec';
import type { EngineModel, NamedWeights } from './model-types';
import { Conv, Dense, dropoutMask } from './layers';
import { BatchNorm, makeNorm, type BnChannelStats, type NormLayer } from './norm';
import { deriveSeed } from './rng';
import { fusedDropout } from './kernels/dropout';

export type ParamKind = 'kernel' | 'bias' | 'gamma' | 'beta';

/** One trainable tensor. `name` is the stable weight name, e.g. "conv1/kernel". */
export interface ParamRef {
  name: string;
  layer: string;
  kind: ParamKind;
  variable: tf.Variable;
}

export interface ForwardOptions {
  /** Training mode: batch statistics, running-stat updates and dropout, unless overridden below. */
  training: boolean;
  /** Seed of this step's dropout masks (mixed with the layer index). */
  dropoutSeed?: number;
  /** Override: apply dropout (MC dropout at eval time). Default = training. */
  dropout?: boolean;
  /** Override: normalize BN layers with batch statistics. Default = training. */
  batchStats?: boolean;
  /** Override: update BN running statistics. Default = training && batchStats. */
  updateStats?: boolean;
}

type Built =
  | { spec: Extract<LayerSpec, { type: 'conv' }>; op: Conv }
  | { spec: Extract<LayerSpec, { type: 'dense' }>; op: Dense }
  | { spec: Extract<LayerSpec, { type: 'norm' }>; op: NormLayer }
  | { spec: Extract<LayerSpec, { type: 'relu' | 'dropout' | 'maxpool' | 'gap' }>; op: null };

export class Model implements EngineModel {
  private readonly built: Built[];
  private autoDropout = 0;

  constructor(
    readonly spec: ModelSpec,
    readonly seed: number,
  ) {
    this.built = buildLayers(spec, seed);
  }

  /** Logits [N, classes]. With training = true, BN running statistics are updated as a side effect. */
  forward(x: tf.Tensor4D, opts: ForwardOptions): tf.Tensor2D {
    return this.run(x, opts, null).logits;
  }

  /** Logits in eval mode (running statistics, no dropout). */
  predict(x: tf.Tensor4D): tf.Tensor2D {
    return this.forward(x, { training: false });
  }

  /**
   * Logits plus the INPUT of each named layer (e.g. the pre-normalization activations of the
   * norm layers, for the BN inspector). Defaults to eval mode. The caller owns (disposes) all tensors.
   */
  forwardWithTaps(x: tf.Tensor4D, layerNames: string[], opts: ForwardOptions = { training: false }): { logits: tf.Tensor2D; inputs: Record<string, tf.Tensor> } {
    const known = new Set(this.built.map((b) => b.spec.name));
    for (const n of layerNames) if (!known.has(n)) throw new Error(`forwardWithTaps: no layer named "${n}" (layers: ${[...known].join(', ')})`);
    return this.run(x, opts, new Set(layerNames));
  }

  private run(x: tf.Tensor4D, opts: ForwardOptions, tapNames: Set<string> | null): { logits: tf.Tensor2D; inputs: Record<string, tf.Tensor> } {
    const [h, w, c] = this.spec.input;
    if (x.rank !== 4 || x.shape[1] !== h || x.shape[2] !== w || x.shape[3] !== c) {
      throw new Error(`model input must be [N, ${h}, ${w}, ${c}], got [${x.shape.join(', ')}]`);
    }
    const doDropout = opts.dropout ?? opts.training;
    const batchStats = opts.batchStats ?? opts.training;
    const updateStats = opts.updateStats ?? (opts.training && batchStats);
    const dropSeed = opts.dropoutSeed ?? (doDropout ? deriveSeed(this.seed, 0x64726f70, this.autoDropout++) : 0);
    // tidy inside a gradient tape is safe: the tape keeps its own copies of what backprop needs.
    return tf.tidy(() => {
      const inputs: Record<string, tf.Tensor> = {};
      let t: tf.Tensor = x;
      this.built.forEach((b, index) => {
        if (tapNames?.has(b.spec.name)) inputs[b.spec.name] = t.clone();
        switch (b.spec.type) {
          case 'conv':
            t = (b.op as Conv).apply(t as tf.Tensor4D);
            break;
          case 'dense':
            t = (b.op as Dense).apply(t);
            break;
          case 'norm':
            t = (b.op as NormLayer).apply(t as tf.Tensor4D, { batchStats, updateStats });
            break;
          case 'relu':
            t = tf.relu(t);
            break;
          case 'dropout':
            if (doDropout && b.spec.rate > 0) {
              // The fused kernel draws the very same mask (bit-identical result), in one pass.
              const seed = deriveSeed(dropSeed, index);
              t = fusedDropout(t, b.spec.rate, seed) ?? tf.mul(t, dropoutMask(t.shape, b.spec.rate, seed));
            }
            break;
          case 'maxpool':
            t = tf.maxPool(t as tf.Tensor4D, b.spec.size, b.spec.size, 'valid');
            break;
          case 'gap':
            t = tf.mean(t, [1, 2]);
            break;
        }
      });
      const logits = t.rank === 2 ? (t as tf.Tensor2D) : (tf.reshape(t, [t.shape[0], -1]) as tf.Tensor2D);
      return { logits, inputs };
    });
  }

  /** Trainable parameters in layer order. */
  params(): ParamRef[] {
    const out: ParamRef[] = [];
    for (const b of this.built) {
      const name = b.spec.name;
      if (b.spec.type === 'conv' || b.spec.type === 'dense') {
        const op = b.op as Conv | Dense;
        out.push({ name: `${name}/kernel`, layer: name, kind: 'kernel', variable: op.kernel });
        if (op.bias) out.push({ name: `${name}/bias`, layer: name, kind: 'bias', variable: op.bias });
      } else if (b.spec.type === 'norm') {
        const op = b.op as NormLayer;
        out.push({ name: `${name}/gamma`, layer: name, kind: 'gamma', variable: op.gamma });
        out.push({ name: `${name}/beta`, layer: name, kind: 'beta', variable: op.beta });
      }
    }
    return out;
  }

  /** Number of trainable scalars (equals countParams(spec)). */
  paramCount(): number {
    return this.params().reduce((n, p) => n + p.variable.size, 0);
  }

  /** The batch/ghost norm layers, in order. */
  bnLayers(): BatchNorm[] {
    return this.built.filter((b) => b.op instanceof BatchNorm).map((b) => b.op as BatchNorm);
  }

  /** Per BN layer and channel: last batch mean/var and running mean/var. */
  bnStats(): Record<string, BnChannelStats> {
    const out: Record<string, BnChannelStats> = {};
    for (const bn of this.bnLayers()) out[bn.name] = bn.stats();
    return out;
  }

  getWeights(): NamedWeights {
    const out: NamedWeights = {};
    const put = (name: string, v: tf.Tensor) => {
      out[name] = { shape: [...v.shape], data: new Float32Array(v.dataSync() as Float32Array) };
    };
    for (const p of this.params()) put(p.name, p.variable);
    for (const bn of this.bnLayers()) {
      put(`${bn.name}/running_mean`, bn.runningMean);
      put(`${bn.name}/running_var`, bn.runningVar);
      if (bn.spec.momentum === null) out[`${bn.name}/count`] = { shape: [1], data: new Float32Array([bn.count]) };
    }
    return out;
  }

  /**
   * Loads weights by name. Every parameter and running statistic of this model must be
   * present with the right shape; extra names are an error too (they signal a different spec).
   */
  setWeights(w: NamedWeights): void {
    const targets = new Map<string, tf.Variable>();
    for (const p of this.params()) targets.set(p.name, p.variable);
    for (const bn of this.bnLayers()) {
      targets.set(`${bn.name}/running_mean`, bn.runningMean);
      targets.set(`${bn.name}/running_var`, bn.runningVar);
    }
    const counts = new Map<string, BatchNorm>(this.bnLayers().map((bn) => [`${bn.name}/count`, bn]));
    for (const name of Object.keys(w)) {
      if (!targets.has(name) && !counts.has(name)) throw new Error(`weights: "${name}" is not a weight of this model`);
    }
    for (const [name, v] of targets) {
      const src = w[name];
      if (!src) throw new Error(`weights: "${name}" is missing`);
      if (src.shape.length !== v.shape.length || src.shape.some((d, i) => d !== v.shape[i])) {
        throw new Error(`weights: "${name}" has shape [${src.shape.join(', ')}], the model needs [${v.shape.join(', ')}]`);
      }
      if (src.data.length !== v.size) throw new Error(`weights: "${name}" has ${src.data.length} values for shape [${src.shape.join(', ')}]`);
    }
    for (const [name, v] of targets) tf.tidy(() => v.assign(tf.tensor(w[name].data, v.shape, 'float32')));
    for (const [name, bn] of counts) bn.count = w[name] ? w[name].data[0] : 0;
  }

  dispose(): void {
    for (const b of this.built) b.op?.dispose();
  }
}

function buildLayers(spec: ModelSpec, seed: number): Built[] {
  if (!spec || !Array.isArray(spec.layers) || !Array.isArray(spec.input) || spec.input.length !== 3) {
    throw new Error('model spec: needs input [height, width, channels] and a layers list');
  }
  const names = new Set<string>();
  let [h, w, c] = spec.input;
  let flat = false;
  const out: Built[] = [];
  spec.layers.forEach((l, i) => {
    const where = `model spec: layer ${i} (${l.name ?? '?'}, ${l.type})`;
    if (!l.name || names.has(l.name)) throw new Error(`${where}: name must be present and unique`);
    names.add(l.name);
    if (flat && l.type !== 'dense' && l.type !== 'dropout' && l.type !== 'relu') throw new Error(`${where}: comes after global pooling / dense, needs an image`);
    switch (l.type) {
      case 'conv':
        if (l.inChannels !== c) throw new Error(`${where}: inChannels is ${l.inChannels} but the previous layer gives ${c}`);
        out.push({ spec: l, op: new Conv(l.name, l.inChannels, l.filters, l.kernel, l.padding, l.bias, seed, i) });
        if (l.padding === 'valid') { h -= l.kernel - 1; w -= l.kernel - 1; }
        if (h < 1 || w < 1) throw new Error(`${where}: the image is too small for a ${l.kernel}×${l.kernel} kernel`);
        c = l.filters;
        break;
      case 'dense': {
        const inUnits = flat ? c : h * w * c;
        if (l.inUnits !== inUnits) throw new Error(`${where}: inUnits is ${l.inUnits} but the previous layer gives ${inUnits}`);
        out.push({ spec: l, op: new Dense(l.name, l.inUnits, l.units, l.bias, seed, i) });
        flat = true;
        c = l.units;
        break;
      }
      case 'norm':
        if (l.channels !== c) throw new Error(`${where}: channels is ${l.channels} but the previous layer gives ${c}`);
        out.push({ spec: l, op: makeNorm(l.name, l.channels, l.norm) });
        break;
      case 'dropout':
        if (!(l.rate >= 0 && l.rate < 1)) throw new Error(`${where}: rate must be in [0, 1), got ${l.rate}`);
        out.push({ spec: l, op: null });
        break;
      case 'maxpool':
        h = Math.floor(h / l.size);
        w = Math.floor(w / l.size);
        out.push({ spec: l, op: null });
        break;
      case 'gap':
        flat = true;
        out.push({ spec: l, op: null });
        break;
      case 'relu':
        out.push({ spec: l, op: null });
        break;
      default:
        throw new Error(`${where}: unknown layer type`);
    }
  });
  if (c !== spec.classes) throw new Error(`model spec: the last layer gives ${c} outputs but classes is ${spec.classes}`);
  return out;
}

/** Builds a model with PyTorch-default initialization seeded by `seed`. */
export function buildModel(spec: ModelSpec, seed: number): Model {
  return new Model(spec, seed);
}
