/**
 * Long reliability runs (npm run test:soak): 50 jobs with 4 WebSocket clients, and a kill -9 loop
 * of the whole process during training, resumes (checkpoint writes) and exports.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireBuild } from '../unit/reliability/helpers';
import { loadScenario } from '../unit/reliability/load-scenario';
import { killScenario } from '../unit/reliability/kill-scenario';

let root: string;
beforeAll(() => {
  requireBuild();
  root = mkdtempSync(join(tmpdir(), 'normlab-soak-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('soak', () => {
  it('50 jobs queued back to back by 4 clients: all finish, events reach every client, memory flat', async () => {
    const f = await loadScenario(join(root, 'load'), { jobs: 50, clients: 4, analysisEvery: 5 });
    expect(f.errors).toEqual([]);
    for (const states of f.finalStatesPerClient) {
      expect(Object.keys(states)).toHaveLength(50);
      expect(Object.values(states).every((s) => s === 'done')).toBe(true);
    }
    for (const s of f.finalStatesPerClient.slice(1)) expect(s).toEqual(f.finalStatesPerClient[0]);
    expect(f.tensorsAfter).toBe(f.tensorsBefore);
    expect(f.rssMbAfter - f.rssMbBefore).toBeLessThan(300);
    console.log(`[load] ${f.jobs} jobs (${f.trainJobs} train, ${f.analysisJobs} analysis), ${f.clients} clients, ${f.seconds}s; events per client ${f.eventsPerClient.join('/')}; RSS ${f.rssMbBefore}→${f.rssMbAfter} MB; tensors ${f.tensorsBefore}→${f.tensorsAfter}; tensor bytes ${f.bytesBefore}→${f.bytesAfter}`);
  });

  it('kill -9 loop: 8 kills during training/resumes, 4 during exports', async () => {
    const seed = Number(process.env.NORMLAB_KILL_SEED ?? Date.now() % 100000);
    const f = await killScenario(join(root, 'kill'), { trainKills: 8, exportKills: 4, epochs: 20, seed });
    console.log(`[faults] CLI kill -9 loop (seed ${f.seed}): ${f.trainKills} during training, ${f.exportKills} during export, ${f.atWriteKills} aimed at the start of a checkpoint or export write, ${f.midWrite} left a temp file (killed mid-write), ${f.resumes} resumes; offsets ${f.offsetsMs.join(', ')} ms`);
    expect(f.trainKills).toBeGreaterThanOrEqual(6);
  });
});
