/**
 * kill -9 of the whole `normlab` process (CLI + its engine worker thread) during training and
 * during an export, at seeded random offsets; shared by the fast test and the soak test.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, watch } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { mulberry32 } from '../../../src-main/engine/rng';
import { readOnnxInfo } from '../../../src-main/onnx/export';
import { Workspace } from '../../../src-main/store/workspace';
import { CLI, REPO, hashTree, integrityProblems } from './helpers';

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  lines: string[];
  stderr: string;
}

/**
 * Runs the CLI; `killWhen(line, ms)` is asked after every stdout line and once at start
 * (line = null) and returns a delay in ms after which the process gets SIGKILL, or undefined.
 */
export function runCli(args: string[], killWhen?: (line: string | null) => number | undefined, killOnTmpIn?: string): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NORMLAB_BACKEND: 'wasm' } });
    // inotify tells us the moment a temp file of an atomic write appears: kill right then, mid-write.
    const watcher = killOnTmpIn
      ? watch(killOnTmpIn, (_e, name) => {
          if (name?.endsWith('.tmp')) child.kill('SIGKILL');
        })
      : undefined;
    const lines: string[] = [];
    let buf = '';
    let stderr = '';
    let armed = false;
    const consider = (line: string | null): void => {
      if (armed || !killWhen) return;
      const ms = killWhen(line);
      if (ms === undefined) return;
      armed = true;
      setTimeout(() => child.kill('SIGKILL'), ms);
    };
    child.stdout.on('data', (d) => {
      buf += String(d);
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        lines.push(line);
        consider(line);
      }
    });
    child.stderr.on('data', (d) => (stderr += String(d)));
    child.on('exit', (code, signal) => {
      watcher?.close();
      resolve({ code, signal, lines, stderr });
    });
    consider(null);
  });
}

const epochOf = (line: string | null): number | null => {
  if (!line?.startsWith('{')) return null;
  try {
    const v = JSON.parse(line) as { epoch?: unknown; run_id?: string };
    return typeof v.epoch === 'number' ? v.epoch : null;
  } catch {
    return null;
  }
};

export interface KillFigures {
  seed: number;
  trainKills: number;
  exportKills: number;
  /** Kills after which a temp file of an unfinished write was found (and cleaned) on open. */
  midWrite: number;
  /** Kills aimed at the start of a file write (inotify on checkpoints/ or exports/). */
  atWriteKills: number;
  resumes: number;
  offsetsMs: number[];
}

/** Opens the workspace the way the app does and checks everything a kill may have touched. */
function checkAfterKill(root: string, bystanders: Record<string, Record<string, string>>, figures: KillFigures): Workspace {
  const ws = new Workspace(root, { warn: () => {} });
  // Opening deletes nothing; a writer (the next train or resume) removes the dead writer's temp files.
  ws.cleanup();
  if (ws.cleaned.length) figures.midWrite++;
  expect(integrityProblems(root)).toEqual([]);
  const runs = ws.listRuns();
  expect(runs.every((r) => !r.error?.includes('not a run record') && !r.error?.includes('not valid JSON'))).toBe(true);
  for (const [id, hashes] of Object.entries(bystanders)) expect(hashTree(ws.runDir(id)), `run ${id} changed`).toEqual(hashes);
  return ws;
}

/**
 * Trains a bystander, then a run that is killed `trainKills` times (first while training, then
 * during resumes, each at a random offset after an epoch line: often inside the checkpoint
 * write), resumes it to done, then kills `exportKills` exports at random offsets and finally
 * exports it whole. Returns the figures.
 */
