/**
 * Variables and dropout masks shared by the tfjs lowering (lower-tfjs.ts) and the norm layers.
 */
import * as tf from '@tensorflow/tfjs-core';
import { mulberry32 } from './rng';

/**
 * A variable initialized from `init()`, with the initial tensor released (tf.variable keeps its
 * own reference, so the initial tensor would otherwise stay counted as live).
 */
export function ownedVariable(init: () => tf.Tensor, trainable: boolean): tf.Variable {
  return tf.tidy(() => tf.variable(init(), trainable));
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
