/**
 * One benchmark process for the product's trainer: host/step-engines.ts trainRun on the embedded
 * mnist-sample (S5 net, default settings, batch 128, no augmentation), timing every step from
 * the trainer's own progress callbacks (so evaluation and the first warm-up steps are left out).
 * Prints one JSON line; bench/run.mjs bundles this file and runs it once per case.
 *
 *   node trainrun-bench.mjs [--engine onnxruntime|tfjs] [--threads N] [--norm batch|ghost|…] [--ghost-batch 32] [--batch 128] [--steps 16] [--repeats 3] [--profile]
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { initBackend } from '../src-main/engine/backend';
import { loadDataset } from '../src-main/data/dataset';
import { DEFAULT_SETTINGS, type TrainSettings } from '../src-main/contract/settings';
import { buildModel } from '../src-main/engine/model';
import { Optimizer } from '../src-main/engine/optim';
import { trainStep } from '../src-main/engine/train';
import { trainRun } from '../src-main/host/step-engines';
import { s5Spec } from '../src-main/engine/spec';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

function median(a: number[]): number {
  const s = [...a].sort((p, q) => p - q);
  return s[Math.floor(s.length / 2)];
}

async function main(): Promise<void> {
  const batch = Number(arg('batch', '128'));
  const steps = Number(arg('steps', '16'));
  const repeats = Number(arg('repeats', '3'));
  const warm = 3;
  const info = await initBackend(arg('backend', 'wasm'));
  const data = await loadDataset('mnist-sample');
  const engine = arg('engine', 'onnxruntime') as TrainSettings['engine'];
  const threads = Number(arg('threads', '1'));
  const norm = arg('norm', DEFAULT_SETTINGS.norm) as TrainSettings['norm'];
  const ghostBatch = Number(arg('ghost-batch', String(DEFAULT_SETTINGS.ghostBatch)));
  const settings: TrainSettings = { ...DEFAULT_SETTINGS, engine, threads, batch, norm, ghostBatch, epochs: 1, trainLimit: batch * (steps + warm), testLimit: 100, seed: 1 };
  let used = '';
  let stepTiming: Record<string, number> | undefined;
  const runs: number[] = [];
  let loss = NaN;
  for (let r = 0; r < repeats; r++) {
    const stamps: number[] = [];
    const res = await trainRun(settings, data, {
      onProgress: () => { stamps.push(performance.now()); },
      onEpoch: (m) => { loss = m.train_loss; },
      onEngine: (e) => { used = e.engine === 'onnxruntime' ? `onnxruntime-node (${e.threads} thread${e.threads === 1 ? '' : 's'})` : `tfjs ${info.backend}`; },
    }, undefined, undefined, { progressEveryMs: 0 });
    if (res.stepTiming) stepTiming = res.stepTiming;
    res.model.dispose();
    // stamps[i] is the end of step i+1; steps warm..end are timed.
    const timed = stamps.length - warm;
    runs.push((timed * batch) / ((stamps[stamps.length - 1] - stamps[warm - 1]) / 1000));
  }
  let profile: Record<string, { ms: number; calls: number }> | undefined;
  if (process.argv.includes('--profile') && engine === 'tfjs') {
    const spec = s5Spec(settings, [28, 28, 1], 10);
    const model = buildModel(spec, 1);
    const params = model.params();
    const opt = new Optimizer({ kind: 'sgd', momentum: 0.9, nesterov: false, weightDecay: 0 },
      params.map((p) => ({ name: p.name, variable: p.variable, decay: p.kind === 'kernel' })));
    const x = new Float32Array(batch * 784);
    for (let i = 0; i < x.length; i++) x[i] = (data.train.images[i] / 255 - 0.1307) / 0.3081;
    const labels = Int32Array.from(data.train.labels.subarray(0, batch));
    const cfg = { lr: 0.05, loss: 'ce' as const, dropoutSeed: 7, penalized: new Set<string>(), l1: 0, l2: 0, clip: 'none' as const, clipValue: 1 };
    for (let i = 0; i < 2; i++) trainStep(model, params, opt, x, labels, batch, [28, 28, 1], 10, cfg).dispose();
    const p = await tf.profile(() => { trainStep(model, params, opt, x, labels, batch, [28, 28, 1], 10, cfg).dispose(); });
    profile = {};
    for (const k of p.kernels) {
      const e = (profile[k.name] ??= { ms: 0, calls: 0 });
      e.ms += Number(k.kernelTimeMs);
      e.calls += 1;
    }
    for (const e of Object.values(profile)) e.ms = Math.round(e.ms * 100) / 100;
    opt.dispose();
    model.dispose();
  }
  console.log(JSON.stringify({
    engine: used, backend: info.backend, threads: engine === 'tfjs' ? info.threads ?? 1 : threads, norm, batch, steps, repeats,
    ...(stepTiming ? { step_ms: stepTiming } : {}),
    train_img_per_s: Math.round(median(runs)), train_runs: runs.map(Math.round), train_loss: Number(loss.toFixed(4)),
    ...(profile ? { profile } : {}),
  }));
}

main().catch((e: unknown) => {
  console.error(`trainrun-bench: ${e instanceof Error ? (process.env.BENCH_DEBUG ? e.stack : e.message) : String(e)}`);
  process.exit(1);
});