export async function killScenario(root: string, opts: { trainKills: number; exportKills: number; epochs: number; seed: number; finalExport?: boolean }): Promise<KillFigures> {
  const rng = mulberry32(opts.seed);
  const figures: KillFigures = { seed: opts.seed, trainKills: 0, exportKills: 0, midWrite: 0, atWriteKills: 0, resumes: 0, offsetsMs: [] };
  const common = ['--workspace', root, '--json'];
  const small = ['--data', 'mnist-sample', '--train-limit', '400', '--test-limit', '200', '--batch', '50'];

  const by = await runCli(['train', '--data', 'mnist-sample', '--epochs', '1', '--train-limit', '200', '--test-limit', '100', '--name', 'bystander', ...common]);
  expect(by.code, by.stderr).toBe(0);
  const bystanderId = (JSON.parse(by.lines.at(-1)!) as { run_id: string }).run_id;
  const bystanders = { [bystanderId]: hashTree(join(root, 'runs', bystanderId)) };

  let runId = '';
  let lastEpochSeen = 0;
  for (let k = 0; k < opts.trainKills; k++) {
    const offset = Math.round(rng() * 900);
    if (k % 2 === 0) figures.offsetsMs.push(offset);
    const killAfter = (line: string | null): number | undefined => (epochOf(line) !== null ? offset : undefined);
    const args = k === 0 ? ['train', '--epochs', String(opts.epochs), '--name', 'victim', ...small, ...common] : ['resume', runId, ...common];
    // Odd rounds: kill the moment a checkpoint write starts (its temp file appears), not at a random offset.
    const atWrite = k % 2 === 1;
    const r = await runCli(args, atWrite ? undefined : killAfter, atWrite ? join(root, 'runs', runId, 'checkpoints') : undefined);
    if (atWrite) figures.atWriteKills++;
    expect(r.signal, `the run finished before the kill: ${r.lines.at(-1)} ${r.stderr}`).toBe('SIGKILL');
    figures.trainKills++;
    if (k > 0) figures.resumes++;
    const seen = r.lines.map(epochOf).filter((e): e is number => e !== null);
    if (k === 0) runId = (JSON.parse(r.lines.find((l) => epochOf(l) !== null)!) as { run_id: string }).run_id;
    lastEpochSeen = Math.max(lastEpochSeen, ...seen);
    const ws = checkAfterKill(root, bystanders, figures);
    const run = ws.getRun(runId);
    expect(run.status).toBe('interrupted');
    expect(run.error).toMatch(/interrupted: process \d+ (on \S+ )?that owned this running run is gone/);
    // Every epoch the CLI reported is on disk: its checkpoint is at least that far.
    const ck = ws.readCheckpoint(runId, 'last');
    expect(ck?.epoch ?? 0).toBeGreaterThanOrEqual(lastEpochSeen);
    expect(ws.readMetrics(runId).map((m) => m.epoch).slice(0, lastEpochSeen)).toEqual(Array.from({ length: lastEpochSeen }, (_, i) => i + 1));
    if ((ck?.epoch ?? 0) >= opts.epochs) break;
  }

  const done = await runCli(['resume', runId, ...common]);
  figures.resumes++;
  expect(done.code, done.stderr).toBe(0);
  let ws = checkAfterKill(root, bystanders, figures);
  expect(ws.getRun(runId).status).toBe('done');
  expect(ws.readMetrics(runId).map((m) => m.epoch)).toEqual(Array.from({ length: opts.epochs }, (_, i) => i + 1));
  bystanders[runId] = hashTree(join(root, 'runs', runId));

  const exportsDir = join(root, 'runs', runId, 'exports');
  for (let k = 0; k < opts.exportKills; k++) {
    // Startup of the CLI and the engine takes ~1.5 s; the export and its parity check ~1 s more.
    // Even rounds: kill the moment the export's file write starts; odd rounds: at a random offset.
    const atWrite = k % 2 === 0;
    const offset = 1200 + Math.round(rng() * 2000);
    if (atWrite) {
      mkdirSync(exportsDir, { recursive: true });
      figures.atWriteKills++;
    } else figures.offsetsMs.push(offset);
    const before = hashTree(join(root, 'runs', runId));
    const r = await runCli(['export', runId, ...common], atWrite ? undefined : (line) => (line === null ? offset : undefined), atWrite ? exportsDir : undefined);
    if (atWrite) expect(r.signal, `the export was not killed at its write: ${r.stderr}`).toBe('SIGKILL');
    if (r.signal !== 'SIGKILL') continue; // finished before the kill: nothing to check beyond the next round
    figures.exportKills++;
    const wsk = new Workspace(root, { warn: () => {} });
    wsk.cleanup(); // what the next writer does; opening alone deletes nothing
    if (wsk.cleaned.length) figures.midWrite++;
    expect(integrityProblems(root)).toEqual([]);
    for (const f of existsSync(exportsDir) ? readdirSync(exportsDir) : []) {
      if (f.endsWith('.onnx')) expect(readOnnxInfo(readFileSync(join(exportsDir, f)), f).nodes).toBeGreaterThan(5);
    }
    expect(wsk.getRun(runId).status).toBe('done');
    // Only exports/ may have changed, and only by whole files.
    const after = hashTree(join(root, 'runs', runId));
    for (const [p, h] of Object.entries(before)) if (!p.startsWith('exports/')) expect(after[p], p).toBe(h);
    expect(hashTree(join(root, 'runs', bystanderId))).toEqual(bystanders[bystanderId]);
  }
  if (opts.finalExport === false) return figures;
  const ex = await runCli(['export', runId, ...common]);
  expect(ex.code, ex.stderr).toBe(0);
  ws = checkAfterKill(root, { [bystanderId]: bystanders[bystanderId] }, figures);
  expect(readdirSync(exportsDir).some((f) => f.endsWith('.onnx'))).toBe(true);
  return figures;
}
