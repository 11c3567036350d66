/**
 * Studies through a real Slurm: a one-node cluster brought up from Debian's packages by
 * scripts/slurm/start-slurm.sh (here, or already by .ci/run), then
 *  1. a 4-run study submitted with --executor slurm: it returns at once with the job ids, the
 *     tasks run side by side (2 CPUs, 1 per task), every run ends done with its Slurm job and task
 *     id recorded, and the dependent job writes the report;
 *  2. the same study again, with one task cancelled by the user (normlab cancel → scancel SIGINT:
 *     run cancelled) and one requeued mid-epoch (scontrol requeue → SIGTERM: run interrupted, then
 *     Slurm's restart resumes it from its checkpoint) — the requeued run ends with the same
 *     metrics as its uninterrupted twin of study 1.
 * Skips, saying why, only where Slurm cannot run (not root and no passwordless sudo, or the
 * packages cannot be installed). The cluster is stopped at the end if this file started it.
 * Real data: slices of the embedded MNIST sample, 2 epochs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { EpochMetrics, RunRecord } from '../../../src-main/contract/api';
import type { StudySummary } from '../../../src-main/contract/study';
import { Workspace } from '../../../src-main/store';
import { ROOT, cli, jsonLines, metricLines, notBuilt, tempDir, until } from '../runs/helpers';

const SLURM_ROOT = process.env.SLURM_ROOT || '/tmp/normlab-slurm';
const START = join(ROOT, 'scripts/slurm/start-slurm.sh');
const STOP = join(ROOT, 'scripts/slurm/stop-slurm.sh');
let startedHere = false;

/** Slurm answering (with SLURM_CONF set in this process for the children), or why not. */
function bringUpSlurm(): string | null {
  const built = notBuilt();
  if (built) return built;
  const conf = process.env.SLURM_CONF || join(SLURM_ROOT, 'etc/slurm.conf');
  const ping = () => spawnSync('scontrol', ['ping'], { env: { ...process.env, SLURM_CONF: conf }, encoding: 'utf8' });
  const up = ping();
  if (!up.error && up.status === 0 && /is UP/.test(up.stdout)) {
    process.env.SLURM_CONF = conf;
    return null;
  }
  const r = spawnSync('bash', [START], { env: { ...process.env, SLURM_ROOT }, encoding: 'utf8', timeout: 300_000 });
  if (r.status === 3) return `Slurm cannot run here: ${r.stderr.trim()}`;
  if (r.status !== 0) return `scripts/slurm/start-slurm.sh failed (exit ${r.status}): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' / ')}`;
  startedHere = true;
  process.env.SLURM_CONF = join(SLURM_ROOT, 'etc/slurm.conf');
  return null;
}

const why = bringUpSlurm();
const OVERRIDES = ['--data', 'mnist-sample', '--epochs', '2', '--train-limit', '2400', '--test-limit', '300', '--batch', '64', '--seed', '11'];
const CURVE_KEYS = ['train_loss', 'train_acc', 'test_loss', 'test_acc', 'grad_norm', 'sparsity'] as const;

let tmp: { dir: string; cleanup: () => void };
beforeAll(() => {
  tmp = tempDir('slurm');
});
afterAll(() => {
  tmp?.cleanup();
  if (startedHere) spawnSync('bash', [STOP], { env: { ...process.env, SLURM_ROOT }, encoding: 'utf8' });
});

function slurm(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8' });
}

interface Submitted {
  study_id: string;
  job_id: string;
  report_job_id: string;
  dir: string;
  report: string;
  runs: { id: string; name: string; task: number }[];
}

async function submit(ws: string, out: string): Promise<{ sub: Submitted; seconds: number }> {
  const t0 = Date.now();
  const r = await cli(['study', 's6', '--executor', 'slurm', '--cpus-per-task', '1', ...OVERRIDES, '--workspace', ws, '--out', out, '--json']);
  const seconds = (Date.now() - t0) / 1000;
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return { sub: jsonLines(r.stdout)[0] as unknown as Submitted, seconds };
}

async function status(ws: string, study: string): Promise<{ study: StudySummary; runs: RunRecord[]; slurm: { report_written: boolean; report_state: string }[] }> {
  const r = await cli(['study', 'status', study, '--workspace', ws, '--json']);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout);
}

