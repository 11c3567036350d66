/**
 * Ghost BN through the inspector (a real short run with virtual batches of 16), and the service
 * boundary: requests validated with messages naming the field.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { rmSync } from 'node:fs';
import { initBackend } from '../../../src-main/engine/backend';
import { inspectRun } from '../../../src-main/analysis/bn-inspect';
import { bnFeature } from '../../../src-main/services/bn';
import { dispatch } from '../../../src-main/services/registry';
import type { ServiceContext } from '../../../src-main/services/features';
import { trainedRun } from './helpers';

let root = '';
beforeAll(async () => {
  await initBackend();
});
afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

test('ghost BN (virtual batch 16): batch-statistics rows at 1…512, the spread at 16, and why the replay cannot run', async () => {
  const t = await trainedRun({ norm: 'ghost', ghostBatch: 16, trainLimit: 320, batch: 64, testLimit: 100, bnRecordEvery: 1 });
  root = t.root;
  const rep = await inspectRun(t.ws, { id: t.id, testLimit: 100, limit: 256 });
  expect(rep.layers[0]).toMatchObject({ kind: 'ghost', virtualBatch: 16 });
  expect(rep.populationImages).toBe(256);
  expect(rep.accuracy.filter((a) => a.mode === 'batch').map((a) => a.batchSize)).toEqual([1, 8, 32, 128, 512]);
  for (const a of rep.accuracy) expect(Number.isFinite(a.loss)).toBe(true);
  const g16 = rep.ghost.find((g) => g.virtualBatch === 16)!;
  expect(g16.batches).toBe(16);
  expect(g16.layers.norm1.meanSpread.every((v) => v > 0 && Number.isFinite(v))).toBe(true);
  expect(rep.timelineCheck.possible).toBe(false);
  expect(rep.timelineCheck.reason).toMatch(/ghost BN/);
  expect(rep.momentum.pytorch).toBe(0.1);
}, 180_000);

test('service: requests are validated at the boundary with the field named', async () => {
  const ctx = { workspace: null, runJob: async () => ({}) } as unknown as ServiceContext;
  const table = bnFeature(ctx);
  await expect(dispatch(table, 'bn.inspect', { id: '../etc' })).rejects.toThrow(/bn\.inspect: id: .*run id/);
  await expect(dispatch(table, 'bn.inspect', { id: 'r1', batchSizes: [0] })).rejects.toThrow(/batchSizes\.0/);
  await expect(dispatch(table, 'bn.inspect', { id: 'r1', checkpoint: 'a/b' })).rejects.toThrow(/checkpoint: .*checkpoint tag/);
  await expect(dispatch(table, 'bn.timeline', { id: 'r1', extra: 1 })).rejects.toThrow(/extra/);
});
