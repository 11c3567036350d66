/**
 * Issue 18 item 3: every dataset input is bounded before it is read — regular files only, the IDX
 * header's claim checked against the file and against the inflated stream (capped), one file at a
 * time — and a refused input leaves memory at its baseline. Plus item 7's data checks.
 */
import { execFileSync } from 'node:child_process';
import { createWriteStream, mkdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createGzip, gzipSync } from 'node:zlib';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { clearDatasetCache, loadDataset } from '../../../src-main/data/dataset';
import { readIdxBounded } from '../../../src-main/data/bounded';
import { DatasetError } from '../../../src-main/data/idx';
import { idxBytes, realSlice, tempDir, writeFolder } from './helpers';

const tmp = tempDir();
afterAll(() => tmp.cleanup());
afterEach(() => clearDatasetCache());

async function message(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(DatasetError);
    return (e as Error).message;
  }
  throw new Error('expected a DatasetError');
}

function folder(sub: string, n = 6, m = 4, labels?: { train?: Uint8Array; test?: Uint8Array }) {
  const s = realSlice(n + m);
  return writeFolder(tmp.dir, sub, {
    'train-images-idx3-ubyte': idxBytes([n, 28, 28], s.images.subarray(0, n * 784)),
    'train-labels-idx1-ubyte': idxBytes([n], labels?.train ?? s.labels.subarray(0, n)),
    't10k-images-idx3-ubyte': idxBytes([m, 28, 28], s.images.subarray(n * 784)),
    't10k-labels-idx1-ubyte': idxBytes([m], labels?.test ?? s.labels.subarray(n)),
  });
}

/** A gzip file of `header` followed by `zeros` zero bytes, written in 1 MB pieces (never all in memory). */
async function gzipBomb(path: string, header: Uint8Array, zeros: number): Promise<void> {
  const gz = createGzip({ level: 9 });
  const out = createWriteStream(path);
  const done = new Promise<void>((res, rej) => { out.on('finish', res); out.on('error', rej); });
  gz.pipe(out);
  gz.write(header);
  const mb = new Uint8Array(1 << 20);
  for (let left = zeros; left > 0; left -= mb.length) {
    if (!gz.write(left >= mb.length ? mb : mb.subarray(0, left))) await new Promise((r) => gz.once('drain', r));
  }
  gz.end();
  await done;
}

describe('only regular files are read', () => {
  it('refuses a FIFO at once instead of hanging', async () => {
    const dir = folder('fifo');
    const p = join(dir, 'train-labels-idx1-ubyte');
    execFileSync('rm', [p]);
    execFileSync('mkfifo', [p]);
    const t0 = performance.now();
    expect(await message(loadDataset(dir))).toBe(`${p}: is a named pipe (FIFO), expected an IDX file (only regular files are read)`);
    expect(performance.now() - t0).toBeLessThan(2000);
  });

  it('refuses a label file linked to /dev/zero and a folder named like a data file', async () => {
    const dir = folder('devzero');
    const p = join(dir, 't10k-labels-idx1-ubyte');
    execFileSync('rm', [p]);
    symlinkSync('/dev/zero', p);
    expect(await message(loadDataset(dir))).toBe(`${p}: is a character device, expected an IDX file (only regular files are read)`);
    const dir2 = folder('folder-file');
    const q = join(dir2, 'train-images-idx3-ubyte');
    execFileSync('rm', [q]);
    mkdirSync(q);
    expect(await message(loadDataset(dir2))).toBe(`${q}: is a folder, expected an IDX file (only regular files are read)`);
  });

  it('class-names.txt as a folder is named, not EISDIR', async () => {
    const dir = folder('names-folder');
    mkdirSync(join(dir, 'class-names.txt'));
    expect(await message(loadDataset(dir))).toBe(`${join(dir, 'class-names.txt')}: is a folder, expected a text file (only regular files are read)`);
  });
});

