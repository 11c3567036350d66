#!/usr/bin/env node
/**
 * Bundles bench/onnx-bench.ts with rolldown (like bench/run.mjs does for the training bench) and
 * runs it, passing the arguments through. bench/run.mjs can hook it in by running
 * `node bench/onnx-bench.mjs --json` and merging the printed JSON object under "onnx".
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
const outDir = mkdtempSync(join(cacheDir, 'onnx-bench-'));
try {
  await build({
    input: join(here, 'onnx-bench.ts'),
    platform: 'node',
    // Native and wasm packages stay external; the rest (tfjs-core has extensionless deep imports) is bundled.
    external: ['onnxruntime-node', /^@tensorflow\/tfjs-backend-wasm/, /^@tensorflow\/tfjs-node/, /^node:/],
    output: { dir: outDir, entryFileNames: 'onnx-bench.mjs', format: 'esm', codeSplitting: false },
    logLevel: 'warn',
  });
  const r = spawnSync(process.execPath, [join(outDir, 'onnx-bench.mjs'), ...process.argv.slice(2).filter((a) => a !== '--json')], { stdio: 'inherit' });
  process.exitCode = r.status ?? 1;
} finally {
  rmSync(outDir, { recursive: true, force: true });
}
