/**
 * A model built from a ModelSpec: a flat list of layers run in order. Parameters and running
 * statistics live in tf.Variables keyed by the stable names of model-types.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core registers no gradients by itself (the @tensorflow/tfjs union package does).
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import type { ResolvedNode } from '../contract/model-graph';
import type { ModelSpec } from './spec';
import type { EngineModel, NamedWeights } from './model-types';
import { BatchNorm, type BnChannelStats } from './norm';
import { deriveSeed } from './rng';
import { assertValidGraph, inferShapes, opDef, outputName } from '../model';
import { applyNode, buildNode, type ApplyContext, type BuiltNode, type ParamRef } from './lower-tfjs';

export type { ParamRef } from './lower-tfjs';
export type { ParamKind } from '../model';

export interface ForwardOptions {
  /** Training mode: batch statistics, running-stat updates and dropout, unless overridden below. */
  training: boolean;
  /** Seed of this step's dropout masks (mixed with the layer's name: fair seeds). */
  dropoutSeed?: number;
  /** Override: apply dropout (MC dropout at eval time). Default = training. */
  dropout?: boolean;
  /** Override: normalize BN layers with batch statistics. Default = training. */
  batchStats?: boolean;
  /** Override: update BN running statistics. Default = training && batchStats. */
  updateStats?: boolean;
}

interface Built extends BuiltNode {
  node: ResolvedNode;
}

/**
 * A model built from a graph: nodes run in order, each reading the outputs it names. Parameters
 * and running statistics live in tf.Variables keyed by the stable names of model-types.ts.
 */
export class Model implements EngineModel {
  private readonly built: Built[];
  private readonly output: string;
  private autoDropout = 0;

  constructor(
    readonly spec: ModelSpec,
    readonly seed: number,
  ) {
    this.built = buildNodes(spec, seed);
    this.output = outputName(spec);
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
   * Logits plus the INPUT of each named node (e.g. the pre-normalization activations of the
   * norm nodes, for the BN inspector). Defaults to eval mode. The caller owns (disposes) all tensors.
   */
  forwardWithTaps(x: tf.Tensor4D, layerNames: string[], opts: ForwardOptions = { training: false }): { logits: tf.Tensor2D; inputs: Record<string, tf.Tensor> } {
    const known = new Set(this.built.map((b) => b.node.name));
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
    const dropoutSeed = opts.dropoutSeed ?? (doDropout ? deriveSeed(this.seed, 0x64726f70, this.autoDropout++) : 0);
    const ctx: ApplyContext = { dropout: doDropout, dropoutSeed, batchStats, updateStats };
    // tidy inside a gradient tape is safe: the tape keeps its own copies of what backprop needs.
    return tf.tidy(() => {
      const inputs: Record<string, tf.Tensor> = {};
      const values = new Map<string, tf.Tensor>([['input', x]]);
      for (const b of this.built) {
        const xs = b.node.inputs.map((s) => values.get(s)!);
        if (tapNames?.has(b.node.name)) inputs[b.node.name] = xs[0].clone();
        values.set(b.node.name, applyNode(b.node, xs, b, ctx));
      }
      const t = values.get(this.output)!;
      const logits = t.rank === 2 ? (t as tf.Tensor2D) : (tf.reshape(t, [t.shape[0], -1]) as tf.Tensor2D);
      return { logits, inputs };
    });
  }

  /** Trainable parameters in node order (kernel, bias; gamma, beta), as model/paramSpecs lists them. */
  params(): ParamRef[] {
    const out: ParamRef[] = [];
    for (const b of this.built) {
      const name = b.node.name;
      if (b.norm) {
        out.push({ name: `${name}/gamma`, layer: name, kind: 'gamma', variable: b.norm.gamma });
        out.push({ name: `${name}/beta`, layer: name, kind: 'beta', variable: b.norm.beta });
        continue;
      }
      for (const kind of ['kernel', 'bias'] as const) {
        const v = b.vars[kind];
        if (v) out.push({ name: `${name}/${kind}`, layer: name, kind, variable: v });
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
    return this.built.filter((b) => b.norm instanceof BatchNorm).map((b) => b.norm as BatchNorm);
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
    for (const b of this.built) {
      b.norm?.dispose();
      for (const v of Object.values(b.vars)) v?.dispose();
    }
  }
}

function buildNodes(spec: ModelSpec, seed: number): Built[] {
  assertValidGraph(spec);
  const shapes = inferShapes(spec);
  return spec.nodes.map((node) => {
    const ins = node.inputs.map((s) => shapes[s]);
    const params = opDef(node).params(node, ins);
    return { node, ...buildNode(node, params, ins, seed) };
  });
}

/** Builds a model with PyTorch-default initialization seeded by `seed`. */
export function buildModel(spec: ModelSpec, seed: number): Model {
  return new Model(spec, seed);
}
