/**
 * The study report folder: comparison charts (SVG + PNG), misclassified galleries, weight
 * histograms and sparsity bars, a metrics CSV, the raw numbers as report.json, and an
 * index.html that opens offline (inline CSS, images referenced relatively) with an explanation
 * generated from the measured numbers of this study.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EpochMetrics, RunRecord } from '../contract/api';
import type { CompareResult, CompareRow, MisclassifiedResult, RunGroup, WeightsResult } from '../contract/study';
import { validationLabel, validationNote, validationSource, valMetrics } from '../contract/validation';
import { aggregate, type MetricKey } from './study';
import { gallerySvg, galleryTitle, svgToPng, caption } from './gallery';
import { esc, groupedBarsSvg, histogramGridSvg, lineChartSvg, type HistPanel, type SvgSeries } from './svg-charts';
import { assignColors, colorSlots } from '../contract/colors';
import { formatPercent, labelled } from '../contract/format';

export interface ReportInput {
  title: string;
  preset: string;
  study: { id: string; name: string };
  compare: CompareResult;
  misclassified: MisclassifiedResult[];
  weights: WeightsResult;
  /** Seconds the whole study took (training + analyses). */
  seconds?: number;
}

export interface ReportFiles {
  dir: string;
  files: string[];
  explanation: string[];
}

/** The S6 variant of a run from its settings: none, l1, l2 or l1l2. */
export function s6Variant(r: RunRecord): 'none' | 'l1' | 'l2' | 'l1l2' {
  const a = r.settings.l1 > 0;
  const b = r.settings.l2 > 0;
  return a && b ? 'l1l2' : a ? 'l1' : b ? 'l2' : 'none';
}

function variantOf(preset: string, r: RunRecord, groups: RunGroup[]): string {
  if (preset === 's6') return s6Variant(r);
  return groups.find((g) => g.runIds.includes(r.id))?.label ?? r.name;
}

const pct = (x: number | null | undefined, d = 2) => formatPercent(x, d);

/**
 * Colour of each run in the report, by the app's one rule (contract/colors): the run's variant
 * slot in its study, so that L1 is drawn in the same colour here as in every view; seeds of a
 * group share their first run's colour.
 */
export function reportColors(compare: CompareResult, studyId: string): Map<string, string> {
  const runs = compare.runs.map((r) => r.run);
  const slots = colorSlots(runs, [{ id: studyId, runIds: runs.map((r) => r.id) }]);
  const lead = new Map<string, string>();
  for (const g of compare.groups) for (const id of g.runIds) lead.set(id, g.runIds[0]);
  return assignColors(runs.map((r) => ({ id: r.id, slot: slots.get(lead.get(r.id) ?? r.id) ?? 0, group: lead.get(r.id) ?? r.id })));
}
const slug = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 60) || 'run';

/** Metrics of all runs as CSV (one row per run and epoch). */
export function metricsCsv(compare: CompareResult, variant: (r: RunRecord) => string): string {
  const q = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  const lines = ['run_id,run,variant,seed,epoch,train_loss,train_acc,test_loss,test_acc,lr,sparsity,seconds'];
  for (const { run, metrics } of compare.runs) {
    for (const m of metrics) {
      lines.push([q(run.id), q(run.name), q(variant(run)), run.settings.seed, m.epoch, m.train_loss, m.train_acc, m.test_loss, m.test_acc, m.lr, m.sparsity, m.seconds].join(','));
    }
  }
  return lines.join('\n') + '\n';
}

