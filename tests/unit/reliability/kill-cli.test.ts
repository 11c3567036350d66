/**
 * kill -9 of the whole normlab process during training, during checkpoint writes (seeded random
 * offsets after an epoch line) and during an export. The long loop is in tests/soak.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireBuild } from './helpers';
import { killScenario } from './kill-scenario';

let root: string;
beforeAll(() => {
  requireBuild();
  root = mkdtempSync(join(tmpdir(), 'normlab-kill-cli-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('kill -9 of the normlab process', () => {
  it('during training, a resume and an export: workspace loads, files whole, run interrupted then resumed to done, others unchanged', async () => {
    const seed = Number(process.env.NORMLAB_KILL_SEED ?? Date.now() % 100000);
    const f = await killScenario(join(root, 'ws'), { trainKills: 2, exportKills: 1, epochs: 5, seed, finalExport: false });
    expect(f.trainKills).toBe(2);
    console.log(`[faults] CLI kill -9 (seed ${f.seed}): ${f.trainKills} during training, ${f.exportKills} during export, ${f.atWriteKills} aimed at the start of a checkpoint or export write, ${f.midWrite} left a temp file (killed mid-write), ${f.resumes} resumes; offsets ${f.offsetsMs.join(', ')} ms`);
  });
});
