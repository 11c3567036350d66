/**
 * Issue 17 item 2: image folders (torchvision's ImageFolder layout) — grey or RGB PNG/JPEG, one
 * size or --resize, class names from folder names, a packed cache with a checksum — and item 6's
 * errors, each naming the file or folder. Real data: digits of the embedded MNIST sample.
 */
import { mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decode as decodePng, encode as encodePng } from 'fast-png';
import { tilePng } from '../../../src-main/analysis/gallery';
import * as jpeg from 'jpeg-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { clearDatasetCache, loadDataset } from '../../../src-main/data/dataset';
import { decodeImage, loadImageFolder, resizeBilinear } from '../../../src-main/data/image-folder';
import { DatasetError } from '../../../src-main/data/idx';
import { channelStats } from '../../../src-main/data/normalize';
import { DEFAULT_SETTINGS, resolveSettings } from '../../../src-main/contract/settings';
import { initBackend } from '../../../src-main/engine/backend';
import { trainRun } from '../../../src-main/host/step-engines';
import { realSlice, tempDir } from './helpers';

const tmp = tempDir();
afterAll(() => tmp.cleanup());
afterEach(() => clearDatasetCache());

const digits = realSlice(200);
const grey = (i: number) => digits.images.subarray(i * 784, (i + 1) * 784);
/** Digit i tinted: red channel the digit, green half of it, blue a constant 40. */
const tinted = (i: number) => {
  const g = grey(i);
  const out = new Uint8Array(784 * 3);
  for (let p = 0; p < 784; p++) { out[p * 3] = g[p]; out[p * 3 + 1] = g[p] >> 1; out[p * 3 + 2] = 40; }
  return out;
};
const png = (data: Uint8Array, channels: number, w = 28, h = 28) => encodePng({ width: w, height: h, data, channels, depth: 8 });

/** DIR/train/<digit>/*.png and DIR/test/<digit>/*.png from the first `n` digits (3 of 4 to train). */
function folder(name: string, n = 80, opts: { colourEvery?: number; single?: boolean } = {}): string {
  const dir = join(tmp.dir, name);
  for (let i = 0; i < n; i++) {
    const split = opts.single ? '' : i % 4 === 3 ? 'test' : 'train';
    const cls = join(dir, split, `digit-${digits.labels[i]}`);
    mkdirSync(cls, { recursive: true });
    const colour = opts.colourEvery && i % opts.colourEvery === 0;
    writeFileSync(join(cls, `${String(i).padStart(4, '0')}.png`), colour ? png(tinted(i), 3) : png(grey(i), 1));
  }
  return dir;
}

async function message(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(DatasetError);
    return (e as Error).message;
  }
  throw new Error('expected a DatasetError');
}

beforeAll(async () => {
  await initBackend();
});

