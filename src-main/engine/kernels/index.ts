/**
 * Gradient kernels NormLab registers on tfjs' wasm backend (see conv-grads.ts for why).
 * backend.ts imports this module after the wasm backend is ready and calls registerWasmKernels().
 */
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig } from '@tensorflow/tfjs-core';
import { backpropFilterConfig, backpropInputConfig } from './conv-grads';

export { conv2dFilterGrad, conv2dInputGrad } from './conv-grads';

/** The backend's own kernels, kept as fallbacks (and for tests that compare against them). */
const native = new Map<string, KernelConfig | undefined>();
let registered: string[] | null = null;

/**
 * Registers NormLab's wasm kernels (Conv2DBackpropFilter, Conv2DBackpropInput). Idempotent;
 * returns the kernel names now served by our code.
 */
export function registerWasmKernels(): string[] {
  if (registered) return registered;
  const configs: KernelConfig[] = [];
  for (const [name, make] of [
    [tf.Conv2DBackpropFilter, backpropFilterConfig],
    [tf.Conv2DBackpropInput, backpropInputConfig],
  ] as const) {
    const before = tf.getKernel(name, 'wasm');
    native.set(name, before);
    // registerKernel would overwrite too, but with a console warning on every start.
    if (before) tf.unregisterKernel(name, 'wasm');
    configs.push(make(before));
  }
  for (const c of configs) tf.registerKernel(c);
  registered = configs.map((c) => c.kernelName);
  return registered;
}

/** The wasm backend's own kernel for `name` as it was before registerWasmKernels (undefined if none). */
export function nativeWasmKernel(name: string): KernelConfig | undefined {
  return native.get(name);
}