/** Series per group: mean with a min–max band when the group has several seeds; best-epoch marker. */
export function groupSeries(compare: CompareResult, key: MetricKey, scale = 1, colors?: Map<string, string>): SvgSeries[] {
  const byId = new Map(compare.runs.map((r) => [r.run.id, r.metrics] as const));
  return compare.groups.map((g) => {
    const ms: EpochMetrics[][] = g.runIds.map((id) => byId.get(id) ?? []);
    const agg = aggregate(ms, key);
    const points = agg.map((p) => ({ x: p.epoch, y: p.mean * scale }));
    const better = key.endsWith('acc') ? (a: number, b: number) => a > b : (a: number, b: number) => a < b;
    let best = points[0];
    for (const p of points) if (better(p.y, best.y)) best = p;
    return {
      label: g.runIds.length > 1 ? `${g.label} (mean of ${g.runIds.length} seeds, band = min–max)` : g.label,
      ...(colors?.get(g.runIds[0]) ? { color: colors.get(g.runIds[0]) } : {}),
      points,
      ...(g.runIds.length > 1 ? { band: agg.map((p) => ({ x: p.epoch, lo: p.min * scale, hi: p.max * scale })) } : {}),
      ...(best ? { markers: [{ x: best.x, label: `best epoch ${best.x}` }] } : {}),
    };
  });
}

interface VariantNumbers {
  label: string;
  /** Final validation accuracy (the test split's for runs without a validation split). */
  finalAcc: number;
  /** Final test accuracy. */
  testAcc: number;
  bestAcc: number;
  bestEpoch: number;
  trainAcc: number;
  kernelNorm: number;
  sp4: number;
  sp3: number;
  sp2: number;
  runs: number;
}

function numbersFor(input: ReportInput, runIds: string[], label: string): VariantNumbers | null {
  const rows = input.compare.table.filter((t) => runIds.includes(t.runId) && t.finalTestAcc !== null);
  if (!rows.length) return null;
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const w = input.weights.runs.filter((r) => runIds.includes(r.runId));
  const lastTrain = input.compare.runs.filter((r) => runIds.includes(r.run.id)).map((r) => r.metrics.at(-1)?.train_acc ?? NaN);
  return {
    label,
    finalAcc: mean(rows.map((r) => r.finalValAcc ?? r.finalTestAcc!)),
    testAcc: mean(rows.map((r) => r.finalTestAcc!)),
    bestAcc: mean(rows.map((r) => r.bestValAcc ?? r.bestTestAcc ?? NaN)),
    bestEpoch: Math.round(mean(rows.map((r) => r.bestAccEpoch ?? NaN))),
    trainAcc: mean(lastTrain),
    kernelNorm: mean(rows.map((r) => r.kernelNorm ?? NaN)),
    sp4: w.length ? mean(w.map((x) => x.overall.sparsity['1e-4'] ?? NaN)) : NaN,
    sp3: w.length ? mean(w.map((x) => x.overall.sparsity['1e-3'] ?? NaN)) : NaN,
    sp2: w.length ? mean(w.map((x) => x.overall.sparsity['1e-2'] ?? NaN)) : NaN,
    runs: rows.length,
  };
}

/**
 * What L1 and L2 did in this study, in sentences built from the measured accuracies, sparsity
 * and norms (S6 preset); for other presets, a ranking by final validation accuracy.
 */
