/**
 * Gradient kernels NormLab registers on tfjs' wasm backend (see conv-grads.ts for why).
 * backend.ts imports this module after the wasm backend is ready and calls registerWasmKernels().
 */
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig } from '@tensorflow/tfjs-core';
import { backpropFilterConfig, backpropInputConfig } from './conv-grads';
import { maxPoolGradConfig } from './pool-grads';
import { batchNormGradConfig, batchNormKernelConfigs, BN_TRAIN } from './batchnorm';
import { DROPOUT, registerDropoutKernels } from './dropout';

export { conv2dFilterGrad, conv2dInputGrad } from './conv-grads';
export { batchNormTrain, BN_TRAIN, BN_TRAIN_GRAD } from './batchnorm';
export { DROPOUT, fusedDropout, registerDropoutKernels } from './dropout';

/** The backend's own kernels, kept as fallbacks (and for tests that compare against them). */
const native = new Map<string, KernelConfig | undefined>();
let registered: string[] | null = null;

/**
 * Registers NormLab's wasm kernels (Conv2DBackpropFilter, Conv2DBackpropInput, MaxPoolGrad, the
 * fused training batch norm and dropout). Idempotent;
 * returns the kernel names now served by our code.
 */
export function registerWasmKernels(): string[] {
  if (registered) return registered;
  const configs: KernelConfig[] = [];
  for (const [name, make] of [
    [tf.Conv2DBackpropFilter, backpropFilterConfig],
    [tf.Conv2DBackpropInput, backpropInputConfig],
    [tf.MaxPoolGrad, () => maxPoolGradConfig],
  ] as const) {
    const before = tf.getKernel(name, 'wasm');
    native.set(name, before);
    // registerKernel would overwrite too, but with a console warning on every start.
    if (before) tf.unregisterKernel(name, 'wasm');
    configs.push(make(before));
  }
  for (const c of configs) tf.registerKernel(c);
  registered = configs.map((c) => c.kernelName);
  registerBatchNormKernels();
  registered.push(...batchNormKernelConfigs('wasm').map((c) => c.kernelName));
  registerDropoutKernels();
  registered.push(DROPOUT);
  return registered;
}

/**
 * Registers the fused training batch-norm kernels (see batchnorm.ts) for wasm and cpu and their
 * gradient. Idempotent; registerWasmKernels calls it. The cpu ones let tests compare backends.
 */
export function registerBatchNormKernels(): void {
  if (!tf.getGradient(BN_TRAIN)) tf.registerGradient(batchNormGradConfig);
  for (const b of ['wasm', 'cpu'] as const) {
    for (const c of batchNormKernelConfigs(b)) if (!tf.getKernel(c.kernelName, b)) tf.registerKernel(c);
  }
}

/** The wasm backend's own kernel for `name` as it was before registerWasmKernels (undefined if none). */
export function nativeWasmKernel(name: string): KernelConfig | undefined {
  return native.get(name);
}
