/**
 * Studies and comparisons: presets expand into runs started through the ordinary 'runs.start'
 * path (same validation and training queue), grouped in the store as a study that can be
 * reopened and extended; runs.compare, misclassified images and weight analysis on top.
 */
import { CHECKPOINT_TAGS, DEFAULT_CHECKPOINT } from '../contract/checkpoint';
import { z } from 'zod';
import { ApiError, type JobInfo, type RunRecord } from '../contract/api';
import type {
  CompareResult, MisclassifiedRequest, MisclassifiedResult, StudyDetail, StudyStartRequest, StudyStartResult, WeightsRequest, WeightsResult,
} from '../contract/study';
import { resolveSettings } from '../contract/settings';
import { expandPreset, listPresets } from '../analysis/presets';
import { compareRow, configDiff, groupRuns } from '../analysis/study';
import type { MisclassifiedJobPayload } from '../host/jobs/misclassified';
import type { WeightsJobPayload } from '../host/jobs/weights';
import type { Feature } from './features';
import { empty, runId, type MethodDef } from './registry';

const studyId = z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, 'a study id');

const startSchema = z
  .object({
    preset: z.string().max(64),
    overrides: z.record(z.string(), z.unknown()).optional(),
    params: z.record(z.string(), z.number()).optional(),
    seeds: z.number().int().min(1).max(20).optional(),
    name: z.string().max(120).optional(),
    studyId: studyId.optional(),
    variants: z.array(z.string().max(64)).max(64).optional(),
  })
  .strict() as unknown as z.ZodType<StudyStartRequest>;

/**
 * A study's name when the user gives none: the preset and its ordinal, "s6 #2", unique in the
 * workspace, so that the runs of two studies read apart ("L1 (λ=0.00005) · s6 #2"); the date
 * is in the study's record.
 */
export function defaultStudyName(preset: string, taken: readonly string[]): string {
  const used = new Set(taken);
  let n = taken.filter((t) => t.startsWith(`${preset} #`)).length + 1;
  while (used.has(`${preset} #${n}`)) n += 1;
  return `${preset} #${n}`;
}

export const MISCLASSIFIED_DEFAULT_N = 25;

export const studyFeature: Feature = (ctx) => {
  const ws = ctx.workspace;
  const call = ctx.call;

  function readRuns(ids: string[]): RunRecord[] {
    return ids.map((id) => ws.getRun(id));
  }

  return {
    'study.presets': { schema: empty, handler: async () => listPresets() } satisfies MethodDef<'study.presets'>,

    'study.start': {
      schema: startSchema,
      handler: async (req: StudyStartRequest): Promise<StudyStartResult> => {
        if (!call) throw new ApiError('internal', 'study.start needs the services dispatcher (ServiceContext.call)');
        let plan;
        try {
          plan = expandPreset(req.preset, { overrides: req.overrides as never, params: req.params, seeds: req.seeds, variants: req.variants, name: req.name });
        } catch (e) {
          throw new ApiError('invalid', (e as Error).message);
        }
        let study = req.studyId
          ? ws.getStudy(req.studyId)
          : ws.createStudy(req.name || defaultStudyName(req.preset, ws.listStudies().map((x) => x.name)), req.preset, []);
        if (study.error) throw new ApiError('invalid', `study ${study.id} cannot be extended: ${study.error}`);
        if (req.studyId) {
          // Extending with more seeds must not repeat a (variant, seed) the study already has.
          const key = (settings: Record<string, unknown>) => {
            const r = resolveSettings({ ...settings, name: '' });
            return r.ok ? JSON.stringify(r.value) : JSON.stringify(settings);
          };
          const have = new Set(readRuns(study.runIds).map((r) => key({ ...r.settings })));
          plan = plan.filter((p) => !have.has(key(p.settings as Record<string, unknown>)));
        }
        const runs: RunRecord[] = [];
        const jobs: JobInfo[] = [];
        for (const p of plan) {
          const { run, job } = (await call('runs.start', { settings: p.settings, study: study.id })) as { run: RunRecord; job: JobInfo };
          study = ws.addRunsToStudy(study.id, [run.id]);
          runs.push(run);
          jobs.push(job);
        }
        return { study, runs, jobs };
      },
    } satisfies MethodDef<'study.start'>,

    'study.list': { schema: empty, handler: async () => ws.listStudies() } satisfies MethodDef<'study.list'>,

    'study.get': {
      schema: z.object({ id: studyId }).strict(),
      handler: async ({ id }): Promise<StudyDetail> => {
        const study = ws.getStudy(id);
        const runs = study.runIds.flatMap((r) => {
          try {
            return [ws.getRun(r)];
          } catch {
            return []; // deleted since; deleteRun also unlinks it
          }
        });
        return { study, runs, groups: groupRuns(runs) };
      },
    } satisfies MethodDef<'study.get'>,

    'runs.compare': {
      schema: z.object({ runIds: z.array(runId).min(1).max(64) }).strict(),
      handler: async ({ runIds }): Promise<CompareResult> => {
        const ids = [...new Set(runIds)];
        const runs = readRuns(ids);
        const withMetrics = runs.map((run) => ({ run, metrics: ws.readMetrics(run.id) }));
        return {
          runs: withMetrics,
          groups: groupRuns(runs),
          diff: configDiff(runs),
          table: withMetrics.map(({ run, metrics }) => compareRow(run, metrics)),
        };
      },
    } satisfies MethodDef<'runs.compare'>,

    'analysis.misclassified': {
      schema: z
        .object({
          runId,
          n: z.number().int().min(1).max(400).optional(),
          checkpoint: z.enum(CHECKPOINT_TAGS).optional(),
          testLimit: z.number().int().min(0).max(10_000_000).optional(),
        })
        .strict() as unknown as z.ZodType<MisclassifiedRequest>,
      handler: async (req: MisclassifiedRequest): Promise<MisclassifiedResult> => {
        const run = ws.getRun(req.runId);
        if (ctx.host.jobForRun(run.id)?.kind === 'train') {
          throw new ApiError('conflict', `run ${run.id} is still training; look at its mistakes when its job has finished (or cancel it)`);
        }
        const payload: MisclassifiedJobPayload = {
          runId: run.id,
          n: req.n ?? MISCLASSIFIED_DEFAULT_N,
          checkpoint: req.checkpoint ?? DEFAULT_CHECKPOINT,
          testLimit: req.testLimit ?? run.settings.testLimit,
        };
        return (await ctx.runJob('misclassified', payload, { title: `Misclassified ${run.name || run.id}`, runId: run.id })) as MisclassifiedResult;
      },
    } satisfies MethodDef<'analysis.misclassified'>,

    'analysis.weights': {
      schema: z
        .object({ runIds: z.array(runId).min(1).max(32), checkpoint: z.enum(CHECKPOINT_TAGS).optional() })
        .strict() as unknown as z.ZodType<WeightsRequest>,
      handler: async (req: WeightsRequest): Promise<WeightsResult> => {
        readRuns(req.runIds); // not-found before queueing
        const payload: WeightsJobPayload = { runIds: req.runIds, checkpoint: req.checkpoint ?? DEFAULT_CHECKPOINT };
        return (await ctx.runJob('weights', payload, { title: `Weights of ${req.runIds.length} run(s)` })) as WeightsResult;
      },
    } satisfies MethodDef<'analysis.weights'>,
  };
};
