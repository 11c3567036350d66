/**
 * Where the onnxruntime training step spends its time: the S5 step graph (or --model's; default settings) on
 * real MNIST digits, batch 128, run `--steps` times with ONNX Runtime's profiler on, then the
 * kernel time summed per op type, per layer and per node, slowest first, with the share of the
 * step. bench/run.mjs bundles it (`--only trainer` runs it as `onnxruntime_profile`).
 *
 *   node step-profile.mjs [--model s5|resnet-tiny|separable|mlp|FILE] [--threads 1] [--steps 40] [--batch 128] [--top 25] [--json]
 */
import * as ort from 'onnxruntime-node';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { loadDataset } from '../src-main/data/dataset';
import { buildTrainGraph } from '../src-main/onnx/train-graph';
import { specForSettings } from '../src-main/engine/spec';
import { DEFAULT_SETTINGS } from '../src-main/contract/settings';
import { dropoutMaskNchw } from '../src-main/host/ort-trainer';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

async function main(): Promise<void> {
  const threads = Number(arg('threads', '1'));
  const steps = Number(arg('steps', '40'));
  const n = Number(arg('batch', '128'));
  const top = Number(arg('top', '25'));
  const spec = specForSettings({ ...DEFAULT_SETTINGS, model: arg('model', 's5') }, [28, 28, 1], 10);
  const graph = buildTrainGraph(spec, 'ce');
  const prefix = join(tmpdir(), `normlab-step-profile-${process.pid}`);
  const session = await ort.InferenceSession.create(graph.bytes, {
    intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
    enableProfiling: true, profileFilePrefix: prefix,
  });
  const data = await loadDataset('mnist-sample');
  const [h, w, c] = spec.input;
  const feeds: Record<string, ort.Tensor> = {};
  feeds.x = new ort.Tensor('float32', Float32Array.from(data.train.images.subarray(0, n * h * w * c), (v) => (v / 255 - 0.1307) / 0.3081), [n, c, h, w]);
  const onehot = new Float32Array(n * spec.classes);
  for (let i = 0; i < n; i++) onehot[i * spec.classes + data.train.labels[i]] = 1;
  feeds.onehot = new ort.Tensor('float32', onehot, [n, spec.classes]);
  feeds.inv_n = new ort.Tensor('float32', new Float32Array([1 / n]), [1]);
  let seed = 1;
  for (const p of graph.params) {
    const size = p.shape.reduce((a, b) => a * b, 1);
    const v = new Float32Array(size);
    for (let i = 0; i < size; i++) { seed = (seed * 1103515245 + 12345) >>> 0; v[i] = ((seed / 2 ** 32) - 0.5) * 0.2; }
    if (p.name.endsWith('/gamma')) v.fill(1);
    feeds[p.name] = new ort.Tensor('float32', v, p.shape);
  }
  for (const d of graph.dropouts) {
    const m = new Float32Array(n * d.chw[0] * d.chw[1] * d.chw[2]);
    dropoutMaskNchw(m, n, d.chw, d.rate, 7);
    feeds[`mask:${d.name}`] = new ort.Tensor('float32', m, [n, ...d.dims]);
  }
  for (let i = 0; i < 5; i++) await session.run(feeds);
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  for (let i = 0; i < steps; i++) await session.run(feeds);
  const wall = (performance.now() - t0) / steps;
  const used = process.cpuUsage(c0);
  // CPU time moves less than wall time on a shared machine (other jobs take turns on the cores).
  const cpu = (used.user + used.system) / 1000 / steps;
  session.endProfiling();
  // onnxruntime-node writes <prefix>_<date>.json and does not return its name.
  const base = basename(prefix);
  const found = readdirSync(tmpdir()).find((f) => f.startsWith(`${base}_`) && f.endsWith('.json'));
  if (!found) throw new Error(`no onnxruntime profile ${prefix}_*.json was written`);
  const file = join(tmpdir(), found);
  const events = JSON.parse(readFileSync(file, 'utf8')) as { cat: string; name: string; dur: number; args?: { op_name?: string } }[];
  rmSync(file, { force: true });
  const byOp = new Map<string, number>();
  const byLayer = new Map<string, number>();
  const byNode = new Map<string, { op: string; us: number }>();
  let total = 0;
  let runs = 0;
  for (const e of events) {
    if (e.cat === 'Session' && e.name === 'model_run') runs++;
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
    const op = e.args?.op_name ?? '?';
    const node = e.name.slice(0, -'_kernel_time'.length);
    const layer = node.split('/')[0];
    total += e.dur;
    byOp.set(op, (byOp.get(op) ?? 0) + e.dur);
    byLayer.set(layer, (byLayer.get(layer) ?? 0) + e.dur);
    const bn = byNode.get(node) ?? { op, us: 0 };
    bn.us += e.dur;
    byNode.set(node, bn);
  }
  const per = runs || steps + 5;
  const fmt = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, us]) => ({ name: k, ms: +(us / per / 1000).toFixed(3), share: +(us / total).toFixed(3) }));
  const out = {
    threads, batch: n, steps, wall_ms_per_step: +wall.toFixed(2), cpu_ms_per_step: +cpu.toFixed(2), kernel_ms_per_step: +(total / per / 1000).toFixed(2),
    nodes: byNode.size,
    by_op: fmt(byOp), by_layer: fmt(byLayer),
    by_node: [...byNode].sort((a, b) => b[1].us - a[1].us).slice(0, top).map(([k, v]) => ({ node: k, op: v.op, ms: +(v.us / per / 1000).toFixed(3) })),
  };
  if (process.argv.includes('--json')) console.log(JSON.stringify(out));
  else {
    console.log(`${arg('model', 's5')}: step ${out.wall_ms_per_step} ms wall, ${out.cpu_ms_per_step} ms CPU, ${out.kernel_ms_per_step} ms in kernels, ${out.nodes} nodes, ${threads} thread(s), batch ${n}`);
    console.log('by op type:'); for (const r of out.by_op) console.log(`  ${r.name.padEnd(22)} ${r.ms.toFixed(3).padStart(8)} ms  ${(r.share * 100).toFixed(1)}%`);
    console.log('by layer:'); for (const r of out.by_layer) console.log(`  ${r.name.padEnd(22)} ${r.ms.toFixed(3).padStart(8)} ms  ${(r.share * 100).toFixed(1)}%`);
    console.log('slowest nodes:'); for (const r of out.by_node) console.log(`  ${r.node.padEnd(40)} ${r.op.padEnd(16)} ${r.ms.toFixed(3)} ms`);
  }
}

main().catch((e) => { console.error(e instanceof Error ? e.message : e); process.exit(1); });
