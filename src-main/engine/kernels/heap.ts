/**
 * Direct access to tensors on the wasm backend's heap, for the few memory-bound kernels that
 * are faster as one fused JavaScript loop than as a chain of XNNPACK calls (each of which
 * reads and writes the whole tensor again).
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';

/** The slice of BackendWasm these kernels use (the class is not exported as a type we can import cheaply). */
export interface WasmHeapBackend {
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array | Int32Array | Uint8Array;
}

/**
 * A Float32Array view of `t` on the wasm heap. Views die when the heap grows, so take them only
 * after every makeOutput of the kernel.
 */
export function f32(backend: WasmHeapBackend, t: TensorInfo): Float32Array {
  if (t.dtype !== 'float32') throw new Error(`wasm kernel: expected a float32 tensor, got ${t.dtype}`);
  return backend.typedArrayFromHeap(t) as Float32Array;
}

/** Input `name` of a kernel call, or a clear error naming the kernel. */
export function input(inputs: Record<string, TensorInfo | undefined>, name: string, kernel: string): TensorInfo {
  const t = inputs[name];
  if (!t) throw new Error(`${kernel}: missing input '${name}'`);
  return t;
}
