/**
 * A minimal S5 training step in plain tfjs ops: the workload the wasm kernels are tuned, tested
 * and benchmarked on. It mirrors shared/reference/torch_reference.py (conv → BN → ReLU →
 * dropout blocks, no conv bias, SGD with momentum 0.9) so bench numbers compare like with like.
 * It is not the product's trainer (engine/train.ts is); it exists so that kernels, their tests
 * and bench/ do not depend on the trainer's internals.
 */
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core registers no gradients by itself (the @tensorflow/tfjs union package does).
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { DEFAULT_SETTINGS } from '../../contract/settings';
import { s5Spec, type ModelSpec } from '../spec';
import { inferShapes } from '../../model';
import { gaussian, mulberry32 } from '../rng';
import { batchNormTrain } from './batchnorm';

export interface S5Reference {
  spec: ModelSpec;
  vars: Map<string, tf.Variable>;
  /** One SGD step on a batch; returns the mean cross-entropy before the update. */
  step(x: tf.Tensor4D, yOneHot: tf.Tensor2D): number;
  /** Inference logits (BN with batch statistics skipped: running stats are not tracked here). */
  predict(x: tf.Tensor4D): tf.Tensor2D;
  dispose(): void;
}

export interface S5ReferenceOptions {
  seed?: number;
  dropout?: number;
  lr?: number;
  momentum?: number;
  eps?: number;
}

type RefLayer =
  | { type: 'conv'; name: string; filters: number; kernel: number; inChannels: number; bias: boolean; padding: 'valid' }
  | { type: 'norm'; name: string; channels: number }
  | { type: 'relu' | 'gap'; name: string }
  | { type: 'dropout'; name: string; rate: number }
  | { type: 'maxpool'; name: string; size: number }
  | { type: 'dense'; name: string; units: number; inUnits: number };

/** The S5 graph as the flat layer list this reference walks (square kernels, valid padding). */
function s5Layers(spec: ModelSpec): RefLayer[] {
  const shapes = inferShapes(spec);
  return spec.nodes.flatMap((n): RefLayer[] => {
    const x = shapes[n.inputs[0]];
    switch (n.op) {
      case 'conv2d': return [{ type: 'conv', name: n.name, filters: n.filters, kernel: n.kernel as number, inChannels: x[2], bias: n.bias ?? true, padding: 'valid' }];
      case 'norm': return [{ type: 'norm', name: n.name, channels: x[x.length - 1] }];
      case 'relu': case 'gap': return [{ type: n.op, name: n.name }];
      case 'dropout': return [{ type: 'dropout', name: n.name, rate: n.rate }];
      case 'maxpool': return [{ type: 'maxpool', name: n.name, size: n.kernel as number }];
      case 'dense': return [{ type: 'dense', name: n.name, units: n.units, inUnits: x[0] }];
      default: throw new Error(`the S5 reference has no ${n.op} node`);
    }
  });
}

