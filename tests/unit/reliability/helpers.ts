/** Shared helpers of the reliability tests: the built worker and CLI, workspace integrity, hashes. */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeTrainState, decodeWeights } from '../../../src-main/store/checkpoint-format';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
/** The engine worker as `npm run build` bundles it; services in tests run the real thread. */
export const WORKER_PATH = join(REPO, 'out/main/worker.js');
export const CLI = join(REPO, 'bin/normlab.js');

export function requireBuild(): void {
  if (!existsSync(WORKER_PATH) || !existsSync(join(REPO, 'out/main/cli.js'))) {
    throw new Error(`the reliability tests run the built engine: run npm run build first (${WORKER_PATH} is missing)`);
  }
}

/** sha256 of every file under `dir`, keyed by relative path. */
export function hashTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else out[relative(dir, p)] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

/**
 * Checks that no file of a workspace is half-written: every .nlck decodes, every run.json and
 * *.json parses, every line of every .jsonl is complete JSON, and no temp file is left.
 * Returns the problems found (empty = whole).
 */
export function integrityProblems(root: string): string[] {
  const problems: string[] = [];
  const walk = (d: string): void => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) {
        walk(p);
        continue;
      }
      const bytes = readFileSync(p);
      try {
        if (n.endsWith('.tmp')) problems.push(`${p}: temp file left behind`);
        else if (n.endsWith('.nlck')) (p.includes('/checkpoints/') ? decodeTrainState : decodeWeights)(bytes, p);
        else if (n.endsWith('.json')) JSON.parse(bytes.toString('utf8'));
        else if (n.endsWith('.jsonl')) {
          const text = bytes.toString('utf8');
          if (text.length && !text.endsWith('\n')) problems.push(`${p}: last line is torn`);
          text.split('\n').filter(Boolean).forEach((l) => JSON.parse(l));
        } else if (n.endsWith('.onnx') && bytes.length < 100) problems.push(`${p}: only ${bytes.length} bytes`);
      } catch (e) {
        problems.push(`${p}: ${(e as Error).message}`);
      }
    }
  };
  walk(root);
  return problems;
}
