/**
 * Image folders in torchvision's ImageFolder layout: DIR/train/<class>/*.png|jpg and
 * DIR/test/<class>/…, or DIR/<class>/… split into train and test by a seeded, stratified
 * fraction. Grey or RGB (a set with any colour image is RGB; grey images are then repeated over
 * the three channels); one fixed size, or every image resized to `resize` (bilinear). Class names
 * are the folder names, sorted as torchvision sorts them. The decoded set is cached as one packed
 * binary with a SHA-256 checksum, so the second load reads one file.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync, type Stats } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { decode as decodePng } from 'fast-png';
import * as jpeg from 'jpeg-js';
import type { DatasetInfo } from '../contract/api';
import type { Dataset, Split } from './dataset';
import { DatasetError } from './idx';
import { maxFileBytes } from './bounded';
import { splitValidation } from './split';

const IMAGE_EXT = /\.(png|jpe?g)$/i;
/** Largest image file read (bytes) and decoded (pixels): a photo-sized image is far below both. */
const MAX_IMAGE_FILE_BYTES = 64 * 1024 * 1024;
const MAX_IMAGE_PIXELS = 16 * 1024 * 1024;
/** Bumped when the cache layout or decoding changes, so old caches are not read. */
const CACHE_VERSION = 1;
const CACHE_MAGIC = 'NLDS';
/** Seed of the train/test draw of a single-folder layout (fixed: the test split must not move with the run seed). */
const TEST_SPLIT_SEED = 0x1f01de5;

export interface ImageFolderOptions {
  /** [height, width] every image is resized to; absent = all images must share one size. */
  resize?: [number, number] | null;
  /** Share of a single-folder layout's images used as the test split (default 0.2). */
  testSplit?: number;
  /** Folder for the packed cache; absent = no cache. */
  cacheDir?: string;
}

interface Listing {
  classes: string[];
  /** Per split, [file, class index]. */
  train: [string, number][];
  test: [string, number][] | null;
  stats: Map<string, Stats>;
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir).filter((n) => !n.startsWith('.')).sort();
  } catch (e) {
    throw new DatasetError(dir, `cannot list the folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** Class folders of `dir` (sorted) with their image files; a class folder without images is an error. */
function classFolders(dir: string, stats: Map<string, Stats>): { classes: string[]; files: [string, number][] } {
  const classes = listDir(dir).filter((n) => isDir(join(dir, n)));
  const files: [string, number][] = [];
  classes.forEach((c, k) => {
    const folder = join(dir, c);
    const images = listDir(folder).filter((n) => IMAGE_EXT.test(n));
    if (images.length === 0) throw new DatasetError(folder, 'class folder holds no PNG or JPEG images');
    for (const n of images) {
      const p = join(folder, n);
      let st: Stats;
      try {
        st = statSync(p);
      } catch (e) {
        throw new DatasetError(p, `cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      }
      if (!st.isFile()) throw new DatasetError(p, 'is not a regular file (only regular files are read)');
      if (st.size > MAX_IMAGE_FILE_BYTES) throw new DatasetError(p, `is ${st.size} bytes; an image file may be at most ${MAX_IMAGE_FILE_BYTES}`);
      stats.set(p, st);
      files.push([p, k]);
    }
  });
  return { classes, files };
}

/**
 * Whether a folder looks like an image folder: train/ and test/ holding class folders, or class
 * folders holding PNG/JPEG files directly.
 */
export function isImageFolder(dir: string): boolean {
  if (!isDir(dir)) return false;
  const names = listDir(dir);
  if (names.includes('train') && isDir(join(dir, 'train'))) return true;
  return names.some((n) => {
    const p = join(dir, n);
    return isDir(p) && listDir(p).some((f) => IMAGE_EXT.test(f));
  });
}

function listImageFolder(dir: string): Listing {
  const stats = new Map<string, Stats>();
  const trainDir = join(dir, 'train');
  if (isDir(trainDir)) {
    const testDir = join(dir, 'test');
    if (!isDir(testDir)) throw new DatasetError(testDir, 'folder not found; an image folder with train/ needs test/ beside it (or put the class folders directly in the folder)');
    const train = classFolders(trainDir, stats);
    checkClassCount(trainDir, train.classes);
    const test = classFolders(testDir, stats);
    for (const c of test.classes) {
      if (!train.classes.includes(c)) throw new DatasetError(join(testDir, c), `class "${c}" has no folder in ${trainDir}`);
    }
    const remap = test.classes.map((c) => train.classes.indexOf(c));
    return { classes: train.classes, train: train.files, test: test.files.map(([f, k]) => [f, remap[k]]), stats };
  }
  const all = classFolders(dir, stats);
  checkClassCount(dir, all.classes);
  return { classes: all.classes, train: all.files, test: null, stats };
}

