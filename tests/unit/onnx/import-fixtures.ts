/** The PyTorch fixtures of tests/fixtures/models (made by make_fixtures.py) and their inputs. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readIdxFile } from '../../../src-main/data/idx';

export const FIXTURE_DIR = join(__dirname, '..', '..', 'fixtures', 'models');
export const IMPORTABLE = ['s5like', 'resnet_tiny', 'separable', 'mlp'] as const;

export interface Expect {
  module: string;
  params: number;
  images: { dataset: string; indices: number[] };
  logits: number[][];
}

export const fixturePath = (name: string) => join(FIXTURE_DIR, `${name}.onnx`);
export const fixtureBytes = (name: string) => readFileSync(fixturePath(name));
export const fixtureExpect = (name: string) => JSON.parse(readFileSync(join(FIXTURE_DIR, `${name}.expect.json`), 'utf8')) as Expect;

/** The fixture images (first N of the embedded sample) as NHWC floats, pixels / 255. */
export function fixtureImages(count: number): Float32Array {
  const idx = readIdxFile(join(__dirname, '..', '..', '..', 'resources', 'mnist-sample', 'images-idx3-ubyte.gz'));
  const px = 28 * 28;
  return Float32Array.from(idx.data.subarray(0, count * px), (v) => v / 255);
}

/** Largest |a − b| over all logits, and the largest |b| (for a relative reading). */
export function maxDiff(a: Float32Array, b: number[][]): { abs: number; scale: number } {
  const flat = b.flat();
  let abs = 0;
  let scale = 0;
  flat.forEach((v, i) => {
    abs = Math.max(abs, Math.abs(a[i] - v));
    scale = Math.max(scale, Math.abs(v));
  });
  return { abs, scale };
}
