/**
 * Helpers for the runs tests: the built `normlab` command (bin/normlab.js → out/main/cli.js),
 * the built engine worker for in-process services, and temp workspaces.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const ROOT = resolve(__dirname, '../../..');
export const BIN = join(ROOT, 'bin/normlab.js');
export const WORKER = join(ROOT, 'out/main/worker.js');

/** Why the tests that need the build cannot run, or null. */
export function notBuilt(): string | null {
  return existsSync(join(ROOT, 'out/main/cli.js')) && existsSync(WORKER) ? null : 'NormLab is not built (run npm run build)';
}

/** A fresh temp folder and its remover. */
export function tempDir(tag: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `normlab-runs-${tag}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `normlab ARGS` to completion. The engine is forced to wasm so every process trains alike. */
export function cli(args: string[], timeoutMs = 240_000): Promise<CliResult> {
  return new Promise((ok, fail) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, NORMLAB_BACKEND: 'wasm' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(new Error(`normlab ${args.join(' ')} took over ${timeoutMs} ms:\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      ok({ code, signal, stdout, stderr });
    });
  });
}

/** The JSON lines a `--json` command printed (non-JSON lines are an error). */
export function jsonLines(stdout: string): Record<string, unknown>[] {
  return stdout.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** metrics.jsonl of a run as raw lines (without the trailing empty string). */
export function metricLines(workspace: string, runId: string): string[] {
  const file = join(workspace, 'runs', runId, 'metrics.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.length > 0);
}

/** Waits until `cond()` is true, polling every `everyMs`. */
export async function until(cond: () => boolean, timeoutMs: number, what: string, everyMs = 20): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
