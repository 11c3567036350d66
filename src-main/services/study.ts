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
import { distinctRuns, expandPreset, listPresets, type DistinctPlan, type PlannedRun } from '../analysis/presets';
import { compareRow, configDiff, groupRuns } from '../analysis/study';
import type { MisclassifiedJobPayload } from '../host/jobs/misclassified';
import type { WeightsJobPayload } from '../host/jobs/weights';
import { loadDataset, loadRunDataset } from '../data/dataset';
import { specForSettings } from '../engine/spec';
import type { TrainSettings } from '../contract/settings';
import type { Feature } from './features';
import { checkOptions, mergeSlurm, slurmInfo, submitStudy } from './slurm';
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
    executor: z.enum(['local', 'slurm']).optional(),
    slurm: z
      .object({
        partition: z.string().max(64).optional(),
        time: z.string().max(32).optional(),
        cpusPerTask: z.number().int().min(1).max(1024).optional(),
        sbatchArgs: z.array(z.string().max(200)).max(32).optional(),
        requeue: z.boolean().optional(),
      })
      .strict()
      .optional(),
    reportDir: z.string().max(4096).optional(),
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

/**
 * A preset's runs applied to the study's model: each variant's settings resolved and its graph
 * built for the dataset (a bad variant is refused naming it), then variants that would train the
 * same network as an earlier one left out with a note, or the study refused when nothing is
 * left to compare (analysis/presets.ts distinctRuns).
 */
export async function planOnModel(presetId: string, plan: PlannedRun[], workspaceRoot: string): Promise<DistinctPlan> {
  const full = new Map<PlannedRun, { settings: TrainSettings; graph: unknown }>();
  for (const p of plan) {
    const r = resolveSettings(p.settings as Record<string, unknown>);
    if (!r.ok) throw new ApiError('invalid', `variant ${p.variant}: ${r.issues.map((i) => i.message).join('; ')}`, r.issues);
    const data = await loadRunDataset(r.value, workspaceRoot);
    let graph;
    try {
      graph = specForSettings(r.value, [data.info.height, data.info.width, data.info.channels], data.info.classNames.length);
    } catch (e) {
      throw new ApiError('invalid', `variant ${p.variant}: ${(e as Error).message}`, [{ key: 'model', message: (e as Error).message }]);
    }
    full.set(p, { settings: r.value, graph });
  }
  const model = plan[0] ? full.get(plan[0])!.settings.model || 's5' : 's5';
  try {
    return distinctRuns(presetId, plan, (p) => full.get(p)!, model);
  } catch (e) {
    throw new ApiError('invalid', (e as Error).message);
  }
}

export const MISCLASSIFIED_DEFAULT_N = 25;

