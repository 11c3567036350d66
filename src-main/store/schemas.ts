/**
 * Schemas of every file the store reads back from a workspace: run.json, metrics.jsonl,
 * steps.jsonl, bn.jsonl, workspace.json and studies/<id>.json. A file that does not match is
 * reported naming the file and the field; nothing is filled in by guessing, except the settings
 * that did not exist when an older record was written (they take their table default).
 */
import { z } from 'zod';
import type { EpochMetrics, RunRecord, RunStatus, StepLosses } from '../contract/api';
import { SETTINGS, DEFAULT_SETTINGS, type SettingField, type TrainSettings } from '../contract/settings';
import type { StudySummary } from '../contract/study';
import type { BnRecord } from '../engine/model-types';
import { parseOwner } from './owner';

// The store parses a handful of small records per epoch: zod's JIT (compiling each object schema
// with new Function on first use, ~20-30 ms per schema) costs more than it saves here and would
// delay the first epoch's writes; the interpreter is fast enough for these records.
z.config({ jitless: true });

/** Any JSON number, NaN and ±Infinity included (the store writes them as strings and revives them). */
const num = z.custom<number>((v) => typeof v === 'number', { message: 'expected a number' });
const finite = z.number();
const count = z.number().int().min(0);

export const RUN_STATUSES: readonly RunStatus[] = ['queued', 'running', 'done', 'failed', 'cancelled', 'interrupted', 'stopped-early'];

/**
 * Settings every run record has carried since the first version: without them a record cannot
 * say what it trained, and filling them in would be a guess (a Fashion-MNIST run shown as MNIST).
 */
export const REQUIRED_STORED_SETTINGS: readonly (keyof TrainSettings)[] = ['data', 'epochs', 'batch', 'lr', 'optimizer', 'norm', 'seed'];

function fieldSchema(f: SettingField): z.ZodType {
  switch (f.type) {
    case 'number': {
      const base = f.integer ? z.number().int() : z.number();
      return f.nullable ? base.nullable() : base;
    }
    case 'boolean':
      return z.boolean();
    case 'choice':
      return z.enum(f.choices as [string, ...string[]]);
    case 'text':
      return z.string();
  }
}

/** The settings of a stored run: typed per the settings table; settings added later take their default. */
export const storedSettingsSchema = z
  .looseObject(Object.fromEntries(SETTINGS.map((f) => {
    const s = fieldSchema(f);
    return [f.key, REQUIRED_STORED_SETTINGS.includes(f.key) ? s : s.optional()];
  })))
  .transform((v) => {
    const out: Record<string, unknown> = { ...DEFAULT_SETTINGS };
    for (const f of SETTINGS) if ((v as Record<string, unknown>)[f.key] !== undefined) out[f.key] = (v as Record<string, unknown>)[f.key];
    // Runs recorded before the validation split trained without one: resuming them keeps it so.
    if ((v as Record<string, unknown>).valSplit === undefined) out.valSplit = 0;
    // Keys this version does not know (written by a newer one) are kept, so a rewrite loses nothing.
    for (const [k, val] of Object.entries(v)) if (!(k in out)) out[k] = val;
    return out as unknown as TrainSettings;
  });

const ownerSchema = z.unknown().transform((v, ctx) => {
  const o = parseOwner(v);
  if (!o) {
    ctx.addIssue({ code: 'custom', message: 'expected {kind: "process", pid, host} or {kind: "slurm", jobId}' });
    return z.NEVER;
  }
  return o;
});

const datasetSchema = z.looseObject({
  name: z.string(),
  source: z.string(),
  classNames: z.array(z.string()),
  trainCount: count,
  testCount: count,
  height: count,
  width: count,
  channels: count,
});