/** Builds the S5 net's variables (He init from `seed`) and a step function. */
export function createS5Reference(o: S5ReferenceOptions = {}): S5Reference {
  const seed = o.seed ?? 1;
  const rate = o.dropout ?? 0.05;
  const spec = s5Spec({ ...DEFAULT_SETTINGS, norm: 'batch', dropout: rate, convBias: false });
  const rng = mulberry32(seed);
  const vars = new Map<string, tf.Variable>();
  // tf.variable keeps its initial tensor alive as a separate handle: the tidy releases those.
  tf.tidy(() => {
  for (const l of s5Layers(spec)) {
    if (l.type === 'conv') {
      const n = l.kernel * l.kernel * l.inChannels * l.filters;
      const std = Math.sqrt(2 / (l.kernel * l.kernel * l.inChannels));
      const w = Float32Array.from({ length: n }, () => gaussian(rng) * std);
      vars.set(`${l.name}/kernel`, tf.variable(tf.tensor4d(w, [l.kernel, l.kernel, l.inChannels, l.filters]), true, `${l.name}/kernel`));
      if (l.bias) vars.set(`${l.name}/bias`, tf.variable(tf.zeros([l.filters]), true, `${l.name}/bias`));
    } else if (l.type === 'norm') {
      vars.set(`${l.name}/gamma`, tf.variable(tf.ones([l.channels]), true, `${l.name}/gamma`));
      vars.set(`${l.name}/beta`, tf.variable(tf.zeros([l.channels]), true, `${l.name}/beta`));
    } else if (l.type === 'dense') {
      const std = Math.sqrt(1 / l.inUnits);
      const w = Float32Array.from({ length: l.inUnits * l.units }, () => gaussian(rng) * std);
      vars.set(`${l.name}/kernel`, tf.variable(tf.tensor2d(w, [l.inUnits, l.units]), true, `${l.name}/kernel`));
      vars.set(`${l.name}/bias`, tf.variable(tf.zeros([l.units]), true, `${l.name}/bias`));
    }
  }
  });
  const eps = o.eps ?? 1e-5;
  const dropRng = mulberry32(seed ^ 0x5eed);
  const lr = o.lr ?? 0.01;
  const mom = o.momentum ?? 0.9;
  const velocity = new Map<string, tf.Variable>();
  tf.tidy(() => {
    for (const [k, v] of vars) velocity.set(k, tf.variable(tf.zerosLike(v), false));
  });

  // The mask comes from a JS generator so cpu and wasm see the same dropout.
  const dropMask = (shape: number[]): tf.Tensor => {
    const size = shape.reduce((p, q) => p * q, 1);
    const keep = 1 / (1 - rate);
    const m = new Float32Array(size);
    for (let i = 0; i < size; i++) m[i] = dropRng() < rate ? 0 : keep;
    return tf.tensor(m, shape);
  };

  const forward = (x: tf.Tensor4D, training: boolean): tf.Tensor2D => {
    let h: tf.Tensor = x;
    for (const l of s5Layers(spec)) {
      if (l.type === 'conv') {
        h = tf.conv2d(h as tf.Tensor4D, vars.get(`${l.name}/kernel`) as tf.Tensor4D, 1, l.padding);
        const b = vars.get(`${l.name}/bias`);
        if (b) h = tf.add(h, b);
      } else if (l.type === 'norm') {
        h = batchNormTrain(h, vars.get(`${l.name}/gamma`) as tf.Tensor1D, vars.get(`${l.name}/beta`) as tf.Tensor1D, eps).y;
      } else if (l.type === 'relu') h = tf.relu(h);
      else if (l.type === 'dropout') {
        if (training && l.rate > 0) h = tf.mul(h, dropMask(h.shape));
      } else if (l.type === 'maxpool') h = tf.maxPool(h as tf.Tensor4D, l.size, l.size, 'valid');
      else if (l.type === 'gap') h = tf.mean(h, [1, 2]);
      else if (l.type === 'dense') h = tf.add(tf.matMul(h as tf.Tensor2D, vars.get(`${l.name}/kernel`) as tf.Tensor2D), vars.get(`${l.name}/bias`)!);
    }
    return h as tf.Tensor2D;
  };

  const trainable = [...vars.values()];
  return {
    spec,
    vars,
    step(x, y) {
      let lossValue = 0;
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, forward(x, true)) as tf.Scalar, trainable);
        for (const [k, v] of vars) {
          const vel = velocity.get(k)!;
          vel.assign(tf.add(tf.mul(vel, mom), grads[v.name]));
          v.assign(tf.sub(v, tf.mul(vel, lr)));
        }
        lossValue = value.dataSync()[0];
      });
      return lossValue;
    },
    predict(x) {
      return tf.tidy(() => forward(x, true));
    },
    dispose() {
      tf.dispose([...vars.values(), ...velocity.values()]);
    },
  };
}
