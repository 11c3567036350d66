/**
 * ONNX inference benchmark (issue 9): ONNX Runtime on NormLab's export of the S5 net (BN kept and
 * BN folded) against ONNX Runtime on PyTorch's own torch.onnx export of the same network, and
 * against PyTorch's eval-mode forward — same real input digits, same batch, threads 1 and 2.
 * ORT and PyTorch rounds are interleaved (PyTorch runs in a child process serving timing rounds),
 * so that load from other processes on a shared machine hits every engine alike.
 * Prints one JSON object with images/s (medians over rounds) and the ratios.
 *
 * Beside that, per thread count, the reference script's own measurement of PyTorch's eval forward
 * (`torch_reference.py bench`, whose inference runs on 2,048-image batches) against our export at
 * that same batch of 2,048 real digits (ORT rounds before and after the script).
 *
 * It also measures the machine's ceiling for any fp32 ONNX Runtime graph of this net: MLAS's
 * throughput on a large square MatMul (1024³, its best case) at each thread count, divided by the
 * net's forward FLOPs (2 × forwardMacs), next to the images/s the 8× target asks for.
 *
 *   node bench/onnx-bench.mjs [--batch 128] [--threads 1,2] [--seconds 2] [--rounds 7]
 *
 * Needs /usr/bin/python3 with python3-torch (bench/onnx-torch.py); without it the PyTorch
 * columns are null and the reason is given.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
// The tfjs model only supplies weights here (nothing is timed on it): the plain CPU backend, bundled with tfjs-core.
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src-main/engine/backend';
import { buildModel } from '../src-main/engine/model';
import { forwardMacs, s5Spec } from '../src-main/engine/spec';
import onnxProto from 'onnx-proto';
import { DEFAULT_SETTINGS } from '../src-main/contract/settings';
import { loadDataset } from '../src-main/data/dataset';
import { exportOnnx } from '../src-main/onnx/export';
import { prepareInputs } from '../src-main/onnx/runtime';
import { mulberry32 } from '../src-main/engine/rng';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function findTorchScript(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const p of [join(here, 'onnx-torch.py'), join(here, '..', 'onnx-torch.py'), resolve('bench/onnx-torch.py')]) {
    try {
      execFileSync('test', ['-f', p]);
      return p;
    } catch {
      /* next */
    }
  }
  throw new Error('bench/onnx-torch.py not found');
}

interface TorchProc {
  next(): Promise<string>;
  send(line: string): void;
  close(): void;
}

/** A line-oriented child process: next() resolves with its next stdout line. */
function startTorch(python: string, args: string[]): TorchProc {
  const child = spawn(python, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let buf = '';
  let err = '';
  const lines: string[] = [];
  const waiters: { ok: (l: string) => void; fail: (e: Error) => void }[] = [];
  child.stdout.on('data', (c: Buffer) => {
    buf += c.toString();
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const w = waiters.shift();
      if (w) w.ok(line);
      else lines.push(line);
    }
  });
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  child.on('exit', (code) => {
    for (const w of waiters.splice(0)) w.fail(new Error(`onnx-torch.py exited (${code}): ${err.trim().split('\n').at(-1) ?? ''}`));
  });
  child.on('error', (e) => {
    for (const w of waiters.splice(0)) w.fail(e);
  });
  return {
    next: () => (lines.length ? Promise.resolve(lines.shift()!) : new Promise((ok, fail) => waiters.push({ ok, fail }))),
    send: (line) => child.stdin.write(line + '\n'),
    close: () => child.stdin.end('quit\n'),
  };
}

async function session(bytes: Uint8Array, threads: number): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(bytes, { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' });
}

const { onnx } = onnxProto;

/** GFLOP/s of onnxruntime's MLAS on C = A·B with n×n float32 matrices: the best of 15 timed runs (a ceiling). */
async function matmulGflops(threads: number, n = 1024): Promise<number> {
  const type = onnx.TypeProto.create({
    tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: [{ dimValue: n }, { dimValue: n }] } },
  });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'matmul', node: [{ opType: 'MatMul', input: ['a', 'b'], output: ['c'] }],
      input: [{ name: 'a', type }, { name: 'b', type }], output: [{ name: 'c', type }],
    },
  });
  const sess = await session(onnx.ModelProto.encode(model).finish(), threads);
  const rng = mulberry32(7);
  const a = new ort.Tensor('float32', Float32Array.from({ length: n * n }, () => rng() - 0.5), [n, n]);
  for (let i = 0; i < 3; i++) await sess.run({ a, b: a });
  const rates: number[] = [];
  for (let i = 0; i < 15; i++) {
    const t0 = performance.now();
    await sess.run({ a, b: a });
    rates.push((2 * n ** 3) / ((performance.now() - t0) * 1e6));
  }
  await sess.release();
  return Math.max(...rates);
}

/** shared/reference/torch_reference.py (NORMLAB_TORCH_REFERENCE overrides), or null. */
function findReferenceScript(): string | null {
  for (const p of [process.env.NORMLAB_TORCH_REFERENCE ?? '', resolve('..', 'shared', 'reference', 'torch_reference.py'), '/work/shared/reference/torch_reference.py']) {
    if (p && existsSync(p)) return p;
  }
  return null;
}

