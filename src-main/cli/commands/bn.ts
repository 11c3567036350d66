/** `normlab bn RUN`: the BN inspector on the command line (running vs population vs batch statistics). */
import { CHECKPOINT_HELP } from '../../contract/checkpoint';
import type { JobInfo } from '../../contract/api';
import { translateMomentum, type BnReport } from '../../contract/bn';
import { intFlag, parse, UsageError, checkpointFlag } from '../args';
import { globalOptions, out, withServices, workspaceDir, type Command } from '../common';

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
const num = (x: number) => (Math.abs(x) >= 1e4 || (x !== 0 && Math.abs(x) < 1e-3) ? x.toExponential(3) : x.toFixed(4)).padStart(10);

/** Text report: layer tables, accuracy table, gap, lag, ghost spreads, momentum translation. */
export function formatBnReport(r: BnReport, channelsShown = Infinity): string[] {
  const lines: string[] = [];
  if (!r.hasBn) return [r.message];
  lines.push(`BN inspector — run ${r.runId}, ${r.message}`);
  lines.push(`population statistics over ${r.populationImages} training images; accuracy over ${r.testImages} test images`);
  lines.push(`method: ${r.method}`);
  lines.push('');
  lines.push(`momentum (${r.layers[0]?.convention ?? 'pytorch'} convention, ${r.layers[0]?.momentum ?? 'null'}):`);
  for (const l of r.momentum.lines) lines.push(`  ${l}`);
  for (const layer of r.layers) {
    const s = r.stats[layer.name];
    lines.push('');
    lines.push(`${layer.name}  ${layer.kind}${layer.virtualBatch ? `(${layer.virtualBatch})` : ''}, ${layer.channels} channels, input ${layer.spatial[0]}×${layer.spatial[1]} positions per image, ε=${layer.eps}`);
    lines.push(`  ch  ${'run mean'.padStart(10)}${'pop mean'.padStart(10)}${'batch mean'.padStart(11)}  ${'run var'.padStart(10)}${'pop var'.padStart(10)}${'batch var'.padStart(11)}  |Δmean|/σ`);
    const shown = Math.min(layer.channels, channelsShown);
    for (let c = 0; c < shown; c++) {
      const d = Math.abs(s.running.mean[c] - s.population.mean[c]) / Math.sqrt(s.population.var[c]);
      lines.push(
        `  ${String(c).padStart(2)}  ${num(s.running.mean[c])}${num(s.population.mean[c])} ${s.lastBatch ? num(s.lastBatch.mean[c]) : '—'.padStart(10)}  ` +
          `${num(s.running.var[c])}${num(s.population.var[c])} ${s.lastBatch ? num(s.lastBatch.var[c]) : '—'.padStart(10)}  ${d.toFixed(4)}`,
      );
    }
    if (shown < layer.channels) lines.push(`  … ${layer.channels - shown} more channels (--channels N)`);
  }
  lines.push('');
  lines.push(`test accuracy (${r.testImages} images)`);
  const w = Math.max(...r.accuracy.map((a) => a.label.length));
  for (const a of r.accuracy) {
    lines.push(`  ${a.label.padEnd(w)}  acc ${pct(a.acc).padStart(7)}  loss ${a.loss.toFixed(4)}${a.zeroVarChannels ? `  (${a.zeroVarChannels} zero-variance channel·batches → β)` : ''}${a.note ? `  — ${a.note}` : ''}`);
  }
  lines.push('');
  lines.push(`train-mode vs eval-mode on ${r.gap.evalMode.images} training images`);
  for (const a of [r.gap.trainMode, r.gap.batchStatsNoDropout, r.gap.evalMode]) lines.push(`  ${a.label.padEnd(46)}  acc ${pct(a.acc).padStart(7)}  loss ${a.loss.toFixed(4)}`);
  lines.push(`  gap (eval − train): loss ${r.gap.lossGap >= 0 ? '+' : ''}${r.gap.lossGap.toFixed(4)}, acc ${r.gap.accGap >= 0 ? '+' : ''}${(100 * r.gap.accGap).toFixed(2)} points`);
  lines.push('');
  lines.push('lag of the running estimate (mean over channels: |running − reference mean|/σ, |ln(running var / reference var)|)');
  for (const p of r.lag) {
    const parts = Object.entries(p.layers).map(([n, v]) => `${n} ${v.meanLag.toFixed(3)}/${v.varLogRatio.toFixed(3)}`);
    lines.push(`  epoch ${p.epoch} (step ${p.step}, ${p.source}): ${parts.join('  ')}`);
  }
  if (r.ghost.length) {
    lines.push('');
    lines.push('virtual-batch spread (mean over channels: std of the virtual-batch mean in σ units / of the variance relative to the population variance)');
    for (const g of r.ghost) {
      const parts = Object.entries(g.layers).map(([n, v]) => {
        const m = v.meanSpread.reduce((a, b) => a + b, 0) / v.meanSpread.length;
        const q = v.varSpread.reduce((a, b) => a + b, 0) / v.varSpread.length;
        return `${n} ${m.toFixed(3)}/${q.toFixed(3)}`;
      });
      lines.push(`  ${String(g.virtualBatch).padStart(4)} (${g.batches} batches): ${parts.join('  ')}`);
    }
  }
  lines.push('');
  const t = r.timelineCheck;
  lines.push(t.possible
    ? `timeline check: ${t.steps} steps replayed through the momentum formula; max |Δ| running mean ${t.maxAbsErrMean!.toExponential(2)}, running var ${t.maxAbsErrVar!.toExponential(2)}`
    : `timeline check: not possible — ${t.reason}`);
  if (r.recalibrated) {
    const d = r.recalibrated.accAfter - r.recalibrated.accBefore;
    lines.push('');
    lines.push(`recalibrated: wrote checkpoint "${r.recalibrated.checkpoint}" with population statistics; ` +
      `test acc ${pct(r.recalibrated.accBefore)} → ${pct(r.recalibrated.accAfter)} (${d >= 0 ? '+' : ''}${(100 * d).toFixed(2)} points), ` +
      `loss ${r.recalibrated.lossBefore.toFixed(4)} → ${r.recalibrated.lossAfter.toFixed(4)}`);
  }
  lines.push(`(${r.seconds.toFixed(1)} s)`);
  return lines;
}

