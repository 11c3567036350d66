/**
 * BN inspector job: the whole report (population statistics, accuracy table, gap, ghost spreads,
 * lag, timeline check) for one run, in the engine worker; optionally writes checkpoint 'recalibrated'.
 */
import type { BnInspectRequest, BnReport } from '../../contract/bn';
import { inspectRun } from '../../analysis/bn-inspect';
import { CancelledError } from '../../analysis/bn';
import { Workspace } from '../../store/workspace';
import type { JobContext } from '../protocol';

export async function bnInspectJob(payload: BnInspectRequest, ctx: JobContext): Promise<BnReport | { status: 'cancelled' }> {
  const ws = new Workspace(ctx.workspace);
  try {
    return await inspectRun(ws, payload, {
      onProgress: (fraction, message) => ctx.progress({ fraction, message }),
      cancelled: () => ctx.cancelled(),
    });
  } catch (e) {
    // The host marks a job cancelled when its result says so (nothing was written).
    if (e instanceof CancelledError) return { status: 'cancelled' };
    throw e;
  }
}
