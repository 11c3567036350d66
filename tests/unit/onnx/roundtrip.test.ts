/**
 * Round trip with PyTorch (issue 16 item 7), the part that needs no training: weights imported
 * from a PyTorch module, written as our NLCK file and loaded back into the same PyTorch module
 * (tests/fixtures/models/torch_roundtrip.py), give the module's own logits. Runs only where
 * Debian's python3-torch is installed, and says so when it skips.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { importOnnx } from '../../../src-main/onnx/import';
import { encodeWeights } from '../../../src-main/store/checkpoint-format';
import { FIXTURE_DIR, fixtureBytes, fixtureExpect, IMPORTABLE, maxDiff } from './import-fixtures';

const PYTHON = process.env.NORMLAB_PYTHON ?? '/usr/bin/python3';

/** Why the PyTorch half cannot run here, or null. */
function torchMissing(): string | null {
  const r = spawnSync(PYTHON, ['-c', 'import torch, numpy'], { encoding: 'utf8', timeout: 60_000 });
  if (r.error) return `no ${PYTHON} (${r.error.message})`;
  return r.status === 0 ? null : `${PYTHON} has no torch/numpy (apt-get install python3-torch)`;
}

const missing = torchMissing();
const dir = mkdtempSync(join(tmpdir(), 'normlab-roundtrip-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Loads each job's `weights` (our names and layout) into its PyTorch fixture module; the logits of each, in order. */
export function torchLogits(jobs: { module: string; weights: Parameters<typeof encodeWeights>[0]; n?: number }[]): number[][][] {
  const files = jobs.map((j, i) => {
    const w = join(dir, `${j.module}-${i}-${Math.random().toString(36).slice(2)}.nlck`);
    writeFileSync(w, encodeWeights(j.weights));
    return { module: j.module, weights: w, out: `${w}.json`, n: j.n ?? 8 };
  });
  const list = join(dir, `jobs-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(list, JSON.stringify(files));
  const r = spawnSync(PYTHON, [join(FIXTURE_DIR, 'torch_roundtrip.py'), list], { encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) throw new Error(`torch_roundtrip.py failed (${r.status}):\n${r.stderr}`);
  return files.map((f) => (JSON.parse(readFileSync(f.out, 'utf8')) as { logits: number[][] }).logits);
}

describe.skipIf(missing)(`round trip through PyTorch${missing ? ` (skipped: ${missing})` : ''}`, () => {
  it('imported weights loaded back into each PyTorch fixture module give its logits (1e-5)', () => {
    const imported = IMPORTABLE.map((name) => importOnnx(fixtureBytes(name), `${name}.onnx`));
    const logits = torchLogits(IMPORTABLE.map((module, i) => ({ module, weights: imported[i].weights! })));
    IMPORTABLE.forEach((name, i) => {
      const d = maxDiff(Float32Array.from(logits[i].flat()), fixtureExpect(name).logits);
      expect(d.abs, name).toBeLessThan(1e-5 * Math.max(1, d.scale));
    });
  });
});
