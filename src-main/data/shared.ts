/**
 * One loaded copy of a dataset for every engine worker: the host loads a dataset once, its pixel
 * and label arrays live in SharedArrayBuffers, and posting the dataset to a worker shares that
 * memory instead of copying it. A parallel study then grows by each run's model and optimizer
 * state, not by a copy of 60,000 images per run.
 */
import type { Dataset } from './dataset';

type Typed = Uint8Array | Uint16Array | Int32Array | Uint32Array | Float32Array | Float64Array;

function isTyped(v: unknown): v is Typed {
  return ArrayBuffer.isView(v) && !(v instanceof DataView);
}

/** True when a typed array's memory is a SharedArrayBuffer (shared with other threads, not copied). */
export function isShared(a: ArrayBufferView): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && a.buffer instanceof SharedArrayBuffer;
}

function toShared<T extends Typed>(a: T): T {
  if (isShared(a)) return a;
  const Ctor = a.constructor as new (buffer: SharedArrayBuffer) => T;
  const out = new Ctor(new SharedArrayBuffer(a.byteLength));
  (out as unknown as { set(src: T): void }).set(a);
  return out;
}

/**
 * The same dataset with every typed array (at any depth: splits, labels, index lists a loader
 * adds later) moved into shared memory; plain values are kept as they are. Arrays already
 * shared are kept (no second copy), and views of one buffer stay views of one shared buffer.
 */
export function shareDataset(d: Dataset): Dataset {
  const moved = new Map<ArrayBufferLike, SharedArrayBuffer>();
  const walk = (v: unknown): unknown => {
    if (isTyped(v)) {
      if (isShared(v)) return v;
      // Subarrays of one buffer (a split taken as a view) share one new buffer.
      if (v.byteOffset !== 0 || v.byteLength !== v.buffer.byteLength) {
        let sab = moved.get(v.buffer);
        if (!sab) {
          sab = new SharedArrayBuffer(v.buffer.byteLength);
          new Uint8Array(sab).set(new Uint8Array(v.buffer));
          moved.set(v.buffer, sab);
        }
        const Ctor = v.constructor as new (b: SharedArrayBuffer, offset: number, length: number) => Typed;
        return new Ctor(sab, v.byteOffset, v.length);
      }
      return toShared(v);
    }
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    }
    return v;
  };
  return walk(d) as Dataset;
}

/** Bytes of dataset memory (typed arrays), counted once per buffer: what a copy per run would cost. */
export function datasetBytes(d: Dataset): number {
  const seen = new Set<ArrayBufferLike>();
  let bytes = 0;
  const walk = (v: unknown): void => {
    if (isTyped(v)) {
      if (!seen.has(v.buffer)) {
        seen.add(v.buffer);
        bytes += v.buffer.byteLength;
      }
    } else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(d);
  return bytes;
}
