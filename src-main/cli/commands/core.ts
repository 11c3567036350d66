/** Core commands: info, serve, train, runs, show, resume, rm. */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn } from 'node:child_process';
import type { EngineInfo, JobInfo, ResumeReport, RunDetail, RunRecord } from '../../contract/api';
import type { StudySummary } from '../../contract/study';
import { parse, settingOptions, settingsFromFlags, settingsHelp, UsageError } from '../args';
import { followRun, formatEpoch, globalOptions, out, runSummary, StopSignals, withServices, workspaceDir, type Command } from '../common';
import { createServices } from '../../services';

const pct = (x: number | null | undefined) => (x === null || x === undefined ? '—' : `${(100 * x).toFixed(2)}%`);

export const info: Command = {
  name: 'info',
  summary: 'engine backend in use and why, versions, datasets found',
  usage: 'normlab info [--json] [--workspace DIR]',
  async run(argv) {
    const { values } = parse(argv, globalOptions, false);
    const i = (await withServices(workspaceDir(values.workspace), (s) => s.handle('engine.info', {}), { init: values.init, readOnly: true })) as EngineInfo;
    if (values.json) {
      out(JSON.stringify(i));
      return 0;
    }
    out(`backend    ${i.backend}${i.threads ? ` (${i.threads} thread${i.threads > 1 ? 's' : ''})` : ''} — ${i.reason}`);
    for (const t of i.tried) out(`           tried ${t.name}: ${t.ok ? 'ok' : t.error}`);
    out(`training   ${i.training.note}`);
    out(`versions   ${Object.entries(i.versions).map(([k, v]) => `${k} ${v}`).join(', ')}`);
    for (const d of i.datasets) out(`dataset    ${d.name.padEnd(14)} ${d.available ? 'available' : 'missing  '} ${d.source}${d.note ? ` — ${d.note}` : ''}`);
    out(`workspace  ${i.workspace}`);
    return 0;
  },
};

