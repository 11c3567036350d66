import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { spawnSync } from 'node:child_process';
import type { EpochMetrics } from '../../../src-main/contract/api';
import type { TrainState } from '../../../src-main/engine/model-types';

/** A fresh temp folder and its remover. */
export function tempRoot(tag: string): { root: string; cleanup: () => void } {
  const root = mkdtempSync(join(tmpdir(), `normlab-store-${tag}-`));
  return { root, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

const FASHION = '/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz';

/** The first `count` real Fashion-MNIST test images as float pixels in [0,1]. */
let fashionRaw: Buffer | undefined;
export function fashionPixels(count: number): Float32Array {
  const raw = (fashionRaw ??= gunzipSync(readFileSync(FASHION)));
  if (raw.readUInt32BE(0) !== 0x803) throw new Error(`${FASHION}: not an IDX image file`);
  const px = raw.subarray(16, 16 + count * 784);
  return Float32Array.from(px, (b) => b / 255);
}

/**
 * A training state whose "weights" are real image pixels reshaped into S5-like layers, with a few
 * values that a careless encoder would change (-0, NaN, subnormal, ±Infinity).
 */
export function realState(epoch: number): TrainState {
  const px = fashionPixels(3);
  const slice = (from: number, n: number, shift = 0): Float32Array => Float32Array.from(px.subarray(from, from + n), (v) => v - 0.5 + shift);
  const conv1 = slice(0, 3 * 3 * 1 * 8);
  conv1[0] = -0;
  conv1[1] = NaN;
  conv1[2] = 1e-42; // subnormal
  conv1[3] = Infinity;
  conv1[4] = -Infinity;
  return {
    epoch,
    weights: {
      'conv1/kernel': { shape: [3, 3, 1, 8], data: conv1 },
      'bn1/gamma': { shape: [8], data: slice(100, 8, 0.5) },
      'bn1/running_var': { shape: [8], data: slice(200, 8, 1) },
      'dense/kernel': { shape: [16, 10], data: slice(300, 160) },
      'dense/bias': { shape: [10], data: slice(600, 10) },
      'scalar': { shape: [], data: Float32Array.of(epoch) },
    },
    optimizer: {
      kind: 'adam',
      step: epoch * 47,
      slots: {
        'm/conv1/kernel': { shape: [3, 3, 1, 8], data: slice(900, 72, 0.1) },
        'v/conv1/kernel': { shape: [3, 3, 1, 8], data: slice(1000, 72, 0.2) },
      },
    },
    best: { epoch: Math.max(1, epoch - 1), testLoss: 0.4123456789012345, testAcc: 0.8765 },
    earlyStopWait: 1,
    normalization: { mean: [0.2860405969887955], std: [0.3530242445149223] },
  };
}

/** Epoch metrics with plausible values. */
export function metrics(epoch: number): EpochMetrics {
  return {
    epoch, train_loss: 1 / epoch, train_acc: 0.5 + epoch / 100, test_loss: 1.1 / epoch, test_acc: 0.49 + epoch / 100,
    lr: 0.01, grad_norm: 2.5, clipped_steps: 0, weight_norms: { 'conv1/kernel': 1.5 }, sparsity: 0.01, seconds: 3.2,
  };
}

/** The pid of a process that has exited (and been reaped). */
export function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '0']);
  if (r.pid === undefined) throw new Error('could not spawn node');
  return r.pid;
}
