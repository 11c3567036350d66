/**
 * The Slurm executor's pure parts and its use of the Slurm client, without a cluster: batch
 * scripts, state parsing from squeue/sacct output as Slurm 22.05 prints it, the status merge, the
 * thread count a task gets, and the services' answers when sbatch is missing. The cluster test
 * (cluster.test.ts) runs the same code against a real one-node Slurm.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mergeSlurmStatus, slurmEnded } from '../../../src-main/contract/slurm';
import {
  arrayScript, checkOptions, mapState, mergeSlurm, parseSacct, parseSqueue, queryTasks, reportScript, shq, slurmInfo, watchSlurmRuns, type SlurmClient,
} from '../../../src-main/services/slurm';
import { resolveThreads, slurmCpus } from '../../../src-main/engine/threads';
import { slurmTaskFromEnv } from '../../../src-main/host/jobs/train';
import { Workspace } from '../../../src-main/store/workspace';
import { DEFAULT_SETTINGS } from '../../../src-main/contract/settings';
import type { RunRecord } from '../../../src-main/contract/api';

/** A fake client answering from a table of "cmd args" → result; records the calls. */
function fakeClient(answers: Record<string, { code: number; stdout?: string; stderr?: string }>): SlurmClient & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    async run(cmd, args) {
      const key = `${cmd} ${args.join(' ')}`;
      calls.push(key);
      const hit = Object.entries(answers).find(([k]) => key.startsWith(k));
      if (!hit) return { code: -1, stdout: '', stderr: `${cmd} was not found on PATH` };
      return { code: hit[1].code, stdout: hit[1].stdout ?? '', stderr: hit[1].stderr ?? '' };
    },
  };
}

describe('Slurm states', () => {
  it('maps every state Slurm prints to the app\'s words', () => {
    expect(mapState('PENDING')).toBe('pending');
    expect(mapState('RUNNING')).toBe('running');
    expect(mapState('COMPLETING')).toBe('running');
    expect(mapState('COMPLETED')).toBe('completed');
    expect(mapState('CANCELLED by 0')).toBe('cancelled');
    expect(mapState('CANCELLED+')).toBe('cancelled');
    expect(mapState('TIMEOUT')).toBe('timeout');
    expect(mapState('FAILED')).toBe('failed');
    expect(mapState('OUT_OF_MEMORY')).toBe('failed');
    expect(mapState('NODE_FAIL')).toBe('failed');
    expect(mapState('PREEMPTED')).toBe('preempted');
    expect(mapState('REQUEUED')).toBe('pending');
    expect(mapState('SUSPENDED')).toBe('suspended');
    expect(mapState('SOMETHING_NEW')).toBe('unknown');
  });

  it('parses squeue -r -t all lines (split tasks and a pending range) and sacct lines', () => {
    const q = parseSqueue('7_[2-3]|PENDING|Resources\n7_0|RUNNING|None\n7_1|FAILED|NonZeroExitCode\n8|PENDING|Dependency\n');
    expect(Object.fromEntries(q)).toEqual({
      '7_0': { state: 'running' },
      '7_1': { state: 'failed', note: 'NonZeroExitCode' },
      '7_2': { state: 'pending', note: 'Resources' },
      '7_3': { state: 'pending', note: 'Resources' },
    });
    const a = parseSacct('9_0|COMPLETED|0:0\n9_1|CANCELLED by 0|0:15\n9_[2,4]|PENDING|0:0\n9_3|FAILED|130:0\n');
    expect(Object.fromEntries(a)).toEqual({
      '9_0': { state: 'completed' },
      '9_1': { state: 'cancelled', note: 'exit 0' },
      '9_2': { state: 'pending' },
      '9_3': { state: 'failed', note: 'exit 130' },
      '9_4': { state: 'pending' },
    });
  });

  it('merges Slurm\'s state with the workspace: the run\'s own end wins, a silent end is an interruption', () => {
    // the run ended on its own terms: Slurm's word does not change it
    expect(mergeSlurmStatus('done', 'completed')).toEqual({ status: 'done', persist: false });
    expect(mergeSlurmStatus('cancelled', 'failed')).toEqual({ status: 'cancelled', persist: false });
    expect(mergeSlurmStatus('interrupted', 'cancelled')).toEqual({ status: 'interrupted', persist: false });
    // still queued or running in the workspace
    expect(mergeSlurmStatus('queued', 'pending')).toEqual({ status: 'queued', persist: false });
    expect(mergeSlurmStatus('queued', 'running')).toEqual({ status: 'queued', persist: false });
    expect(mergeSlurmStatus('running', 'running')).toEqual({ status: 'running', persist: false });
    for (const end of ['cancelled', 'timeout', 'failed', 'preempted', 'completed', 'gone'] as const) {
      expect(mergeSlurmStatus('running', end)).toEqual({ status: 'interrupted', persist: true });
      expect(slurmEnded(end)).toBe(true);
    }
    // requeued after an interruption: pending again, then running
    expect(mergeSlurmStatus('interrupted', 'pending')).toEqual({ status: 'queued', persist: false });
    expect(mergeSlurmStatus('interrupted', 'running')).toEqual({ status: 'running', persist: false });
    // Slurm could not be asked: nothing is concluded
    expect(mergeSlurmStatus('running', 'unknown')).toEqual({ status: 'running', persist: false });
    expect(slurmEnded('running')).toBe(false);
  });
});

