import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { initBackend } from '../../../src-main/engine/backend';
import { buildModel } from '../../../src-main/engine/model';
import type { ModelSpec } from '../../../src-main/engine/spec';
import { fromLayers } from '../model/legacy';
import { exportOnnx, hwioToOihw, readOnnxInfo, ExportError } from '../../../src-main/onnx/export';
import { inferOnnx, openSession, prepareInputs, verifyExport } from '../../../src-main/onnx/runtime';
import { perturbedModel, pythonOnnx, specFor, testImages } from './helpers';

const NORM = { mean: [0.1307], std: [0.3081] };
let dir: string;

beforeAll(async () => {
  await initBackend();
  dir = mkdtempSync(join(tmpdir(), 'normlab-onnx-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('layout and folding by hand', () => {
  test('HWIO → OIHW moves element [y][x][i][o] to [o][i][y][x]', () => {
    // kh = 2, kw = 1, in = 2, out = 3: value = 1000·y + 100·x + 10·i + o
    const k = new Float32Array(2 * 1 * 2 * 3);
    for (let y = 0; y < 2; y++) for (let i = 0; i < 2; i++) for (let o = 0; o < 3; o++) k[(y * 2 + i) * 3 + o] = 1000 * y + 10 * i + o;
    const t = hwioToOihw(k, 2, 1, 2, 3);
    // [o=2][i=1][y=1][x=0] → index ((2·2 + 1)·2 + 1)·1 = 11
    expect(t[11]).toBe(1012);
    expect(t[0]).toBe(0);
    expect(t[((1 * 2 + 0) * 2 + 1)]).toBe(1001);
  });

  test('a folded 1×1 conv + BN computes γ(w·x − μ)/√(σ²+ε) + β', async () => {
    const spec: ModelSpec = fromLayers({
      input: [1, 1, 1], classes: 1,
      layers: [
        { type: 'conv', name: 'c', filters: 1, kernel: 1, inChannels: 1, bias: false, padding: 'valid' },
        { type: 'norm', name: 'bn', channels: 1, norm: { kind: 'batch', momentum: 0.1, eps: 0.01, convention: 'pytorch' } },
        { type: 'gap', name: 'gap' },
      ],
    });
    const w = {
      'c/kernel': { shape: [1, 1, 1, 1], data: new Float32Array([2]) },
      'bn/gamma': { shape: [1], data: new Float32Array([3]) },
      'bn/beta': { shape: [1], data: new Float32Array([0.5]) },
      'bn/running_mean': { shape: [1], data: new Float32Array([1]) },
      'bn/running_var': { shape: [1], data: new Float32Array([3.99]) },
    };
    for (const foldBn of [false, true]) {
      const { bytes, audit } = exportOnnx(spec, w, { foldBn, metadata: {} });
      const r = await inferOnnx(bytes, new Float32Array([4]), 1);
      // 3·(2·4 − 1)/√4 + 0.5 = 11
      expect(r.logits[0]).toBeCloseTo(11, 5);
      expect(audit.ops.BatchNormalization ?? 0).toBe(foldBn ? 0 : 1);
      expect(audit.batchNorms[0]).toMatchObject({ layer: 'bn', epsilon: 0.01, folded: foldBn });
      expect(audit.batchNorms[0].momentum).toBeCloseTo(0.9, 7);
    }
  });
});

describe('parity with the tfjs model on real MNIST test images', () => {
  const cases: [string, Parameters<typeof specFor>[0]][] = [
    ['batch', { norm: 'batch' }],
    ['ghost', { norm: 'ghost', ghostBatch: 16 }],
    ['layer', { norm: 'layer' }],
    ['group', { norm: 'group', groups: 4 }],
    ['none', { norm: 'none' }],
    ['batch, keras convention', { norm: 'batch', bnConvention: 'keras', bnMomentum: 0.99 }],
    ['batch after relu', { norm: 'batch', bnPosition: 'after' }],
  ];
  test.each(cases)('%s: max |Δp| ≤ 1e-4, folded and unfolded agree', async (_label, opts) => {
    const spec = specFor({ ...opts, dropout: 0.1 });
    const model = perturbedModel(spec);
    const imgs = await testImages(200);
    const unfolded = exportOnnx(spec, model.getWeights(), { metadata: {} });
    const p1 = await verifyExport(unfolded.bytes, model, imgs, { ...NORM, baked: false, dataset: 'mnist-sample' });
    expect(p1.images).toBe(200);
    expect(p1.maxAbsDiff).toBeLessThanOrEqual(1e-4);
    expect(p1.ok).toBe(true);
    expect(p1.argmaxAgreement).toBe(1);
    expect(unfolded.audit.dropoutRemoved).toEqual(['drop1', 'drop2', 'drop3', 'drop4', 'drop5', 'drop6']);
    expect(unfolded.audit.ops.Dropout).toBeUndefined();
    const hasBn = opts.norm === 'batch' || opts.norm === 'ghost';
    if (hasBn && opts.bnPosition !== 'after') {
      const folded = exportOnnx(spec, model.getWeights(), { foldBn: true, metadata: {} });
      expect(folded.audit.bnFolded).toBe(true);
      expect(folded.audit.ops.BatchNormalization).toBeUndefined();
      // Unfolded stores γ, β, μ, σ² per BN channel; folded stores one new conv bias per channel: 3·(8+16+12+16+16+16) fewer.
      expect(unfolded.audit.storedValues - folded.audit.storedValues).toBe(3 * 84);
      const p2 = await verifyExport(folded.bytes, model, imgs, { ...NORM, baked: false });
      expect(p2.maxAbsDiff).toBeLessThanOrEqual(1e-4);
      const { nchw } = prepareInputs(imgs, 200, NORM, false);
      const a = await inferOnnx(unfolded.bytes, nchw, 64);
      const b = await inferOnnx(folded.bytes, nchw, 64);
      let d = 0;
      for (let i = 0; i < a.probabilities.length; i++) d = Math.max(d, Math.abs(a.probabilities[i] - b.probabilities[i]));
      expect(d).toBeLessThanOrEqual(1e-4);
      expect(d).toBeGreaterThan(0); // really two different graphs
    }
    model.dispose();
  });

  test('baked normalization: the export takes raw pixels and still matches', async () => {
    const spec = specFor({ norm: 'batch' });
    const model = perturbedModel(spec, 3);
    const imgs = await testImages(128);
    const { bytes, audit } = exportOnnx(spec, model.getWeights(), { normalization: NORM, metadata: {} });
    expect(audit.nodes.slice(0, 2).map((n) => n.op)).toEqual(['Sub', 'Div']);
    expect(audit.input.normalizationBaked).toBe(true);
    const p = await verifyExport(bytes, model, imgs, { ...NORM, baked: true });
    expect(p.maxAbsDiff).toBeLessThanOrEqual(1e-4);
    // Fed normalized inputs instead, the baked model is wrong: the check can fail.
    const wrong = await verifyExport(bytes, model, imgs, { ...NORM, baked: false });
    expect(wrong.ok).toBe(false);
    model.dispose();
  });

  test('opset 13 (layer norm decomposed) and opset 21 (GroupNormalization) match too', async () => {
    const imgs = await testImages(64);
    for (const [opts, opset, op] of [[{ norm: 'layer' as const }, 13, 'InstanceNormalization'], [{ norm: 'group' as const, groups: 2 }, 21, 'GroupNormalization']] as const) {
      const spec = specFor(opts);
      const model = perturbedModel(spec, 5);
      const { bytes, audit } = exportOnnx(spec, model.getWeights(), { opset, metadata: {} });
      expect(audit.ops[op]).toBe(6);
      expect(audit.opset).toBe(opset);
      const p = await verifyExport(bytes, model, imgs, { ...NORM, baked: false });
      expect(p.maxAbsDiff).toBeLessThanOrEqual(1e-4);
      model.dispose();
    }
  });
});

describe('metadata, audit and errors', () => {
  test('metadata, opset and shapes read back from the file', () => {
    const spec = specFor({ norm: 'batch' });
    const model = buildModel(spec, 1);
    const classNames = JSON.stringify(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    const { bytes, audit } = exportOnnx(spec, model.getWeights(), {
      metadata: { dataset: 'mnist-sample', class_names: classNames, mean: '[0.1307]', std: '[0.3081]', run_id: 'r1', backend: 'wasm', normlab_version: '0.1.0' },
    });
    const info = readOnnxInfo(bytes);
    expect(info.metadata).toMatchObject({ dataset: 'mnist-sample', class_names: classNames, run_id: 'r1', backend: 'wasm', normlab_version: '0.1.0', normalization_baked: 'false', bn_folded: 'false' });
    expect(info.opset).toBe(17);
    expect(info.inputs).toEqual([{ name: 'input', shape: ['N', 1, 28, 28] }]);
    expect(info.outputs.map((o) => o.name)).toEqual(['probabilities', 'logits']);
    // "logits" is the dense layer's own output (no Identity copy), read by the Softmax.
    expect(audit.ops.Identity).toBeUndefined();
    expect(audit.nodes.slice(-2).map((n) => [n.op, n.note])).toEqual([['Gemm', 'logits'], ['Softmax', 'class probabilities']]);
    expect(audit.params).toBe(model.paramCount());
    expect(audit.batchNorms).toHaveLength(6);
    for (const b of audit.batchNorms) expect(b).toMatchObject({ epsilon: 1e-5, folded: false });
    expect(audit.batchNorms[0].momentum).toBeCloseTo(0.9, 7);
    const conv1 = audit.nodes.find((n) => n.layer === 'conv1')!;
    expect(conv1.outputShape).toEqual(['N', '8', '26', '26']);
    expect(audit.nodes.find((n) => n.op === 'MaxPool')!.outputShape).toEqual(['N', '8', '12', '12']);
    model.dispose();
  });

  test('BN after ReLU cannot be folded: the error names the layer', () => {
    const spec = specFor({ norm: 'batch', bnPosition: 'after' });
    const model = buildModel(spec, 1);
    expect(() => exportOnnx(spec, model.getWeights(), { foldBn: true, metadata: {} })).toThrow(
      /cannot fold batch norm layer norm1 into a convolution: it follows relu layer relu1/,
    );
    model.dispose();
  });

  test('an unknown layer, an unresolved placeholder or a missing weight gives an error naming the layer', () => {
    const spec = specFor({ norm: 'none' });
    const model = buildModel(spec, 1);
    const w = model.getWeights();
    const nodes = spec.nodes.map((n, i) => (i === 2 ? { ...n, inputs: ['act7'] } : n));
    const bad = { ...spec, nodes: [...nodes.slice(0, 2), { op: 'softmax', name: 'act7', inputs: [spec.nodes[1].name] } as unknown as (typeof nodes)[number], ...nodes.slice(2)] };
    expect(() => exportOnnx(bad, w, { metadata: {} })).toThrow(ExportError);
    expect(() => exportOnnx(bad, w, { metadata: {} })).toThrow(/the graph does not check out: node "act7" \(op\): unknown op "softmax"/);
    const dropSpec = specFor({ norm: 'none', dropout: 0.1 });
    const auto = { ...dropSpec, nodes: dropSpec.nodes.map((n) => (n.name === 'drop1' ? { ...n, rate: 'auto' } : n)) } as unknown as typeof spec;
    expect(() => exportOnnx(auto, w, { metadata: {} })).toThrow(/layer drop1 \(dropout\): rate is still "auto"/);
    const missing = { ...w };
    delete missing['conv3/kernel'];
    expect(() => exportOnnx(spec, missing, { metadata: {} })).toThrow(/layer conv3: weight "conv3\/kernel" is missing/);
    expect(() => exportOnnx(spec, w, { opset: 9, metadata: {} })).toThrow(/opset must be a whole number from 13 to 21, got 9/);
    model.dispose();
  });

  test('a corrupt or truncated .onnx gives "FILE is not a valid ONNX model"', async () => {
    const garbage = join(dir, 'garbage.onnx');
    writeFileSync(garbage, new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3, 4, 5]));
    await expect(openSession(garbage)).rejects.toThrow(`${garbage} is not a valid ONNX model:`);
    const spec = specFor({ norm: 'batch' });
    const model = buildModel(spec, 1);
    const { bytes } = exportOnnx(spec, model.getWeights(), { metadata: {} });
    const cut = join(dir, 'cut.onnx');
    writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
    await expect(openSession(cut)).rejects.toThrow(`${cut} is not a valid ONNX model:`);
    await expect(openSession(join(dir, 'nope.onnx'))).rejects.toThrow(/nope\.onnx: file not found/);
    model.dispose();
  });

  test('the file passes onnx.checker (full check, shape inference)', (ctx) => {
    if (!pythonOnnx()) ctx.skip('python3-onnx is not installed (/usr/bin/python3 -c "import onnx" fails)');
    for (const norm of ['batch', 'ghost', 'layer', 'group', 'none'] as const) {
      const spec = specFor({ norm });
      const model = buildModel(spec, 1);
      for (const foldBn of [false, true]) {
        const { bytes } = exportOnnx(spec, model.getWeights(), { foldBn, normalization: foldBn ? NORM : null, metadata: { dataset: 'x' } });
        const f = join(dir, `${norm}-${foldBn}.onnx`);
        writeFileSync(f, bytes);
        const out = execFileSync('/usr/bin/python3', ['-c', 'import onnx,sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True); print("ok")', f], { encoding: 'utf8' });
        expect(out.trim()).toBe('ok');
      }
      model.dispose();
    }
  });
});