export const studyFeature: Feature = (ctx) => {
  const ws = ctx.workspace;
  const call = ctx.call;

  /** The runs, refusing any that is damaged (named by file and field) instead of guessing around it. */
  function readRuns(ids: string[], what: string): RunRecord[] {
    return ids.map((id) => ws.requireIntact(id, what));
  }

  return {
    'study.presets': { schema: empty, handler: async () => listPresets() } satisfies MethodDef<'study.presets'>,

    'study.start': {
      schema: startSchema,
      handler: async (req: StudyStartRequest): Promise<StudyStartResult> => {
        if (!call) throw new ApiError('internal', 'study.start needs the services dispatcher (ServiceContext.call)');
        if (req.executor === 'slurm') {
          const info = await slurmInfo();
          if (!info.available) throw new ApiError('invalid', `this study cannot go to Slurm: ${info.reason}`);
          checkOptions(req.slurm ?? {});
        }
        let plan;
        try {
          plan = expandPreset(req.preset, { overrides: req.overrides as never, params: req.params, seeds: req.seeds, variants: req.variants, name: req.name });
        } catch (e) {
          throw new ApiError('invalid', (e as Error).message);
        }
        const distinct = await planOnModel(req.preset, plan, ws.root);
        plan = distinct.runs;
        const notes = distinct.notes;
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
          const have = new Set(study.runIds.map((id) => ws.getRun(id)).map((r) => key({ ...r.settings })));
          plan = plan.filter((p) => !have.has(key(p.settings as Record<string, unknown>)));
        }
        if (req.executor === 'slurm') {
          // The executor seam: local runs go through 'runs.start' (this process's queue); Slurm
          // gets the created runs as one array job and trains them in its own processes.
          const created: RunRecord[] = [];
          for (const p of plan) {
            const r = resolveSettings(p.settings as Record<string, unknown>);
            if (!r.ok) throw new ApiError('invalid', r.issues.map((i) => i.message).join('; '), r.issues);
            await loadDataset(r.value.data);
            const run = ws.createRun(r.value, { study: study.id, name: r.value.name });
            study = ws.addRunsToStudy(study.id, [run.id]);
            created.push(run);
          }
          let slurm;
          try {
            slurm = await submitStudy({ ws, studyId: study.id, studyName: study.name, runs: created, options: req.slurm ?? {}, reportDir: req.reportDir });
          } catch (e) {
            for (const r of created) ws.updateRun(r.id, { status: 'failed', error: `not submitted to Slurm: ${(e as Error).message}` });
            throw e;
          }
          const runs = created.map((r) => ws.getRun(r.id));
          for (const r of runs) ctx.emit('run.updated', r);
          ctx.watchSlurm?.();
          return { study, runs, jobs: [], slurm, ...(notes.length ? { notes } : {}) };
        }
        const runs: RunRecord[] = [];
        const jobs: JobInfo[] = [];
        for (const p of plan) {
          const { run, job } = (await call('runs.start', { settings: p.settings, study: study.id })) as { run: RunRecord; job: JobInfo };
          study = ws.addRunsToStudy(study.id, [run.id]);
          runs.push(run);
          jobs.push(job);
        }
        return { study, runs, jobs, ...(notes.length ? { notes } : {}) };
      },
    } satisfies MethodDef<'study.start'>,

    'study.list': { schema: empty, handler: async () => ws.listStudies() } satisfies MethodDef<'study.list'>,

    'study.get': {
      schema: z.object({ id: studyId }).strict(),
      handler: async ({ id }): Promise<StudyDetail> => {
        const study = ws.getStudy(id);
        const runs = await mergeSlurm(ws, study.runIds.flatMap((r) => {
          try {
            return [ws.getRun(r)];
          } catch {
            return []; // deleted since; deleteRun also unlinks it
          }
        }));
        return { study, runs, groups: groupRuns(runs) };
      },
    } satisfies MethodDef<'study.get'>,

    'runs.compare': {
      schema: z.object({ runIds: z.array(runId).min(1).max(64) }).strict(),
      handler: async ({ runIds }): Promise<CompareResult> => {
        const ids = [...new Set(runIds)];
        const runs = readRuns(ids, 'comparison');
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
        const run = ws.requireIntact(req.runId, 'misclassified images');
        if (ctx.host.jobForRun(run.id)?.kind === 'train') {
          throw new ApiError('conflict', `run ${run.id} is still training; look at its mistakes when its job has finished (or cancel it)`);
        }
        const payload: MisclassifiedJobPayload = {
          runId: run.id,
          n: req.n ?? MISCLASSIFIED_DEFAULT_N,
          checkpoint: req.checkpoint ?? DEFAULT_CHECKPOINT,
          testLimit: req.testLimit ?? run.settings.testLimit,
        };
        return ctx.runJob('misclassified', payload, { title: `Misclassified ${run.name || run.id}`, runId: run.id });
      },
    } satisfies MethodDef<'analysis.misclassified'>,

    'analysis.weights': {
      schema: z
        .object({ runIds: z.array(runId).min(1).max(32), checkpoint: z.enum(CHECKPOINT_TAGS).optional() })
        .strict() as unknown as z.ZodType<WeightsRequest>,
      handler: async (req: WeightsRequest): Promise<WeightsResult> => {
        readRuns(req.runIds, 'weights analysis'); // not-found and damage before queueing
        const payload: WeightsJobPayload = { runIds: req.runIds, checkpoint: req.checkpoint ?? DEFAULT_CHECKPOINT };
        return ctx.runJob('weights', payload, { title: `Weights of ${req.runIds.length} run(s)` });
      },
    } satisfies MethodDef<'analysis.weights'>,
  };
};
