/** Study commands: study (run a preset and write a report), compare, misclassified. */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { EpochMetrics, JobInfo, RunRecord } from '../../contract/api';
import type { CompareResult, CompareRow, MisclassifiedResult, StudyDetail, StudyStartResult, WeightsResult } from '../../contract/study';
import type { SlurmOptions } from '../../contract/slurm';
import { systemSlurm } from '../../services/slurm';
import { PRESET_IDS, listPresets } from '../../analysis/presets';
import { isPreset } from '../../model';
import { writeReport, s6Variant } from '../../analysis/report';
import { gallerySvg, galleryTitle, svgToPng, caption } from '../../analysis/gallery';
import { defaultParallel, MAX_PARALLEL, type DoorServices } from '../../services';
import { parse, UsageError, checkpointFlag } from '../args';
import { bar as barText, formatEpoch, globalOptions, out, withServices, workspaceDir, type Command } from '../common';

const pct = (x: number | null | undefined) => (x === null || x === undefined ? '—' : `${(100 * x).toFixed(2)}%`);

function num(flag: string, raw: unknown, integer = false): number | undefined {
  if (raw === undefined) return undefined;
  const v = Number(raw);
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
    throw new UsageError(`--${flag} expects ${integer ? 'a whole number' : 'a number'}, got "${String(raw)}"`);
  }
  return v;
}

const TERMINAL = new Set(['done', 'failed', 'cancelled']);

/**
 * Waits for every job to end, printing one line per finished epoch (JSON with --json) and an
 * overall progress bar on a TTY. Ctrl-C cancels every run of the study.
 */
async function followJobs(s: DoorServices, runs: RunRecord[], jobs: JobInfo[], json: boolean, seen: Map<string, JobInfo>): Promise<void> {
  const tty = process.stderr.isTTY && !json;
  const ids = new Set(jobs.map((j) => j.id));
  const names = new Map(runs.map((r) => [r.id, r] as const));
  const state = new Map<string, JobInfo>(jobs.map((j) => [j.id, seen.get(j.id) ?? j]));
  const bar = () => {
    let f = 0;
    for (const j of state.values()) f += TERMINAL.has(j.state) ? 1 : j.progress?.fraction ?? 0;
    const frac = f / Math.max(1, state.size);
    const running = [...state.values()].filter((j) => j.state === 'running');
    if (running.length > 1) return barText(frac, `${running.length} runs training at once`);
    return barText(frac, running[0] ? `${running[0].title}: ${running[0].progress?.message ?? ''}` : '');
  };
  let interrupted = 0;
  const onSigint = () => {
    interrupted += 1;
    if (interrupted > 1) process.exit(130);
    process.stderr.write('\ncancelling the study after the current step (Ctrl-C again to quit at once)…\n');
    for (const r of runs) void s.handle('runs.cancel', { id: r.id }).catch(() => undefined);
  };
  process.on('SIGINT', onSigint);
  try {
    await new Promise<void>((done) => {
      const check = () => {
        if ([...state.values()].every((j) => TERMINAL.has(j.state))) {
          unsubscribe();
          if (tty) process.stderr.write('\r\x1b[K');
          done();
        }
      };
      const unsubscribe = s.subscribe((event, payload) => {
        if (event === 'run.epoch') {
          const e = payload as { runId: string; metrics: EpochMetrics };
          const run = names.get(e.runId);
          if (!run) return;
          if (tty) process.stderr.write('\r\x1b[K');
          out(json ? JSON.stringify({ run_id: run.id, run: run.name, ...e.metrics }) : `${run.name.padEnd(28).slice(0, 28)} ${formatEpoch(e.metrics, run.settings.epochs)}`);
          if (tty) process.stderr.write(bar());
        } else if (event === 'job.updated') {
          const j = payload as JobInfo;
          if (!ids.has(j.id)) return;
          state.set(j.id, j);
          if (tty) process.stderr.write('\r\x1b[K' + bar());
          check();
        }
      });
      check();
    });
  } finally {
    process.off('SIGINT', onSigint);
  }
}

