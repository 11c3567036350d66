/**
 * Every layer kind exports, on any DAG (issue 16 item 6, export): for each kind a tiny graph (and
 * its variants: strides, pads, groups, dilation, every norm on images and on vectors, padded
 * pools, n-ary joins), and each preset, the exported model run by onnxruntime-node gives the
 * logits of the tfjs engine's eval-mode forward (the reference, engine/lower-tfjs.ts) on real
 * MNIST test images, max |Δ| ≤ 1e-4. The table of cases is a `Record<NodeOp, …>`: a new kind
 * without a case does not compile.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import { MODEL_PRESETS, type NodeOp, type ResolvedGraph } from '../../../src-main/contract/model-graph';
import { bn, c, CASES, tiny } from './kind-cases';
import { DEFAULT_SETTINGS, type TrainSettings } from '../../../src-main/contract/settings';
import { initBackend } from '../../../src-main/engine/backend';
import { buildModel } from '../../../src-main/engine/model';
import { presetGraph, resolveGraph } from '../../../src-main/model';
import { ExportError, exportOnnx } from '../../../src-main/onnx/export';
import { verifyExport } from '../../../src-main/onnx/runtime';
import { perturbedModel, pythonOnnx, testImages } from './helpers';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const NORM = { mean: [0.1307], std: [0.3081] };
const TOL = 1e-4;

const measured: string[] = [];

beforeAll(async () => {
  await initBackend();
});

async function parity(graph: ResolvedGraph, opts: { opset?: number; foldBn?: boolean; count?: number; seed?: number } = {}) {
  const model = perturbedModel(graph, opts.seed ?? 11);
  try {
    const imgs = await testImages(opts.count ?? 48);
    const { bytes, audit } = exportOnnx(graph, model.getWeights(), { metadata: {}, opset: opts.opset, foldBn: opts.foldBn });
    const p = await verifyExport(bytes, model, imgs, { ...NORM, baked: false, dataset: 'mnist-sample' });
    return { p, audit };
  } finally {
    model.dispose();
  }
}

describe('every kind: onnxruntime logits = tfjs eval forward on real MNIST (1e-4)', () => {
  const rows = (Object.entries(CASES) as [NodeOp, ResolvedGraph[]][]).flatMap(([kind, graphs]) => graphs.map((g) => [kind, g.name, g] as const));
  test.each(rows)('%s: %s', async (kind, name, graph) => {
    expect(graph.nodes.some((n) => n.op === kind)).toBe(true);
    const hasNorm = graph.nodes.some((n) => n.op === 'norm' && n.norm.kind !== 'batch' && n.norm.kind !== 'ghost');
    // Layer/group norm lower three ways by opset: decomposed (13), LayerNormalization (17), GroupNormalization (21).
    for (const opset of hasNorm ? [13, 17, 21] : [17]) {
      const { p, audit } = await parity(graph, { opset });
      measured.push(`${name} (opset ${opset}): max |Δlogit| ${p.maxAbsDiffLogits.toExponential(2)}`);
      expect(p.maxAbsDiffLogits, `${name} opset ${opset}`).toBeLessThanOrEqual(TOL);
      expect(p.argmaxAgreement).toBe(1);
      expect(audit.ops.Dropout).toBeUndefined();
    }
  });

  test('dropout and channel dropout are removed and named in the audit', async () => {
    const { audit } = await parity(CASES.dropout2d[0]);
    expect(audit.dropoutRemoved).toEqual(['d']);
  });

  test('three inputs add as one Sum; concat joins along channels', async () => {
    expect((await parity(CASES.add[1])).audit.ops.Sum).toBe(1);
    const cat = (await parity(CASES.concat[0])).audit.nodes.find((n) => n.op === 'Concat')!;
    expect(cat.outputShape).toEqual(['N', '12', '26', '26']);
  });
});

const settings = (o: Partial<TrainSettings>): TrainSettings => ({ ...DEFAULT_SETTINGS, dropout: 0.1, ...o });

describe('every preset: onnxruntime logits = tfjs eval forward on real MNIST (1e-4)', () => {
  const rows = MODEL_PRESETS.flatMap((p) => (['batch', 'group', 'layer'] as const).map((norm) => [p, norm] as const));
  test.each(rows)('%s, %s norm', async (preset, norm) => {
    const s = settings({ norm, groups: 2 });
    const graph = resolveGraph(presetGraph(preset, s), s);
    const folds = norm === 'batch' ? [false, true] : [false];
    for (const foldBn of folds) {
      const { p, audit } = await parity(graph, { foldBn, count: 200, seed: 3 });
      measured.push(`preset ${preset}, ${norm}${foldBn ? ', BN folded' : ''}: max |Δlogit| ${p.maxAbsDiffLogits.toExponential(2)} over ${p.images} images`);
      expect(p.images).toBe(200);
      expect(p.maxAbsDiffLogits).toBeLessThanOrEqual(TOL);
      expect(p.argmaxAgreement).toBe(1);
      if (foldBn) expect(audit.ops.BatchNormalization).toBeUndefined();
    }
  });

  test('print the measured differences', () => {
    console.log(`export parity (onnxruntime vs tfjs, logits):\n  ${measured.join('\n  ')}`);
    expect(measured.length).toBeGreaterThan(0);
  });
});

describe('errors name the node', () => {
  const s = settings({ norm: 'batch' });
  const graph = resolveGraph(presetGraph('resnet-tiny', s), s);
  const mlp = resolveGraph(presetGraph('mlp', s), s);

  test('a hostile weights map: missing, misshapen, wrong length, not float32', () => {
    const m = buildModel(graph, 1);
    const w = m.getWeights();
    m.dispose();
    const without = { ...w };
    delete without['block2_proj/kernel'];
    expect(() => exportOnnx(graph, without, { metadata: {} })).toThrow(ExportError);
    expect(() => exportOnnx(graph, without, { metadata: {} })).toThrow(/layer block2_proj: weight "block2_proj\/kernel" is missing/);
    const reshaped = { ...w, 'block1_a/kernel': { shape: [3, 3, 4, 16], data: w['block1_a/kernel'].data.slice(0, 3 * 3 * 4 * 16) } };
    expect(() => exportOnnx(graph, reshaped, { metadata: {} })).toThrow(/layer block1_a: weight "block1_a\/kernel" has shape \[3, 3, 4, 16\], expected \[3, 3, 8, 8\]/);
    const short = { ...w, 'fc/bias': { shape: [10], data: new Float32Array(9) } };
    expect(() => exportOnnx(graph, short, { metadata: {} })).toThrow(/layer fc: weight "fc\/bias" has shape \[10\] \(9 values\), expected \[10\]/);
    const plain = { ...w, 'stem_norm/running_var': { shape: [8], data: [1, 1, 1, 1, 1, 1, 1, 1] as unknown as Float32Array } };
    expect(() => exportOnnx(graph, plain, { metadata: {} })).toThrow(/layer stem_norm: weight "stem_norm\/running_var" is not a float32 tensor/);
    const mm = buildModel(mlp, 1);
    const mw = mm.getWeights();
    mm.dispose();
    const bad1d = { ...mw, 'fc1_norm/running_mean': { shape: [32], data: new Float32Array(32) } };
    expect(() => exportOnnx(mlp, bad1d, { metadata: {} })).toThrow(/layer fc1_norm: weight "fc1_norm\/running_mean" has shape \[32\], expected \[64\]/);
  });

  test('--fold-bn: a BN whose conv output is also read elsewhere cannot be folded, naming both', () => {
    const g = tiny('shared-conv', [c('c1', 4, { padding: 'same' }), { name: 'n1', op: 'norm', norm: bn }, { name: 'a', op: 'add', inputs: ['c1', 'n1'] }]);
    const m = buildModel(g, 1);
    const w = m.getWeights();
    m.dispose();
    expect(() => exportOnnx(g, w, { foldBn: true, metadata: {} })).toThrow(/cannot fold batch norm layer n1 into conv2d layer c1: the output of c1 is also read by a/);
    expect(() => exportOnnx(g, w, { metadata: {} })).not.toThrow();
  });
});

describe('onnx.checker', () => {
  test('every kind and preset passes onnx.checker (full check, shape inference)', (ctx) => {
    if (!pythonOnnx()) ctx.skip('python3-onnx is not installed (/usr/bin/python3 -c "import onnx" fails)');
    const dir = mkdtempSync(join(tmpdir(), 'normlab-kinds-'));
    try {
      const s = settings({ norm: 'batch' });
      const graphs = [...Object.values(CASES).flat(), ...MODEL_PRESETS.map((p) => resolveGraph(presetGraph(p, s), s))];
      const files: string[] = [];
      graphs.forEach((g, i) => {
        const m = buildModel(g, 1);
        // onnx 1.12 (Debian) checks up to opset 17 / IR 8; GroupNormalization-21 is checked by onnxruntime above.
        for (const opset of [13, 17]) {
          const f = join(dir, `${i}-${opset}.onnx`);
          writeFileSync(f, exportOnnx(g, m.getWeights(), { opset, metadata: {} }).bytes);
          files.push(f);
        }
        m.dispose();
      });
      const out = execFileSync('/usr/bin/python3', ['-c', 'import onnx,sys\nfor f in sys.argv[1:]: onnx.checker.check_model(onnx.load(f), full_check=True)\nprint("ok", len(sys.argv) - 1)', ...files], { encoding: 'utf8' });
      expect(out.trim()).toBe(`ok ${files.length}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
