/**
 * The ONNX importer for inference (readOnnxInfo → openSession → runBatches) under mutated bytes
 * of a real export (fast-check): byte flips, cuts and insertions, and structural damage through
 * the protobuf schema (wrong op types, rewired inputs, bad attributes, initializer dims that no
 * longer match their data, dropped nodes, odd opsets). onnxruntime is native code, so the cases
 * run in a child process: a crash or a hang there is counted and fails the test.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../../../src-main/engine/backend';
import { exportOnnx } from '../../../src-main/onnx/export';
import { nhwcToNchw } from '../../../src-main/onnx/io';
import { perturbedModel, specFor, testImages } from '../onnx/helpers';
import { bundleChild, mutateOnnx, onnxMutation, runCases, writeCases } from './onnx-helpers';

const CASES = Number(process.env.NORMLAB_ONNX_CASES ?? 150);
let dir: string;
let child: string;
let original: Uint8Array;

beforeAll(async () => {
  await initBackend();
  dir = mkdtempSync(join(tmpdir(), 'normlab-props-onnx-'));
  const spec = specFor({ norm: 'batch' });
  const model = perturbedModel(spec, 11);
  original = exportOnnx(spec, model.getWeights(), { metadata: { dataset: 'mnist-sample' } }).bytes;
  model.dispose();
  // Real MNIST test digits, normalized as inference sees them (the values only need to be plausible).
  const imgs = await testImages(4);
  const f = new Float32Array(imgs.images.length);
  for (let i = 0; i < f.length; i++) f[i] = (imgs.images[i] / 255 - 0.1307) / 0.3081;
  writeFileSync(join(dir, 'images.f32'), nhwcToNchw(f, 4, 28, 28, 1));
  child = await bundleChild();
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(child, { force: true });
});

describe('ONNX importer, property-based (child process)', () => {
  it('every mutant gives a clear error or a working session; no crash, no hang', async () => {
    const mutants = fc.sample(fc.array(onnxMutation, { minLength: 1, maxLength: 3 }), { numRuns: CASES, seed: 20261122 });
    const cases = [original, ...mutants.map((ms) => mutateOnnx(original, ms))];
    writeCases(dir, cases);
    const results = await runCases(child, dir, cases.length, join(dir, 'images.f32'));
    expect(results).toHaveLength(cases.length);
    // The unmutated export must work, and give 10 classes.
    expect(results[0]).toMatchObject({ outcome: 'ok', detail: '10' });
    const bad = results.filter((r) => r.outcome === 'crash' || r.outcome === 'hang');
    expect(bad, JSON.stringify(bad.slice(0, 5))).toEqual([]);
    for (const r of results.filter((x) => x.outcome === 'error')) {
      const [type, message] = r.detail.split('\t');
      // An Error (or RangeError) with a one-line message that says what is wrong, not a bare code.
      expect(['Error', 'RangeError', 'ExportError'], r.detail).toContain(type);
      expect(message.length, r.detail).toBeGreaterThan(15);
      // Whether it failed at open or at run time, the message names the model it is about.
      expect(message, r.detail).toMatch(/^the exported model[: ]/);
    }
    const by = (o: string) => results.filter((r) => r.outcome === o).length;
    expect(by('error')).toBeGreaterThan(CASES / 5);
    const kinds = new Map<string, number>();
    for (const r of results.filter((x) => x.outcome === 'error')) {
      const k = r.detail.split('\t')[1].replace(/the exported model/, 'MODEL').slice(0, 70);
      kinds.set(k, (kinds.get(k) ?? 0) + 1);
    }
    const atRun = results.filter((x) => x.detail.includes('onnxruntime could not run the model')).length;
    console.log(`  of which at run time (the session opened, inference failed): ${atRun}`);
    console.log([...kinds].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([k, n]) => `  ${n}× ${k}`).join('\n'));
    console.log(`[props] ONNX mutants tried: ${cases.length} (${by('ok')} working sessions, ${by('error')} clear errors, ${by('crash')} crashes, ${by('hang')} hangs)`);
  });
});