/** `torch_reference.py bench --threads t`: the peer's own JSON line (train and eval images/s). */
function referenceBench(python: string, script: string, threads: number): { infer_img_per_s: number; peer: string } {
  const out = execFileSync(python, [script, 'bench', '--threads', String(threads)], { encoding: 'utf8', timeout: 120_000 });
  return JSON.parse(out.trim().split('\n').at(-1) ?? '{}');
}

async function main(): Promise<void> {
  const batch = Number(arg('batch', '128'));
  const threadList = arg('threads', '1,2').split(',').map(Number);
  const seconds = Number(arg('seconds', '2'));
  const rounds = Number(arg('rounds', '7'));
  const python = arg('python', '/usr/bin/python3');
  // Registered by hand: the bundler drops the package's side-effect registration.
  if (!tf.findBackend('cpu')) tf.registerBackend('cpu', () => new MathBackendCPU(), 1);
  await initBackend('cpu');

  // The S5 net with BN (default settings, dropout removed at export) and non-trivial BN statistics.
  const spec = s5Spec({ ...DEFAULT_SETTINGS, norm: 'batch' });
  const model = buildModel(spec, 1);
  const w = model.getWeights();
  const rng = mulberry32(42);
  for (const [k, t] of Object.entries(w)) {
    if (k.endsWith('/running_mean')) t.data.forEach((_, i) => (t.data[i] = rng() - 0.5));
    if (k.endsWith('/running_var')) t.data.forEach((_, i) => (t.data[i] = 0.3 + 1.7 * rng()));
  }
  const ours = exportOnnx(spec, w, { metadata: {} }).bytes;
  const oursFolded = exportOnnx(spec, w, { foldBn: true, metadata: {} }).bytes;

  // Identical input for every engine: 1,024 real test digits, normalized.
  const data = await loadDataset('mnist-sample');
  const count = 1024;
  const src = { images: data.test.images, count, height: 28, width: 28, channels: 1 };
  const { nchw } = prepareInputs(src, count, { mean: [0.1307], std: [0.3081] }, false);
  const dir = mkdtempSync(join(tmpdir(), 'normlab-onnx-bench-'));
  const inputFile = join(dir, 'input.f32');
  writeFileSync(inputFile, new Uint8Array(nchw.buffer, nchw.byteOffset, nchw.byteLength));
  const torchOnnx = join(dir, 'torch-s5.onnx');

  const flopsPerImage = 2 * forwardMacs(spec);
  // Measured before any PyTorch process starts, so that no other process shares the CPU.
  const matmul: Record<number, number> = {};
  for (const t of threadList) matmul[t] = await matmulGflops(t);

  // One PyTorch process per thread count, serving timing rounds on request (see onnx-torch.py --serve).
  const torchProcs: Record<number, TorchProc> = {};
  let torchError: string | null = null;
  let torchBytes: Uint8Array | null = null;
  let peer = '';
  try {
    const script = findTorchScript();
    for (const t of threadList) {
      const p = startTorch(python, [script, '--serve', '--input', inputFile, '--count', String(count), '--threads', String(t), '--batch', String(batch),
        ...(torchBytes ? [] : ['--export', torchOnnx])]);
      const ready = JSON.parse(await p.next()) as { peer: string };
      peer = ready.peer;
      torchProcs[t] = p;
      if (!torchBytes) torchBytes = new Uint8Array(readFileSync(torchOnnx));
    }
  } catch (e) {
    torchError = (e as Error).message.split('\n')[0];
  }

  const batches: ort.Tensor[] = [];
  for (let s = 0; s + batch <= count; s += batch) batches.push(new ort.Tensor('float32', nchw.subarray(s * 784, (s + batch) * 784), [batch, 1, 28, 28]));

  // 2,048 real digits (the training split: the sample's test split has 2,000) for the batch the
  // reference script's eval forward uses.
  const BIG = 2048;
  const big = prepareInputs({ images: data.train.images, count: BIG, height: 28, width: 28, channels: 1 }, BIG, { mean: [0.1307], std: [0.3081] }, false).nchw;
  const refScript = torchError ? null : findReferenceScript();
  let refError: string | null = torchError ? null : refScript ? null : 'shared/reference/torch_reference.py not found';

  const results: Record<string, unknown>[] = [];
  const ratios: Record<string, Record<string, number | null>> = {};
  const ceiling: Record<string, Record<string, number | null>> = {};
  for (const t of threadList) {
    const engines: { key: string; label: string; sess: ort.InferenceSession }[] = [
      { key: 'ours', label: 'ORT · NormLab export (BN kept)', sess: await session(ours, t) },
      { key: 'ours_folded', label: 'ORT · NormLab export (BN folded)', sess: await session(oursFolded, t) },
    ];
    if (torchBytes) engines.push({ key: 'torch_onnx', label: 'ORT · torch.onnx export', sess: await session(torchBytes, t) });
    const rates: Record<string, number[]> = Object.fromEntries(engines.map((e) => [e.key, []]));
    const torchRates: number[] = [];
    for (const e of engines) for (let i = 0; i < 5; i++) await e.sess.run({ input: batches[i % batches.length] });
    // Interleaved rounds, so that a neighbour's load on the shared CPU hits every engine alike; the
    // order rotates each round, so that no engine always runs first (e.g. right after PyTorch).
    const tp = torchProcs[t];
    const players: (() => Promise<void>)[] = engines.map((e) => async () => {
      let n = 0;
      const t0 = performance.now();
      while (performance.now() - t0 < (seconds * 1000) / rounds) {
        await e.sess.run({ input: batches[n % batches.length] });
        n++;
      }
      rates[e.key].push((n * batch * 1000) / (performance.now() - t0));
    });
    if (tp) {
      players.push(async () => {
        tp.send(String(seconds / rounds));
        torchRates.push((JSON.parse(await tp.next()) as { eval_img_per_s: number }).eval_img_per_s);
      });
    }
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < players.length; i++) await players[(i + r) % players.length]();
    }
    torchProcs[t]?.close();
    const med: Record<string, number> = {};
    for (const e of engines) {
      med[e.key] = median(rates[e.key]);
      results.push({ engine: e.label, threads: t, batch, img_per_s: Math.round(med[e.key]) });
      await e.sess.release();
    }
    const pt = torchRates.length ? median(torchRates) : null;
    if (pt !== null) results.push({ engine: `PyTorch eval forward, no_grad (${peer})`, threads: t, batch, img_per_s: Math.round(pt) });
    const r3 = (x: number) => Math.round(x * 1000) / 1000;
    ratios[`threads_${t}`] = {
      ours_vs_torch_onnx: med.torch_onnx ? r3(med.ours / med.torch_onnx) : null,
      ours_folded_vs_torch_onnx: med.torch_onnx ? r3(med.ours_folded / med.torch_onnx) : null,
      ours_vs_pytorch_eval: pt ? r3(med.ours / pt) : null,
      ours_folded_vs_pytorch_eval: pt ? r3(med.ours_folded / pt) : null,
    };
    // The reference script's eval forward (batch 2,048) against our export at the same batch.
    if (refScript) {
      try {
        const sess = await session(ours, t);
        const bigInput = new ort.Tensor('float32', big, [BIG, 1, 28, 28]);
        await sess.run({ input: bigInput });
        const oursBig: number[] = [];
        const round = async () => {
          let n = 0;
          const t0 = performance.now();
          while (performance.now() - t0 < 1000) {
            await sess.run({ input: bigInput });
            n++;
          }
          oursBig.push((n * BIG * 1000) / (performance.now() - t0));
        };
        await round();
        await round();
        const peerRun = referenceBench(python, refScript, t);
        await round();
        await round();
        await sess.release();
        const o = median(oursBig);
        results.push({ engine: 'ORT · NormLab export (BN kept)', threads: t, batch: BIG, img_per_s: Math.round(o) });
        results.push({ engine: `PyTorch eval forward, torch_reference.py bench (${peerRun.peer})`, threads: t, batch: BIG, img_per_s: Math.round(peerRun.infer_img_per_s) });
        ratios[`threads_${t}`].ours_vs_reference_script_eval_batch_2048 = r3(o / peerRun.infer_img_per_s);
      } catch (e) {
        refError = (e as Error).message.split('\n')[0];
      }
    }
    const gflops = matmul[t];
    ceiling[`threads_${t}`] = {
      matmul_1024_best_gflops: Math.round(gflops * 10) / 10,
      // What the whole net would run at if every layer ran at large-MatMul speed.
      img_per_s_at_matmul_speed: Math.round((gflops * 1e9) / flopsPerImage),
      ours_gflops: Math.round((Math.max(med.ours, med.ours_folded) * flopsPerImage) / 1e8) / 10,
      img_per_s_needed_for_8x_pytorch: pt ? Math.round(8 * pt) : null,
    };
  }
  rmSync(dir, { recursive: true, force: true });
  model.dispose();
  const okRatio = Object.values(ratios).every((r) => (r.ours_vs_torch_onnx ?? 0) >= 1 && (r.ours_vs_pytorch_eval ?? 0) >= 8);
  process.stdout.write(JSON.stringify({
    bench: 'onnx-inference', model: 'S5 net (BN)', batch, input: `${count} real MNIST test digits`, seconds_per_engine: seconds,
    onnxruntime: ort.env.versions?.node ?? 'onnxruntime-node', results, ratios,
    flops_per_image: flopsPerImage, ceiling,
    targets: { ours_vs_torch_onnx: '>= 1', ours_vs_pytorch_eval: '>= 8' }, met: torchError ? null : okRatio,
    ...(torchError ? { torch_error: torchError } : {}),
    ...(refError ? { reference_script_error: refError } : {}),
  }, null, 1) + '\n');
}

main().catch((e) => {
  process.stderr.write(`onnx-bench: ${(e as Error).message}\n`);
  process.exit(1);
});