describe('claimed sizes are checked before reading', () => {
  it('a raw file whose header claims more or less than the file holds', async () => {
    const dir = tmp.dir;
    const p = join(dir, 'claims-more');
    // Claims 1,000,000 images of 28x28 but holds 2.
    writeFileSync(p, idxBytes([1_000_000, 28, 28], new Uint8Array(2 * 784)));
    expect(await message(readIdxBounded(p))).toBe(`${p}: truncated: dimensions 1000000x28x28 need 784000000 bytes of data but only 1568 are present`);
    const q = join(dir, 'over-cap');
    writeFileSync(q, idxBytes([100_000, 100, 100], new Uint8Array(10)));
    expect(await message(readIdxBounded(q, 1e8))).toBe(
      `${q}: its header claims 100000x100x100 = 1000000000 bytes, more than the 100000000-byte limit for one dataset file (set NORMLAB_MAX_DATA_BYTES to raise it)`,
    );
  });

  it('a gzip file whose header claims more than deflate can hold', async () => {
    const p = join(tmp.dir, 'small.gz');
    writeFileSync(p, gzipSync(idxBytes([60000, 28, 28], new Uint8Array(100))));
    expect(await message(readIdxBounded(p))).toMatch(/claims 60000x28x28 = 47040000 bytes, but a \d+-byte gzip file cannot hold more than about \d+ \(truncated or damaged\)$/);
  });

  it('a 1 MB gzip bomb is refused without inflating it, and memory stays at its baseline', async () => {
    // Valid header (60,000 digits = 47 MB) then ~1 GB of zeros: about 1 MB compressed.
    const bomb = join(tmp.dir, 'bomb', 'train-images-idx3-ubyte.gz');
    mkdirSync(join(tmp.dir, 'bomb'));
    await gzipBomb(bomb, idxBytes([60000, 28, 28], new Uint8Array(0)), 1000 * (1 << 20));
    // A bomb with no valid header at all: zeros from the first byte.
    const zeros = join(tmp.dir, 'zeros.gz');
    await gzipBomb(zeros, new Uint8Array(0), 1000 * (1 << 20));
    expect(statSync(bomb).size).toBeLessThan(1.2 * 2 ** 20);
    const gcAvailable = typeof globalThis.gc === 'function';
    const rssBefore = process.memoryUsage().rss;
    const peakBefore = process.resourceUsage().maxRSS * 1024;
    const t0 = performance.now();
    expect(await message(readIdxBounded(bomb))).toBe(
      `${bomb}: inflates past the 60000x28x28 data its header claims (unexpected bytes after 47040016; damaged, or not an IDX file)`,
    );
    expect(await message(readIdxBounded(zeros))).toBe(
      `${zeros}: not an IDX file (magic number 0x00000000; expected 0x00000801 for labels or 0x00000803 for images)`,
    );
    const seconds = (performance.now() - t0) / 1000;
    const peakGrowth = process.resourceUsage().maxRSS * 1024 - peakBefore;
    if (gcAvailable) globalThis.gc!();
    await new Promise((r) => setTimeout(r, 50));
    const rssAfter = process.memoryUsage().rss;
    // The claimed 47 MB buffer plus stream chunks at most; never the gigabyte the bomb inflates to.
    expect(peakGrowth).toBeLessThan(200 * 1024 * 1024);
    expect(rssAfter - rssBefore).toBeLessThan(120 * 1024 * 1024);
    expect(seconds).toBeLessThan(20);
    console.log(`gzip bomb: peak RSS growth ${(peakGrowth / 2 ** 20).toFixed(1)} MB, RSS after ${((rssAfter - rssBefore) / 2 ** 20).toFixed(1)} MB above before, ${seconds.toFixed(2)} s`);
  }, 120_000);
});

describe('class count and empty splits', () => {
  it('one stray label 255 in an unrecognised folder does not make a 256-class dataset', async () => {
    const s = realSlice(10);
    const train = s.labels.slice(0, 6);
    train[4] = 255;
    const dir = folder('digits-stray', 6, 4, { train });
    const msg = await message(loadDataset(dir));
    expect(msg).toMatch(new RegExp(`^${join(dir, 'train-labels-idx1-ubyte').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: labels run 0\\.\\.255 \\(label 255 first at example 4\\), but classes `));
    expect(msg).toContain('have no training images; a stray label? Fix the labels, or name the classes in class-names.txt');
  });

  it('an empty split is refused naming the file', async () => {
    const s = realSlice(6);
    const dir = writeFolder(tmp.dir, 'empty-test', {
      'train-images-idx3-ubyte': idxBytes([6, 28, 28], s.images),
      'train-labels-idx1-ubyte': idxBytes([6], s.labels),
      't10k-images-idx3-ubyte': idxBytes([0, 28, 28], new Uint8Array(0)),
      't10k-labels-idx1-ubyte': idxBytes([0], new Uint8Array(0)),
    });
    expect(await message(loadDataset(dir))).toBe(`${join(dir, 't10k-images-idx3-ubyte')}: holds 0 images; the test split needs at least one`);
  });
});
