#!/usr/bin/env node
/**
 * NormLab training/inference benchmark: the S5 net at batch 128 on real MNIST digits.
 *
 *   npm run bench [-- --json] [-- --quick] [-- --only train|trainer|onnx|landscape|data|study]
 *
 * Sections (all but study by default; --only picks one, and may be repeated or comma-separated):
 * - train: kernels/s5-reference.ts steps on wasm (threads 1 and 2 requested) and cpu, and PyTorch.
 * - trainer: the product's trainer (engine/train.ts trainRun) on mnist-sample, with a kernel profile.
 * - onnx: `node bench/onnx-bench.mjs` (ONNX Runtime inference), merged under "onnx".
 * - landscape: `node bench/landscape-bench.mjs` (loss-landscape grid points/s), under "landscape";
 *   shortened (--rows 1 --batches 250) unless it runs alone.
 * - data: `node bench/data-bench.mjs` (full MNIST first/second load; a 10,000-PNG image folder
 *   first and cached; torchvision ImageFolder + DataLoader one epoch on the same folder), under "data".
 * - study: `node bench/study-bench.mjs` (the S6 study on full MNIST, 2 epochs: NormLab's parallel
 *   queue against PyTorch one run after another and as 4 one-thread processes), under "study".
 *   Minutes long, so only with --only study.
 *
 * How it runs TypeScript without tsx: rolldown (installed with vite 8) bundles
 * bench/train-bench.ts into node_modules/.cache/normlab-bench/ (tfjs and mnist stay external,
 * tfjs-core's gradient registrations are bundled: they ship only as extensionless ESM). Each case
 * then runs in its own `node` process, so backends, threads and peak RSS do not mix.
 * If /usr/bin/python3 has torch, shared/reference/torch_reference.py bench runs with 1 and 2
 * threads and the ratio NormLab/PyTorch is reported. The machine is shared: each number is a
 * median over repeats, and runs are noisy (±30% seen with other jobs running).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, 'node_modules', '.cache', 'normlab-bench');
const json = process.argv.includes('--json');
const quick = process.argv.includes('--quick');
const SECTIONS = ['train', 'trainer', 'onnx', 'landscape', 'data', 'study'];
const only = process.argv.flatMap((a, i, all) => (all[i - 1] === '--only' ? a.split(',') : a.startsWith('--only=') ? a.slice(7).split(',') : []));
for (const o of only) {
  if (!SECTIONS.includes(o)) {
    console.error(`bench: --only ${o} is not a section; use one of ${SECTIONS.join(', ')}`);
    process.exit(2);
  }
}
const want = (section) => (only.length === 0 && section !== 'study') || only.includes(section);
const log = (s) => { if (!json) console.log(s); };

async function bundle() {
  const { build } = await import('rolldown');
  await build({
    input: { 'train-bench': join(root, 'bench', 'train-bench.ts'), 'trainrun-bench': join(root, 'bench', 'trainrun-bench.ts'), 'step-profile': join(root, 'bench', 'step-profile.ts') },
    platform: 'node',
    external: [/^@tensorflow\/[^/]+$/, 'mnist', 'onnxruntime-node', 'onnx-proto', /^node:/],
    output: { dir: outDir, format: 'esm', entryFileNames: '[name].mjs', chunkFileNames: '[name]-[hash].mjs' },
    logLevel: 'silent',
  });
  return { train: join(outDir, 'train-bench.mjs'), trainer: join(outDir, 'trainrun-bench.mjs'), profile: join(outDir, 'step-profile.mjs') };
}

function runCase(script, name, args, env = {}) {
  log(`… ${name}`);
  const r = spawnSync(process.execPath, [script, ...args], { cwd: root, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 120_000 });
  const line = (r.stdout || '').trim().split('\n').filter((l) => l.startsWith('{')).at(-1);
  if (r.status !== 0 || !line) return { name, error: ((r.stderr || '').trim().split('\n').at(-1) || `exit ${r.status}`).slice(0, 300) };
  return { name, ...JSON.parse(line) };
}

function torch(threads) {
  const py = '/usr/bin/python3';
  const ref = resolve(root, '..', 'shared', 'reference', 'torch_reference.py');
  if (!existsSync(py) || !existsSync(ref)) return { threads, error: `${existsSync(py) ? ref : py} not found` };
  const probe = spawnSync(py, ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.status !== 0) return { threads, error: '/usr/bin/python3 has no torch (apt-get install python3-torch)' };
  log(`… pytorch, ${threads} thread(s)`);
  const runs = [];
  for (let i = 0; i < (quick ? 1 : 2); i++) {
    const r = spawnSync(py, [ref, 'bench', '--threads', String(threads), '--batch', '128'], { encoding: 'utf8', timeout: 60_000 });
    const line = (r.stdout || '').trim().split('\n').at(-1);
    if (r.error || r.signal) return { threads, error: `pytorch bench did not finish in 60 s (${r.signal ?? r.error?.message}); is the machine overloaded?` };
    if (r.status !== 0 || !line) return { threads, error: (r.stderr || '').trim().split('\n').at(-1) || `exit ${r.status}` };
    runs.push(JSON.parse(line));
  }
  const med = (k) => runs.map((r) => r[k]).sort((a, b) => a - b)[Math.floor(runs.length / 2)];
  return { peer: runs[0].peer, threads, batch: 128, train_img_per_s: med('train_img_per_s'), infer_img_per_s: med('infer_img_per_s'), train_runs: runs.map((r) => r.train_img_per_s) };
}

/**
 * Runs another bench script that prints one JSON object (possibly pretty-printed, possibly after
 * log lines) and returns it, or { error }.
 */