/** Runs whose galleries the report shows: S6 → the L1 and L2 runs; otherwise the first run of each group. */
function galleryTargets(preset: string, compare: CompareResult): string[] {
  if (preset === 's6') {
    const pick = (v: string) => compare.runs.find((r) => s6Variant(r.run) === v)?.run.id;
    return [pick('l1'), pick('l2')].filter((x): x is string => Boolean(x));
  }
  return compare.groups.slice(0, 8).map((g) => g.runIds[0]);
}

/**
 * Writes the report folder of a study from its runs in the workspace (compare table, galleries,
 * weights) and prints the summary; the local `study` command and the Slurm report job share it.
 * Returns the exit status: 1 when some run did not finish.
 */
async function writeStudyReport(s: DoorServices, studyId: string, preset: string, outDir: string, json: boolean, seconds?: number): Promise<number> {
  const detail = (await s.handle('study.get', { id: studyId })) as StudyDetail;
  const runs = detail.runs;
  const failed = runs.filter((r) => r.status === 'failed' || r.status === 'cancelled' || r.status === 'interrupted');
  if (failed.length === runs.length) throw new Error(`no run of study ${studyId} finished: ${failed.map((r) => `${r.name}: ${r.status}${r.error ? ` (${r.error})` : ''}`).join('; ')}`);
  const ok = runs.filter((r) => r.epochsDone > 0).map((r) => r.id);
  const compare = (await s.handle('runs.compare', { runIds: ok })) as CompareResult;
  const misclassified: MisclassifiedResult[] = [];
  for (const id of galleryTargets(preset, compare)) {
    misclassified.push((await s.handle('analysis.misclassified', { runId: id, n: 25 })) as MisclassifiedResult);
  }
  const weights = (await s.handle('analysis.weights', { runIds: ok })) as WeightsResult;
  const title = preset === 's6' ? 'S6: no L1/L2 vs L1 vs L2 vs L1+L2' : (listPresets().find((p) => p.id === preset)?.title ?? preset);
  const report = writeReport(outDir, {
    title, preset, study: { id: studyId, name: detail.study.name }, compare, misclassified, weights,
    ...(seconds !== undefined ? { seconds } : {}),
  });
  if (json) {
    out(JSON.stringify({
      study_id: studyId, preset, report: join(outDir, 'index.html'), files: report.files,
      runs: compare.table, failed: failed.map((r) => ({ id: r.id, status: r.status, error: r.error })), explanation: report.explanation,
    }));
  } else {
    for (const t of compare.table) out(`${t.name.padEnd(34).slice(0, 34)} ${valText(t)}  test ${pct(t.finalTestAcc)}  |w|<1e-3 ${pct(t.sparsity)}`);
    for (const e of report.explanation) out(`• ${e}`);
    out(`report: ${join(outDir, 'index.html')}`);
    if (failed.length) out(`warning: ${failed.length} run(s) did not finish: ${failed.map((r) => `${r.name} (${r.status})`).join(', ')}`);
  }
  return failed.length ? 1 : 0;
}

