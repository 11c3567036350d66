/**
 * The recorded BN timeline of a run, read from the store for the view (no tfjs: this runs in the
 * services process, not the engine worker).
 */
import type { BnLayerInfo, BnTimeline } from '../contract/bn';
import { layerShapes, specForSettings, type ModelSpec } from '../engine/spec';
import type { Workspace } from '../store/workspace';

/** Why a run without batch/ghost norm has nothing to inspect. */
export function noBnMessage(norm: string): string {
  return norm === 'none'
    ? 'This run has no normalization layers (norm = none): there are no BN statistics to inspect.'
    : norm.includes(',')
    ? `This run's model has ${norm} norm nodes and none of them is batch or ghost norm: there are no running statistics to inspect.`
    : `This run uses ${norm} norm, which normalizes each image on its own and keeps no running statistics: there is nothing for the BN inspector to show.`;
}

/** Thins `n` indices evenly to at most `max`, always keeping the last. */
function thin(n: number, max: number): number[] {
  if (n <= max) return Array.from({ length: n }, (_, i) => i);
  const out: number[] = [];
  for (let k = 0; k < max; k++) out.push(Math.round((k * (n - 1)) / (max - 1)));
  return [...new Set(out)];
}

/** The recorded BN timeline of a run, thinned to `maxRecords` (default 400), channel series per layer. */
export function bnTimeline(ws: Workspace, runId: string, maxRecords = 400): BnTimeline {
  const run = ws.getRun(runId);
  const records = ws.readBnRecords(runId);
  const s = run.settings;
  const h = run.dataset?.height ?? 28;
  const w = run.dataset?.width ?? 28;
  const c = run.dataset?.channels ?? 1;
  const classes = run.dataset?.classNames.length ?? 10;
  // The graph the run trained decides (a model file's fixed norm nodes ignore the norm setting).
  const spec = run.model ?? ((s.norm === 'batch' || s.norm === 'ghost') ? specForSettings(s, [h, w, c], classes) : null);
  const layers = spec ? bnLayerInfosFromSpec(spec) : [];
  const hasBn = layers.length > 0;
  const idx = thin(records.length, Math.max(2, maxRecords));
  const series: BnTimeline['series'] = {};
  for (const l of layers) {
    series[l.name] = { runningMean: [], runningVar: [], batchMean: [], batchVar: [] };
    for (const i of idx) {
      const r = records[i].layers[l.name];
      if (!r) continue;
      series[l.name].runningMean.push(r.runningMean);
      series[l.name].runningVar.push(r.runningVar);
      series[l.name].batchMean.push(r.batchMean);
      series[l.name].batchVar.push(r.batchVar);
    }
  }
  const interval = records.length > 1 ? records[1].step - records[0].step : records.length ? records[0].step : 0;
  return {
    runId,
    hasBn,
    message: hasBn
      ? records.length ? `${records.length} BN records, one every ${interval} step${interval === 1 ? '' : 's'}` : 'No BN records stored yet (the run has not reached its first record).'
      : noBnMessage(spec ? graphNormKind(spec) : s.norm),
    layers,
    steps: idx.map((i) => records[i].step),
    epochs: idx.map((i) => records[i].epoch),
    series,
    interval,
    kept: idx.length,
    stored: records.length,
  };
}

/** The norm kinds of a graph's norm nodes ('none' when it has none; 'layer, group' when mixed). */
export function graphNormKind(spec: ModelSpec): string {
  const kinds = [...new Set(spec.nodes.flatMap((n) => (n.op === 'norm' ? [n.norm.kind] : [])))];
  return kinds.length ? kinds.join(', ') : 'none';
}

/** BN layer infos from a spec alone (no tensors). */
export function bnLayerInfosFromSpec(spec: ModelSpec): BnLayerInfo[] {
  // Mirrors bnLayerInfos without building a model (no tensors in the main process).
  const shapes = layerShapes(spec);
  const out: BnLayerInfo[] = [];
  spec.nodes.forEach((l, i) => {
    if (l.op !== 'norm' || (l.norm.kind !== 'batch' && l.norm.kind !== 'ghost')) return;
    const s = shapes[i];
    out.push({
      name: l.name, kind: l.norm.kind, channels: s[s.length - 1], spatial: s.length === 3 ? [s[0], s[1]] : [1, 1],
      convention: l.norm.convention, momentum: l.norm.momentum,
      ...(l.norm.kind === 'ghost' ? { virtualBatch: l.norm.virtualBatch } : {}), eps: l.norm.eps,
    });
  });
  return out;
}

