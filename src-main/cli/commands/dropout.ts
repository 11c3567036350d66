/** `normlab dropout RUN`: MC-dropout ensemble against the weight-scaling rule. */
import { CHECKPOINT_HELP } from '../../contract/checkpoint';
import type { DropoutReport, DropoutResult } from '../../contract/dropout';
import { intFlag, parse, UsageError, checkpointFlag } from '../args';
import { type Command, followJob, globalOptions, out, withServices, workspaceDir } from '../common';

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;

/** Curve rows worth printing: K = 1, 2, 4, 8, … and the last. */
export function curveRows(samples: number): number[] {
  const ks: number[] = [];
  for (let k = 1; k < samples; k *= 2) ks.push(k);
  ks.push(samples);
  return ks;
}

/** The human-readable report. */
export function formatReport(r: DropoutReport): string[] {
  const lines = [
    `run ${r.runId} (${r.runName}): ${r.checkpoint.tag} checkpoint (epoch ${r.checkpoint.epoch})` +
      (r.checkpoint.tag !== r.checkpoint.requested ? ` — no ${r.checkpoint.requested} checkpoint` : ''),
    `${r.images} test images of ${r.dataset}, K = ${r.samples} masks, seed ${r.seed}, dropout ${r.dropoutLayers.map((l) => `${l.name} ${l.rate}`).join(', ')}`,
    '',
    `weight-scaled network   accuracy ${pct(r.weightScaled.acc)}  loss ${r.weightScaled.loss.toFixed(4)}`,
    `MC ensemble (K=${String(r.samples).padEnd(3)})     accuracy ${pct(r.ensemble.acc)}  loss ${r.ensemble.loss.toFixed(4)}`,
    `single mask (mean)      accuracy ${pct(r.ensemble.meanMemberAcc)}`,
    '',
    '   K  ensemble acc  ensemble loss  mask-K acc',
    ...curveRows(r.samples).map((k) => {
      const c = r.curve[k - 1];
      return `${String(k).padStart(4)}  ${pct(c.acc).padStart(12)}  ${c.loss.toFixed(4).padStart(13)}  ${pct(c.memberAcc).padStart(10)}`;
    }),
    '',
    `uncertainty: mean entropy ${r.ensemble.meanEntropy.toFixed(4)} nats, mutual information ${r.ensemble.meanMutualInfo.toFixed(4)}, ` +
      `disagreement ${pct(r.ensemble.meanDisagreement)}, same class as weight-scaled ${pct(r.ensemble.agreementWithWeightScaled)}`,
    `accuracy by entropy decile (1 = most certain): ${r.deciles.map((d) => `${d.decile}:${pct(d.acc)}`).join('  ')}`,
    `${r.backend}, ${r.seconds.toFixed(1)}s`,
  ];
  return lines;
}

export const dropout: Command = {
  name: 'dropout',
  summary: 'MC-dropout ensemble of a trained run vs the weight-scaling rule',
  usage:
    'normlab dropout RUN [--samples K] [--test-limit N] [--seed N] [--checkpoint best|last|recalibrated] [--workspace DIR] [--json]\n\n' +
    '  --samples K          dropout masks to sample, 1..256 (default 64)\n' +
    '  --test-limit N       first N test images, 0 = all (default 1000)\n' +
    '  --seed N             seed of the masks (default: the run\'s seed)\n' +
    `  --checkpoint TAG     ${CHECKPOINT_HELP}`,
  async run(argv) {
    const { values, positionals } = parse(argv, {
      ...globalOptions,
      samples: { type: 'string' },
      'test-limit': { type: 'string' },
      seed: { type: 'string' },
      checkpoint: { type: 'string' },
    });
    const runId = positionals[0];
    if (!runId) throw new UsageError('dropout needs a run id (see normlab runs)');
    if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}"`);
    const checkpoint = checkpointFlag(values.checkpoint);
    const req = {
      runId,
      ...(values.samples !== undefined ? { samples: intFlag('samples', values.samples, 1, 256) } : {}),
      ...(values['test-limit'] !== undefined ? { testLimit: intFlag('test-limit', values['test-limit'], 0, 10_000_000) } : {}),
      ...(values.seed !== undefined ? { seed: intFlag('seed', values.seed, 0, 0xffffffff) } : {}),
      ...(checkpoint ? { checkpoint } : {}),
    };
    const json = Boolean(values.json);
    return withServices(workspaceDir(values.workspace), async (s) => {
      const stop = followJob(s, (j) => j.runId === runId && j.title.startsWith('Dropout ensemble'), process.stderr.isTTY && !json);
      let r: DropoutResult;
      try {
        r = (await s.handle('dropout.analyze', req)) as DropoutResult;
      } finally {
        stop();
      }
      if (r.status === 'unavailable') {
        if (json) out(JSON.stringify(r));
        else {
          out(r.message);
          if (r.suggestion) {
            const flags = Object.entries(r.suggestion.settings).map(([k, v]) => `--${k} ${v}`).join(' ');
            out(`${r.suggestion.label}: normlab train ${flags} … (with the run's other settings)`);
          }
        }
        return 1;
      }
      if (json) {
        // Pixels are for the view's image grid; the command line gets the numbers.
        out(JSON.stringify({ ...r, gallery: r.gallery.map(({ pixels: _pixels, ...g }) => g) }));
      } else {
        for (const line of formatReport(r)) out(line);
      }
      return 0;
    });
  },
};

export const DROPOUT_COMMANDS: Command[] = [dropout];