function runJsonScript(name, file, args, timeoutMs) {
  const path = join(root, 'bench', file);
  if (!existsSync(path)) return { error: `bench/${file} not found` };
  log(`… ${name}`);
  const r = spawnSync(process.execPath, [path, '--json', ...args], { cwd: root, encoding: 'utf8', timeout: timeoutMs });
  if (r.error || r.signal) return { error: `${file} did not finish in ${timeoutMs / 1000} s (${r.signal ?? r.error?.message})` };
  const out = r.stdout || '';
  // The object starts at the first line that begins with '{'.
  const at = out.search(/^\{/m);
  if (r.status !== 0 || at < 0) return { error: ((r.stderr || '').trim().split('\n').at(-1) || `exit ${r.status}`).slice(0, 300) };
  try {
    return JSON.parse(out.slice(at));
  } catch (e) {
    return { error: `${file}: output is not JSON (${e.message})` };
  }
}

const t0 = performance.now();
const scripts = want('train') || want('trainer') ? await bundle() : null;
const result = {};
if (want('train')) Object.assign(result, trainSection(scripts.train));
if (want('trainer')) {
  // The product's trainer end to end (batching, masks, BN bookkeeping, optimizer), per engine and
  // thread count, against PyTorch with the same threads.
  const args = quick ? ['--steps', '6', '--repeats', '1'] : ['--steps', '10', '--repeats', '3'];
  const cases = [
    runCase(scripts.trainer, 'trainer, onnxruntime, threads 1', [...args, '--engine', 'onnxruntime', '--threads', '1']),
    runCase(scripts.trainer, 'trainer, onnxruntime, threads 2', [...args, '--engine', 'onnxruntime', '--threads', '2']),
    runCase(scripts.trainer, 'trainer, tfjs wasm, threads 1', [...args, '--engine', 'tfjs', ...(quick ? [] : ['--profile'])], { NORMLAB_THREADS: '1' }),
    // Ghost BN (virtual batches of 32) through the onnxruntime graph's virtual-batch matrices.
    runCase(scripts.trainer, 'trainer, onnxruntime, ghost BN 32, threads 1', [...args, '--engine', 'onnxruntime', '--threads', '1', '--norm', 'ghost', '--ghost-batch', '32']),
  ];
  const p1 = result.pytorch?.[0] ?? torch(1);
  const p2 = result.pytorch?.[1] ?? torch(2);
  const ratio = (a, p) => (a && p && !a.error && !p.error && p.train_img_per_s ? Number((a.train_img_per_s / p.train_img_per_s).toFixed(3)) : null);
  result.trainer = {
    cases,
    pytorch: [p1, p2],
    ratio_onnxruntime_vs_pytorch_1_thread: ratio(cases[0], p1),
    ratio_onnxruntime_vs_pytorch_2_threads: ratio(cases[1], p2),
    ratio_tfjs_wasm_vs_pytorch_1_thread: ratio(cases[2], p1),
    // Where the onnxruntime step's time goes (ONNX Runtime's profiler, 1 thread): op types, layers, nodes.
    onnxruntime_profile: runCase(scripts.profile, 'onnxruntime step profile, threads 1', ['--json', '--steps', quick ? '10' : '30', '--top', '12']),
  };
}
if (want('onnx')) {
  // Alone it runs its own defaults; beside the other sections, shorter rounds keep the whole bench near 3 minutes.
  const args = quick ? ['--seconds', '1', '--rounds', '3'] : only.length === 1 ? [] : ['--seconds', '1', '--rounds', '5'];
  result.onnx = runJsonScript('onnx inference (onnx-bench)', 'onnx-bench.mjs', args, 150_000);
}
if (want('landscape')) {
  const short = only.length !== 1 || quick;
  result.landscape = runJsonScript('loss landscape (landscape-bench)', 'landscape-bench.mjs', short ? ['--rows', '1', '--batches', '250'] : [], 300_000);
}
if (want('data')) {
  result.data = runJsonScript('data loading (data-bench)', 'data-bench.mjs', quick ? ['--repeats', '1'] : [], 900_000);
}
if (want('study')) {
  if (json) result.study = runJsonScript('S6 study on full MNIST (study-bench)', 'study-bench.mjs', quick ? ['--epochs', '1', '--train-limit', '6000'] : [], 3_600_000);
  else {
    // Its own table, printed as it goes.
    const r = spawnSync(process.execPath, [join(root, 'bench', 'study-bench.mjs'), ...(quick ? ['--epochs', '1', '--train-limit', '6000'] : [])], { cwd: root, stdio: 'inherit' });
    result.study = { exit: r.status };
  }
}
result.seconds = Math.round((performance.now() - t0) / 1000);

function trainSection(script) {
  const reps = quick ? ['--steps', '6', '--repeats', '1'] : ['--steps', '10', '--repeats', '3'];
  const cases = [
    runCase(script, 'wasm, threads 1', ['--backend', 'wasm', ...reps, '--profile'], { NORMLAB_THREADS: '1' }),
    // tfjs-backend-wasm 4.22 turns its threaded build off under Node (tfjs issue #3830: the
    // Emscripten pthread pool starts its workers from a blob: URL, which worker_threads rejects),
    // so this case reports the threads actually used (1).
    runCase(script, 'wasm, threads 2 requested', ['--backend', 'wasm', ...(quick ? reps : ['--steps', '8', '--repeats', '2'])], { NORMLAB_THREADS: '2' }),
    // The cpu backend is plain JS (~4 img/s at batch 128): a short look at batch 16.
    runCase(script, 'cpu (batch 16, brief)', ['--backend', 'cpu', '--batch', '16', '--steps', '1', '--repeats', '1']),
  ];
  const peers = [torch(1), torch(2)];
  const wasm1 = cases[0];
  const ratio = (a, p) => (a && p && !a.error && !p.error && p.train_img_per_s ? Number((a.train_img_per_s / p.train_img_per_s).toFixed(3)) : null);
  return {
    net: 'S5 (8.9k params, BN, dropout 0.05)', batch: 128, data: 'real MNIST digits (mnist npm package)',
    cases, pytorch: peers,
    ratio_train_vs_pytorch_same_threads: ratio(wasm1, peers[0]),
    ratio_train_vs_pytorch_2_threads: ratio(cases[1], peers[1]),
    ratio_infer_vs_pytorch_same_threads: wasm1 && peers[0] && !wasm1.error && !peers[0].error ? Number((wasm1.infer_img_per_s / peers[0].infer_img_per_s).toFixed(3)) : null,
  };
}

const profileLines = (profile) => Object.entries(profile).sort((a, b) => b[1].ms - a[1].ms).slice(0, 12)
  .map(([k, v]) => `  ${k.padEnd(28)} ${String(v.ms).padStart(8)}  ×${v.calls}`);

if (json) {
  console.log(JSON.stringify(result, null, 2));
} else {
  const row = (n, r) => `${n.padEnd(36)} ${String(r.error ? '—' : r.train_img_per_s ?? '').padStart(8)} ${String(r.error ? '—' : r.infer_img_per_s ?? '').padStart(8)} ${String(r.peak_rss_mb ?? '').padStart(7)}  ${r.error ?? (r.threads != null ? `threads used ${r.threads}` : '')}`;
  console.log(`\n${'case'.padEnd(36)} ${'train/s'.padStart(8)} ${'infer/s'.padStart(8)} ${'RSS MB'.padStart(7)}`);
  for (const c of result.cases ?? []) console.log(row(c.name, c));
  for (const c of result.trainer?.cases ?? []) console.log(row(c.name, c));
  for (const p of [...(result.pytorch ?? []), ...(result.cases ? [] : result.trainer?.pytorch ?? [])]) console.log(row(`pytorch, threads ${p.threads}`, p));
  if (result.cases) {
    console.log(`\nNormLab/PyTorch training, same threads (1): ${result.ratio_train_vs_pytorch_same_threads ?? 'n/a'}`);
    console.log(`NormLab (2 requested) / PyTorch (2 threads): ${result.ratio_train_vs_pytorch_2_threads ?? 'n/a'}`);
  }
  if (result.trainer) {
    const t = result.trainer;
    console.log(`Trainer onnxruntime / PyTorch: 1 thread ${t.ratio_onnxruntime_vs_pytorch_1_thread ?? 'n/a'}, 2 threads ${t.ratio_onnxruntime_vs_pytorch_2_threads ?? 'n/a'}; tfjs wasm / PyTorch, 1 thread: ${t.ratio_tfjs_wasm_vs_pytorch_1_thread ?? 'n/a'}`);
    for (const c of t.cases) if (c.step_ms) console.log(`  ${c.name}: ms per step ${Object.entries(c.step_ms).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  }
  if (result.cases?.[0]?.profile) {
    console.log('\nwasm kernel time in one reference step (ms; our kernels include the Conv2D/Transpose calls they make):');
    for (const l of profileLines(result.cases[0].profile)) console.log(l);
  }
  const wasmTrainer = result.trainer?.cases?.[2];
  if (wasmTrainer?.profile) {
    console.log('\nwasm kernel time in one tfjs trainer step (ms):');
    for (const l of profileLines(wasmTrainer.profile)) console.log(l);
  }
  if (result.onnx) console.log(`\nonnx: ${result.onnx.error ?? (result.onnx.results ?? []).map((r) => `${r.engine} t${r.threads}: ${r.img_per_s}/s`).join('; ')}`);
  for (const [k, r] of Object.entries(result.onnx?.ratios ?? {})) {
    const c = result.onnx.ceiling?.[k] ?? {};
    console.log(`  ${k.replace('_', ' ')}: ours/torch.onnx ${r.ours_vs_torch_onnx}, ours/PyTorch eval ${r.ours_vs_pytorch_eval} at batch 128, ` +
      `${r.ours_vs_reference_script_eval_batch_2048 ?? 'n/a'} at batch 2048 against torch_reference.py bench's own eval figure (target 8); ` +
      `MLAS MatMul 1024³ best ${c.matmul_1024_best_gflops} GFLOP/s → ${c.img_per_s_at_matmul_speed} img/s if every layer ran that fast, ours ${c.ours_gflops} GFLOP/s; 8× PyTorch needs ${c.img_per_s_needed_for_8x_pytorch} img/s`);
  }
  if (result.data) {
    const d = result.data;
    console.log(d.error ? `\ndata: ${d.error}` : `\ndata: full MNIST first ${d.mnist?.first_ms} ms, second ${d.mnist?.second_ms} ms; ${d.images} PNGs first ${d.folder?.first_ms} ms, cached ${d.folder?.cached_ms} ms; torchvision ImageFolder + DataLoader one epoch ${d.torchvision?.total_ms ?? d.torchvision?.error} ms`);
  }
  if (result.landscape) console.log(`\nlandscape: ${result.landscape.error ?? (result.landscape.cases ?? []).map((c) => `batch ${c.batch}${c.recomputeBn ? ' recompute BN' : ''}: ${c.pointsPerSecond} points/s`).join('; ')}`);
  console.log(`\n${result.seconds} s in all`);
}
