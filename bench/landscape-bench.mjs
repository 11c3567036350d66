#!/usr/bin/env node
/**
 * Bundles bench/landscape-bench.ts with rolldown (like bench/run.mjs does for the training bench) and
 * runs it, passing the arguments through. bench/run.mjs can hook it in by running
 * `node bench/landscape-bench.mjs --json` and merging the printed JSON object under "landscape".
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'rolldown';

const here = dirname(fileURLToPath(import.meta.url));
// Inside node_modules/.cache (git-ignored) so the bundle resolves the external packages from the repo.
const cacheDir = join(here, '..', 'node_modules', '.cache');
mkdirSync(cacheDir, { recursive: true });
const outDir = mkdtempSync(join(cacheDir, 'landscape-bench-'));
try {
  await build({
    input: join(here, 'landscape-bench.ts'),
    platform: 'node',
    // Native and wasm packages stay external; the rest (tfjs-core has extensionless deep imports) is bundled.
    external: [/^@tensorflow\/tfjs-backend-wasm/, /^@tensorflow\/tfjs-node/, /^onnxruntime-node/, /^onnx-proto/, /^node:/],
    output: { dir: outDir, entryFileNames: 'landscape-bench.mjs', format: 'esm', codeSplitting: false },
    logLevel: 'warn',
  });
  const r = spawnSync(process.execPath, [join(outDir, 'landscape-bench.mjs'), ...process.argv.slice(2).filter((a) => a !== '--json')], { stdio: 'inherit' });
  process.exitCode = r.status ?? 1;
} finally {
  rmSync(outDir, { recursive: true, force: true });
}
