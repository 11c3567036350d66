/** Shared fixtures for the data tests: small slices of the real embedded MNIST sample. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readIdxFile } from '../../../src-main/data/idx';

export const SAMPLE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../resources/mnist-sample');

let sample: { images: Uint8Array; labels: Uint8Array } | undefined;

/** The first `n` images and labels of every class of the sample's files (stored class by class). */
export function realSlice(n: number): { images: Uint8Array; labels: Uint8Array } {
  sample ??= {
    images: readIdxFile(join(SAMPLE_DIR, 'images-idx3-ubyte.gz')).data,
    labels: readIdxFile(join(SAMPLE_DIR, 'labels-idx1-ubyte.gz')).data,
  };
  // Spread the picks over the file so every class appears.
  const images = new Uint8Array(n * 784);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const j = Math.floor(((i + 0.5) * sample.labels.length) / n);
    images.set(sample.images.subarray(j * 784, (j + 1) * 784), i * 784);
    labels[i] = sample.labels[j];
  }
  return { images, labels };
}

/** IDX bytes written by hand (not by the code under test): header `00 00 08 ndims`, dims BE. */
export function idxBytes(dims: number[], data: Uint8Array, type = 0x08): Uint8Array {
  const header = new Uint8Array(4 + 4 * dims.length);
  header[2] = type;
  header[3] = dims.length;
  dims.forEach((d, i) => {
    header[4 + 4 * i] = (d >>> 24) & 0xff;
    header[5 + 4 * i] = (d >>> 16) & 0xff;
    header[6 + 4 * i] = (d >>> 8) & 0xff;
    header[7 + 4 * i] = d & 0xff;
  });
  const out = new Uint8Array(header.length + data.length);
  out.set(header);
  out.set(data, header.length);
  return out;
}

export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'normlab-data-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Writes files (name → bytes) into a new folder `sub` of `dir`; returns its path. */
export function writeFolder(dir: string, sub: string, files: Record<string, Uint8Array | string>): string {
  const p = join(dir, sub);
  mkdirSync(p, { recursive: true });
  for (const [name, bytes] of Object.entries(files)) writeFileSync(join(p, name), bytes);
  return p;
}
