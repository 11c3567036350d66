import { it, expect } from 'vitest';
import { loadDataset, clearDatasetCache } from '/work/main/src-main/data/dataset';
it('x', async () => {
  let t = Date.now();
  const a = await loadDataset('mnist-sample'); console.log('load', Date.now() - t); t = Date.now();
  const a2 = await loadDataset('mnist-sample'); console.log('same', a === a2, Date.now() - t); t = Date.now();
  expect(a2).toBe(a); console.log('toBe', Date.now() - t); t = Date.now();
  clearDatasetCache();
  const b = await loadDataset('mnist-sample'); console.log('load2', Date.now() - t); t = Date.now();
  expect(b).not.toBe(a); console.log('nottoBe', Date.now() - t);
});
