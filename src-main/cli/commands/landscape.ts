/** `normlab landscape RUN [RUN2]`: loss landscape plots (PNG/SVG) and JSON for one run or two side by side. */
import { resolve } from 'node:path';
import type { LandscapeReport, LandscapeRequest } from '../../contract/landscape';
import { writeLandscapeFiles } from '../../analysis/landscape-render';
import { intFlag, numFlag, parse, UsageError, checkpointFlag } from '../args';
import { type Command, followJob, globalOptions, out, withServices, workspaceDir } from '../common';

/** Human-readable summary of one report. */
export function formatLandscape(r: LandscapeReport): string[] {
  const n = r.grid.n;
  let min = Infinity;
  let max = -Infinity;
  for (const v of r.grid.loss) { if (v < min) min = v; if (v > max) max = v; }
  const lines = [
    `run ${r.runId} (${r.runName}, norm ${r.norm}): ${r.checkpoint.tag} checkpoint, epoch ${r.checkpoint.epoch}; ${r.evalImages} test images of ${r.dataset}`,
    `centre (trained weights): loss ${r.centre.loss.toFixed(4)}, accuracy ${(100 * r.centre.acc).toFixed(2)}%`,
    `${n}×${n} grid along ${r.grid.directions === 'pca' ? 'the trajectory\'s PCA directions' : `two filter-normalized random directions (seed ${r.seed})`}` +
      `${r.recomputeBn ? ', BN statistics recomputed per point' : ', BN running statistics held fixed'}: loss ${min.toFixed(4)} … ${max.toFixed(4)}`,
  ];
  if (r.trajectory) {
    const [a, b] = r.trajectory.explained;
    lines.push(`trajectory: ${r.trajectory.epochs.length} points; PC1 explains ${(100 * a).toFixed(1)}%, PC2 ${(100 * b).toFixed(1)}% (together ${(100 * (a + b)).toFixed(1)}%)`);
  }
  if (r.line) {
    const k0 = r.line.alphas.findIndex((a) => Math.abs(a) < 1e-12);
    lines.push(`1-D line (${r.line.alphas.length} points, α −0.5…1.5)` + (k0 >= 0 ? `: loss at initial weights ${r.line.loss[k0].toFixed(4)}` : ''));
  }
  for (const note of r.notes) lines.push(`note: ${note}`);
  lines.push(`${r.backend}, ${r.seconds.toFixed(1)} s, ${r.pointsPerSecond.toFixed(1)} points/s`);
  return lines;
}

export const landscape: Command = {
  name: 'landscape',
  summary: 'loss landscape of a trained run (Li et al.): 2-D contours, trajectory, 1-D curve; PNG/SVG/JSON',
  usage:
    'normlab landscape RUN [RUN2] [--grid N] [--span X] [--eval-limit N] [--trajectory] [--recompute-bn] [--seed N] [--line N]\n' +
    '                  [--checkpoint best|last|recalibrated] [--out DIR] [--workspace DIR] [--json]\n\n' +
    '  RUN2                 a second run drawn beside the first on the same colour scale and seeded directions\n' +
    '  --grid N             points per axis, 3..61 (default 21)\n' +
    '  --span X             grid spans [−X, X] filter-normalized units (default 1)\n' +
    '  --eval-limit N       first N test images (default 1000)\n' +
    '  --trajectory         grid on the trajectory\'s PCA plane with the trajectory drawn (needs per-epoch weights)\n' +
    '  --recompute-bn       recompute BN statistics at every point instead of holding the running ones\n' +
    '  --seed N             seed of the random directions (default 1)\n' +
    '  --line N             points of the 1-D interpolation initial → final (default 41, 0 = none)\n' +
    '  --out DIR            where the PNG/SVG/JSON go (default: the first run\'s exports folder)',
  async run(argv) {
    const { values, positionals } = parse(argv, {
      ...globalOptions,
      grid: { type: 'string' },
      span: { type: 'string' },
      'eval-limit': { type: 'string' },
      trajectory: { type: 'boolean' },
      'recompute-bn': { type: 'boolean' },
      seed: { type: 'string' },
      line: { type: 'string' },
      checkpoint: { type: 'string' },
      out: { type: 'string' },
    });
    if (!positionals.length) throw new UsageError('landscape needs a run id (see normlab runs)');
    if (positionals.length > 2) throw new UsageError(`landscape takes one or two runs, got ${positionals.length}`);
    const checkpoint = checkpointFlag(values.checkpoint);
    const line = intFlag('line', values.line, 0, 401);
    if (line === 1) throw new UsageError('--line expects 0 (no curve) or at least 2 points');
    const base: Omit<LandscapeRequest, 'runId'> = {
      ...(values.grid !== undefined ? { grid: intFlag('grid', values.grid, 3, 61) } : {}),
      ...(values.span !== undefined ? { span: numFlag('span', values.span, 0, 100) } : {}),
      ...(values['eval-limit'] !== undefined ? { evalLimit: intFlag('eval-limit', values['eval-limit'], 1, 10_000_000) } : {}),
      ...(values.seed !== undefined ? { seed: intFlag('seed', values.seed, 0, 0xffffffff) } : {}),
      ...(line !== undefined ? { line } : {}),
      ...(values.trajectory ? { trajectory: true } : {}),
      ...(values['recompute-bn'] ? { recomputeBn: true } : {}),
      ...(checkpoint ? { checkpoint } : {}),
    };
    const json = Boolean(values.json);
    return withServices(workspaceDir(values.workspace), async (s) => {
      const stop = followJob(s, (j) => j.title.startsWith('Loss landscape'), process.stderr.isTTY && !json);
      const reports: LandscapeReport[] = [];
      try {
        for (const runId of positionals) {
          const r = await s.handle('landscape.compute', { runId, ...base });
          reports.push(r as LandscapeReport);
        }
      } finally {
        stop();
      }
      const dir = typeof values.out === 'string' && values.out ? resolve(values.out) : s.exportsDir(reports[0].runId);
      const files = writeLandscapeFiles(dir, reports);
      if (json) out(JSON.stringify({ reports, files }));
      else {
        for (const r of reports) {
          for (const l of formatLandscape(r)) out(l);
          out('');
        }
        out(`wrote ${files.length} files to ${dir}:`);
        for (const f of files) out(`  ${f}`);
      }
      return 0;
    });
  },
};

export const LANDSCAPE_COMMANDS: Command[] = [landscape];