export function explain(input: ReportInput): string[] {
  const { compare } = input;
  const first = compare.runs[0]?.run;
  // Standard errors are on the images the accuracies were measured on: the validation split.
  const testCount = first?.splits?.val || first?.settings.testLimit || first?.dataset?.testCount || 0;
  const valNote = validationNote(compare.table.find((t) => t.valSource !== 'held-out')?.valSource ?? 'held-out');
  const se = (p: number) => (testCount > 0 ? Math.sqrt((p * (1 - p)) / testCount) : NaN);
  const out: string[] = [];
  if (input.preset === 's6') {
    const byVariant = new Map<string, string[]>();
    for (const { run } of compare.runs) {
      const v = s6Variant(run);
      byVariant.set(v, [...(byVariant.get(v) ?? []), run.id]);
    }
    const label = { none: 'no L1/L2', l1: 'L1', l2: 'L2', l1l2: 'L1+L2' } as const;
    const n = Object.fromEntries(
      (['none', 'l1', 'l2', 'l1l2'] as const).map((k) => [k, byVariant.has(k) ? numbersFor(input, byVariant.get(k)!, label[k]) : null]),
    ) as Record<'none' | 'l1' | 'l2' | 'l1l2', VariantNumbers | null>;
    const base = n.none;
    const lam = (k: 'l1' | 'l2') => compare.runs.find((r) => s6Variant(r.run) === k || (k === 'l1' ? r.run.settings.l1 > 0 : r.run.settings.l2 > 0))?.run.settings[k];
    if (base) {
      out.push(
        `Without L1/L2 the network ended at ${pct(base.finalAcc)} validation accuracy (best ${pct(base.bestAcc)} at epoch ${base.bestEpoch}; train ${pct(base.trainAcc)}; test ${pct(base.testAcc)}), ` +
          `with a kernel norm of ${base.kernelNorm.toFixed(2)} and ${pct(base.sp3, 1)} of the kernel weights below 1e-3 in magnitude (${pct(base.sp4, 2)} below 1e-4).`,
      );
    }
    const describe = (k: 'l1' | 'l2' | 'l1l2') => {
      const v = n[k];
      if (!v) return;
      const dAcc = base ? ` (${v.finalAcc >= base.finalAcc ? '+' : ''}${(100 * (v.finalAcc - base.finalAcc)).toFixed(2)} points vs no L1/L2)` : '';
      const dNorm = base ? `, kernel norm ${base.kernelNorm.toFixed(2)} → ${v.kernelNorm.toFixed(2)} (${(100 * (v.kernelNorm / base.kernelNorm - 1)).toFixed(0)}%)` : `, kernel norm ${v.kernelNorm.toFixed(2)}`;
      const dSp = base
        ? `; weights below 1e-3: ${pct(base.sp3, 1)} → ${pct(v.sp3, 1)}, below 1e-4: ${pct(base.sp4, 2)} → ${pct(v.sp4, 2)}, below 1e-2: ${pct(base.sp2, 1)} → ${pct(v.sp2, 1)}`
        : `; ${pct(v.sp3, 1)} of weights below 1e-3`;
      const gap = v.trainAcc - v.finalAcc;
      const baseGap = base ? base.trainAcc - base.finalAcc : NaN;
      const lamText = k === 'l1' ? `λ₁=${lam('l1')}` : k === 'l2' ? `λ₂=${lam('l2')}` : `λ₁=${lam('l1')}, λ₂=${lam('l2')}`;
      out.push(
        `${v.label} (${lamText}): ${pct(v.finalAcc)} final validation accuracy${dAcc}, best ${pct(v.bestAcc)} at epoch ${v.bestEpoch}, final test accuracy ${pct(v.testAcc)}${dNorm}${dSp}; ` +
          `train−validation gap ${(100 * gap).toFixed(2)} points${base ? ` (no L1/L2: ${(100 * baseGap).toFixed(2)})` : ''}.`,
      );
    };
    describe('l1');
    describe('l2');
    describe('l1l2');
    if (base && n.l1 && n.l2) {
      const l1Sparser = n.l1.sp3 - base.sp3;
      const l2Sparser = n.l2.sp3 - base.sp3;
      const l1Norm = n.l1.kernelNorm / base.kernelNorm;
      const l2Norm = n.l2.kernelNorm / base.kernelNorm;
      out.push(
        `What they did: L1 adds λ₁·sign(w) to every gradient — the same pull toward zero for small and large weights — so weights the data do not defend end near zero: ` +
          `here it ${l1Sparser > 0.005 ? `raised the share of near-zero weights (|w| < 1e-3) by ${(100 * l1Sparser).toFixed(1)} points` : `changed the share of near-zero weights by only ${(100 * l1Sparser).toFixed(1)} points (λ₁ too small to sparsify in ${compare.runs[0]?.metrics.length ?? 0} epochs)`}. ` +
          `L2 adds 2λ₂·w, a pull proportional to the weight, so it shrinks big weights most and rarely makes any exactly small: ` +
          `its near-zero share moved by ${(100 * l2Sparser).toFixed(1)} points while the kernel norm went to ${(100 * l2Norm).toFixed(0)}% of the unregularized one (L1: ${(100 * l1Norm).toFixed(0)}%).`,
      );
      const best = [base, n.l1, n.l2, n.l1l2].filter((v): v is VariantNumbers => v !== null).sort((a, b) => b.finalAcc - a.finalAcc);
      const spread = best[0].finalAcc - best[best.length - 1].finalAcc;
      const err = se(best[0].finalAcc);
      out.push(
        `Accuracy: ${best.map((v) => `${v.label} ${pct(v.finalAcc)}`).join(' > ')}. The spread is ${(100 * spread).toFixed(2)} points; ` +
          (Number.isFinite(err)
            ? `one binomial standard error on ${testCount} validation images is ${(100 * err).toFixed(2)} points, so ${spread < 2 * err ? 'these differences are within noise for a single seed (use --seeds to repeat)' : `the gap between ${best[0].label} and ${best[best.length - 1].label} is larger than noise`}. `
            : '') +
          `With BN after every conv, the conv kernels are scale-invariant: shrinking them (L2, L1) does not change the function, it raises the effective learning rate, which is why the norms can fall a lot while accuracy barely moves.`,
      );
    }
    if (valNote) out.push(`Validation: ${valNote}.`);
    return out;
  }
  const rows = compare.groups
    .map((g) => numbersFor(input, g.runIds, g.label))
    .filter((v): v is VariantNumbers => v !== null)
    .sort((a, b) => b.finalAcc - a.finalAcc);
  if (rows.length) {
    out.push(`Final validation accuracy: ${rows.map((v) => `${v.label} ${pct(v.finalAcc)} (best ${pct(v.bestAcc)} at epoch ${v.bestEpoch}; final test ${pct(v.testAcc)})`).join('; ')}.`);
    const err = se(rows[0].finalAcc);
    if (Number.isFinite(err)) out.push(`One binomial standard error on ${testCount} validation images is ${(100 * err).toFixed(2)} points.`);
  }
  if (valNote) out.push(`Validation: ${valNote}.`);
  return out;
}