export const bnCmd: Command = {
  name: 'bn',
  summary: 'BN inspector: running vs population (precise BN) vs batch statistics, accuracy table, --recalibrate',
  usage:
    'normlab bn RUN [--limit N] [--test-limit N] [--batch-sizes 1,8,32,128,512] [--checkpoint TAG] [--recalibrate] [--channels N] [--json] [--workspace DIR]\n' +
    '       normlab bn --momentum M [--convention pytorch|keras|onnx]    (translate a BN momentum; M = null for cumulative)\n\n' +
    '  --limit N            training images for the population statistics (default: the run\'s whole training split)\n' +
    '  --test-limit N       test images for the accuracy table (default: the run\'s test split)\n' +
    '  --batch-sizes LIST   test batch sizes for batch statistics (default 1,8,32,128,512)\n' +
    `  --checkpoint TAG     checkpoint to inspect: ${CHECKPOINT_HELP}\n` +
    '  --recalibrate        write checkpoint "recalibrated" with population statistics and report the accuracy change\n' +
    '  --channels N         channels per layer in the text tables (default all)',
  async run(argv) {
    const { values, positionals } = parse(argv, {
      ...globalOptions,
      limit: { type: 'string' },
      'test-limit': { type: 'string' },
      'batch-sizes': { type: 'string' },
      checkpoint: { type: 'string' },
      recalibrate: { type: 'boolean' },
      channels: { type: 'string' },
      momentum: { type: 'string' },
      convention: { type: 'string' },
    });
    if (values.momentum !== undefined) {
      const conv = (values.convention as string | undefined) ?? 'pytorch';
      if (conv !== 'pytorch' && conv !== 'keras' && conv !== 'onnx') throw new UsageError(`--convention expects pytorch, keras or onnx, got "${conv}"`);
      const raw = String(values.momentum);
      const m = raw === 'null' || raw === 'none' ? null : Number(raw);
      if (m !== null && (!Number.isFinite(m) || m < 0 || m > 1)) throw new UsageError(`--momentum expects a number in [0, 1] or null, got "${raw}"`);
      const t = translateMomentum(conv, m);
      if (values.json) out(JSON.stringify(t));
      else for (const l of t.lines) out(l);
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError('give exactly one run id');
    const batchSizes = values['batch-sizes'] === undefined ? undefined : String(values['batch-sizes']).split(',').map((b) => {
      const n = Number(b);
      if (!Number.isInteger(n) || n < 1 || n > 8192) throw new UsageError(`--batch-sizes expects whole numbers from 1 to 8192, got "${b}"`);
      return n;
    });
    const req = {
      id: positionals[0],
      ...(values.limit !== undefined ? { limit: intFlag('limit', values.limit, 1, 10_000_000) } : {}),
      ...(values['test-limit'] !== undefined ? { testLimit: intFlag('test-limit', values['test-limit'], 1, 10_000_000) } : {}),
      ...(batchSizes ? { batchSizes } : {}),
      ...(values.checkpoint !== undefined ? { checkpoint: checkpointFlag(values.checkpoint)! } : {}),
      ...(values.recalibrate ? { recalibrate: true } : {}),
    };
    const channels = intFlag('channels', values.channels, 1, 100_000) ?? Infinity;
    return withServices(workspaceDir(values.workspace), async (s) => {
      const tty = process.stderr.isTTY && !values.json;
      const off = s.subscribe((event, payload) => {
        const j = payload as JobInfo;
        if (tty && event === 'job.updated' && j.kind === 'analysis' && j.progress) {
          process.stderr.write(`\r\x1b[K${(100 * j.progress.fraction).toFixed(0).padStart(3)}% ${j.progress.message}`);
        }
      });
      let report: BnReport;
      try {
        report = (await s.handle('bn.inspect', req)) as BnReport;
      } finally {
        off();
        if (tty) process.stderr.write('\r\x1b[K');
      }
      if (values.json) out(JSON.stringify(report));
      else if (!report.hasBn) process.stderr.write(`normlab bn: ${report.message}\n`);
      else for (const l of formatBnReport(report, channels)) out(l);
      // Like `normlab dropout`: asking to inspect something that is not there is an error.
      return report.hasBn ? 0 : 1;
    });
  },
};

export const BN_COMMANDS: Command[] = [bnCmd];
