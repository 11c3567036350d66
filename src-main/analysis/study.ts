/**
 * Comparing runs: grouping seeds of one configuration, the config diff (only what differs), the
 * summary table and seed aggregation (mean with min–max band). Pure functions over run records
 * and metrics, shared by the services, the CLI report and the tests.
 */
import type { EpochMetrics, RunRecord } from '../contract/api';
import type { CompareRow, ConfigDiffRow, RunGroup } from '../contract/study';
import { SETTINGS, type TrainSettings } from '../contract/settings';
import { validationSource, valMetrics } from '../contract/validation';

/** Settings that never make two runs different configurations. */
const IDENTITY_KEYS = new Set<keyof TrainSettings>(['seed', 'name']);

function configKey(s: TrainSettings): string {
  return JSON.stringify(SETTINGS.filter((f) => !IDENTITY_KEYS.has(f.key)).map((f) => s[f.key] ?? null));
}

/** Strips a trailing " · seed N" so the group of seeds is named like its variant. */
export function baseLabel(name: string): string {
  return name.replace(/ · seed \d+$/, '');
}

/**
 * Groups runs whose settings differ only in seed and name, in first-seen order. A group's label is
 * its first run's name without the seed suffix.
 */
export function groupRuns(runs: RunRecord[]): RunGroup[] {
  const groups = new Map<string, RunGroup>();
  for (const r of runs) {
    const k = configKey(r.settings);
    const g = groups.get(k);
    if (g) g.runIds.push(r.id);
    else groups.set(k, { key: `g${groups.size + 1}`, label: baseLabel(r.name || r.id), runIds: [r.id] });
  }
  return [...groups.values()];
}

/** The settings whose values are not all equal across `runs`, with each run's value. */
export function configDiff(runs: RunRecord[]): ConfigDiffRow[] {
  if (runs.length < 2) return [];
  const rows: ConfigDiffRow[] = [];
  for (const f of SETTINGS) {
    const vals = runs.map((r) => (r.settings as unknown as Record<string, unknown>)[f.key] ?? null);
    const first = JSON.stringify(vals[0]);
    if (vals.every((v) => JSON.stringify(v) === first)) continue;
    rows.push({ key: f.key, label: f.label, values: Object.fromEntries(runs.map((r, i) => [r.id, vals[i]])) });
  }
  return rows;
}

/** L2 norm over every conv/dense kernel from one epoch's weight_norms. */
export function kernelNorm(m: EpochMetrics): number {
  let s = 0;
  for (const [name, v] of Object.entries(m.weight_norms ?? {})) if (name.endsWith('/kernel')) s += v * v;
  return Math.sqrt(s);
}

/** The table row of one run: validation and test accuracy, best epochs (by validation), sparsity, kernel norm. */
export function compareRow(run: RunRecord, metrics: EpochMetrics[]): CompareRow {
  const last = metrics.at(-1);
  let bestAcc: EpochMetrics | null = null;
  let bestLoss: EpochMetrics | null = null;
  let bestTest: EpochMetrics | null = null;
  for (const m of metrics) {
    if (bestAcc === null || valMetrics(m).acc > valMetrics(bestAcc).acc) bestAcc = m;
    if (bestLoss === null || valMetrics(m).loss < valMetrics(bestLoss).loss) bestLoss = m;
    if (bestTest === null || m.test_acc > bestTest.test_acc) bestTest = m;
  }
  return {
    runId: run.id,
    name: run.name || run.id,
    status: run.status,
    epochs: last?.epoch ?? 0,
    valSource: validationSource(metrics),
    finalValAcc: last ? valMetrics(last).acc : null,
    finalValLoss: last ? valMetrics(last).loss : null,
    bestValAcc: bestAcc ? valMetrics(bestAcc).acc : null,
    finalTestAcc: last?.test_acc ?? null,
    finalTestLoss: last?.test_loss ?? null,
    bestTestAcc: bestTest?.test_acc ?? null,
    testAccAtBest: bestLoss?.test_acc ?? null,
    bestAccEpoch: bestAcc?.epoch ?? null,
    bestLossEpoch: bestLoss?.epoch ?? null,
    sparsity: last?.sparsity ?? null,
    kernelNorm: last ? kernelNorm(last) : null,
  };
}

/** train_*, test_*, and val_* (which reads the test split for runs without a validation split). */
export type MetricKey = 'train_loss' | 'train_acc' | 'val_loss' | 'val_acc' | 'test_loss' | 'test_acc';

function metricOf(m: EpochMetrics, key: MetricKey): number {
  if (key === 'val_loss') return valMetrics(m).loss;
  if (key === 'val_acc') return valMetrics(m).acc;
  return m[key];
}

export interface BandPoint {
  epoch: number;
  mean: number;
  min: number;
  max: number;
  n: number;
}

/**
 * Mean, min and max of one metric over several runs, per epoch. An epoch counts only the runs
 * that reached it (n says how many), so a run stopped early does not drag the mean.
 */
export function aggregate(metricsByRun: EpochMetrics[][], key: MetricKey): BandPoint[] {
  const byEpoch = new Map<number, number[]>();
  for (const ms of metricsByRun) {
    for (const m of ms) {
      const v = metricOf(m, key);
      if (!Number.isFinite(v)) continue;
      const arr = byEpoch.get(m.epoch) ?? [];
      arr.push(v);
      byEpoch.set(m.epoch, arr);
    }
  }
  return [...byEpoch.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([epoch, vs]) => ({ epoch, mean: vs.reduce((a, b) => a + b, 0) / vs.length, min: Math.min(...vs), max: Math.max(...vs), n: vs.length }));
}

/**
 * TensorBoard's smoothing: s_t = β·s_{t−1} + (1−β)·y_t with s_0 = 0, reported as s_t/(1−β^t) so
 * the first points are not pulled toward zero. Non-finite values pass through and do not count.
 */
export function debiasedEma(values: readonly number[], beta: number): number[] {
  if (!(beta >= 0 && beta < 1)) throw new RangeError(`smoothing must be in [0, 1), got ${beta}`);
  let s = 0;
  let t = 0;
  return values.map((y) => {
    if (!Number.isFinite(y)) return y;
    s = beta * s + (1 - beta) * y;
    t += 1;
    return beta === 0 ? y : s / (1 - beta ** t);
  });
}