export const serve: Command = {
  name: 'serve',
  summary: 'browser mode: serve the workbench on 127.0.0.1 with a per-launch token',
  usage: 'normlab serve [--port N] [--open] [--data-root DIR]… [--workspace DIR [--init]]\n\n' +
    '  --data-root DIR   a folder the browser may read datasets (and .onnx files) from; repeat for more.\n' +
    '                    Without it only the named datasets (mnist-sample, fashion-mnist, …) can be used.',
  async run(argv) {
    const { values } = parse(argv, { ...globalOptions, port: { type: 'string' }, open: { type: 'boolean' }, 'data-root': { type: 'string', multiple: true } }, false);
    const port = values.port === undefined ? 0 : Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port expects 0..65535, got ${values.port}`);
    const { startServer } = await import('../../server/server');
    const dataRoots = (values['data-root'] as string[] | undefined) ?? [];
    const services = await createServices({ workspace: workspaceDir(values.workspace), init: values.init === true, dataRoots });
    const rendererDir = join(dirname(fileURLToPath(import.meta.url)), '../renderer');
    const server = await startServer(services, { port, rendererDir });
    out(`NormLab browser mode: ${server.url}`);
    out(`workspace ${services.root} — Ctrl-C to stop`);
    out(dataRoots.length ? `datasets from ${dataRoots.join(', ')} and the named ones` : 'datasets: the named ones only (add --data-root DIR for folders)');
    if (values.open) openInBrowser(server.url);
    await new Promise<void>((resolveStop) => {
      const stop = () => resolveStop();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await server.close();
    await services.close();
    return 0;
  },
};

function openInBrowser(url: string): void {
  const cmd = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  if (process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY) {
    out('(no display: open the URL above in a browser)');
    return;
  }
  const child = spawn(cmd, [url], { stdio: 'ignore', detached: true });
  child.on('error', () => out('(could not open a browser: open the URL above yourself)'));
  child.unref();
}

export const train: Command = {
  name: 'train',
  summary: 'train one run (flags from the settings table); SIGINT cancels it (exit 130), SIGTERM interrupts it (exit 143)',
  usage:
    `normlab train [--data mnist|mnist-sample|fashion-mnist|DIR] [flags] [--workspace DIR [--init]] [--json]\n` +
    `       normlab train --run RUN [--workspace DIR] [--json]   (train a queued run, or resume an interrupted one from its last checkpoint: what a Slurm task runs)\n\n` +
    `SIGINT (Ctrl-C) stops after the current step and records the run cancelled (exit 130); SIGTERM (scancel, a time limit)\n` +
    `records it interrupted (exit 143), so that \`normlab resume\` or Slurm's requeue continues from the last finished epoch.\n\nFlags:\n${settingsHelp()}`,
  async run(argv) {
    const stop = new StopSignals();
    try {
      const { values } = parse(argv, { ...globalOptions, ...settingOptions(), run: { type: 'string' } }, false);
      const { run: runFlag, workspace, json: _json, help: _help, init, ...rest } = values as Record<string, string | boolean | undefined>;
      const settings = settingsFromFlags(rest);
      if (runFlag !== undefined && Object.keys(settings).length) throw new UsageError('--run trains an existing run with its own settings; give no settings flags with it');
      return await withServices(workspaceDir(workspace), async (s) => {
        let started: { run: RunRecord; job: JobInfo };
        if (typeof runFlag === 'string') {
          const existing = s.storedRun(runFlag);
          if (existing.status === 'done' || existing.status === 'stopped-early') {
            out(values.json ? JSON.stringify(await runSummary(s, existing)) : `run ${existing.id} is already ${existing.status}; nothing to train`);
            return 0;
          }
          const resumed = (await s.handle('runs.resume', { id: runFlag })) as { run: RunRecord; job: JobInfo; resume: ResumeReport };
          started = resumed;
          if (!values.json) out(`run ${started.run.id}: ${resumed.resume.epoch ? `resuming after epoch ${resumed.resume.epoch} of ${started.run.settings.epochs}` : `${started.run.settings.epochs} epochs`} on ${started.run.settings.data}`);
        } else {
          started = (await s.handle('runs.start', { settings })) as typeof started;
          if (!values.json) out(`run ${started.run.id}: ${started.run.settings.epochs} epochs on ${started.run.settings.data}`);
        }
        const final = await followRun(s, started.run, started.job, Boolean(values.json), stop);
        const summary = await runSummary(s, final);
        out(values.json ? JSON.stringify(summary) : humanSummary(summary));
        return stop.exitCode(final);
      }, { init });
    } finally {
      stop.release();
    }
  },
};

function humanSummary(s: Record<string, unknown>): string {
  const lines = [
    `run ${s.run_id}: ${s.status} after ${s.epochs} epochs in ${s.seconds}s on ${s.backend}`,
    s.val_is_test
      ? `validation = test (no validation split): accuracy ${pct(s.val_acc as number)} (best ${pct(s.best_val_acc as number)}), loss ${(s.val_loss as number | null)?.toFixed(4) ?? '—'}`
      : `validation accuracy ${pct(s.val_acc as number)} (best ${pct(s.best_val_acc as number)}; best checkpoint epoch ${s.best_epoch ?? '—'}), validation loss ${(s.val_loss as number | null)?.toFixed(4) ?? '—'}`,
    `test accuracy ${pct(s.test_acc as number)}, test loss ${(s.test_loss as number | null)?.toFixed(4) ?? '—'}, ${s.params} parameters`,
  ];
  if (s.error) lines.push(`error: ${s.error}`);
  return lines.join('\n');
}

export const resume: Command = {
  name: 'resume',
  summary: 'continue an interrupted or cancelled run from its last checkpoint',
  usage: 'normlab resume RUN [--workspace DIR] [--json]',
  async run(argv) {
    const { values, positionals } = parse(argv, globalOptions);
    const id = positionals[0];
    if (!id) throw new UsageError('resume needs a run id (see normlab runs)');
    const stop = new StopSignals();
    try {
      return await withServices(workspaceDir(values.workspace), async (s) => {
        const { run, job, resume: cut } = (await s.handle('runs.resume', { id })) as { run: RunRecord; job: JobInfo; resume: ResumeReport };
        // What resume kept and dropped: lines before training, or (--json) a field of the summary.
        if (!values.json) for (const line of resumeLines(run.id, cut)) out(line);
        const final = await followRun(s, run, job, Boolean(values.json), stop);
        const summary = await runSummary(s, final);
        out(values.json ? JSON.stringify({ ...summary, resume: cut }) : humanSummary(summary));
        return stop.exitCode(final);
      }, { readOnly: true });
    } finally {
      stop.release();
    }
  },
};

/** What a resume says before it trains: the checkpoint it starts from and what it kept and dropped. */
export function resumeLines(id: string, r: ResumeReport): string[] {
  const n = (x: number, what: string) => `${x} ${what}${x === 1 ? '' : 's'}`;
  const lines = r.notes.map((note) => `note: ${note}`);
  lines.push(
    r.epoch > 0
      ? `resuming ${id} from its checkpoint after epoch ${r.epoch}`
      : `run ${id} has no usable checkpoint: training it again from epoch 1`,
  );
  lines.push(
    `kept ${n(r.kept.metrics, 'metrics line')}, ${n(r.kept.steps, 'step-loss line')}, ${n(r.kept.bn, 'BN record')}, ${n(r.kept.weights, 'per-epoch weight file')}; ` +
      `dropped ${n(r.dropped.metrics, 'metrics line')}, ${n(r.dropped.steps, 'step-loss line')}, ${n(r.dropped.bn, 'BN record')}, ${n(r.dropped.weights, 'per-epoch weight file')} (after epoch ${r.epoch})`,
  );
  for (const d of r.damagedLines) lines.push(`moved ${n(d.lines, 'unreadable line')} of ${d.file} to ${d.file}.damaged`);
  return lines;
}

export const runs: Command = {
  name: 'runs',
  summary: 'list the runs in the workspace (runs on Slurm with their task\'s state)',
  usage: 'normlab runs [--workspace DIR] [--json]',
  async run(argv) {
    const { values } = parse(argv, globalOptions, false);
    const list = (await withServices(workspaceDir(values.workspace), (s) => s.handle('runs.list', {}), { init: values.init, readOnly: true })) as RunRecord[];
    if (values.json) {
      out(JSON.stringify(list));
      return 0;
    }
    if (!list.length) {
      out('no runs yet: try `normlab train --epochs 1`');
      return 0;
    }
    const anySlurm = list.some((r) => r.slurm);
    out(`${'id'.padEnd(24)} ${'status'.padEnd(13)} ${'data'.padEnd(14)} ${'epochs'.padEnd(7)} ${'norm'.padEnd(6)} ${'l1'.padEnd(7)} ${'l2'.padEnd(7)} ${'best val acc'.padEnd(14)} ${'final test acc'.padEnd(14)}${anySlurm ? ' slurm task' : ''}`);
    for (const r of list) {
      if (r.damaged) {
        out(`${r.id.padEnd(24)} ${'damaged'.padEnd(13)} ${r.damaged}`);
        continue;
      }
      out(
        `${r.id.padEnd(24)} ${r.status.padEnd(13)} ${r.settings.data.slice(-14).padEnd(14)} ${`${r.epochsDone}/${r.settings.epochs}`.padEnd(7)} ` +
          `${r.settings.norm.padEnd(6)} ${String(r.settings.l1).padEnd(7)} ${String(r.settings.l2).padEnd(7)} ` +
          `${(r.bestValAcc !== undefined && !r.splits?.valIsTest ? pct(r.bestValAcc) : `${pct(r.bestTestAcc)} (=test)`).padEnd(14)} ${pct(r.finalTestAcc).padEnd(14)}` +
          (r.slurm ? ` ${r.slurm.jobId}_${r.slurm.taskId} ${r.slurm.state ?? ''}${r.slurm.note ? ` (${r.slurm.note})` : ''}` : ''),
      );
    }
    return 0;
  },
};

export const show: Command = {
  name: 'show',
  summary: 'one run: record, settings, per-epoch metrics and per-step training loss',
  usage: 'normlab show RUN [--workspace DIR] [--json]',
  async run(argv) {
    const { values, positionals } = parse(argv, globalOptions);
    const id = positionals[0];
    if (!id) throw new UsageError('show needs a run id (see normlab runs)');
    const detail = (await withServices(workspaceDir(values.workspace), (s) => s.handle('runs.get', { id }), { init: values.init, readOnly: true })) as RunDetail;
    if (values.json) {
      out(JSON.stringify(detail));
      return 0;
    }
    const r = detail.run;
    out(`run ${r.id}${r.name ? ` (${r.name})` : ''}: ${r.status}${r.error ? ` — ${r.error}` : ''}`);
    if (r.damaged) out(`DAMAGED: ${r.damaged} — analyses, exports and resume refuse this run`);
    out(`data ${r.settings.data}, backend ${r.backend}, ${r.params ?? '?'} parameters, created ${r.created}`);
    out(`settings ${JSON.stringify(r.settings)}`);
    for (const m of detail.metrics) out(formatEpoch(m, r.settings.epochs));
    const points = (detail.steps ?? []).flatMap((e) => e.points);
    if (points.length) {
      out(`per-step loss: ${points.length} points over ${detail.steps!.length} epoch${detail.steps!.length === 1 ? '' : 's'}, ${points[0][1].toFixed(4)} at step ${points[0][0]} → ${points.at(-1)![1].toFixed(4)} at step ${points.at(-1)![0]} (--json for all)`);
    }
    out(`files ${detail.files.map((f) => `${f.name} (${f.bytes} B)`).join(', ')}`);
    return 0;
  },
};

export const rm: Command = {
  name: 'rm',
  summary: 'delete a run and its files',
  usage: 'normlab rm RUN [--workspace DIR]',
  async run(argv) {
    const { values, positionals } = parse(argv, globalOptions);
    const id = positionals[0];
    if (!id) throw new UsageError('rm needs a run id (see normlab runs)');
    await withServices(workspaceDir(values.workspace), (s) => s.handle('runs.delete', { id }), { init: values.init, readOnly: true });
    out(`deleted ${id}`);
    return 0;
  },
};

export const cancel: Command = {
  name: 'cancel',
  summary: 'cancel runs trained by Slurm (scancel), by run or study id',
  usage: 'normlab cancel RUN|STUDY… [--workspace DIR] [--json]\n\nA running task gets SIGINT and records its run cancelled after the current step; a pending one is removed from the queue.\nLocal runs stop with Ctrl-C in the process that trains them, or from the app.',
  async run(argv) {
    const { values, positionals } = parse(argv, globalOptions);
    if (!positionals.length) throw new UsageError('give run or study ids (normlab runs lists them)');
    // The engine starts only when a request needs one: scancel goes out at once.
    const results = await withServices(workspaceDir(values.workspace), async (s) => {
      const ids: string[] = [];
      const studies = new Map(((await s.handle('study.list', {})) as StudySummary[]).map((x) => [x.id, x]));
      for (const p of positionals) {
        const study = studies.get(p);
        if (study?.error) throw new Error(`study ${p} cannot be read: ${study.error}`);
        ids.push(...(study ? study.runIds : [p]));
      }
      const done: { run_id: string; cancelled: boolean; status: string; note?: string }[] = [];
      for (const id of ids) {
        const run = s.storedRun(id);
        if (!run.slurm) {
          done.push({ run_id: id, cancelled: false, status: run.status, note: 'not a Slurm run: stop it where it trains (Ctrl-C or the app)' });
          continue;
        }
        const { cancelled } = (await s.handle('runs.cancel', { id })) as { cancelled: boolean };
        const after = ((await s.handle('runs.get', { id })) as RunDetail).run;
        done.push({ run_id: id, cancelled, status: after.status, ...(cancelled ? {} : { note: `its Slurm task is ${after.slurm?.state ?? 'unknown'}` }) });
      }
      return done;
    }, { readOnly: true });
    if (values.json) out(JSON.stringify(results));
    else for (const r of results) out(`${r.run_id}: ${r.cancelled ? 'cancelled' : 'not cancelled'} (now ${r.status})${r.note ? ` — ${r.note}` : ''}`);
    return results.some((r) => r.cancelled) || results.every((r) => r.status !== 'running' && r.status !== 'queued') ? 0 : 1;
  },
};

export const CORE_COMMANDS: Command[] = [info, serve, train, runs, show, resume, rm, cancel];
