/**
 * One data-loading case per process (so "first" really is first): `mnist` loads full MNIST twice
 * (the second after forgetting the in-memory copy: files in the OS cache); `folder DIR CACHE`
 * loads an image folder with its packed cache in CACHE (run it twice for first and cached).
 * Prints one JSON line.
 */
import { clearDatasetCache, loadDataset } from '../src-main/data/dataset';
import { loadImageFolder } from '../src-main/data/image-folder';

const [mode, dir, cacheDir] = process.argv.slice(2);
const peak = () => Math.round((process.resourceUsage().maxRSS / 1024) * 10) / 10;
if (mode === 'mnist') {
  let t = performance.now();
  const a = await loadDataset('mnist');
  const first = performance.now() - t;
  clearDatasetCache();
  t = performance.now();
  await loadDataset('mnist');
  const second = performance.now() - t;
  console.log(JSON.stringify({ case: 'mnist', train: a.info.trainCount, test: a.info.testCount, first_ms: Math.round(first), second_ms: Math.round(second), peak_rss_mb: peak() }));
} else if (mode === 'folder') {
  const t = performance.now();
  const ds = await loadImageFolder(dir, { cacheDir });
  console.log(JSON.stringify({ case: 'folder', cached: ds.cached, images: ds.info.trainCount + ds.info.testCount, ms: Math.round(performance.now() - t), peak_rss_mb: peak() }));
} else {
  console.error('usage: data-bench mnist | folder DIR CACHE');
  process.exit(2);
}