/** `normlab study status STUDY`: every run's status merged with its Slurm task's state, and the report job. */
async function studyStatus(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, globalOptions);
  if (positionals.length !== 1) throw new UsageError('study status needs one study id (the study command printed it)');
  return withServices(workspaceDir(values.workspace), async (s) => {
    const d = (await s.handle('study.get', { id: positionals[0] })) as StudyDetail;
    const subs = s.studySubmissions(d.study.id);
    const reports = await Promise.all(subs.map(async (x) => {
      const r = await systemSlurm.run('squeue', ['-h', '-t', 'all', '-j', x.reportJobId, '-o', '%T|%r']);
      const [state, reason] = r.code === 0 ? r.stdout.trim().split('|') : [];
      const written = existsSync(join(x.reportDir, 'index.html'));
      return { ...x, report_state: state ? state.toLowerCase() : written ? 'completed' : 'unknown', ...(reason && reason !== 'None' ? { report_reason: reason } : {}), report_written: written };
    }));
    const counts: Record<string, number> = {};
    for (const r of d.runs) counts[r.status] = (counts[r.status] ?? 0) + 1;
    if (values.json) {
      out(JSON.stringify({ study: d.study, counts, runs: d.runs, slurm: reports }));
      return 0;
    }
    out(`study ${d.study.id} (${d.study.name}, ${d.study.preset}): ${d.runs.length} runs — ${Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(', ')}`);
    for (const x of reports) out(`slurm array job ${x.jobId}; report job ${x.reportJobId} ${x.report_state}${x.report_reason ? ` (${x.report_reason})` : ''}; report ${x.report_written ? join(x.reportDir, 'index.html') : `not written yet (${x.reportDir})`}`);
    for (const r of d.runs) {
      const task = r.slurm ? `${r.slurm.jobId}_${r.slurm.taskId} ${r.slurm.state ?? ''}${r.slurm.note ? ` (${r.slurm.note})` : ''}` : 'local';
      out(`${r.id}  ${(r.name || r.id).padEnd(30).slice(0, 30)} ${r.status.padEnd(12)} ${`${r.epochsDone}/${r.settings.epochs}`.padEnd(6)} best ${pct(r.bestTestAcc)}  ${task}${r.error && r.status !== 'done' ? `  — ${r.error}` : ''}`);
    }
    return 0;
  });
}

/** `normlab study report STUDY --out DIR`: the report of a study whose runs have ended (the Slurm report job runs this). */
async function studyReport(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { ...globalOptions, out: { type: 'string' } });
  if (positionals.length !== 1) throw new UsageError('study report needs one study id');
  if (typeof values.out !== 'string' || !values.out) throw new UsageError('--out DIR is required (the report folder)');
  const outDir = resolve(values.out);
  return withServices(workspaceDir(values.workspace), async (s) => {
    const d = (await s.handle('study.get', { id: positionals[0] })) as StudyDetail;
    const open = d.runs.filter((r) => r.status === 'queued' || r.status === 'running');
    if (open.length) out(`note: ${open.length} run(s) have not ended (${open.map((r) => `${r.name}: ${r.status}`).join(', ')}); the report shows what they have so far`);
    return writeStudyReport(s, d.study.id, d.study.preset, outDir, Boolean(values.json));
  });
}

