/**
 * Backend choice: tfjs-node-gpu (CUDA) → tfjs-node (libtensorflow CPU) → wasm → cpu.
 * The two node packages are optional dependencies (their install downloads libtensorflow);
 * NORMLAB_BACKEND=tensorflow|wasm|cpu forces one. Runs once per process (the engine worker,
 * or a test).
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import type { BackendInfo } from '../contract/api';

const nodeRequire = createRequire(import.meta.url);

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';

let current: BackendInfo | null = null;

function errText(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.split('\n')[0].slice(0, 300);
}

async function tryNode(pkg: '@tensorflow/tfjs-node-gpu' | '@tensorflow/tfjs-node'): Promise<void> {
  // Both register the 'tensorflow' backend on the shared tfjs-core instance.
  nodeRequire(pkg);
  await tf.setBackend('tensorflow');
  await tf.ready();
}

async function tryWasm(threads?: number): Promise<number> {
  const wasm = nodeRequire('@tensorflow/tfjs-backend-wasm') as typeof import('@tensorflow/tfjs-backend-wasm');
  const dist = join(dirname(nodeRequire.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + '/';
  wasm.setWasmPaths(dist);
  if (threads) wasm.setThreadsCount(threads);
  const ok = await tf.setBackend('wasm');
  if (!ok) throw new Error('wasm backend failed to initialize');
  await tf.ready();
  // Our gradient kernels for wasm (Conv2DBackpropFilter etc.) register on import.
  const kernels = await import('./kernels/index').catch(() => null);
  kernels?.registerWasmKernels?.();
  return wasm.getThreadsCount();
}

/**
 * Initializes tfjs once and returns which backend is in use and why.
 * `forced` (or NORMLAB_BACKEND) skips the fallback chain: a forced backend that fails throws.
 */
export async function initBackend(forced: string | undefined = process.env.NORMLAB_BACKEND): Promise<BackendInfo> {
  if (current) return current;
  const tried: BackendInfo['tried'] = [];
  const want = forced?.trim().toLowerCase() || undefined;
  if (want && !['tensorflow', 'wasm', 'cpu', 'gpu'].includes(want)) {
    throw new Error(`NORMLAB_BACKEND=${forced} is not a backend; use tensorflow, wasm or cpu`);
  }
  const attempt = async (name: string, fn: () => Promise<number | void>): Promise<number | void | false> => {
    try {
      const r = await fn();
      tried.push({ name, ok: true });
      return r;
    } catch (e) {
      tried.push({ name, ok: false, error: errText(e) });
      return false;
    }
  };
  const finish = (backend: string, reason: string, threads?: number): BackendInfo => {
    current = { backend, reason, tried, ...(threads ? { threads } : {}) };
    return current;
  };

  if (!want || want === 'tensorflow' || want === 'gpu') {
    if ((await attempt('tfjs-node-gpu', () => tryNode('@tensorflow/tfjs-node-gpu'))) !== false) {
      return finish('tensorflow-gpu', want ? `forced by NORMLAB_BACKEND=${want}` : 'libtensorflow with CUDA (@tensorflow/tfjs-node-gpu) is installed');
    }
    if (want !== 'gpu' && (await attempt('tfjs-node', () => tryNode('@tensorflow/tfjs-node'))) !== false) {
      return finish('tensorflow', want ? `forced by NORMLAB_BACKEND=${want}` : 'libtensorflow CPU (@tensorflow/tfjs-node) is installed; no CUDA build');
    }
    if (want) throw new Error(`NORMLAB_BACKEND=${want}: ${tried.map((t) => `${t.name}: ${t.error}`).join('; ')}`);
  }
  if (!want || want === 'wasm') {
    const threads = Number(process.env.NORMLAB_THREADS) || undefined;
    const r = await attempt('wasm', () => tryWasm(threads));
    if (r !== false) {
      const why = want ? 'forced by NORMLAB_BACKEND=wasm' : 'libtensorflow is not installed (optional @tensorflow/tfjs-node packages absent), so WebAssembly (XNNPACK, SIMD)';
      return finish('wasm', why, typeof r === 'number' ? r : undefined);
    }
    if (want) throw new Error(`NORMLAB_BACKEND=wasm: ${tried.at(-1)?.error}`);
  }
  await tf.setBackend('cpu');
  await tf.ready();
  tried.push({ name: 'cpu', ok: true });
  return finish('cpu', want ? 'forced by NORMLAB_BACKEND=cpu' : 'no faster backend could be loaded (plain JavaScript, slow)');
}

/** The backend info after initBackend, or null. */
export function backendInfo(): BackendInfo | null {
  return current;
}