describe('image folders', () => {
  it('train/ and test/ of grey PNGs: classes from the folder names, pixels exact', async () => {
    const dir = folder('grey');
    const ds = await loadDataset(dir);
    const classes = [...new Set(Array.from(digits.labels.subarray(0, 80)))].sort().map((d) => `digit-${d}`);
    expect(ds.info).toMatchObject({ name: 'grey', source: dir, classNames: classes, trainCount: 60, testCount: 20, height: 28, width: 28, channels: 1 });
    // Files are read class by class in name order: the first training image of class 0 is the first such digit.
    const first0 = Array.from(digits.labels.subarray(0, 80)).findIndex((l, i) => l === 0 && i % 4 !== 3);
    expect(Buffer.from(ds.train.images.subarray(0, 784)).equals(Buffer.from(grey(first0)))).toBe(true);
    expect(ds.train.labels[0]).toBe(0);
    for (let i = 0; i < ds.test.count; i++) expect(ds.info.classNames[ds.test.labels[i]]).toMatch(/^digit-\d$/);
  });

  it('a set with colour images is RGB, grey images repeated over the channels; normalization is per channel', async () => {
    const dir = folder('colour', 80, { colourEvery: 2 });
    const ds = await loadDataset(dir);
    expect(ds.info.channels).toBe(3);
    const stats = channelStats(ds.train.images, ds.train.count, 28, 28, 3);
    // Blue is 40 on tinted images and the digit on grey ones: three different means.
    expect(new Set(stats.mean.map((m) => m.toFixed(4))).size).toBe(3);
    expect(stats.mean[1]).toBeLessThan(stats.mean[0]);
  });

  it('colour images stay colour in gallery tiles (misclassified PNG export)', () => {
    const tile = decodePng(tilePng(tinted(0), [28, 28, 3]));
    expect(tile.channels).toBe(3);
    expect(Array.from(tile.data.subarray(0, 3 * 784))).toEqual(Array.from(tinted(0)));
  });

  it('3-channel inputs train', async () => {
    const dir = folder('colour-train', 120, { colourEvery: 3 });
    const ds = await loadDataset(dir);
    const r = await trainRun({ ...DEFAULT_SETTINGS, data: dir, epochs: 1, batch: 30, valSplit: 0 }, ds);
    expect(r.status).toBe('done');
    expect(r.model.spec.input).toEqual([28, 28, 3]);
    expect(Number.isFinite(r.testLoss)).toBe(true);
    r.model.dispose();
  });

  it('one folder of class folders is split by --test-split, stratified and seeded', async () => {
    const dir = folder('single', 80, { single: true });
    const a = await loadDataset(dir, { testSplit: 0.25 });
    expect(a.train.count + a.test.count).toBe(80);
    expect(a.test.count).toBeGreaterThanOrEqual(18);
    clearDatasetCache();
    const b = await loadDataset(dir, { testSplit: 0.25 });
    expect(Buffer.from(b.test.labels).equals(Buffer.from(a.test.labels))).toBe(true);
  });

  it('--resize brings mixed sizes to one; without it the odd file is named', async () => {
    const dir = folder('mixed', 40);
    const odd = join(dir, 'train', `digit-${digits.labels[0]}`, 'odd.png');
    writeFileSync(odd, png(resizeBilinear(grey(0), 28, 28, 1, 32, 30), 1, 30, 32));
    expect(await message(loadDataset(dir))).toMatch(new RegExp(`${odd.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: is 32x30 \\(HxW\\) but .* is 28x28; give --resize HxW to bring every image to one size$`));
    const ds = await loadDataset(dir, { resize: '16x16' });
    expect(ds.info).toMatchObject({ height: 16, width: 16, channels: 1 });
    expect(ds.train.images.length).toBe(ds.train.count * 256);
    expect(resolveSettings({ resize: '32 by 32' })).toMatchObject({ ok: false });
    expect(resolveSettings({ resize: '32x32' })).toMatchObject({ ok: true });
  });

  it('decodes JPEG (grey stays grey) and refuses an undecodable file by name', async () => {
    const rgba = new Uint8Array(784 * 4);
    for (let p = 0; p < 784; p++) { rgba[p * 4] = rgba[p * 4 + 1] = rgba[p * 4 + 2] = grey(5)[p]; rgba[p * 4 + 3] = 255; }
    const jpg = jpeg.encode({ width: 28, height: 28, data: rgba }, 95).data;
    const img = decodeImage(jpg, 'x.jpg');
    expect(img.channels).toBe(1);
    let err = 0;
    for (let p = 0; p < 784; p++) err = Math.max(err, Math.abs(img.data[p] - grey(5)[p]));
    expect(err).toBeLessThan(40);
    const dir = folder('broken', 40);
    const bad = join(dir, 'test', `digit-${digits.labels[3]}`, 'broken.png');
    writeFileSync(bad, png(grey(3), 1).subarray(0, 60));
    expect(await message(loadDataset(dir))).toMatch(new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: cannot be decoded as PNG \\(`));
    const notImage = join(dir, 'test', `digit-${digits.labels[3]}`, 'broken.png');
    writeFileSync(notImage, 'hello');
    expect(await message(loadDataset(dir))).toBe(`${notImage}: is neither a PNG nor a JPEG (its first bytes do not match either)`);
  });

  it('names a class folder with no images and a folder with fewer than two classes', async () => {
    const dir = folder('empty-class', 40);
    mkdirSync(join(dir, 'train', 'zzz-empty'));
    writeFileSync(join(dir, 'train', 'zzz-empty', 'notes.txt'), 'no images here');
    expect(await message(loadDataset(dir))).toBe(`${join(dir, 'train', 'zzz-empty')}: class folder holds no PNG or JPEG images`);
    const one = join(tmp.dir, 'one-class');
    mkdirSync(join(one, 'cats'), { recursive: true });
    writeFileSync(join(one, 'cats', 'a.png'), png(grey(1), 1));
    expect(await message(loadDataset(one))).toBe(`${one}: has 1 class folder (cats); an image classifier needs at least two (one folder of images per class)`);
  });

  it('caches the decoded set as one checksummed file: the second load reads it; a changed file or a damaged cache decodes again', async () => {
    const dir = folder('cached', 80, { colourEvery: 4 });
    const cacheDir = join(tmp.dir, 'ws', 'cache', 'datasets');
    const a = await loadImageFolder(dir, { cacheDir });
    expect(a.cached).toBe(false);
    const b = await loadImageFolder(dir, { cacheDir });
    expect(b.cached).toBe(true);
    expect(b.info).toEqual(a.info);
    expect(Buffer.from(b.train.images).equals(Buffer.from(a.train.images))).toBe(true);
    expect(Buffer.from(b.test.labels).equals(Buffer.from(a.test.labels))).toBe(true);
    // Options are part of the key.
    expect((await loadImageFolder(dir, { cacheDir, resize: [20, 20] })).cached).toBe(false);
    // A touched image invalidates the cache.
    const f = join(dir, 'train', `digit-${digits.labels[0]}`, '0000.png');
    const t = statSync(f).mtime;
    utimesSync(f, t, new Date(t.getTime() + 5000));
    expect((await loadImageFolder(dir, { cacheDir })).cached).toBe(false);
    expect((await loadImageFolder(dir, { cacheDir })).cached).toBe(true);
    // A damaged cache (one flipped byte) fails its checksum and is rebuilt.
    const [cacheFile] = readdirSync(cacheDir).filter((n: string) => n.endsWith('.nlds')).map((n: string) => join(cacheDir, n));
    const bytes = readFileSync(cacheFile);
    bytes[bytes.length - 100] ^= 0xff;
    writeFileSync(cacheFile, bytes);
    const c = await loadImageFolder(dir, { cacheDir });
    expect(c.cached).toBe(false);
    expect(Buffer.from(c.train.images).equals(Buffer.from(a.train.images))).toBe(true);
  });
});
