/**
 * Service for the loss landscape and the normalization lab: validates requests, refuses a run
 * that is still training or has no checkpoint with an error a person can act on, and queues the
 * worker jobs (the grid reports progress per row; jobs.cancel stops it between points).
 */
import { CHECKPOINT_TAGS, DEFAULT_CHECKPOINT } from '../contract/checkpoint';
import { z } from 'zod';
import { ApiError } from '../contract/api';
import type { LandscapeRequest, LandscapeResult, NormLabReport, NormLabRequest } from '../contract/landscape';
import type { LandscapeJobPayload, NormLabJobPayload } from '../host/jobs/landscape';
import type { Feature } from './features';
import { runId, type MethodDef } from './registry';

export const LANDSCAPE_LIMITS = {
  minGrid: 3, maxGrid: 61, defaultGrid: 21, defaultSpan: 1, maxSpan: 100, defaultEvalLimit: 1000, defaultLine: 41, maxLine: 401,
} as const;

const schema = z
  .object({
    runId,
    grid: z.number().int().min(LANDSCAPE_LIMITS.minGrid).max(LANDSCAPE_LIMITS.maxGrid).optional(),
    span: z.number().positive().max(LANDSCAPE_LIMITS.maxSpan).optional(),
    evalLimit: z.number().int().min(1).max(10_000_000).optional(),
    seed: z.number().int().min(0).max(0xffffffff).optional(),
    recomputeBn: z.boolean().optional(),
    trajectory: z.boolean().optional(),
    line: z.number().int().min(0).max(LANDSCAPE_LIMITS.maxLine).optional(),
    checkpoint: z.enum(CHECKPOINT_TAGS).optional(),
  })
  .strict()
  .refine((r) => r.line === undefined || r.line === 0 || r.line >= 2, { message: 'line: 0 (no 1-D curve) or at least 2 points', path: ['line'] }) as unknown as z.ZodType<LandscapeRequest>;

const imagesSchema = z
  .object({
    data: z.string().min(1).max(4096).optional(),
    runId: runId.optional(),
    count: z.number().int().min(1).max(16).optional(),
    offset: z.number().int().min(0).max(10_000_000).optional(),
    bins: z.number().int().min(8).max(256).optional(),
  })
  .strict() as unknown as z.ZodType<NormLabRequest>;

export const landscapeFeature: Feature = (ctx) => ({
  'landscape.compute': {
    schema,
    handler: async (req: LandscapeRequest): Promise<LandscapeResult> => {
      const run = ctx.workspace.requireIntact(req.runId, 'loss landscape');
      if (ctx.host.jobForRun(run.id)?.kind === 'train') {
        throw new ApiError('conflict', `run ${run.id} is still training; compute its landscape when the job has finished (or cancel it)`);
      }
      const tags = ctx.workspace.listCheckpoints(run.id);
      if (!tags.includes('last') && !tags.includes('best')) {
        throw new ApiError('conflict', `run "${run.name || run.id}" has no checkpoint yet: it needs at least one finished epoch`);
      }
      const payload: LandscapeJobPayload = {
        runId: run.id,
        grid: req.grid ?? LANDSCAPE_LIMITS.defaultGrid,
        span: req.span ?? LANDSCAPE_LIMITS.defaultSpan,
        evalLimit: req.evalLimit ?? LANDSCAPE_LIMITS.defaultEvalLimit,
        seed: req.seed ?? 1,
        recomputeBn: req.recomputeBn ?? false,
        trajectory: req.trajectory ?? false,
        line: req.line ?? LANDSCAPE_LIMITS.defaultLine,
        checkpoint: req.checkpoint ?? DEFAULT_CHECKPOINT,
      };
      return ctx.runJob('landscape', payload, {
        title: `Loss landscape ${run.name || run.id} (${payload.grid}×${payload.grid})`,
        runId: run.id,
      });
    },
  } satisfies MethodDef<'landscape.compute'>,
  'landscape.images': {
    schema: imagesSchema,
    handler: async (req: NormLabRequest): Promise<NormLabReport> => {
      const data = req.data ?? (req.runId ? ctx.workspace.requireIntact(req.runId, 'normalization lab').settings.data : 'mnist-sample');
      const payload: NormLabJobPayload = { data, count: req.count ?? 4, offset: req.offset ?? 0, bins: req.bins ?? 32 };
      return ctx.runJob('landscape.images', payload, { title: `Normalization lab (${data})` });
    },
  } satisfies MethodDef<'landscape.images'>,
});