/** Polls `study status` until every run has ended and the report job wrote the report. */
async function waitForStudy(ws: string, sub: Submitted, timeoutMs: number) {
  let last: Awaited<ReturnType<typeof status>> | null = null;
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    last = await status(ws, sub.study_id);
    const ended = last.runs.every((r) => !['queued', 'running'].includes(r.status));
    if (ended && existsSync(sub.report) && last.slurm[0]?.report_state !== 'running') return last;
    await new Promise((res) => setTimeout(res, 1000));
  }
  throw new Error(`study ${sub.study_id} did not end in ${timeoutMs} ms: ${JSON.stringify(last?.runs.map((r) => [r.name, r.status, r.slurm]))}\n${slurm('squeue', ['-r', '-t', 'all'])}`);
}

const uninterrupted = new Map<string, EpochMetrics[]>();

describe.skipIf(why)(`a study on a one-node Slurm${why ? ` (skipped: ${why})` : ''}`, () => {
  it('submits one array job and returns at once; tasks run side by side; runs done with their task ids; the report job writes the report', async () => {
    const ws = join(tmp.dir, 'ws1');
    const tSubmit = Date.now();
    const { sub, seconds } = await submit(ws, join(tmp.dir, 'report1'));
    expect(sub.runs.map((r) => r.task)).toEqual([0, 1, 2, 3]);
    expect(sub.job_id).toMatch(/^\d+$/);
    expect(sub.report_job_id).toMatch(/^\d+$/);
    // Returned at once: the tasks have not trained yet (2 epochs take several seconds each).
    const store = new Workspace(ws, { warn: () => undefined });
    expect(sub.runs.map((r) => store.getRun(r.id).epochsDone)).toEqual([0, 0, 0, 0]);
    const deps = slurm('squeue', ['-h', '-j', sub.report_job_id, '-o', '%E']).trim();
    expect(deps).toMatch(new RegExp(`^afterany:${sub.job_id}_\\*`));

    let firstEpoch = 0;
    await until(() => {
      if (!firstEpoch && sub.runs.some((r) => metricLines(ws, r.id).length > 0)) firstEpoch = Date.now();
      return firstEpoch > 0;
    }, 120_000, 'the first epoch of a Slurm task', 50);
    const end = await waitForStudy(ws, sub, 240_000);
    const wall = (Date.now() - tSubmit) / 1000;

    expect(end.runs.map((r) => r.status)).toEqual(['done', 'done', 'done', 'done']);
    for (const [i, r] of end.runs.entries()) {
      expect(r.slurm).toMatchObject({ jobId: sub.job_id, taskId: i, state: 'completed' });
      expect(r.epochsDone).toBe(2);
      expect(r.backend).toBe('onnxruntime (1 thread)'); // as many threads as Slurm gave the task
      uninterrupted.set(r.name, store.readMetrics(r.id));
    }
    // Side by side: with 2 CPUs and 1 per task, two runs train at once.
    const spans = end.runs.map((r) => [Date.parse(r.started!), Date.parse(r.finished!)] as const);
    const overlapping = spans.filter(([s, f], i) => spans.some(([s2, f2], j) => j !== i && s < f2 && s2 < f)).length;
    expect(overlapping).toBeGreaterThanOrEqual(2);
    // The report job ran after every task and wrote the report.
    expect(end.slurm[0].report_written).toBe(true);
    const report = readFileSync(sub.report, 'utf8');
    for (const r of end.runs) expect(report).toContain(r.name.replace(/&/g, '&amp;'));
    const logs = readdirSync(sub.dir).filter((f) => f.startsWith('task-'));
    expect(logs.sort()).toEqual([0, 1, 2, 3].map((t) => `task-${sub.job_id}_${t}.out`));
    // normlab runs shows the task of each run
    const listed = await cli(['runs', '--workspace', ws]);
    expect(listed.stdout).toContain(`${sub.job_id}_3 completed`);
    console.log(`[slurm] 4-run study (2 epochs, 2,400 images, 1 CPU per task on ${slurm('nproc', []).trim()} CPUs): submit returned in ${seconds.toFixed(1)} s, first epoch ${((firstEpoch - tSubmit) / 1000).toFixed(1)} s after submit, report written ${wall.toFixed(1)} s after submit; ${overlapping} runs overlapped`);
  }, 420_000);

  it('one task cancelled by the user, one requeued mid-epoch: cancelled, then resumed from its checkpoint to the uninterrupted metrics; the report still written', async () => {
    expect(uninterrupted.size).toBe(4);
    const ws = join(tmp.dir, 'ws2');
    const { sub } = await submit(ws, join(tmp.dir, 'report2'));
    const [victim, requeued] = sub.runs;
    const store = new Workspace(ws, { warn: () => undefined });
    // Tasks 0 and 1 start at once (2 CPUs). Cancel task 0 while it trains; requeue task 1 inside its second epoch.
    await until(() => store.getRun(victim.id).status === 'running' && store.getRun(victim.id).backend.startsWith('onnxruntime'), 120_000, 'task 0 training', 20);
    const tCancel = Date.now();
    const cancelling = cli(['cancel', victim.id, '--workspace', ws, '--json']);
    await until(() => metricLines(ws, requeued.id).length >= 1, 120_000, 'epoch 1 of task 1', 20);
    const task = `${sub.job_id}_${requeued.task}`;
    const epochsAtRequeue = metricLines(ws, requeued.id).length;
    slurm('scontrol', ['requeue', task]);
    const cancelled = await cancelling;
    expect(cancelled.code, cancelled.stdout + cancelled.stderr).toBe(0);
    expect(JSON.parse(cancelled.stdout)).toEqual([{ run_id: victim.id, cancelled: true, status: 'cancelled' }]);
    const cancelSeconds = (Date.now() - tCancel) / 1000;
    await until(() => store.getRun(requeued.id).status === 'interrupted', 30_000, `run of task ${task} recorded interrupted`, 50);
    const interrupted = store.getRun(requeued.id);
    expect(interrupted.error).toMatch(/^interrupted by SIGTERM after \d finished epoch/);
    expect(interrupted.epochsDone).toBe(epochsAtRequeue);
    // Slurm holds a requeued task back for a while (its begin time is pushed ~2 min ahead): let it go now.
    const pending = await status(ws, sub.study_id);
    const seen = pending.runs.find((r) => r.id === requeued.id)!;
    expect(seen.slurm?.state).toBe('pending');
    expect(seen.status).toBe('queued'); // interrupted, requeued by Slurm: shown as queued again
    slurm('scontrol', ['update', `JobId=${task}`, 'StartTime=now']);

    const end = await waitForStudy(ws, sub, 240_000);
    const byId = new Map(end.runs.map((r) => [r.id, r]));
    expect(byId.get(victim.id)).toMatchObject({ status: 'cancelled', slurm: { state: 'failed', note: 'NonZeroExitCode' } });
    expect(byId.get(victim.id)!.epochsDone).toBeLessThan(2);
    expect(byId.get(requeued.id)).toMatchObject({ status: 'done', epochsDone: 2, slurm: { taskId: requeued.task, state: 'completed' } });
    expect(end.runs.filter((r) => r.status === 'done')).toHaveLength(3);
    // The restart resumed from the checkpoint: the log shows two starts, the second after epoch 1.
    const log = readFileSync(join(sub.dir, `task-${task}.out`), 'utf8');
    expect(log).toContain('restart 0');
    expect(log).toContain('restart 1');
    expect(log).toMatch(/resuming after epoch 1 of 2/);
    const metrics = store.readMetrics(requeued.id);
    const twin = uninterrupted.get(requeued.name)!;
    expect(metrics.map((m) => m.epoch)).toEqual([1, 2]);
    for (let i = 0; i < 2; i++) {
      for (const k of CURVE_KEYS) expect(Math.abs(metrics[i][k] - twin[i][k]), `epoch ${i + 1} ${k}`).toBeLessThanOrEqual(1e-5);
    }
    expect(existsSync(sub.report)).toBe(true);
    console.log(`[slurm] cancel of a running task: run cancelled ${cancelSeconds.toFixed(1)} s after normlab cancel (Slurm: failed, exit 130); requeue mid-epoch ${epochsAtRequeue + 1}: run interrupted after epoch ${epochsAtRequeue}, restarted (restart 1) and resumed to done with metrics within 1e-5 of the uninterrupted run`);
  }, 420_000);
});
