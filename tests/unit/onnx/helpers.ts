/** Fixtures for the ONNX tests: real MNIST test images and models with non-trivial BN statistics. */
import { execFileSync } from 'node:child_process';
import { loadDataset, type Dataset } from '../../../src-main/data/dataset';
import { buildModel, type Model } from '../../../src-main/engine/model';
import { s5Spec, type ModelSpec, type NetOptions } from '../../../src-main/engine/spec';
import { DEFAULT_SETTINGS } from '../../../src-main/contract/settings';
import { mulberry32 } from '../../../src-main/engine/rng';
import type { ImageBatchSource } from '../../../src-main/onnx/runtime';

let data: Dataset | undefined;

/** The embedded real MNIST sample (8,000 train / 2,000 test). */
export async function sample(): Promise<Dataset> {
  data ??= await loadDataset('mnist-sample');
  return data;
}

/** The first `n` test images of the sample as an ImageBatchSource. */
export async function testImages(n: number): Promise<ImageBatchSource & { labels: Uint8Array }> {
  const d = await sample();
  const { height, width, channels } = d.info;
  return { images: d.test.images.subarray(0, n * height * width * channels), labels: d.test.labels.subarray(0, n), count: n, height, width, channels };
}

export function specFor(o: Partial<NetOptions>): ModelSpec {
  return s5Spec({ ...DEFAULT_SETTINGS, ...o });
}

/**
 * A model with PyTorch-default init whose γ, β and running statistics are set to seeded
 * non-trivial values (γ ∈ [0.5, 1.5], β ∈ ±0.3, μ ∈ ±0.5, σ² ∈ [0.3, 2]), so that a BN
 * exported with the wrong statistics or a wrong fold shows up in the outputs.
 */
export function perturbedModel(spec: ModelSpec, seed = 7): Model {
  const m = buildModel(spec, seed);
  const w = m.getWeights();
  const rng = mulberry32(seed * 7919 + 1);
  for (const [name, t] of Object.entries(w)) {
    const fill = (f: () => number) => { for (let i = 0; i < t.data.length; i++) t.data[i] = f(); };
    if (name.endsWith('/gamma')) fill(() => 0.5 + rng());
    else if (name.endsWith('/beta')) fill(() => 0.6 * rng() - 0.3);
    else if (name.endsWith('/running_mean')) fill(() => rng() - 0.5);
    else if (name.endsWith('/running_var')) fill(() => 0.3 + 1.7 * rng());
  }
  m.setWeights(w);
  return m;
}

/** Whether Debian's python3-onnx is importable (for onnx.checker). */
export function pythonOnnx(): boolean {
  try {
    execFileSync('/usr/bin/python3', ['-c', 'import onnx'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