const cap = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

function write(dir: string, name: string, data: string | Uint8Array, files: string[]): void {
  writeFileSync(join(dir, name), data);
  files.push(name);
}

/** Writes the report folder and returns the file names (relative to `dir`) and the explanation. */
export function writeReport(dir: string, input: ReportInput): ReportFiles {
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  const { compare } = input;
  const variant = (r: RunRecord) => variantOf(input.preset, r, compare.groups);
  const dataset = compare.runs[0]?.run.dataset?.name ?? compare.runs[0]?.run.settings.data ?? '';

  const colors = reportColors(compare, input.study.id);
  const charts: { file: string; title: string }[] = [];
  const chart = (file: string, key: MetricKey, title: string, yLabel: string, scale: number, fmt?: (v: number) => string) => {
    const svg = lineChartSvg({ title, xLabel: 'epoch', yLabel, series: groupSeries(compare, key, scale, colors), yFormat: fmt, note: 'Raw values per epoch (not smoothed) · ▼ best epoch' });
    write(dir, `${file}.svg`, svg, files);
    write(dir, `${file}.png`, svgToPng(svg), files);
    charts.push({ file, title });
  };
  const valName = validationLabel(compare.table.find((t) => t.valSource !== 'held-out')?.valSource ?? 'held-out');
  chart('val_accuracy', 'val_acc', `${cap(valName)} accuracy — ${input.title} (${dataset})`, `${valName} accuracy (%)`, 100);
  chart('val_loss', 'val_loss', `${cap(valName)} loss — ${input.title} (${dataset})`, `${valName} loss (cross-entropy, nats)`, 1);
  chart('train_accuracy', 'train_acc', `Training accuracy — ${input.title} (${dataset})`, 'training accuracy (%)', 100);
  chart('train_loss', 'train_loss', `Training loss — ${input.title} (${dataset})`, 'training loss (cross-entropy, nats)', 1);

  const galleries: { file: string; title: string; runId: string; variant: string }[] = [];
  for (const m of input.misclassified) {
    const run = compare.runs.find((r) => r.run.id === m.runId)?.run;
    const v = run ? variant(run) : m.runName;
    const file = `misclassified_${slug(v)}`;
    const title = galleryTitle(m);
    const svg = gallerySvg(m, title);
    write(dir, `${file}.png`, svgToPng(svg), files);
    galleries.push({ file, title, runId: m.runId, variant: v });
  }

  const w = input.weights;
  const runLabels = w.runs.map((r) => r.runName);
  const share = (counts: number[], total: number) => counts.map((c) => (total ? c / total : 0));
  const panels: HistPanel[] = [
    { title: 'all conv/dense kernels', series: w.runs.map((r) => ({ label: r.runName, edges: r.overall.hist.edges, shares: share(r.overall.hist.counts, r.overall.hist.total), zeroShare: r.overall.hist.total ? r.overall.hist.zeros / r.overall.hist.total : 0 })) },
    ...(w.runs[0]?.layers ?? []).map((l) => ({
      title: `${l.name} [${l.shape.join('×')}]`,
      series: w.runs.map((r) => {
        const x = r.layers.find((y) => y.name === l.name);
        return { label: r.runName, edges: x?.hist.edges ?? l.hist.edges, shares: x ? share(x.hist.counts, x.hist.total) : [], zeroShare: x && x.hist.total ? x.hist.zeros / x.hist.total : 0 };
      }),
    })),
  ];
  const histSvg = histogramGridSvg(`Weight magnitudes per layer (log10|w|) — ${input.title}`, panels, runLabels, 3, w.runs.map((r) => colors.get(r.runId) ?? '#888'));
  write(dir, 'weights_histograms.svg', histSvg, files);
  write(dir, 'weights_histograms.png', svgToPng(histSvg), files);
  const cats = w.thresholds.map((t) => `|w| < ${t.toExponential(0)}`);
  const barsSvg = groupedBarsSvg(
    `Sparsity: share of kernel weights below a threshold — ${input.title}`,
    'share of kernel weights (%)',
    cats,
    w.runs.map((r) => ({ label: r.runName, color: colors.get(r.runId), values: w.thresholds.map((t) => r.overall.sparsity[t.toExponential(0)] ?? 0) })),
  );
  write(dir, 'sparsity.svg', barsSvg, files);
  write(dir, 'sparsity.png', svgToPng(barsSvg), files);

  write(dir, 'metrics.csv', metricsCsv(compare, variant), files);
  const explanation = explain(input);

  const report = {
    title: input.title,
    preset: input.preset,
    study: input.study,
    dataset,
    generated: new Date().toISOString(),
    seconds: input.seconds ?? null,
    runs: compare.runs.map(({ run, metrics }) => ({
      id: run.id,
      name: run.name,
      variant: variant(run),
      status: run.status,
      settings: run.settings,
      backend: run.backend,
      summary: compare.table.find((t) => t.runId === run.id),
      sparsity: w.runs.find((x) => x.runId === run.id)?.overall.sparsity ?? null,
      decay: w.runs.find((x) => x.runId === run.id)?.decay ?? null,
      metrics: metrics.map((m) => ({ epoch: m.epoch, train_loss: m.train_loss, train_acc: m.train_acc, val_loss: valMetrics(m).loss, val_acc: valMetrics(m).acc, test_loss: m.test_loss, test_acc: m.test_acc, lr: m.lr, sparsity: m.sparsity, weight_norms: m.weight_norms })),
      validation: validationSource(metrics),
    })),
    groups: compare.groups,
    diff: compare.diff,
    misclassified: input.misclassified.map((m) => ({
      runId: m.runId,
      runName: m.runName,
      file: `${galleries.find((g) => g.runId === m.runId)?.file}.png`,
      checkpoint: m.checkpoint,
      evaluated: m.evaluated,
      wrong: m.wrong,
      accuracy: m.accuracy,
      images: m.items.map((it) => ({ index: it.index, actual: it.actualName, predicted: it.predictedName, actualLabel: it.actual, predictedLabel: it.predicted, confidence: it.confidence })),
    })),
    weights: w.runs.map((r) => ({ runId: r.runId, runName: r.runName, checkpoint: r.checkpoint, overall: { count: r.overall.count, norm: r.overall.norm, sparsity: r.overall.sparsity }, layers: r.layers.map((l) => ({ name: l.name, count: l.count, norm: l.norm, sparsity: l.sparsity, quantiles: l.quantiles })) })),
    weightsNote: w.note,
    explanation,
    files: [...files, 'report.json', 'index.html'],
  };
  write(dir, 'report.json', JSON.stringify(report, null, 2) + '\n', files);
  write(dir, 'index.html', indexHtml(input, charts, galleries, explanation, report.runs), files);
  return { dir, files, explanation };
}