function checkClassCount(dir: string, classes: string[]): void {
  if (classes.length < 2) {
    throw new DatasetError(
      dir,
      `has ${classes.length} class folder${classes.length === 1 ? ` (${classes[0]})` : 's'}; an image classifier needs at least two (one folder of images per class)`,
    );
  }
}

interface Decoded {
  width: number;
  height: number;
  /** 1 (grey) or 3 (RGB), 8-bit. */
  channels: 1 | 3;
  data: Uint8Array;
}

/** Decodes one PNG or JPEG to 8-bit grey or RGB (alpha dropped, palettes expanded, 16-bit scaled). */
export function decodeImage(bytes: Uint8Array, file: string): Decoded {
  const isPng = bytes.length > 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47;
  const isJpeg = bytes.length > 3 && bytes[0] === 0xff && bytes[1] === 0xd8;
  try {
    if (isPng) return fromPng(decodePng(bytes), file);
    if (isJpeg) {
      const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, maxResolutionInMP: MAX_IMAGE_PIXELS / 1e6, maxMemoryUsageInMB: 512 });
      const c = img.data.length / (img.width * img.height);
      if (c === 1) return { width: img.width, height: img.height, channels: 1, data: img.data };
      if (c !== 3) throw new Error(`${c} values per pixel`);
      return greyIfGrey({ width: img.width, height: img.height, channels: 3, data: img.data });
    }
  } catch (e) {
    if (e instanceof DatasetError) throw e;
    throw new DatasetError(file, `cannot be decoded as ${isPng ? 'PNG' : 'JPEG'} (${(e as Error).message})`);
  }
  throw new DatasetError(file, 'is neither a PNG nor a JPEG (its first bytes do not match either)');
}

function fromPng(png: ReturnType<typeof decodePng>, file: string): Decoded {
  const { width, height } = png;
  if (width * height > MAX_IMAGE_PIXELS) throw new DatasetError(file, `is ${width}x${height}, more than ${MAX_IMAGE_PIXELS} pixels`);
  const n = width * height;
  const src = png.data;
  const shift = png.depth === 16 ? 8 : 0;
  if (png.palette) {
    const out = new Uint8Array(n * 3);
    for (let i = 0; i < n; i++) {
      const c = png.palette[src[i]] ?? [0, 0, 0];
      out[i * 3] = c[0];
      out[i * 3 + 1] = c[1];
      out[i * 3 + 2] = c[2];
    }
    return greyIfGrey({ width, height, channels: 3, data: out });
  }
  const ch = png.channels;
  if (png.depth < 8) {
    throw new DatasetError(file, `${png.depth}-bit greyscale PNGs are not supported; save it with 8 bits per channel`);
  }
  if (ch === 1 || ch === 2) {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = src[i * ch] >> shift;
    return { width, height, channels: 1, data: out };
  }
  if (ch === 3 || ch === 4) {
    const out = new Uint8Array(n * 3);
    for (let i = 0; i < n; i++) {
      out[i * 3] = src[i * ch] >> shift;
      out[i * 3 + 1] = src[i * ch + 1] >> shift;
      out[i * 3 + 2] = src[i * ch + 2] >> shift;
    }
    return greyIfGrey({ width, height, channels: 3, data: out });
  }
  throw new DatasetError(file, `PNG with ${ch} channels is not supported`);
}

/** An RGB image whose three channels are equal everywhere is stored as grey. */
function greyIfGrey(img: Decoded): Decoded {
  const d = img.data;
  for (let i = 0; i < d.length; i += 3) if (d[i] !== d[i + 1] || d[i] !== d[i + 2]) return img;
  const out = new Uint8Array(d.length / 3);
  for (let i = 0; i < out.length; i++) out[i] = d[i * 3];
  return { ...img, channels: 1, data: out };
}

