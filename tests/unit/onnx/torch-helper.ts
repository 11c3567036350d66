/** Runs the PyTorch half of the round trip: tests/fixtures/models/torch_roundtrip.py under Debian's python3-torch. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeWeights } from '../../../src-main/store/checkpoint-format';
import { FIXTURE_DIR } from './import-fixtures';

const PYTHON = process.env.NORMLAB_PYTHON ?? '/usr/bin/python3';

/** Why the PyTorch half cannot run here, or null; `withOnnx` also needs python3-onnx (to read an export's initializers). */
export function torchMissing(withOnnx = false): string | null {
  const r = spawnSync(PYTHON, ['-c', withOnnx ? 'import torch, numpy, onnx' : 'import torch, numpy'], { encoding: 'utf8', timeout: 60_000 });
  if (r.error) return `no ${PYTHON} (${r.error.message})`;
  if (r.status === 0) return null;
  return withOnnx ? `${PYTHON} has no torch/numpy/onnx (apt-get install python3-torch python3-onnx)` : `${PYTHON} has no torch/numpy (apt-get install python3-torch)`;
}

// Small files (weights and logits of a few fixtures) in the system temp folder.
const dir = mkdtempSync(join(tmpdir(), 'normlab-torch-'));
process.once('exit', () => rmSync(dir, { recursive: true, force: true }));

/**
 * Loads each job's weights into its PyTorch fixture module: `weights` (our names and layout, as an
 * NLCK file) or `onnx` (a NormLab export, whose initializers PyTorch reads with python3-onnx).
 * The eval-mode logits of the first `n` sample images of each, in order.
 */
export function torchLogits(jobs: ({ module: string; n?: number } & ({ weights: Parameters<typeof encodeWeights>[0] } | { onnx: Uint8Array }))[]): number[][][] {
  const files = jobs.map((j, i) => {
    const base = join(dir, `${j.module}-${i}-${Math.random().toString(36).slice(2)}`);
    if ('onnx' in j) {
      writeFileSync(`${base}.onnx`, j.onnx);
      return { module: j.module, onnx: `${base}.onnx`, out: `${base}.json`, n: j.n ?? 8 };
    }
    writeFileSync(`${base}.nlck`, encodeWeights(j.weights));
    return { module: j.module, weights: `${base}.nlck`, out: `${base}.json`, n: j.n ?? 8 };
  });
  const list = join(dir, `jobs-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(list, JSON.stringify(files));
  const r = spawnSync(PYTHON, [join(FIXTURE_DIR, 'torch_roundtrip.py'), list], { encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) throw new Error(`torch_roundtrip.py failed (${r.status}):\n${r.stderr}`);
  return files.map((f) => (JSON.parse(readFileSync(f.out, 'utf8')) as { logits: number[][] }).logits);
}