/** run.json. Unknown fields are kept (a newer version's additions survive a rewrite by this one). */
export const runRecordSchema = z
  .looseObject({
    id: z.string().optional(),
    name: z.string().optional(),
    status: z.enum(RUN_STATUSES as [RunStatus, ...RunStatus[]]),
    settings: storedSettingsSchema,
    study: z.string().optional(),
    backend: z.string().optional(),
    versions: z.record(z.string(), z.string()).optional(),
    dataset: datasetSchema.optional(),
    params: count.optional(),
    created: z.string().optional(),
    updated: z.string().optional(),
    started: z.string().optional(),
    finished: z.string().optional(),
    epochsDone: count.optional(),
    bestEpoch: count.optional(),
    bestTestAcc: num.optional(),
    finalTestAcc: num.optional(),
    bestValAcc: num.optional(),
    finalValAcc: num.optional(),
    splits: z.looseObject({ train: count, val: count, test: count, valIsTest: z.boolean() }).optional(),
    error: z.string().optional(),
    owner: ownerSchema.optional(),
    /** Records written before owners: a bare pid on this host. */
    pid: z.number().int().positive().optional(),
  })
  .transform((v) => {
    const { pid, damaged: _d, ...rest } = v as typeof v & { damaged?: unknown };
    void _d;
    const rec = {
      ...rest,
      name: v.name ?? '',
      backend: v.backend ?? '',
      versions: v.versions ?? {},
      created: v.created ?? '',
      updated: v.updated ?? v.created ?? '',
      epochsDone: v.epochsDone ?? 0,
    } as Omit<RunRecord, 'id'> & { id?: string };
    if (!rec.owner && pid !== undefined) rec.owner = { kind: 'process', pid, host: '' };
    return rec;
  });

const metricsShape = {
  epoch: z.number().int().min(1),
  train_loss: num,
  train_acc: num,
  test_loss: num,
  test_acc: num,
  lr: num,
  grad_norm: num,
  clipped_steps: count,
  weight_norms: z.record(z.string(), num),
  sparsity: num,
  seconds: num,
  events: z.array(z.string()).optional(),
  /** Added with the validation split; records written before it have none ("validation = test"). */
  val_loss: num.optional(),
  val_acc: num.optional(),
  /** valSplit 0: val_* are the test split's numbers. */
  val_is_test: z.boolean().optional(),
};
/** One line of metrics.jsonl. */
export const epochMetricsSchema = z.looseObject(metricsShape) as unknown as z.ZodType<EpochMetrics>;

/** One line of steps.jsonl. */
export const stepLossesSchema = z.looseObject({
  epoch: z.number().int().min(1),
  stepsPerEpoch: count,
  points: z.array(z.tuple([finite, num])),
}) as unknown as z.ZodType<StepLosses>;

const stats = z.array(num);
/** One line of bn.jsonl. */
export const bnRecordSchema = z.looseObject({
  step: count,
  epoch: count,
  layers: z.record(z.string(), z.looseObject({ batchMean: stats, batchVar: stats, runningMean: stats, runningVar: stats })),
}) as unknown as z.ZodType<BnRecord>;

/** workspace.json: what makes a folder a NormLab workspace. */
export const workspaceFileSchema = z.looseObject({
  app: z.literal('normlab'),
  format: z.number().int().min(1),
  created: z.string().optional(),
});

/** studies/<id>.json. */
export const studySchema = z.looseObject({
  id: z.string().optional(),
  name: z.string(),
  preset: z.string(),
  runIds: z.array(z.string()),
  created: z.string(),
  updated: z.string(),
}) as unknown as z.ZodType<Omit<StudySummary, 'id'> & { id?: string }>;

/**
 * The first problem of a failed parse, as `field "a.b": what is wrong; found <value>` (the field
 * path from the file's root). `input` (the parsed value) lets it quote what was found.
 */
export function describeIssue(error: z.ZodError, input?: unknown): string {
  const issue = error.issues[0];
  if (!issue) return 'does not match its schema';
  const path = issue.path.map(String);
  let found: unknown = input;
  for (const k of path) found = typeof found === 'object' && found !== null ? (found as Record<string, unknown>)[k] : undefined;
  const where = path.length ? `field "${path.join('.')}"` : 'the value';
  if (found === undefined && input !== undefined && path.length) return `${where} is missing`;
  const msg = issue.message.replace(/^Invalid input: /, '');
  let shown = '';
  if (input !== undefined) {
    try {
      const j = JSON.stringify(found);
      shown = `; found ${j === undefined ? String(found) : j.length > 60 ? `${j.slice(0, 57)}...` : j}`;
    } catch {
      /* unprintable */
    }
  }
  return `${where}: ${msg}${shown}`;
}

/** A type guard over a schema, for the line-per-record readers. */
export function guard<T>(schema: z.ZodType<T>): (v: unknown) => v is T {
  return (v: unknown): v is T => schema.safeParse(v).success;
}