function indexHtml(
  input: ReportInput,
  charts: { file: string; title: string }[],
  galleries: { file: string; title: string; runId: string; variant: string }[],
  explanation: string[],
  runs: { id: string; name: string; variant: string; summary?: CompareRow }[],
): string {
  const diff = input.compare.diff;
  const diffTable = diff.length
    ? `<table><tr><th>setting</th>${input.compare.runs.map((r) => `<th>${esc(r.run.name)}</th>`).join('')}</tr>${diff
        .map((d) => `<tr><td>${esc(d.label)}</td>${input.compare.runs.map((r) => `<td>${esc(JSON.stringify(d.values[r.run.id]))}</td>`).join('')}</tr>`)
        .join('')}</table>`
    : '<p>All runs share the same settings.</p>';
  const valNote = validationNote(runs.find((r) => r.summary && r.summary.valSource !== 'held-out')?.summary?.valSource ?? 'held-out');
  const sumTable = `<table><tr><th>run</th><th>variant</th><th>final val acc</th><th>best val acc</th><th>best epoch</th><th>final test acc</th><th>|w|&lt;1e-3</th><th>kernel norm</th></tr>${runs
    .map((r) => `<tr><td>${esc(r.name)}</td><td>${esc(r.variant)}</td><td>${pct(r.summary?.finalValAcc)}</td><td>${pct(r.summary?.bestValAcc)}</td><td>${r.summary?.bestAccEpoch ?? '—'}</td><td>${pct(r.summary?.finalTestAcc)}</td><td>${pct(r.summary?.sparsity, 1)}</td><td>${r.summary?.kernelNorm?.toFixed(2) ?? '—'}</td></tr>`)
    .join('')}</table>${valNote ? `<p><em>Validation: ${esc(valNote)}.</em></p>` : '<p><em>Validation: a held-out share of the training images (never trained on); test: the dataset\'s test split, used for nothing but these numbers.</em></p>'}`;
  const gal = galleries
    .map((g) => {
      const m = input.misclassified.find((x) => x.runId === g.runId)!;
      const list = m.items.map((it) => `<li>#${it.index}: ${esc(caption(it).join(' / '))}</li>`).join('');
      return `<h3>${esc(g.title)}</h3><img src="${g.file}.png" alt="${esc(g.title)}"><details><summary>the ${m.items.length} images as text</summary><ol>${list}</ol></details>`;
    })
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(input.title)}</title>
<style>
body{font-family:"DejaVu Sans",system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#111;line-height:1.45}
img{max-width:100%;border:1px solid #ddd;margin:.5em 0}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left}
th{background:#f3f4f6}.expl li{margin:.4em 0}code{background:#f3f4f6;padding:0 .2em}
</style></head><body>
<h1>${esc(input.title)}</h1>
<p>Study <code>${esc(input.study.id)}</code> (${esc(input.study.name)}), preset <code>${esc(input.preset)}</code>, ${input.compare.runs.length} runs${input.seconds ? `, ${Math.round(input.seconds)} s` : ''}. Raw numbers: <a href="report.json">report.json</a>, <a href="metrics.csv">metrics.csv</a>.</p>
<h2>What L1 and L2 did here</h2><ul class="expl">${explanation.map((e) => `<li>${esc(e)}</li>`).join('')}</ul>
<h2>Summary</h2>${sumTable}
<h2>Settings that differ</h2>${diffTable}
<h2>Curves</h2>${charts.map((c) => `<figure><img src="${c.file}.png" alt="${esc(c.title)}"><figcaption><a href="${c.file}.svg">SVG</a></figcaption></figure>`).join('')}
<h2>Misclassified images</h2>${gal || '<p>None requested.</p>'}
<h2>Weights</h2><p>${esc(input.weights.note)}</p>
<img src="sparsity.png" alt="sparsity"><img src="weights_histograms.png" alt="weight histograms">
<ul>${input.weights.runs.map((r) => `<li>${esc(labelled(r.runName, r.decay.note))}</li>`).join('')}</ul>
</body></html>
`;
}