/** Bilinear resize with half-pixel centres (align_corners = false), per channel. */
export function resizeBilinear(src: Uint8Array, h: number, w: number, c: number, oh: number, ow: number): Uint8Array {
  if (h === oh && w === ow) return src;
  const out = new Uint8Array(oh * ow * c);
  const sy = h / oh;
  const sx = w / ow;
  for (let y = 0; y < oh; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), h - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, h - 1);
    const dy = fy - y0;
    for (let x = 0; x < ow; x++) {
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), w - 1);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, w - 1);
      const dx = fx - x0;
      for (let k = 0; k < c; k++) {
        const a = src[(y0 * w + x0) * c + k];
        const b = src[(y0 * w + x1) * c + k];
        const d = src[(y1 * w + x0) * c + k];
        const e = src[(y1 * w + x1) * c + k];
        const v = (a * (1 - dx) + b * dx) * (1 - dy) + (d * (1 - dx) + e * dx) * dy;
        out[(y * ow + x) * c + k] = Math.round(v);
      }
    }
  }
  return out;
}

/** Parses "HxW" (e.g. "32x32"); '' → null. */
export function parseResize(text: string | undefined | null): [number, number] | null {
  if (!text) return null;
  const m = /^\s*(\d{1,4})\s*[xX×]\s*(\d{1,4})\s*$/.exec(text);
  if (!m) throw new DatasetError('--resize', `expected HxW such as 32x32, got "${text}"`);
  const h = Number(m[1]);
  const w = Number(m[2]);
  if (h < 4 || w < 4 || h > 1024 || w > 1024) throw new DatasetError('--resize', `each side must be 4..1024 pixels, got ${h}x${w}`);
  return [h, w];
}

function fingerprint(dir: string, l: Listing, opts: ImageFolderOptions): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ v: CACHE_VERSION, resize: opts.resize ?? null, testSplit: l.test ? null : opts.testSplit ?? 0.2, classes: l.classes }));
  for (const [part, files] of [['train', l.train], ['test', l.test ?? []]] as const) {
    h.update(part);
    for (const [f, k] of files) {
      const st = l.stats.get(f)!;
      h.update(`${relative(dir, f)}\0${k}\0${st.size}\0${st.mtimeMs}\n`);
    }
  }
  return h.digest('hex');
}

/**
 * Loads an image folder (see the module comment), from the cache when its fingerprint (file
 * names, sizes, modification times and the options) matches and its checksum holds.
 * @throws DatasetError naming the file or folder: an undecodable file, mixed sizes without
 * resize, a class folder with no images, fewer than two classes.
 */
export async function loadImageFolder(dir: string, opts: ImageFolderOptions = {}): Promise<Dataset & { cached: boolean }> {
  const listing = listImageFolder(dir);
  const key = fingerprint(dir, listing, opts);
  const cacheFile = opts.cacheDir ? join(opts.cacheDir, `${createHash('sha256').update(dir).digest('hex').slice(0, 16)}.nlds`) : null;
  if (cacheFile) {
    const hit = readCache(cacheFile, key);
    if (hit) return { ...hit, cached: true };
  }
  const ds = decodeAll(dir, listing, opts);
  if (cacheFile) writeCache(cacheFile, key, ds);
  return { ...ds, cached: false };
}

