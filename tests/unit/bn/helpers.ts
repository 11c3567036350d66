/** A small real run in a temp workspace, trained through the real train job and store. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_SETTINGS, type TrainSettings } from '../../../src-main/contract/settings';
import { trainJob } from '../../../src-main/host/jobs/train';
import type { JobContext } from '../../../src-main/host/protocol';
import { Workspace } from '../../../src-main/store/workspace';

export function fakeCtx(workspace: string): JobContext {
  return { jobId: 'test', workspace, progress: () => {}, emit: () => {}, cancelled: () => false };
}

/** Trains one run with `over` settings on mnist-sample; returns the workspace and run id. */
export async function trainedRun(over: Partial<TrainSettings>, root = mkdtempSync(join(tmpdir(), 'normlab-bn-'))): Promise<{ ws: Workspace; id: string; root: string }> {
  const ws = new Workspace(root, { warn: () => {} });
  const settings: TrainSettings = { ...DEFAULT_SETTINGS, data: 'mnist-sample', valSplit: 0, epochs: 1, trainLimit: 1000, testLimit: 300, batch: 50, lr: 0.05, ...over };
  const run = ws.createRun(settings, { name: 'bn-test' });
  const r = await trainJob({ runId: run.id, resume: false }, fakeCtx(root));
  if (r.status !== 'done') throw new Error(`training ended ${r.status}`);
  return { ws, id: run.id, root };
}
