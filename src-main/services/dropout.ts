/**
 * Service for the dropout ensemble: validates the request, answers at once for a run without
 * dropout (a typed 'unavailable' result with what to do, never an empty analysis), and
 * otherwise queues the worker job.
 */
import { CHECKPOINT_TAGS, DEFAULT_CHECKPOINT } from '../contract/checkpoint';
import { z } from 'zod';
import { ApiError } from '../contract/api';
import { noDropoutResult, type DropoutRequest, type DropoutResult } from '../contract/dropout';
import type { DropoutJobPayload } from '../host/jobs/dropout';
import type { Feature } from './features';
import { runId, type MethodDef } from './registry';

export const DROPOUT_LIMITS = { maxSamples: 256, defaultSamples: 64, defaultTestLimit: 1000, defaultGallery: 24, maxGallery: 64 } as const;

const schema = z
  .object({
    runId,
    samples: z.number().int().min(1).max(DROPOUT_LIMITS.maxSamples).optional(),
    testLimit: z.number().int().min(0).max(10_000_000).optional(),
    seed: z.number().int().min(0).max(0xffffffff).optional(),
    checkpoint: z.enum(CHECKPOINT_TAGS).optional(),
    gallery: z.number().int().min(0).max(DROPOUT_LIMITS.maxGallery).optional(),
  })
  .strict() as unknown as z.ZodType<DropoutRequest>;

export const dropoutFeature: Feature = (ctx) => ({
  'dropout.analyze': {
    schema,
    handler: async (req: DropoutRequest): Promise<DropoutResult> => {
      const run = ctx.workspace.requireIntact(req.runId, 'dropout ensemble');
      if (!(run.settings.dropout > 0)) return noDropoutResult(run.id, run.name || run.id);
      if (ctx.host.jobForRun(run.id)?.kind === 'train') {
        throw new ApiError('conflict', `run ${run.id} is still training; analyse it when its job has finished (or cancel it)`);
      }
      const payload: DropoutJobPayload = {
        runId: run.id,
        samples: req.samples ?? DROPOUT_LIMITS.defaultSamples,
        testLimit: req.testLimit ?? DROPOUT_LIMITS.defaultTestLimit,
        seed: req.seed ?? run.settings.seed,
        checkpoint: req.checkpoint ?? DEFAULT_CHECKPOINT,
        gallery: req.gallery ?? DROPOUT_LIMITS.defaultGallery,
      };
      return ctx.runJob('dropout', payload, {
        title: `Dropout ensemble ${run.name || run.id} (K=${payload.samples})`,
        runId: run.id,
      });
    },
  } satisfies MethodDef<'dropout.analyze'>,
});
