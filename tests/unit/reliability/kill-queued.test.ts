/**
 * kill -9 of a process that has runs waiting in its queue (a study: four runs queued, the first
 * training). Every one of them must come back `interrupted` and resumable — a queued run whose
 * process is gone would otherwise wait forever for a worker that no longer exists.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Workspace } from '../../../src-main/store/workspace';
import { CLI, REPO, integrityProblems, requireBuild } from './helpers';
import { runCli } from './kill-scenario';

let root: string;
beforeAll(() => {
  requireBuild();
  root = mkdtempSync(join(tmpdir(), 'normlab-kill-queued-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('kill -9 with runs queued', () => {
  it('marks the running and the queued runs interrupted; a queued one resumes to done', async () => {
    const ws = join(root, 'ws');
    const child = spawn(process.execPath, [CLI, 'study', 's6', '--out', join(root, 'report'), '--epochs', '3', '--train-limit', '200', '--test-limit', '100', '--workspace', ws, '--json'], {
      cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NORMLAB_BACKEND: 'wasm' },
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += String(d)));
    const exited = new Promise<NodeJS.Signals | null>((ok) => child.on('exit', (_c, sig) => ok(sig)));
    // Kill once the first run has a checkpoint, while the other three wait in the queue.
    const poll = setInterval(() => {
      const runs = existsSync(join(ws, 'runs')) ? readdirSync(join(ws, 'runs')) : [];
      if (runs.length >= 4 && runs.some((r) => existsSync(join(ws, 'runs', r, 'checkpoints', 'last.nlck')))) child.kill('SIGKILL');
    }, 20);
    const sig = await exited;
    clearInterval(poll);
    expect(sig, stderr).toBe('SIGKILL');

    const w = new Workspace(ws, { warn: () => {} });
    // A kill can land while a checkpoint's temp file is being written; the next writer removes
    // its own temp files before it starts (reading never deletes), and then nothing is damaged.
    w.cleanup();
    expect(integrityProblems(ws)).toEqual([]);
    const runs = w.listRuns();
    expect(runs).toHaveLength(4);
    expect(runs.map((r) => r.status).sort()).toEqual(['interrupted', 'interrupted', 'interrupted', 'interrupted']);
    const queued = runs.find((r) => r.epochsDone === 0)!;
    const r = await runCli(['resume', queued.id, '--workspace', ws, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(new Workspace(ws, { warn: () => {} }).getRun(queued.id).status).toBe('done');
  });
});
