/** Load, fast version: 8 jobs (6 trainings, 2 analyses) queued back to back by 2 WebSocket clients. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireBuild } from './helpers';
import { loadScenario } from './load-scenario';

let root: string;
beforeAll(() => {
  requireBuild();
  root = mkdtempSync(join(tmpdir(), 'normlab-load-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('load in browser mode', () => {
  it('8 jobs from 2 clients: all finish, every client sees every job end, no tensors leak', async () => {
    const f = await loadScenario(root, { jobs: 8, clients: 2, analysisEvery: 4 });
    expect(f.errors).toEqual([]);
    expect(f.trainJobs + f.analysisJobs).toBe(8);
    for (const states of f.finalStatesPerClient) {
      expect(Object.keys(states)).toHaveLength(8);
      expect(Object.values(states).every((s) => s === 'done')).toBe(true);
    }
    expect(f.finalStatesPerClient[1]).toEqual(f.finalStatesPerClient[0]);
    expect(f.tensorsAfter).toBe(f.tensorsBefore);
    expect(f.rssMbAfter - f.rssMbBefore).toBeLessThan(200);
    console.log(`[load] ${f.jobs} jobs (${f.trainJobs} train, ${f.analysisJobs} analysis), ${f.clients} clients, ${f.seconds}s; events per client ${f.eventsPerClient.join('/')}; RSS ${f.rssMbBefore}→${f.rssMbAfter} MB; tensors ${f.tensorsBefore}→${f.tensorsAfter}; tensor bytes ${f.bytesBefore}→${f.bytesAfter}`);
  });
});