export const study: Command = {
  name: 'study',
  summary: `run a study preset (${PRESET_IDS.join(', ')}) and write a report folder`,
  usage:
    'normlab study PRESET --out DIR [--data mnist|mnist-sample|fashion-mnist|DIR] [--model PRESET|FILE.json] [--val-split F]\n' +
    '       [--epochs N] [--train-limit N] [--test-limit N]\n' +
    '       [--l1 X] [--l2 X] [--lr X] [--batch N] [--seeds N] [--name TEXT] [--extend STUDY_ID] [--parallel N] [--workspace DIR] [--json]\n' +
    '       [--executor local|slurm] [--partition P] [--time T] [--cpus-per-task N] [--sbatch-arg ARG …] [--no-requeue]\n' +
    '       normlab study status STUDY_ID      runs with their Slurm task states, the report job\n' +
    '       normlab study report STUDY_ID --out DIR\n\n' +
    '--executor slurm submits one Slurm array job (one task per run, each `normlab train --run ID` with as many threads as\n' +
    'CPUs per task) and a report job that runs when every task has ended, and returns at once with the job ids; --out is\n' +
    'then where that job writes the report (default WORKSPACE/slurm/STUDY_ID/report). The workspace must be on a filesystem\n' +
    'the compute nodes share. Tasks are requeueable (--no-requeue to refuse): a requeued task resumes from its last checkpoint.\n\n' +
    listPresets().map((p) => `  ${p.id.padEnd(12)} ${p.title}: ${p.variants.map((v) => v.key).join(', ')}`).join('\n') +
    '\n\n--model applies every variant to that model (default s5): the norms preset swaps every norm node whose norm is \'auto\',\n' +
    'the dropout preset sets every dropout node whose rate is \'auto\'; variants that would train the same network on it are left out\n' +
    '(with a note), and a study with nothing left to compare is refused. --val-split F holds F of the training split out for\n' +
    'validation (default 0.1; 0 = the test split serves as validation, as in the course notebooks).' +
    '\n--l1/--l2 set the s6 preset\'s λ (defaults ' + listPresets()[0].params.map((p) => `${p.key} ${p.default}`).join(', ') + ').' +
    `\n--parallel N (local executor) trains N runs at once, each on its own engine worker sharing one copy of the data (default: one per core, ${defaultParallel()} here);\n` +
    'runs with --threads 0 (auto) then get the cores divided between them (1 thread each at the default).',
  async run(argv) {
    if (argv[0] === 'status') return studyStatus(argv.slice(1));
    if (argv[0] === 'report') return studyReport(argv.slice(1));
    const { values, positionals } = parse(argv, {
      ...globalOptions,
      out: { type: 'string' }, data: { type: 'string' }, model: { type: 'string' }, 'val-split': { type: 'string' }, epochs: { type: 'string' }, 'train-limit': { type: 'string' },
      'test-limit': { type: 'string' }, l1: { type: 'string' }, l2: { type: 'string' }, lr: { type: 'string' }, batch: { type: 'string' },
      seeds: { type: 'string' }, name: { type: 'string' }, extend: { type: 'string' }, seed: { type: 'string' }, parallel: { type: 'string' },
      executor: { type: 'string' }, partition: { type: 'string' }, time: { type: 'string' }, 'cpus-per-task': { type: 'string' },
      'sbatch-arg': { type: 'string', multiple: true }, 'no-requeue': { type: 'boolean' },
    });
    const preset = positionals[0];
    if (!preset) throw new UsageError(`name a preset: ${PRESET_IDS.join(', ')}`);
    if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}"`);
    if (!PRESET_IDS.includes(preset)) throw new UsageError(`unknown preset "${preset}"; use one of ${PRESET_IDS.join(', ')}`);
    const executor = values.executor ?? 'local';
    if (executor !== 'local' && executor !== 'slurm') throw new UsageError(`--executor must be local or slurm, got "${executor}"`);
    const slurmFlags = ['partition', 'time', 'cpus-per-task', 'sbatch-arg', 'no-requeue'].filter((f) => (values as Record<string, unknown>)[f] !== undefined);
    if (executor === 'local' && slurmFlags.length) throw new UsageError(`--${slurmFlags[0]} belongs to --executor slurm`);
    if (executor === 'local' && (typeof values.out !== 'string' || !values.out)) throw new UsageError('--out DIR is required (the report folder)');
    const outDir = typeof values.out === 'string' && values.out ? resolve(values.out) : '';
    const overrides: Record<string, unknown> = {};
    if (values.data) overrides.data = values.data;
    // A model file is recorded by its absolute path: the runs' workers (or Slurm tasks) read it from elsewhere.
    if (typeof values.model === 'string' && values.model) overrides.model = isPreset(values.model) ? values.model : resolve(values.model);
    const setNum = (flag: string, key: string, integer: boolean) => {
      const v = num(flag, (values as Record<string, unknown>)[flag], integer);
      if (v !== undefined) overrides[key] = v;
    };
    setNum('epochs', 'epochs', true);
    setNum('train-limit', 'trainLimit', true);
    setNum('test-limit', 'testLimit', true);
    setNum('lr', 'lr', false);
    setNum('batch', 'batch', true);
    setNum('seed', 'seed', true);
    setNum('val-split', 'valSplit', false);
    const params: Record<string, number> = {};
    const l1 = num('l1', values.l1);
    const l2 = num('l2', values.l2);
    if (l1 !== undefined) params.l1 = l1;
    if (l2 !== undefined) params.l2 = l2;
    if (Object.keys(params).length && preset !== 's6') throw new UsageError('--l1 and --l2 belong to the s6 preset');
    const seeds = num('seeds', values.seeds, true);
    const parallel = num('parallel', values.parallel, true);
    if (parallel !== undefined && (parallel < 1 || parallel > MAX_PARALLEL)) throw new UsageError(`--parallel expects 1..${MAX_PARALLEL}, got ${parallel}`);
    const json = Boolean(values.json);
    const t0 = performance.now();
    if (executor === 'slurm') {
      const cpus = num('cpus-per-task', values['cpus-per-task'], true);
      const str = (v: unknown) => (typeof v === 'string' && v ? v : undefined);
      const sbatchArgs = (values['sbatch-arg'] as string[] | undefined) ?? [];
      const slurm: SlurmOptions = {
        ...(str(values.partition) ? { partition: str(values.partition) } : {}),
        ...(str(values.time) ? { time: str(values.time) } : {}),
        ...(cpus !== undefined ? { cpusPerTask: cpus } : {}),
        ...(sbatchArgs.length ? { sbatchArgs } : {}),
        requeue: !values['no-requeue'],
      };
      return withServices(workspaceDir(values.workspace), async (s) => {
        const started = (await s.handle('study.start', {
          preset, overrides, params, executor, slurm, ...(outDir ? { reportDir: outDir } : {}),
          ...(seeds ? { seeds } : {}), ...(values.name ? { name: values.name } : {}), ...(values.extend ? { studyId: values.extend } : {}),
        })) as StudyStartResult;
        const sub = started.slurm!;
        for (const n of started.notes ?? []) process.stderr.write(`note: ${n}\n`);
        if (json) {
          out(JSON.stringify({ study_id: started.study.id, preset, executor, job_id: sub.jobId, report_job_id: sub.reportJobId, dir: sub.dir, report: join(sub.reportDir, 'index.html'), runs: started.runs.map((r) => ({ id: r.id, name: r.name, task: r.slurm?.taskId })) }));
        } else {
          out(`study ${started.study.id} (${preset}): ${started.runs.length} run(s) submitted to Slurm as array job ${sub.jobId} (tasks 0-${started.runs.length - 1})`);
          for (const r of started.runs) out(`  task ${r.slurm?.taskId}: ${r.id}  ${r.name}`);
          out(`report job ${sub.reportJobId} writes ${join(sub.reportDir, 'index.html')} when every task has ended`);
          out(`logs in ${sub.dir}; follow with: normlab study status ${started.study.id}${values.workspace ? ` --workspace ${workspaceDir(values.workspace)}` : ''}`);
        }
        return 0;
      });
    }
    return withServices(workspaceDir(values.workspace), async (s) => {
      const seen = new Map<string, JobInfo>();
      const off = s.subscribe((event, payload) => {
        if (event === 'job.updated') seen.set((payload as JobInfo).id, payload as JobInfo);
      });
      let started: StudyStartResult;
      try {
        started = (await s.handle('study.start', {
          preset, overrides, params, ...(seeds ? { seeds } : {}), ...(values.name ? { name: values.name } : {}), ...(values.extend ? { studyId: values.extend } : {}),
        })) as StudyStartResult;
      } finally {
        off();
      }
      if (!json) out(`study ${started.study.id} (${preset}): ${started.runs.length} new run(s), ${started.study.runIds.length} in the study; report → ${outDir}`);
      for (const n of started.notes ?? []) process.stderr.write(`note: ${n}\n`);
      await followJobs(s, started.runs, started.jobs, json, seen);
      return writeStudyReport(s, started.study.id, preset, outDir, json, (performance.now() - t0) / 1000);
    }, parallel !== undefined ? { parallel } : {});
  },
};