describe('batch scripts', () => {
  const base = { studyId: '20261202-084807-809e', studyName: "s6 #1 (Ann's)", runIds: ['r-a', 'r-b', 'r-c'], workspace: '/shared/my ws', dir: '/shared/my ws/slurm/x', command: ['/usr/bin/node', '/opt/normlab/bin/normlab.js'] };

  it('one array task per run, each `normlab train --run` into the workspace, with the options as directives', () => {
    const s = arrayScript({ ...base, options: { partition: 'gpu,cpu', time: '1-02:00:00', cpusPerTask: 4 } });
    const lines = s.split('\n');
    expect(lines[0]).toBe('#!/bin/bash');
    expect(lines).toContain('#SBATCH --array=0-2');
    expect(lines).toContain('#SBATCH --cpus-per-task=4');
    expect(lines).toContain('#SBATCH --partition=gpu,cpu');
    expect(lines).toContain('#SBATCH --time=1-02:00:00');
    expect(lines).toContain('#SBATCH --requeue');
    expect(lines).toContain('#SBATCH --open-mode=append');
    expect(lines).toContain("#SBATCH --output='/shared/my ws/slurm/x/task-%A_%a.out'");
    expect(lines).toContain('#SBATCH --job-name=normlab-s6_1_Ann_s_');
    expect(lines).toContain('RUNS=(r-a r-b r-c)');
    expect(lines.at(-2)).toBe(`exec /usr/bin/node /opt/normlab/bin/normlab.js train --run "\${RUNS[$SLURM_ARRAY_TASK_ID]}" --workspace '/shared/my ws'`);
    expect(arrayScript({ ...base, options: { requeue: false } })).toContain('#SBATCH --no-requeue');
    expect(arrayScript({ ...base, options: {} })).not.toContain('--cpus-per-task');
  });

  it('the report job runs `normlab study report` once', () => {
    const s = reportScript({ studyId: base.studyId, arrayJobId: '41', workspace: base.workspace, dir: base.dir, reportDir: '/r', command: base.command, options: { partition: 'cpu', time: '10' } });
    expect(s).toContain('#SBATCH --job-name=normlab-report-41');
    expect(s).toContain('#SBATCH --partition=cpu');
    expect(s).not.toContain('--time');
    expect(s).toContain(`exec /usr/bin/node /opt/normlab/bin/normlab.js study report ${base.studyId} --out /r --workspace '/shared/my ws'`);
  });

  it('quotes for bash and refuses options that are not Slurm\'s', () => {
    expect(shq("it's")).toBe(`'it'\\''s'`);
    expect(shq('/a/b-c_d.e')).toBe('/a/b-c_d.e');
    expect(() => checkOptions({ time: '2 hours' })).toThrow(/--time "2 hours": use Slurm's formats/);
    expect(() => checkOptions({ partition: 'a b' })).toThrow(/--partition "a b"/);
    expect(() => checkOptions({ cpusPerTask: 0 })).toThrow(/--cpus-per-task 0/);
    expect(() => checkOptions({ sbatchArgs: ['account=lab'] })).toThrow(/--sbatch-arg "account=lab": give one sbatch option/);
    expect(() => checkOptions({ time: '30', partition: 'debug', cpusPerTask: 2, sbatchArgs: ['--qos=short'] })).not.toThrow();
    for (const t of ['30', '1:00:00', '2-12', '2-12:30', '00:30']) expect(() => checkOptions({ time: t })).not.toThrow();
  });
});

describe('threads and task ids from the Slurm environment', () => {
  it('a task trains with as many threads as CPUs Slurm gave it', () => {
    expect(slurmCpus({ SLURM_CPUS_PER_TASK: '3' })).toBe(3);
    expect(slurmCpus({})).toBeNull();
    expect(slurmCpus({ SLURM_CPUS_PER_TASK: 'x' })).toBeNull();
    expect(resolveThreads(0, { SLURM_CPUS_PER_TASK: '3' })).toBe(3);
    expect(resolveThreads(5, { SLURM_CPUS_PER_TASK: '3' })).toBe(5);
  });

  it('reads the array job and task id', () => {
    expect(slurmTaskFromEnv({ SLURM_ARRAY_JOB_ID: '41', SLURM_ARRAY_TASK_ID: '2' })).toEqual({ jobId: '41', taskId: 2 });
    expect(slurmTaskFromEnv({ SLURM_JOB_ID: '41' })).toBeNull();
  });
});

describe('asking Slurm', () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'normlab-slurm-unit-'));
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('says why not when sbatch is missing or the controller does not answer', async () => {
    const none = await slurmInfo(fakeClient({}));
    expect(none.available).toBe(false);
    expect(none.reason).toMatch(/^sbatch was not found on PATH: install the Slurm client/);
    const down = await slurmInfo(fakeClient({ 'sbatch --version': { code: 0, stdout: 'slurm 22.05.8\n' }, sinfo: { code: 1, stderr: 'sinfo: error: Unable to contact slurm controller (connect failure)\n' } }));
    expect(down).toMatchObject({ available: false, version: '22.05.8' });
    expect(down.reason).toContain('the Slurm controller does not answer (sinfo: sinfo: error: Unable to contact slurm controller');
    const up = await slurmInfo(fakeClient({ 'sbatch --version': { code: 0, stdout: 'slurm-wlm 22.05.8\n' }, sinfo: { code: 0, stdout: 'debug*\nlong\n' } }));
    expect(up).toEqual({ available: true, version: '22.05.8', partitions: ['debug*', 'long'], reason: 'sbatch 22.05.8, partitions debug*, long' });
  });

  it('squeue first, sacct for what it forgot; unreachable Slurm concludes nothing', async () => {
    const c = fakeClient({
      'squeue -h -r -t all -j 5,6': { code: 0, stdout: '5_0|RUNNING|None\n5_1|PENDING|Priority\n' },
      'sacct -n -P -X -j 6': { code: 0, stdout: '6_0|TIMEOUT|0:15\n' },
    });
    const s = await queryTasks(['5', '6', '5'], c);
    expect(Object.fromEntries(s!)).toEqual({ '5_0': { state: 'running' }, '5_1': { state: 'pending', note: 'Priority' }, '6_0': { state: 'timeout', note: 'exit 0' } });
    expect(await queryTasks(['5'], fakeClient({}))).toBeNull();
  });

  it('a run whose task ended without a word is written back as interrupted; a live one is left alone', async () => {
    const ws = new Workspace(join(root, 'ws'), { warn: () => undefined });
    const a = ws.updateRun(ws.createRun({ ...DEFAULT_SETTINGS }).id, { status: 'running', owner: { kind: 'slurm', jobId: '12', arrayTaskId: 0, host: 'node-7' }, slurm: { jobId: '12', taskId: 0 } });
    const b = ws.updateRun(ws.createRun({ ...DEFAULT_SETTINGS }).id, { status: 'running', owner: { kind: 'slurm', jobId: '12', arrayTaskId: 1, host: 'node-7' }, slurm: { jobId: '12', taskId: 1 } });
    // the run belongs to a Slurm task on another node: the store does not conclude anything from here
    const c = fakeClient({ 'squeue -h -r -t all -j 12': { code: 0, stdout: '12_0|CANCELLED|None\n12_1|RUNNING|None\n' } });
    const merged = await mergeSlurm(ws, [ws.getRun(a.id), ws.getRun(b.id)], c);
    expect(merged[0]).toMatchObject({ status: 'interrupted', slurm: { jobId: '12', taskId: 0, state: 'cancelled' } });
    expect(merged[0].error).toBe('interrupted: Slurm task 12_0 ended cancelled while the run was running');
    expect(merged[1]).toMatchObject({ status: 'running', slurm: { state: 'running' } });
    expect(ws.getRun(a.id).status).toBe('interrupted');
    expect(ws.getRun(a.id).owner).toBeUndefined();
    expect(ws.getRun(a.id).slurm).toEqual({ jobId: '12', taskId: 0 });
    expect(ws.getRun(b.id).status).toBe('running');
  });

  it('shows runs trained by Slurm tasks live: run.updated on every change, run.epoch for each epoch a task appends', async () => {
    const ws = new Workspace(join(root, 'live'), { warn: () => undefined });
    const run = ws.updateRun(ws.createRun({ ...DEFAULT_SETTINGS, epochs: 2 }).id, { slurm: { jobId: '30', taskId: 0 } });
    let squeue = '30_0|PENDING|Priority\n';
    const client: SlurmClient = { run: async (cmd) => (cmd === 'squeue' ? { code: 0, stdout: squeue, stderr: '' } : { code: 1, stdout: '', stderr: 'disabled' }) };
    const events: [string, unknown][] = [];
    const w = watchSlurmRuns(ws, (e, p) => events.push([e, p]), { everyMs: 30, client });
    const settle = () => new Promise((r) => setTimeout(r, 150));
    try {
      w.touch();
      await settle();
      expect(events).toEqual([]); // first look: nothing changed yet
      squeue = '30_0|RUNNING|None\n';
      ws.updateRun(run.id, { status: 'running' });
      await settle();
      const metric = { epoch: 1, train_loss: 2, train_acc: 0.3, test_loss: 2.1, test_acc: 0.25, lr: 0.05, grad_norm: 1, clipped_steps: 0, weight_norms: {}, sparsity: 0.01, seconds: 3 };
      ws.appendMetrics(run.id, metric);
      ws.updateRun(run.id, { epochsDone: 1 });
      await settle();
      squeue = '30_0|COMPLETED|None\n';
      ws.appendMetrics(run.id, { ...metric, epoch: 2 });
      ws.updateRun(run.id, { epochsDone: 2, status: 'done' });
      await settle();
    } finally {
      w.close();
    }
    const updates = events.filter(([e]) => e === 'run.updated').map(([, p]) => p as RunRecord);
    expect(updates.map((r) => [r.status, r.epochsDone, r.slurm?.state])).toEqual([['running', 0, 'running'], ['running', 1, 'running'], ['done', 2, 'completed']]);
    const epochs = events.filter(([e]) => e === 'run.epoch').map(([, p]) => (p as { runId: string; metrics: { epoch: number } }));
    expect(epochs.map((e) => [e.runId, e.metrics.epoch])).toEqual([[run.id, 1], [run.id, 2]]);
    // the run.epoch of an epoch comes before the run.updated that counts it
    expect(events.findIndex(([e]) => e === 'run.epoch')).toBeLessThan(events.findIndex(([e, p]) => e === 'run.updated' && (p as RunRecord).epochsDone === 1));
  });
});
