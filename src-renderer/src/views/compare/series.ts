/**
 * Compare view data: per group of seeds a mean curve with a min–max band for one split and metric,
 * with best-epoch and event markers, and the CSV of all runs' metrics. Pure (no DOM): smoothing is
 * the chart's job, so what is drawn, hovered and exported is smoothed the same way.
 */
import type { EpochMetrics } from '../../../../src-main/contract/api';
import type { CompareResult } from '../../../../src-main/contract/study';
import type { LineSeries } from '../../lib/charts/lineChart';
import { smoothEma } from '../../lib/charts/math';
import { hasSplit, metricValue, SPLIT_NAMES, type MetricKind, type Split } from '../../lib/runIndex';

export interface CurveSpec {
  split: Split;
  kind: MetricKind;
}

/** Key of a chart, also its export file name: val_accuracy, train_loss, … */
export function curveKey(c: CurveSpec): string {
  return `${c.split}_${c.kind === 'acc' ? 'accuracy' : 'loss'}`;
}

/** "Validation accuracy", "Training loss". */
export function curveTitle(c: CurveSpec): string {
  const s = SPLIT_NAMES[c.split];
  return `${s[0].toUpperCase()}${s.slice(1)} ${c.kind === 'acc' ? 'accuracy' : 'loss'}`;
}

/** One series per group of seeds: the mean over its runs, a min–max band when it has several. */
export function curves(c: CompareResult, spec: CurveSpec, colors: Map<string, string>, names: (runId: string) => string = (id) => id): LineSeries[] {
  const scale = spec.kind === 'acc' ? 100 : 1;
  const byId = new Map(c.runs.map((r) => [r.run.id, r.metrics] as const));
  return c.groups.map((g) => {
    const ms: EpochMetrics[][] = g.runIds.map((id) => byId.get(id) ?? []);
    const epochs = [...new Set(ms.flat().map((m) => m.epoch))].sort((a, b) => a - b);
    const points: { x: number; y: number }[] = [];
    const band: { x: number; lo: number; hi: number }[] = [];
    for (const e of epochs) {
      const vs = ms
        .map((arr) => {
          const m = arr.find((x) => x.epoch === e);
          return m ? metricValue(m, spec.split, spec.kind, true) : undefined;
        })
        .filter((v): v is number => typeof v === 'number' && Number.isFinite(v))
        .map((v) => v * scale);
      if (!vs.length) continue;
      points.push({ x: e, y: vs.reduce((a, b) => a + b, 0) / vs.length });
      band.push({ x: e, lo: Math.min(...vs), hi: Math.max(...vs) });
    }
    const events: { x: number; label: string }[] = [];
    for (const arr of ms) {
      for (const m of arr) {
        for (const ev of m.events ?? []) if (ev !== 'best') events.push({ x: m.epoch, label: ev });
        if (m.clipped_steps > 0) events.push({ x: m.epoch, label: `clipped ${m.clipped_steps} steps` });
      }
    }
    const seeds = g.runIds.length;
    return {
      id: g.key,
      label: seeds > 1 ? `${g.label} (${seeds} seeds)` : g.runIds.length === 1 ? names(g.runIds[0]) : g.label,
      color: colors.get(g.runIds[0]),
      points,
      ...(seeds > 1 ? { band } : {}),
      best: spec.kind === 'acc' ? 'max' : 'min',
      events,
    };
  });
}

/** Whether some run of the comparison was trained before the validation split existed. */
export function missingValidation(c: CompareResult): boolean {
  return c.runs.some((r) => r.metrics.length > 0 && !hasSplit(r.metrics, 'val'));
}

const CSV_KEYS = ['train_loss', 'train_acc', 'val_loss', 'val_acc', 'test_loss', 'test_acc'] as const;

/**
 * All runs' metrics as one CSV (one row per run and epoch), raw. With `smoothing` > 0 each loss
 * and accuracy column is followed by its smoothed twin, named for the smoothing
 * (val_acc_ema0.60): the file says which values were smoothed and how.
 */
export function metricsCsv(c: CompareResult, smoothing = 0): string {
  const q = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  const keys = CSV_KEYS.filter((k) => c.runs.some((r) => r.metrics.some((m) => typeof (m as unknown as Record<string, unknown>)[k] === 'number')));
  const ema = smoothing > 0 ? `_ema${smoothing.toFixed(2)}` : '';
  const head = ['run_id', 'run', 'seed', 'epoch', ...keys.flatMap((k) => (ema ? [k, `${k}${ema}`] : [k])), 'lr', 'grad_norm', 'clipped_steps', 'sparsity', 'events'];
  const rows = [head.join(',')];
  for (const { run, metrics } of c.runs) {
    const col = (k: string) => metrics.map((m, i) => ({ x: i, y: (m as unknown as Record<string, number>)[k] }));
    const smoothed = Object.fromEntries(keys.map((k) => [k, ema ? smoothEma(col(k), smoothing).map((p) => p.y) : []]));
    metrics.forEach((m, i) => {
      const rec = m as unknown as Record<string, number | undefined>;
      const vals = keys.flatMap((k) => (ema ? [rec[k] ?? '', smoothed[k][i] ?? ''] : [rec[k] ?? '']));
      rows.push([q(run.id), q(run.name), run.settings.seed, m.epoch, ...vals, m.lr, m.grad_norm, m.clipped_steps, m.sparsity, q((m.events ?? []).join(' '))].join(','));
    });
  }
  return rows.join('\n') + '\n';
}