/** Validation columns of a table row: "val final … best … @epoch", marked when validation = test. */
function valText(t: CompareRow): string {
  const name = t.valSource === 'held-out' ? 'val' : 'val(=test)';
  return `${name} final ${pct(t.finalValAcc)}  best ${pct(t.bestValAcc)} @${t.bestAccEpoch ?? '—'}`;
}

export const compare: Command = {
  name: 'compare',
  summary: 'compare runs: final/best accuracy, best epoch, sparsity and the settings that differ',
  usage: 'normlab compare RUN RUN… [--out DIR] [--workspace DIR] [--json]',
  async run(argv) {
    const { values, positionals } = parse(argv, { ...globalOptions, out: { type: 'string' } });
    if (positionals.length < 1) throw new UsageError('give at least one run id (normlab runs lists them)');
    const outDir = typeof values.out === 'string' && values.out ? resolve(values.out) : undefined;
    return withServices(workspaceDir(values.workspace), async (s) => {
      const c = (await s.handle('runs.compare', { runIds: positionals })) as CompareResult;
      if (outDir) {
        const w = (await s.handle('analysis.weights', { runIds: c.runs.map((r) => r.run.id) })) as WeightsResult;
        writeReport(outDir, { title: `Comparison of ${c.runs.length} runs`, preset: 'custom', study: { id: '-', name: 'ad hoc comparison' }, compare: c, misclassified: [], weights: w });
      }
      if (values.json) {
        out(JSON.stringify({ table: c.table, diff: c.diff, groups: c.groups, ...(outDir ? { report: join(outDir, 'index.html') } : {}) }));
        return 0;
      }
      for (const t of c.table) out(`${t.runId}  ${t.name.padEnd(30).slice(0, 30)} ${valText(t)}  test ${pct(t.finalTestAcc)}  |w|<1e-3 ${pct(t.sparsity)}  ‖W‖ ${t.kernelNorm?.toFixed(2) ?? '—'}`);
      if (c.diff.length) {
        out('settings that differ:');
        for (const d of c.diff) out(`  ${d.label.padEnd(24)} ${c.runs.map((r) => JSON.stringify(d.values[r.run.id])).join('  ')}`);
      } else out('all settings are equal');
      if (outDir) out(`report: ${join(outDir, 'index.html')}`);
      return 0;
    });
  },
};

