import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';

const nodeRequire = createRequire(import.meta.url);

function pkgVersion(name: string): string | undefined {
  try {
    return (nodeRequire(`${name}/package.json`) as { version: string }).version;
  } catch {
    return undefined;
  }
}

/** Versions recorded with every run and shown by `normlab info`. */
export function engineVersions(): Record<string, string> {
  const v: Record<string, string> = { node: process.versions.node, tfjs: tf.version_core };
  const normlab = normlabVersion();
  if (normlab) v.normlab = normlab;
  for (const [key, pkg] of [
    ['tfjs-backend-wasm', '@tensorflow/tfjs-backend-wasm'],
    ['tfjs-node', '@tensorflow/tfjs-node'],
    ['tfjs-node-gpu', '@tensorflow/tfjs-node-gpu'],
    ['onnxruntime-node', 'onnxruntime-node'],
  ] as const) {
    const x = pkgVersion(pkg);
    if (x) v[key] = x;
  }
  if (process.versions.electron) v.electron = process.versions.electron;
  return v;
}

/** NormLab's own version, from the package.json above this module (source or built). */
export function normlabVersion(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const p = join(dir, 'package.json');
    if (existsSync(p)) {
      try {
        const j = JSON.parse(readFileSync(p, 'utf8')) as { name?: string; version?: string };
        if (j.name === 'normlab') return j.version;
      } catch {
        return undefined;
      }
    }
    dir = dirname(dir);
  }
  return undefined;
}
