import { it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../../src-main/engine/backend';
it('red', async () => {
  await initBackend();
  for (const shape of [[32, 26, 26, 8], [32, 24, 24, 16], [128, 26, 26, 8]]) {
    const t = tf.randomNormal(shape);
    const M = shape[0] * shape[1] * shape[2], C = shape[3];
    const ones = tf.ones([1, M]) as tf.Tensor2D;
    const ones2 = tf.ones([M, 1]) as tf.Tensor2D;
    const bench = (name: string, f: () => tf.Tensor) => {
      tf.tidy(() => f().dataSync());
      const t0 = performance.now();
      for (let i = 0; i < 20; i++) tf.tidy(() => f().dataSync());
      console.log(shape.join('x'), name, ((performance.now() - t0) / 20).toFixed(2), 'ms');
    };
    bench('mean[0,1,2]', () => tf.mean(t, [0, 1, 2]));
    bench('matMul ones', () => tf.matMul(ones, tf.reshape(t, [M, C]) as tf.Tensor2D));
    bench('matMul tA', () => tf.matMul(tf.reshape(t, [M, C]) as tf.Tensor2D, ones2, true, false));
    bench('sum axis0', () => tf.sum(tf.reshape(t, [M, C]), 0));
    bench('transpose', () => tf.transpose(tf.reshape(t, [M, C])));
    bench('mul same', () => tf.mul(t, t));
    bench('mul bcast C', () => tf.mul(t, tf.ones([C])));
    bench('conv2d-ish relu', () => tf.relu(t));
  }
});
