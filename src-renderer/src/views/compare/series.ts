/**
 * Compare view data: per group of seeds a mean curve with a min–max band, debiased EMA smoothing,
 * best-epoch and event markers, and the CSV of all runs' metrics. Pure (no DOM).
 */
import type { EpochMetrics } from '../../../../src-main/contract/api';
import type { CompareResult } from '../../../../src-main/contract/study';
import { smoothEma } from '../../lib/charts/math';

export type CurveKey = 'test_acc' | 'test_loss' | 'train_acc' | 'train_loss';

export interface CurvePoint {
  x: number;
  y: number;
}
export interface CurveSeries {
  id: string;
  label: string;
  points: CurvePoint[];
  /** Min–max over seeds (raw, not smoothed). */
  band?: { x: number; lo: number; hi: number }[];
  /** Epoch of the best raw value (max accuracy, min loss). */
  best?: CurvePoint;
  /** Early stops, restored-best and clipped epochs. */
  events: { x: number; label: string }[];
}

/** One series per group of seeds: mean (smoothed with a debiased EMA of weight `smoothing`) and band. */
export function curves(c: CompareResult, key: CurveKey, smoothing: number): CurveSeries[] {
  const scale = key.endsWith('acc') ? 100 : 1;
  const byId = new Map(c.runs.map((r) => [r.run.id, r.metrics] as const));
  return c.groups.map((g) => {
    const ms: EpochMetrics[][] = g.runIds.map((id) => byId.get(id) ?? []);
    const epochs = [...new Set(ms.flat().map((m) => m.epoch))].sort((a, b) => a - b);
    const raw: CurvePoint[] = [];
    const band: { x: number; lo: number; hi: number }[] = [];
    for (const e of epochs) {
      const vs = ms.map((arr) => arr.find((m) => m.epoch === e)?.[key]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v)).map((v) => v * scale);
      if (!vs.length) continue;
      raw.push({ x: e, y: vs.reduce((a, b) => a + b, 0) / vs.length });
      band.push({ x: e, lo: Math.min(...vs), hi: Math.max(...vs) });
    }
    const better = key.endsWith('acc') ? (a: number, b: number) => a > b : (a: number, b: number) => a < b;
    let best: CurvePoint | undefined;
    for (const p of raw) if (!best || better(p.y, best.y)) best = p;
    const events: { x: number; label: string }[] = [];
    for (const arr of ms) {
      for (const m of arr) {
        for (const ev of m.events ?? []) if (ev !== 'best') events.push({ x: m.epoch, label: ev });
        if (m.clipped_steps > 0) events.push({ x: m.epoch, label: `clipped ${m.clipped_steps} steps` });
      }
    }
    return {
      id: g.key,
      label: g.runIds.length > 1 ? `${g.label} (${g.runIds.length} seeds)` : g.label,
      points: smoothEma(raw, smoothing),
      ...(g.runIds.length > 1 ? { band } : {}),
      best,
      events,
    };
  });
}

/** All runs' metrics as one CSV (one row per run and epoch). */
export function metricsCsv(c: CompareResult): string {
  const q = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  const rows = ['run_id,run,seed,epoch,train_loss,train_acc,test_loss,test_acc,lr,grad_norm,clipped_steps,sparsity,events'];
  for (const { run, metrics } of c.runs) {
    for (const m of metrics) {
      rows.push([q(run.id), q(run.name), run.settings.seed, m.epoch, m.train_loss, m.train_acc, m.test_loss, m.test_acc, m.lr, m.grad_norm, m.clipped_steps, m.sparsity, q((m.events ?? []).join(' '))].join(','));
    }
  }
  return rows.join('\n') + '\n';
}
