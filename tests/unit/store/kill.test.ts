import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'rolldown';
import { DEFAULT_SETTINGS } from '../../../src-main/contract/settings';
import { Workspace } from '../../../src-main/store';
import { tempRoot } from './helpers';

const FLOATS = 400_000; // 1.6 MB per array, 3.2 MB per checkpoint: writes take long enough to be hit
let root: string;
let cleanup: () => void;
let bundle: string;

beforeAll(async () => {
  ({ root, cleanup } = tempRoot('kill'));
  // Node 20 cannot run TypeScript; bundle the real store with the child script into one .mjs.
  bundle = join(root, 'writer.mjs');
  await build({
    input: fileURLToPath(new URL('./fixtures/checkpoint-writer.ts', import.meta.url)),
    platform: 'node',
    logLevel: 'silent',
    output: { file: bundle, format: 'esm' },
  });
});
afterAll(() => cleanup());

/** Starts the writer, waits for its first checkpoint, lets it write for `ms` more, then kill -9. */
function runAndKill(ws: string, runId: string, ms: number, poll: () => void): Promise<{ pid: number; startEpoch: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bundle, ws, runId, String(FLOATS)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let killedAt = 0;
    let timer: NodeJS.Timeout | undefined;
    child.stderr.on('data', (d) => (err += d));
    child.stdout.on('data', (d) => {
      out += d;
      if (!killedAt && out.includes('wrote ')) {
        killedAt = Date.now();
        timer = setInterval(poll, 5);
        setTimeout(() => child.kill('SIGKILL'), ms);
      }
    });
    child.on('exit', (code, signal) => {
      clearInterval(timer);
      if (signal !== 'SIGKILL') reject(new Error(`writer exited on its own (code ${code}): ${err}`));
      else resolve({ pid: child.pid!, startEpoch: Number(/ready (\d+)/.exec(out)?.[1]) });
    });
  });
}

describe('kill -9 during checkpoint writes', () => {
  it('leaves a whole checkpoint, an interrupted run, no temp files, and resumable metrics', async () => {
    const ws0 = new Workspace(join(root, 'ws'));
    const id = ws0.createRun(DEFAULT_SETTINGS, { name: 'killed' }).id;
    const other = ws0.createRun(DEFAULT_SETTINGS, { name: 'bystander' });
    const ck = join(root, 'ws', 'runs', id, 'checkpoints');
    let tmpSeen = 0;
    let prevEpoch = 0;
    const delays = [200, 130, 260, 170, 230];
    // A second process reading while the writer writes: always a whole checkpoint, never an error.
    let reads = 0;
    let readerWs: Workspace | undefined;
    const pollErrors: string[] = [];
    const poll = (): void => {
      try {
        readerWs ??= new Workspace(join(root, 'ws'), { warn: () => {} }); // opened mid-write: must not delete the live writer's temp file
        const s = readerWs.readCheckpoint(id, 'last');
        if (s) {
          const w = s.weights['conv1/kernel'].data;
          if (w[0] !== s.epoch || w[w.length - 1] !== s.epoch) pollErrors.push(`epoch ${s.epoch} checkpoint holds ${w[0]}…${w[w.length - 1]}`);
          reads++;
        }
        const status = readerWs.getRun(id).status;
        if (status !== 'running') pollErrors.push(`status ${status} while the writer runs`);
      } catch (err) {
        pollErrors.push(String(err));
      }
    };
    for (const ms of delays) {
      readerWs = undefined;
      const { pid, startEpoch } = await runAndKill(join(root, 'ws'), id, ms, poll);
      expect(startEpoch).toBe(prevEpoch); // resumed from the checkpoint the previous kill left

      tmpSeen += readdirSync(ck).filter((n) => n.endsWith('.tmp')).length
        + readdirSync(join(root, 'ws', 'runs', id)).filter((n) => n.endsWith('.tmp')).length;
      const ws = new Workspace(join(root, 'ws'), { warn: () => {} });
      ws.cleanup(); // what a writer does before it starts or resumes a run
      expect(readdirSync(ck).filter((n) => n.endsWith('.tmp'))).toEqual([]);
      expect(ws.listFiles(id).filter((f) => f.name.endsWith('.tmp'))).toEqual([]);

      const run = ws.getRun(id);
      expect(run.status).toBe('interrupted');
      expect(run.error).toContain(`process ${pid}`);
      JSON.parse(readFileSync(join(root, 'ws', 'runs', id, 'run.json'), 'utf8'));

      const state = ws.readCheckpoint(id, 'last');
      expect(state).not.toBeNull();
      const e = state!.epoch;
      expect(e).toBeGreaterThan(prevEpoch);
      const w = state!.weights['conv1/kernel'].data;
      const m = state!.optimizer.slots['m/conv1/kernel'].data;
      expect(w.length).toBe(FLOATS);
      let mismatches = 0;
      for (let i = 0; i < FLOATS; i++) if (w[i] !== e || m[i] !== -e) mismatches++;
      expect(mismatches).toBe(0);
      expect(state!.optimizer.step).toBe(e * 10);
      expect(run.epochsDone === e || run.epochsDone === e - 1).toBe(true);

      // metrics may run one epoch ahead of the checkpoint; the epochs before it are all there once
      const epochs = ws.readMetrics(id).map((x) => x.epoch);
      expect(epochs.slice(0, e)).toEqual(Array.from({ length: e }, (_, i) => i + 1));
      expect(epochs.length - e).toBeLessThanOrEqual(1);
      prevEpoch = e;
    }
    const ws = new Workspace(join(root, 'ws'));
    expect(ws.getRun(other.id)).toEqual(other); // nothing else changed
    expect(pollErrors).toEqual([]);
    expect(reads).toBeGreaterThan(10);
    console.log(`kill -9 x${delays.length}: reached epoch ${prevEpoch}, temp files found after kills: ${tmpSeen}, concurrent whole reads: ${reads}`);
  });
});
