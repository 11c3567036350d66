/**
 * Parameterized layers (conv, dense), dropout, and PyTorch's default initialization.
 * NHWC activations; conv kernels in tfjs layout [kh, kw, in, out], dense kernels [in, out].
 */
import * as tf from '@tensorflow/tfjs-core';
import { deriveSeed, mulberry32, STREAM } from './rng';

/**
 * A variable initialized from `init()`, with the initial tensor released (tf.variable keeps its
 * own reference, so the initial tensor would otherwise stay counted as live).
 */
export function ownedVariable(init: () => tf.Tensor, trainable: boolean): tf.Variable {
  return tf.tidy(() => tf.variable(init(), trainable));
}

/**
 * PyTorch's default init for Conv2d/Linear: kaiming_uniform_(a=√5) on the kernel, which is
 * U(±1/√fan_in), and U(±1/√fan_in) on the bias. Seeded per (seed, layer index, tensor).
 */
export function pytorchUniform(shape: number[], fanIn: number, seed: number, layerIndex: number, tensorIndex: number): tf.Tensor {
  const bound = 1 / Math.sqrt(fanIn);
  const rng = mulberry32(deriveSeed(seed, STREAM.init, layerIndex, tensorIndex));
  const size = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(size);
  for (let i = 0; i < size; i++) data[i] = (2 * rng() - 1) * bound;
  return tf.tensor(data, shape, 'float32');
}

export class Conv {
  readonly kernel: tf.Variable;
  readonly bias: tf.Variable | null;
  constructor(
    readonly name: string,
    readonly inChannels: number,
    readonly filters: number,
    readonly size: number,
    readonly padding: 'valid' | 'same',
    withBias: boolean,
    seed: number,
    layerIndex: number,
  ) {
    const fanIn = inChannels * size * size;
    this.kernel = ownedVariable(() => pytorchUniform([size, size, inChannels, filters], fanIn, seed, layerIndex, 0), true);
    this.bias = withBias ? ownedVariable(() => pytorchUniform([filters], fanIn, seed, layerIndex, 1), true) : null;
  }
  apply(x: tf.Tensor4D): tf.Tensor4D {
    if (x.shape[3] !== this.inChannels) throw new Error(`layer ${this.name}: expects ${this.inChannels} input channels, got ${x.shape[3]}`);
    const y = tf.conv2d(x, this.kernel as tf.Tensor4D, 1, this.padding);
    return this.bias ? tf.add(y, this.bias) : y;
  }
  dispose(): void {
    this.kernel.dispose();
    this.bias?.dispose();
  }
}

export class Dense {
  readonly kernel: tf.Variable;
  readonly bias: tf.Variable | null;
  constructor(
    readonly name: string,
    readonly inUnits: number,
    readonly units: number,
    withBias: boolean,
    seed: number,
    layerIndex: number,
  ) {
    this.kernel = ownedVariable(() => pytorchUniform([inUnits, units], inUnits, seed, layerIndex, 0), true);
    this.bias = withBias ? ownedVariable(() => pytorchUniform([units], inUnits, seed, layerIndex, 1), true) : null;
  }
  apply(x: tf.Tensor): tf.Tensor2D {
    const flat = x.rank === 2 ? (x as tf.Tensor2D) : tf.reshape(x, [x.shape[0], -1]) as tf.Tensor2D;
    if (flat.shape[1] !== this.inUnits) throw new Error(`layer ${this.name}: expects ${this.inUnits} inputs, got ${flat.shape[1]}`);
    const y = tf.matMul(flat, this.kernel as tf.Tensor2D) as tf.Tensor2D;
    return this.bias ? (tf.add(y, this.bias) as tf.Tensor2D) : y;
  }
  dispose(): void {
    this.kernel.dispose();
    this.bias?.dispose();
  }
}

/**
 * Inverted dropout mask: each element kept with probability 1−p and scaled by 1/(1−p), so the
 * expected activation equals the eval-time one. Drawn from mulberry32 so that the mask depends
 * only on the seed (not on the backend) and a resumed run draws the same masks.
 */
export function dropoutMask(shape: number[], rate: number, seed: number): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(size);
  const rng = mulberry32(seed);
  const scale = 1 / (1 - rate);
  for (let i = 0; i < size; i++) data[i] = rng() >= rate ? scale : 0;
  return tf.tensor(data, shape, 'float32');
}
