/**
 * BN inspector service: 'bn.timeline' reads the recorded BN snapshots straight from the store;
 * 'bn.inspect' runs the population-statistics analysis as an engine job.
 */
import { z } from 'zod';
import { bnTimeline } from '../analysis/bn-timeline';
import type { Feature } from './features';
import { runId } from './registry';

const tag = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'a checkpoint tag such as last, best or recalibrated');

export const bnFeature: Feature = (ctx) => ({
  'bn.timeline': {
    schema: z.object({ id: runId, maxRecords: z.number().int().min(2).max(100_000).optional() }).strict(),
    handler: async ({ id, maxRecords }) => bnTimeline(ctx.workspace, id, maxRecords),
  },
  'bn.inspect': {
    schema: z.object({
      id: runId,
      limit: z.number().int().min(0).max(10_000_000).optional(),
      testLimit: z.number().int().min(0).max(10_000_000).optional(),
      batchSizes: z.array(z.number().int().min(1).max(8192)).min(1).max(16).optional(),
      checkpoint: tag.optional(),
      recalibrate: z.boolean().optional(),
    }).strict(),
    handler: async (req) => {
      const run = ctx.workspace.requireIntact(req.id, 'BN inspector');
      const title = `${req.recalibrate ? 'Recalibrate BN of' : 'BN inspector:'} ${run.name || run.id}`;
      return await ctx.runJob('bn.inspect', req, { title, runId: run.id });
    },
  },
});