function decodeAll(dir: string, l: Listing, opts: ImageFolderOptions): Dataset {
  const all = [...l.train, ...(l.test ?? [])];
  const decoded: Decoded[] = new Array(all.length);
  let first: { file: string; h: number; w: number } | null = null;
  let colour = false;
  for (let i = 0; i < all.length; i++) {
    const file = all[i][0];
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(file);
    } catch (e) {
      throw new DatasetError(file, `cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    const img = decodeImage(bytes, file);
    if (!opts.resize) {
      if (!first) first = { file, h: img.height, w: img.width };
      else if (img.height !== first.h || img.width !== first.w) {
        throw new DatasetError(
          file,
          `is ${img.height}x${img.width} (HxW) but ${first.file} is ${first.h}x${first.w}; give --resize HxW to bring every image to one size`,
        );
      }
    }
    if (img.channels === 3) colour = true;
    decoded[i] = img;
  }
  const [h, w] = opts.resize ?? [first!.h, first!.w];
  const c = colour ? 3 : 1;
  const pixels = h * w * c;
  if (all.length * pixels > maxFileBytes()) {
    throw new DatasetError(dir, `${all.length} images of ${h}x${w}x${c} need ${all.length * pixels} bytes, more than the ${maxFileBytes()}-byte limit (set NORMLAB_MAX_DATA_BYTES, or --resize smaller)`);
  }
  const pack = (files: [string, number][], offset: number): Split => {
    const images = new Uint8Array(files.length * pixels);
    const labels = new Uint8Array(files.length);
    for (let i = 0; i < files.length; i++) {
      let img = decoded[offset + i];
      let data = img.data;
      if (c === 3 && img.channels === 1) {
        const rgb = new Uint8Array(data.length * 3);
        for (let p = 0; p < data.length; p++) rgb[p * 3] = rgb[p * 3 + 1] = rgb[p * 3 + 2] = data[p];
        data = rgb;
        img = { ...img, channels: 3, data };
      }
      images.set(resizeBilinear(data, img.height, img.width, c, h, w), i * pixels);
      labels[i] = files[i][1];
    }
    return { images, labels, count: files.length };
  };
  let train = pack(l.train, 0);
  let test: Split;
  if (l.test) {
    test = pack(l.test, l.train.length);
  } else {
    const fraction = opts.testSplit ?? 0.2;
    const parts = splitValidation(train, fraction, TEST_SPLIT_SEED, pixels);
    if (!parts.val) throw new DatasetError(dir, `a test split of ${fraction} leaves no test image`);
    test = parts.val;
    train = parts.train;
  }
  if (l.classes.length > 256) throw new DatasetError(dir, `has ${l.classes.length} class folders; at most 256 are supported`);
  const info: DatasetInfo = {
    name: basename(dir),
    source: dir,
    classNames: l.classes,
    trainCount: train.count,
    testCount: test.count,
    height: h,
    width: w,
    channels: c,
  };
  return { info, train, test };
}

/** Packed cache: "NLDS" u32 version, u32 header length, JSON header, then the four arrays; SHA-256 of the arrays in the header. */
function writeCache(file: string, key: string, ds: Dataset): void {
  try {
    mkdirSync(join(file, '..'), { recursive: true });
    const parts = [ds.train.images, ds.train.labels, ds.test.images, ds.test.labels];
    const sha = createHash('sha256');
    for (const p of parts) sha.update(p);
    const header = new TextEncoder().encode(JSON.stringify({ key, info: ds.info, train: ds.train.count, test: ds.test.count, sha256: sha.digest('hex') }));
    const head = new Uint8Array(12);
    head.set(new TextEncoder().encode(CACHE_MAGIC));
    const view = new DataView(head.buffer);
    view.setUint32(4, CACHE_VERSION, true);
    view.setUint32(8, header.length, true);
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, Buffer.concat([head, header, ...parts]));
    renameSync(tmp, file);
  } catch {
    // A cache that cannot be written only costs the next load its decoding time.
  }
}

function readCache(file: string, key: string): Dataset | null {
  let bytes: Uint8Array;
  try {
    const st = statSync(file);
    if (!st.isFile()) return null;
    bytes = readFileSync(file);
  } catch {
    return null;
  }
  try {
    if (new TextDecoder().decode(bytes.subarray(0, 4)) !== CACHE_MAGIC) throw new Error('magic');
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (view.getUint32(4, true) !== CACHE_VERSION) throw new Error('version');
    const len = view.getUint32(8, true);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + len))) as { key: string; info: DatasetInfo; train: number; test: number; sha256: string };
    if (header.key !== key) return null;
    const px = header.info.height * header.info.width * header.info.channels;
    let o = 12 + len;
    const take = (n: number) => {
      const out = new Uint8Array(n);
      out.set(bytes.subarray(o, o + n));
      o += n;
      return out;
    };
    const train = { images: take(header.train * px), labels: take(header.train), count: header.train };
    const test = { images: take(header.test * px), labels: take(header.test), count: header.test };
    if (o !== bytes.length) throw new Error('size');
    const sha = createHash('sha256');
    for (const p of [train.images, train.labels, test.images, test.labels]) sha.update(p);
    if (sha.digest('hex') !== header.sha256) throw new Error('checksum');
    return { info: header.info, train, test };
  } catch {
    // Damaged or foreign: decode again (and overwrite it).
    try {
      unlinkSync(file);
    } catch {
      // already gone
    }
    return null;
  }
}

