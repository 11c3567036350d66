/**
 * One copy of the data for every run trained at once (issue 20 item 1): a loaded dataset lives in
 * shared memory, and the trainer keeps its training part as a view (an index list) of it rather
 * than a copy, drawing the same images as the copying split. Real data: the MNIST sample.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { clearDatasetCache, loadDataset, type Dataset } from '../../../src-main/data/dataset';
import { channelStats } from '../../../src-main/data/normalize';
import { datasetBytes, isShared, shareDataset } from '../../../src-main/data/shared';
import { splitValidation, takeSplit, validationIndices } from '../../../src-main/data/split';

let data: Dataset;
beforeAll(async () => {
  clearDatasetCache();
  data = await loadDataset('mnist-sample');
});

describe('shared datasets', () => {
  it('loads into SharedArrayBuffers, once: 8,000 + 2,000 images of 784 bytes and their labels', () => {
    for (const a of [data.train.images, data.train.labels, data.test.images, data.test.labels]) expect(isShared(a)).toBe(true);
    expect(datasetBytes(data)).toBe(10_000 * 784 + 10_000);
    expect(shareDataset(data).train.images).toBe(data.train.images); // already shared: no second copy
  });

  it('moves plain arrays (and views of one buffer) into shared memory with the same bytes', () => {
    const base = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
    const plain: Dataset = {
      info: data.info,
      train: { images: base.subarray(0, 6), labels: new Uint8Array([0, 1, 2]), count: 3 },
      test: { images: base.subarray(6), labels: new Uint8Array([3]), count: 1 },
    };
    const s = shareDataset(plain);
    expect(isShared(s.train.images) && isShared(s.test.images) && isShared(s.train.labels)).toBe(true);
    expect([...s.train.images]).toEqual([1, 2, 3, 4, 5, 6]);
    expect([...s.test.images]).toEqual([7, 8]);
    expect(s.train.images.buffer).toBe(s.test.images.buffer); // two views of one buffer stay one buffer
    expect(s.info).toEqual(plain.info);
  });
});

describe('the training part as a view', () => {
  it('validationIndices draws exactly the images splitValidation copies', () => {
    const parts = validationIndices(data.train, 0.1, 7)!;
    const copied = splitValidation(data.train, 0.1, 7, 784);
    expect(parts.train.length + parts.val.length).toBe(8000);
    const same = (x: Uint8Array, y: Uint8Array) => Buffer.compare(Buffer.from(x.buffer, x.byteOffset, x.length), Buffer.from(y.buffer, y.byteOffset, y.length)) === 0;
    for (const [idx, part] of [[parts.train, copied.train], [parts.val, copied.val!]] as const) {
      const t = takeSplit(data.train, idx, 784);
      expect(t.count).toBe(part.count);
      expect(same(t.images, part.images) && same(t.labels, part.labels)).toBe(true);
    }
    expect(validationIndices(data.train, 0, 7)).toBeNull();
  });

  it('channelStats over the index list equals channelStats over the copied images', () => {
    const parts = validationIndices(data.train, 0.1, 3)!;
    const copy = takeSplit(data.train, parts.train, 784);
    const a = channelStats(data.train.images, parts.train.length, 28, 28, 1, parts.train);
    const b = channelStats(copy.images, copy.count, 28, 28, 1);
    expect(a).toEqual(b);
    expect(a.mean[0]).toBeGreaterThan(0);
    expect(() => channelStats(data.train.images, 2, 28, 28, 1, [0])).toThrow(/2 images but 1 indices/);
  });
});
