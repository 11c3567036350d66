/**
 * torch.onnx's nn.GroupNorm (Reshape → InstanceNormalization → Reshape → Mul → Add) imports as a
 * group norm node (one group: a layer norm), and the imported model's tfjs forward gives PyTorch's
 * logits. The module is exported on the spot by tests/fixtures/models/torch_norms.py, so this runs
 * only where Debian's python3-torch is installed and says so when it skips.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../src-main/engine/backend';
import { buildModel } from '../../../src-main/engine/model';
import { resolveGraph } from '../../../src-main/model';
import { DEFAULT_SETTINGS } from '../../../src-main/contract/settings';
import { importOnnx } from '../../../src-main/onnx/import';
import { FIXTURE_DIR, fixtureImages, maxDiff } from './import-fixtures';
import { torchMissing } from './torch-helper';

const missing = torchMissing(true);
const dir = mkdtempSync(join(tmpdir(), 'normlab-torch-norms-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(missing)(`torch.onnx nn.GroupNorm imports${missing ? ` (skipped: ${missing})` : ''}`, () => {
  beforeAll(async () => {
    await initBackend();
  });

  it('as group norm and layer norm nodes whose tfjs forward gives PyTorch\'s logits (1e-4)', () => {
    const onnxFile = join(dir, 'gn.onnx');
    const out = join(dir, 'gn.json');
    const r = spawnSync(process.env.NORMLAB_PYTHON ?? '/usr/bin/python3', [join(FIXTURE_DIR, 'torch_norms.py'), onnxFile, out], { encoding: 'utf8', timeout: 300_000 });
    expect(r.status, r.stderr).toBe(0);
    const imp = importOnnx(readFileSync(onnxFile), 'gn.onnx');
    const norms = imp.graph.nodes.filter((n) => n.op === 'norm');
    expect(norms.map((n) => [n.name, n.op === 'norm' && n.norm])).toEqual([
      ['gn', { kind: 'group', groups: 2, eps: 1e-5 }],
      ['gn1', { kind: 'layer', eps: 1e-3 }],
    ]);
    expect(Object.keys(imp.weights!).filter((k) => k.startsWith('gn')).sort()).toEqual(['gn/beta', 'gn/gamma', 'gn1/beta', 'gn1/gamma']);
    const model = buildModel(resolveGraph(imp.graph, DEFAULT_SETTINGS), 1);
    try {
      model.setWeights(imp.weights!);
      const logits = tf.tidy(() => model.predict(tf.tensor4d(fixtureImages(8), [8, 28, 28, 1])).dataSync() as Float32Array);
      const torch = (JSON.parse(readFileSync(out, 'utf8')) as { logits: number[][] }).logits;
      const d = maxDiff(logits, torch);
      console.log(`torch nn.GroupNorm imported: tfjs vs PyTorch max |Δ logit| ${d.abs.toExponential(2)} (logits up to ${d.scale.toFixed(2)})`);
      expect(d.scale).toBeGreaterThan(0.1);
      expect(d.abs).toBeLessThan(1e-4 * Math.max(1, d.scale));
    } finally {
      model.dispose();
    }
  });
});
