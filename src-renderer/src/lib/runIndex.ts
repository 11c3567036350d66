/**
 * What several views need to name and colour runs the same way: every run and study of the
 * workspace, the distinct display name of each run (two studies' "L1 (λ=…)" runs read apart) and
 * its colour by the one rule of contract/colors.
 */
import type { EpochMetrics, RunRecord } from '../../../src-main/contract/api';
import type { StudySummary } from '../../../src-main/contract/study';
import { distinctRunNames } from '../../../src-main/contract/format';
import type { AppHost } from '../hosts';
import { runColors } from './charts/colors';

export interface RunIndex {
  runs: RunRecord[];
  studies: StudySummary[];
  /** Display name by run id (distinct across the workspace). */
  names: Map<string, string>;
}

/** Builds the index from lists already fetched. */
export function runIndex(runs: RunRecord[], studies: StudySummary[] = []): RunIndex {
  const studyNames = Object.fromEntries(studies.map((s) => [s.id, s.name]));
  return { runs, studies, names: distinctRunNames(runs, studyNames) };
}

/** Fetches runs and studies; a failing study list (older server, damaged file) leaves studies empty. */
export async function loadRunIndex(host: AppHost): Promise<RunIndex> {
  const [runs, studies] = await Promise.all([host.call('runs.list', {}), host.call('study.list', {}).catch(() => [] as StudySummary[])]);
  return runIndex(runs, studies);
}

/** A run's display name, falling back to its record's name or id. */
export function nameOf(index: RunIndex | null, run: Pick<RunRecord, 'id' | 'name'> | string): string {
  const id = typeof run === 'string' ? run : run.id;
  return index?.names.get(id) ?? (typeof run === 'string' ? run : run.name || run.id);
}

/** Colours of the runs of one chart, in drawing order (see contract/colors for the rule). */
export function colorsOf(index: RunIndex | null, ids: readonly string[], groups: readonly { runIds: readonly string[] }[] = []): Map<string, string> {
  return runColors(ids, index?.runs ?? [], index?.studies ?? [], groups);
}

export type Split = 'train' | 'val' | 'test';
export type MetricKind = 'loss' | 'acc';

/** How each split is called in every view and export. */
export const SPLIT_NAMES: Record<Split, string> = { train: 'training', val: 'validation', test: 'test' };

/**
 * A split's value in one epoch's record. Records written before the validation split existed have
 * no val_*: with `fallback`, validation then reads the test split (they were the same images).
 */
export function metricValue(m: EpochMetrics, split: Split, kind: MetricKind, fallback = false): number | undefined {
  const rec = m as unknown as Record<string, unknown>;
  const v = rec[`${split}_${kind}`];
  if (typeof v === 'number') return v;
  if (split === 'val' && fallback) {
    const t = rec[`test_${kind}`];
    return typeof t === 'number' ? t : undefined;
  }
  return undefined;
}

/** Whether any record has its own value for the split (old runs and --val-split 0 runs have no validation split). */
export function hasSplit(metrics: readonly EpochMetrics[], split: Split): boolean {
  // A run trained with --val-split 0 records the test numbers as val_* (val_is_test): no split of its own.
  if (split === 'val') return metrics.some((m) => typeof m.val_loss === 'number' && !m.val_is_test);
  return metrics.some((m) => typeof (m as unknown as Record<string, unknown>)[`${split}_loss`] === 'number');
}

/** The newest S6 study of the workspace, if any. */
export function latestS6(index: RunIndex | null): StudySummary | undefined {
  return (index?.studies ?? []).filter((s) => s.preset === 's6' && !s.error).sort((a, b) => b.created.localeCompare(a.created))[0];
}

/**
 * The L1 and L2 runs of an S6 study (the assignment's two galleries): the runs with only λ₁, then
 * those with only λ₂ (every seed of each), among those that finished at least one epoch.
 */
export function s6Galleries(index: RunIndex | null, study: StudySummary | undefined): string[] {
  if (!index || !study) return [];
  const runs = study.runIds.map((id) => index.runs.find((r) => r.id === id)).filter((r): r is RunRecord => !!r && r.epochsDone > 0);
  const l1 = runs.filter((r) => r.settings.l1 > 0 && !(r.settings.l2 > 0));
  const l2 = runs.filter((r) => r.settings.l2 > 0 && !(r.settings.l1 > 0));
  return [...l1, ...l2].map((r) => r.id);
}