export const misclassified: Command = {
  name: 'misclassified',
  summary: 'first N misclassified test images of a run (actual/predicted names, confidence); --out FILE.png for a gallery',
  usage: 'normlab misclassified RUN [--n 25] [--checkpoint best|last|recalibrated] [--out FILE.png] [--workspace DIR] [--json]',
  async run(argv) {
    const { values, positionals } = parse(argv, { ...globalOptions, n: { type: 'string' }, out: { type: 'string' }, checkpoint: { type: 'string' } });
    if (positionals.length !== 1) throw new UsageError('give exactly one run id');
    const file = typeof values.out === 'string' && values.out ? resolve(values.out) : undefined;
    const n = num('n', values.n, true) ?? 25;
    const checkpoint = checkpointFlag(values.checkpoint);
    return withServices(workspaceDir(values.workspace), async (s) => {
      const r = (await s.handle('analysis.misclassified', { runId: positionals[0], n, ...(checkpoint ? { checkpoint } : {}) })) as MisclassifiedResult;
      if (file) {
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(file, svgToPng(gallerySvg(r, galleryTitle(r))));
      }
      if (values.json) {
        out(JSON.stringify({ ...r, items: r.items.map(({ pixels: _p, ...rest }) => rest), ...(file ? { file } : {}) }));
        return 0;
      }
      out(galleryTitle(r));
      for (const it of r.items) out(`  #${String(it.index).padStart(5)}  ${caption(it).join(' / ')}`);
      if (file) out(`gallery: ${file}`);
      return 0;
    });
  },
};

export const STUDY_COMMANDS: Command[] = [study, compare, misclassified];
