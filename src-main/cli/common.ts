import { basename, dirname, join, resolve } from 'node:path';
import { closeSync, constants as fsConstants, existsSync, lstatSync, openSync, renameSync, rmSync, writeSync, type Stats } from 'node:fs';
import type { EpochMetrics, JobInfo, RunDetail, RunRecord } from '../contract/api';
import { createServices, type DoorServices } from '../services';

export interface Command {
  name: string;
  summary: string;
  usage: string;
  run(argv: string[]): Promise<number>;
}

export const globalOptions = {
  workspace: { type: 'string' },
  /** Make --workspace a workspace even though the folder holds other files. */
  init: { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export function workspaceDir(flag: unknown): string {
  return resolve(typeof flag === 'string' && flag ? flag : process.env.NORMLAB_WORKSPACE || 'normlab-workspace');
}

/**
 * Runs fn with services over the workspace and always shuts the engine down. The engine worker
 * starts only when a request needs it; `readOnly` commands create no workspace where none is;
 * `parallel` sets how many runs the queue trains at once (default: one per core).
 */
export async function withServices<T>(
  workspace: string,
  fn: (s: DoorServices) => Promise<T>,
  opts: { init?: unknown; readOnly?: boolean; parallel?: number } = {},
): Promise<T> {
  const s = await createServices({ workspace, init: opts.init === true, readOnly: opts.readOnly, lazyEngine: true, parallel: opts.parallel });
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

/**
 * Writes a file where the user told the CLI to (--out): never over an existing file unless
 * `force`, and never through a symlink (the last path component is opened with O_NOFOLLOW; with
 * `force`, a temp file is renamed over the old file, which replaces a link instead of following it).
 */
export function writeOutFile(path: string, data: Uint8Array | string, force: boolean): void {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let st: Stats | undefined;
  try {
    st = lstatSync(path);
  } catch {
    st = undefined;
  }
  if (st?.isSymbolicLink()) throw new Error(`${path} is a symbolic link; refusing to write through it (remove it or choose another --out)`);
  if (st && !force) throw new Error(`${path} exists; add --force to overwrite it`);
  if (st && !st.isFile()) throw new Error(`${path} exists and is not a regular file`);
  const dir = dirname(path);
  if (!existsSync(dir)) throw new Error(`folder ${dir} does not exist`);
  if (!st) {
    const fd = openSync(path, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | (fsConstants.O_NOFOLLOW ?? 0), 0o644);
    try {
      writeSync(fd, bytes);
    } finally {
      closeSync(fd);
    }
    return;
  }
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${Date.now().toString(16)}.tmp`);
  const fd = openSync(tmp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | (fsConstants.O_NOFOLLOW ?? 0), 0o644);
  try {
    writeSync(fd, bytes);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

export function out(line: string): void {
  process.stdout.write(line + '\n');
}

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;

/**
 * One epoch as a line: train, validation and test, each named. A run without a validation split
 * (valSplit 0, or recorded before the split existed) prints "val = test" instead of repeating it.
 */
export function formatEpoch(m: EpochMetrics, epochs: number): string {
  const val = m.val_loss !== undefined && !m.val_is_test
    ? `val loss ${m.val_loss.toFixed(4)} acc ${pct(m.val_acc ?? NaN)}  `
    : 'val = test  ';
  return (
    `epoch ${String(m.epoch).padStart(String(epochs).length)}/${epochs}  ` +
    `train loss ${m.train_loss.toFixed(4)} acc ${pct(m.train_acc)}  ` +
    val +
    `test loss ${m.test_loss.toFixed(4)} acc ${pct(m.test_acc)}  ` +
    `lr ${m.lr.toPrecision(3)}  ${m.seconds.toFixed(1)}s` +
    (m.events?.length ? `  [${m.events.join(', ')}]` : '')
  );
}

/** A 24-character text progress bar followed by the percentage and a message. */
export function bar(fraction: number, message: string): string {
  const width = 24;
  const filled = Math.round(fraction * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(100 * fraction).toFixed(0).padStart(3)}% ${message}`;
}

function progressBar(job: JobInfo): string {
  const p = job.progress;
  if (!p) return '';
  const eta = p.etaSeconds !== undefined && Number.isFinite(p.etaSeconds) ? ` ETA ${Math.round(p.etaSeconds)}s` : '';
  return bar(p.fraction, p.message) + eta;
}

/**
 * While an analysis job matching `match` works: a progress bar on a TTY, and Ctrl-C cancels it
 * (a second Ctrl-C quits). Returns the function that stops following.
 */
export function followJob(s: DoorServices, match: (job: JobInfo) => boolean, tty: boolean): () => void {
  let jobId: string | null = null;
  const off = s.subscribe((event, payload) => {
    if (event !== 'job.updated') return;
    const j = payload as JobInfo;
    if (!match(j)) return;
    jobId = j.id;
    if (tty && j.state === 'running' && j.progress) process.stderr.write(`\r\x1b[K${progressBar(j)}`);
  });
  let interrupted = 0;
  const onSigint = () => {
    interrupted += 1;
    if (interrupted > 1 || !jobId) process.exit(130);
    process.stderr.write('\ncancelling…\n');
    void s.handle('jobs.cancel', { id: jobId });
  };
  process.on('SIGINT', onSigint);
  return () => {
    off();
    process.off('SIGINT', onSigint);
    if (tty) process.stderr.write('\r\x1b[K');
  };
}

/**
 * SIGTERM and SIGINT as a clean stop of a training command. Installed before the run exists (a
 * Slurm task can be told to stop while the engine starts); once `attach` names the job, the first
 * signal stops it after the current step: SIGINT (the user: Ctrl-C, `scancel --signal=INT`) as
 * cancelled, SIGTERM (scancel, a time limit, preemption) as interrupted. A second signal of the
 * same kind quits at once.
 */
export class StopSignals {
  signal: 'SIGINT' | 'SIGTERM' | null = null;
  private target: (() => void) | null = null;
  private count = { SIGINT: 0, SIGTERM: 0 };
  private readonly handlers = {
    SIGINT: () => this.on('SIGINT'),
    SIGTERM: () => this.on('SIGTERM'),
  };

  constructor() {
    process.on('SIGINT', this.handlers.SIGINT);
    process.on('SIGTERM', this.handlers.SIGTERM);
  }

  private on(sig: 'SIGINT' | 'SIGTERM'): void {
    this.count[sig] += 1;
    if (this.count[sig] > 1) process.exit(sig === 'SIGINT' ? 130 : 143);
    this.signal ??= sig;
    process.stderr.write(`\n${sig === 'SIGINT' ? 'cancelling' : `${sig}: stopping`} after the current step (${sig === 'SIGINT' ? 'Ctrl-C' : sig} again to quit at once)…\n`);
    this.target?.();
  }

  /** Stops `job` of `s` on a signal (at once when one came before). */
  attach(s: DoorServices, job: JobInfo): void {
    this.target = () => {
      s.cancelJob(job.id, this.signal === 'SIGTERM' ? 'interrupted' : 'cancelled');
    };
    if (this.signal) this.target();
  }

  /** Exit status after the run ended: 143 after SIGTERM, 130 after SIGINT, else from the run. */
  exitCode(run: RunRecord): number {
    if (this.signal === 'SIGTERM' && run.status === 'interrupted') return 143;
    if (this.signal === 'SIGINT' && run.status === 'cancelled') return 130;
    return exitCodeFor(run);
  }

  release(): void {
    process.off('SIGINT', this.handlers.SIGINT);
    process.off('SIGTERM', this.handlers.SIGTERM);
  }
}

/**
 * Follows a training job to its end: prints each epoch (a JSON line with --json), a progress bar
 * on a TTY, stops cleanly on SIGINT/SIGTERM (see StopSignals), and returns the final run.
 */
export async function followRun(s: DoorServices, run: RunRecord, job: JobInfo, json: boolean, stop?: StopSignals): Promise<RunRecord> {
  const tty = process.stderr.isTTY && !json;
  const epochs = run.settings.epochs;
  const signals = stop ?? new StopSignals();
  signals.attach(s, job);
  try {
    await new Promise<void>((resolveDone) => {
      const unsubscribe = s.subscribe((event, payload) => {
        if (event === 'run.epoch') {
          const e = payload as { runId: string; metrics: EpochMetrics };
          if (e.runId !== run.id) return;
          if (tty) process.stderr.write('\r\x1b[K');
          out(json ? JSON.stringify({ run_id: run.id, ...e.metrics }) : formatEpoch(e.metrics, epochs));
        } else if (event === 'job.updated') {
          const j = payload as JobInfo;
          if (j.id !== job.id) return;
          if (tty && j.state === 'running') process.stderr.write('\r\x1b[K' + progressBar(j));
          if (j.state === 'done' || j.state === 'failed' || j.state === 'cancelled') {
            if (tty) process.stderr.write('\r\x1b[K');
            unsubscribe();
            resolveDone();
          }
        }
      });
    });
  } finally {
    if (!stop) signals.release();
  }
  const final = ((await s.handle('runs.get', { id: run.id })) as RunDetail).run;
  // A job stopped before it trained (still queued when the signal came) never wrote its record.
  // Judged on the record itself: the merged view shows a run whose Slurm task is being requeued as queued.
  const raw = s.storedRun(run.id);
  if (signals.signal && (raw.status === 'queued' || raw.status === 'running' || (signals.signal === 'SIGTERM' && raw.status === 'cancelled'))) {
    return s.stopUntrained(run.id, signals.signal === 'SIGTERM' ? 'interrupted' : 'cancelled');
  }
  return signals.signal ? raw : final;
}

/** The summary line of a finished run (issue 3's fields plus status and best epoch). */
export async function runSummary(s: DoorServices, run: RunRecord): Promise<Record<string, unknown>> {
  const metrics = ((await s.handle('runs.get', { id: run.id })) as RunDetail).metrics;
  const last = metrics.at(-1);
  const seconds = metrics.reduce((a, m) => a + m.seconds, 0);
  return {
    run_id: run.id,
    status: run.status,
    epochs: last?.epoch ?? 0,
    val_acc: last ? (last.val_acc ?? last.test_acc) : null,
    val_loss: last ? (last.val_loss ?? last.test_loss) : null,
    val_is_test: last ? last.val_loss === undefined || last.val_is_test === true : null,
    test_acc: last?.test_acc ?? null,
    test_loss: last?.test_loss ?? null,
    best_epoch: run.bestEpoch ?? null,
    best_val_acc: run.bestValAcc ?? run.bestTestAcc ?? null,
    best_test_acc: run.bestTestAcc ?? null,
    backend: run.backend,
    seconds: Number(seconds.toFixed(2)),
    params: run.params ?? null,
    ...(run.error ? { error: run.error } : {}),
  };
}

export function exitCodeFor(run: RunRecord): number {
  if (run.status === 'done' || run.status === 'stopped-early') return 0;
  if (run.status === 'cancelled') return 130;
  return 1;
}
