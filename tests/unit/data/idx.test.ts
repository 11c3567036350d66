import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import {
  checkCounts,
  DatasetError,
  encodeIdx,
  imagesFromIdx,
  labelsFromIdx,
  readIdx,
  readIdxFile,
} from '../../../src-main/data/idx';
import { idxBytes, realSlice, tempDir, writeFolder } from './helpers';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

function errorOf(fn: () => unknown): DatasetError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(DatasetError);
    return e as DatasetError;
  }
  throw new Error('expected a DatasetError');
}

describe('readIdx', () => {
  const { images, labels } = realSlice(3);

  it('reads hand-written raw and gzipped IDX files of real digits', () => {
    const raw = idxBytes([3, 28, 28], images);
    for (const bytes of [raw, gzipSync(raw)]) {
      const idx = readIdx(bytes, 'x');
      expect(idx.dims).toEqual([3, 28, 28]);
      expect(idx.data.length).toBe(3 * 784);
      expect(Array.from(idx.data)).toEqual(Array.from(images));
      expect(Buffer.isBuffer(idx.data)).toBe(false);
    }
    const l = readIdx(idxBytes([3], labels), 'l');
    expect(l.dims).toEqual([3]);
    expect(Array.from(l.data)).toEqual(Array.from(labels));
  });

  it('encodeIdx writes exactly the layout readIdx reads', () => {
    expect(Array.from(encodeIdx([3, 28, 28], images))).toEqual(Array.from(idxBytes([3, 28, 28], images)));
    const back = readIdx(encodeIdx([3], labels, true), 'l.gz');
    expect(Array.from(back.data)).toEqual(Array.from(labels));
  });

  it('rejects a wrong magic number, naming the file', () => {
    const bytes = idxBytes([3, 28, 28], images);
    bytes[0] = 0x12;
    bytes[1] = 0x34;
    const e = errorOf(() => readIdx(bytes, 'train-images-idx3-ubyte'));
    expect(e.file).toBe('train-images-idx3-ubyte');
    expect(e.message).toBe(
      'train-images-idx3-ubyte: not an IDX file (magic number 0x12340803; expected 0x00000801 for labels or 0x00000803 for images)',
    );
    expect(e.code).toBe('dataset');
  });

  it('rejects a data type other than unsigned bytes', () => {
    const e = errorOf(() => readIdx(idxBytes([3, 28, 28], images, 0x0d), 'f.idx'));
    expect(e.message).toBe('f.idx: IDX data type 0x0D (float32) is not supported; only unsigned bytes (0x08) are');
    expect(e.problem).toBe('IDX data type 0x0D (float32) is not supported; only unsigned bytes (0x08) are');
  });

  it('rejects truncated data and a truncated header', () => {
    const bytes = idxBytes([3, 28, 28], images);
    const e = errorOf(() => readIdx(bytes.subarray(0, bytes.length - 10), 't.gz'));
    expect(e.message).toBe('t.gz: truncated: dimensions 3x28x28 need 2352 bytes of data but only 2342 are present');
    const h = errorOf(() => readIdx(bytes.subarray(0, 9), 'h'));
    expect(h.message).toBe('h: truncated: the header of a 3-dimensional IDX file needs 16 bytes, the file has 9');
    const tiny = errorOf(() => readIdx(new Uint8Array([0, 0]), 'tiny'));
    expect(tiny.message).toBe('tiny: not an IDX file (only 2 bytes, the header alone needs at least 4)');
  });

  it('rejects trailing bytes after the data', () => {
    const bytes = idxBytes([3], new Uint8Array([1, 2, 3, 4, 5]));
    const e = errorOf(() => readIdx(bytes, 'l'));
    expect(e.message).toBe('l: 2 unexpected bytes after the 3 data (damaged or not an IDX file)');
  });

  it('rejects a damaged gzip stream', () => {
    const gz = gzipSync(idxBytes([3, 28, 28], images));
    const e = errorOf(() => readIdx(gz.subarray(0, gz.length - 40), 'a.gz'));
    expect(e.message).toBe('a.gz: not a valid gzip file (unexpected end of file)');
  });

  it('names a missing file and a folder given as a file', () => {
    const missing = join(tmp.dir, 'nope-idx1-ubyte.gz');
    expect(errorOf(() => readIdxFile(missing)).message).toBe(`${missing}: file not found`);
    expect(errorOf(() => readIdxFile(tmp.dir)).message).toBe(`${tmp.dir}: is a folder, expected an IDX file`);
  });

  it('reads a real file from disk', () => {
    const dir = writeFolder(tmp.dir, 'disk', { 'x-idx3-ubyte.gz': gzipSync(idxBytes([3, 28, 28], images)) });
    expect(readIdxFile(join(dir, 'x-idx3-ubyte.gz')).dims).toEqual([3, 28, 28]);
  });
});

describe('image and label checks', () => {
  const { images, labels } = realSlice(4);

  it('accepts N×28×28 and N×28×28×1', () => {
    expect(imagesFromIdx({ dims: [4, 28, 28], data: images }, 'i').count).toBe(4);
    expect(imagesFromIdx({ dims: [4, 28, 28, 1], data: images }, 'i').channels).toBe(1);
  });

  it('rejects images that are not 28×28', () => {
    const e = errorOf(() => imagesFromIdx({ dims: [3, 27, 27], data: images.subarray(0, 3 * 729) }, 'small.gz'));
    expect(e.message).toBe('small.gz: images are 27x27, expected 28x28 (dimensions 3x27x27)');
    const rgb = errorOf(() => imagesFromIdx({ dims: [1, 28, 28, 3], data: images.subarray(0, 2352) }, 'rgb'));
    expect(rgb.message).toBe('rgb: images are 28x28x3, expected 28x28 (dimensions 1x28x28x3)');
  });

  it('spots label and image files given the wrong way round', () => {
    expect(errorOf(() => imagesFromIdx({ dims: [4], data: labels }, 'labels')).message).toBe(
      'labels: holds 4 labels (1-D), expected images (28x28); are the image and label files swapped?',
    );
    expect(errorOf(() => labelsFromIdx({ dims: [4, 28, 28], data: images }, 'imgs')).message).toBe(
      'imgs: expected a 1-D label file, found dimensions 4x28x28; are the image and label files swapped?',
    );
  });

  it('rejects an image/label count mismatch, naming the label file', () => {
    const set = imagesFromIdx({ dims: [4, 28, 28], data: images }, 'imgs.gz');
    expect(() => checkCounts(set, labels, 'imgs.gz', 'lbls.gz')).not.toThrow();
    const e = errorOf(() => checkCounts(set, labels.subarray(0, 3), 'imgs.gz', 'lbls.gz'));
    expect(e.file).toBe('lbls.gz');
    expect(e.message).toBe('lbls.gz: has 3 labels but imgs.gz has 4 images');
  });
});
