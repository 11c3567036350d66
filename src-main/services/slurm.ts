/**
 * The Slurm executor: a study's runs handed to Slurm as one array job (task i trains the i-th
 * run with `normlab train --run ID`), a dependent job that writes the report when every task has
 * ended, the scheduler's state of each task (squeue, then sacct) merged with the run's own status
 * in the workspace, and cancel through scancel. Only the Slurm client commands are used (sbatch,
 * squeue, sacct, scontrol, scancel), so it works from any login node of a real cluster.
 *
 * The pure parts (batch scripts, state parsing) are exported for the tests; every command goes
 * through a `SlurmClient` so tests can also inject one.
 */
import { execFile, spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RunOwner, RunRecord } from '../contract/api';
import { mergeSlurmStatus, type RunSlurm, type SlurmInfo, type SlurmOptions, type SlurmSubmission, type SlurmTaskState } from '../contract/slurm';
import type { Workspace } from '../store/workspace';
import { setSlurmLiveness, type Liveness } from '../store/owner';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs one Slurm client command; `code` is -1 when the program could not be started (not installed). */
export interface SlurmClient {
  run(cmd: string, args: string[]): Promise<CommandResult>;
}

/** The real client: the commands on PATH, with SLURM_CONF and the rest of the environment as they are. */
export const systemSlurm: SlurmClient = {
  run(cmd, args) {
    return new Promise((resolve) => {
      execFile(cmd, args, { timeout: 30_000, maxBuffer: 8 << 20 }, (err, stdout, stderr) => {
        const e = err as (NodeJS.ErrnoException & { code?: string | number }) | null;
        if (e && e.code === 'ENOENT') resolve({ code: -1, stdout: '', stderr: `${cmd} was not found on PATH` });
        else resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, stdout: String(stdout), stderr: String(stderr) });
      });
    });
  },
};

export class SlurmError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SlurmError';
  }
}

function firstLine(s: string): string {
  return s.trim().split('\n')[0] ?? '';
}

/** The last line of a client's complaint: Slurm prints the retries first and the fatal reason last. */
function lastLine(s: string): string {
  return s.trim().split('\n').at(-1) ?? '';
}

/** Whether sbatch is here and the controller answers; the reason is a line a person can act on. */
export async function slurmInfo(client: SlurmClient = systemSlurm): Promise<SlurmInfo> {
  const v = await client.run('sbatch', ['--version']);
  if (v.code === -1) return { available: false, reason: 'sbatch was not found on PATH: install the Slurm client (slurm-client) on this machine, or run NormLab on the cluster\'s login node' };
  if (v.code !== 0) return { available: false, reason: `sbatch --version failed: ${lastLine(v.stderr) || `exit ${v.code}`}` };
  const version = /\d+\.\d+(\.\d+)?/.exec(v.stdout)?.[0] ?? firstLine(v.stdout);
  const p = await client.run('sinfo', ['-h', '-o', '%P']);
  if (p.code !== 0) {
    return { available: false, version, reason: `sbatch ${version} is here but the Slurm controller does not answer (sinfo: ${lastLine(p.stderr) || `exit ${p.code}`}); check SLURM_CONF and that slurmctld runs` };
  }
  const partitions = p.stdout.split('\n').map((x) => x.trim()).filter(Boolean);
  if (!partitions.length) return { available: false, version, partitions, reason: `sbatch ${version} is here but Slurm has no partition` };
  return { available: true, version, partitions, reason: `sbatch ${version}, partitions ${partitions.join(', ')}` };
}

// ---------------------------------------------------------------- batch scripts (pure)

/** How a task starts NormLab: the node binary and bin/normlab.js (Electron runs as plain node). */
export function normlabCommand(): string[] {
  const bin = fileURLToPath(new URL('../../bin/normlab.js', import.meta.url));
  const node = process.env.NORMLAB_NODE;
  if (node) return [node, bin];
  if (process.versions.electron) return ['env', 'ELECTRON_RUN_AS_NODE=1', process.execPath, bin];
  return [process.execPath, bin];
}

/** Single-quotes a word for bash. */
export function shq(s: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

const TIME_RE = /^(\d+-)?\d+(:\d{1,2}){0,2}$|^\d+-\d+$/;
const PARTITION_RE = /^[A-Za-z0-9_.,-]{1,64}$/;

/** Checks the options a person typed; throws SlurmError naming the bad one. */
export function checkOptions(o: SlurmOptions): void {
  if (o.partition !== undefined && !PARTITION_RE.test(o.partition)) throw new SlurmError(`--partition "${o.partition}": use the partition's name (letters, digits, '_', '-', '.', comma-separated)`);
  if (o.time !== undefined && !TIME_RE.test(o.time)) throw new SlurmError(`--time "${o.time}": use Slurm's formats MM, HH:MM:SS, D-HH or D-HH:MM`);
  if (o.cpusPerTask !== undefined && !(Number.isInteger(o.cpusPerTask) && o.cpusPerTask >= 1 && o.cpusPerTask <= 1024)) {
    throw new SlurmError(`--cpus-per-task ${o.cpusPerTask}: a whole number from 1 to 1024`);
  }
  for (const a of o.sbatchArgs ?? []) {
    if (!a.startsWith('-') || /[\n\r\0]/.test(a)) throw new SlurmError(`--sbatch-arg "${a}": give one sbatch option per flag, e.g. --sbatch-arg=--account=lab`);
  }
}

export interface ArrayScriptInput {
  studyId: string;
  studyName: string;
  runIds: string[];
  workspace: string;
  /** Folder for this submission's logs (in the workspace). */
  dir: string;
  command: string[];
  options: SlurmOptions;
}

function directives(o: SlurmOptions): string[] {
  const d: string[] = [];
  if (o.partition) d.push(`#SBATCH --partition=${o.partition}`);
  if (o.time) d.push(`#SBATCH --time=${o.time}`);
  return d;
}

/** The array job's script: task i runs `normlab train --run <i-th run id>` in the workspace. */
export function arrayScript(i: ArrayScriptInput): string {
  const o = i.options;
  const requeue = o.requeue ?? true;
  return [
    '#!/bin/bash',
    `#SBATCH --job-name=${`normlab-${i.studyName}`.replace(/[^A-Za-z0-9_.-]+/g, '_').slice(0, 60)}`,
    `#SBATCH --array=0-${i.runIds.length - 1}`,
    `#SBATCH --output=${shq(join(i.dir, 'task-%A_%a.out'))}`,
    '#SBATCH --open-mode=append',
    `#SBATCH ${requeue ? '--requeue' : '--no-requeue'}`,
    '#SBATCH --ntasks=1',
    ...(o.cpusPerTask ? [`#SBATCH --cpus-per-task=${o.cpusPerTask}`] : []),
    ...directives(o),
    `# NormLab study ${i.studyId} (${i.studyName}): task i trains run RUNS[i] into the workspace below.`,
    '# A task stopped with SIGTERM (scancel, time limit, preemption) records its run as interrupted;',
    `# ${requeue ? 'when Slurm requeues it, the restart resumes from the last checkpoint.' : 'this study was submitted without --requeue.'}`,
    `RUNS=(${i.runIds.map(shq).join(' ')})`,
    `echo "normlab: task $SLURM_ARRAY_TASK_ID (job $SLURM_ARRAY_JOB_ID, restart \${SLURM_RESTART_COUNT:-0}) on $(hostname) at $(date -u +%FT%TZ): run \${RUNS[$SLURM_ARRAY_TASK_ID]}"`,
    `exec ${i.command.map(shq).join(' ')} train --run "\${RUNS[$SLURM_ARRAY_TASK_ID]}" --workspace ${shq(i.workspace)}`,
    '',
  ].join('\n');
}

export interface ReportScriptInput {
  studyId: string;
  arrayJobId: string;
  workspace: string;
  dir: string;
  reportDir: string;
  command: string[];
  options: SlurmOptions;
}

/** The report job's script: runs after every task has ended (afterany), whatever their outcome. */
export function reportScript(i: ReportScriptInput): string {
  return [
    '#!/bin/bash',
    `#SBATCH --job-name=normlab-report-${i.arrayJobId}`,
    `#SBATCH --output=${shq(join(i.dir, 'report-%j.out'))}`,
    '#SBATCH --ntasks=1',
    '#SBATCH --cpus-per-task=1',
    ...directives({ partition: i.options.partition }),
    `# Writes the report of NormLab study ${i.studyId} once array job ${i.arrayJobId} has ended.`,
    `exec ${i.command.map(shq).join(' ')} study report ${shq(i.studyId)} --out ${shq(i.reportDir)} --workspace ${shq(i.workspace)}`,
    '',
  ].join('\n');
}

// ---------------------------------------------------------------- states (pure)

/** Slurm's job state names → the app's words. */
export function mapState(raw: string): SlurmTaskState {
  const s = raw.trim().split(/\s+/)[0].toUpperCase().replace(/\+$/, '');
  switch (s) {
    case 'PENDING': case 'REQUEUED': case 'REQUEUE_HOLD': case 'REQUEUE_FED': case 'RESV_DEL_HOLD': case 'CONFIGURING':
      return 'pending';
    case 'RUNNING': case 'COMPLETING': case 'STAGE_OUT': case 'SIGNALING': case 'RESIZING':
      return 'running';
    case 'SUSPENDED': case 'STOPPED':
      return 'suspended';
    case 'COMPLETED':
      return 'completed';
    case 'CANCELLED':
      return 'cancelled';
    case 'TIMEOUT': case 'DEADLINE':
      return 'timeout';
    case 'PREEMPTED':
      return 'preempted';
    case 'FAILED': case 'NODE_FAIL': case 'OUT_OF_MEMORY': case 'BOOT_FAIL': case 'SPECIAL_EXIT':
      return 'failed';
    default:
      return 'unknown';
  }
}

export interface TaskState {
  state: SlurmTaskState;
  note?: string;
}

/** Expands an array-task field: "3", "[0-3]", "[0,2-4%2]" → task ids. */
function expandTasks(field: string): number[] {
  const body = field.replace(/^\[|\]$/g, '').replace(/%\d+$/, '');
  const out: number[] = [];
  for (const part of body.split(',')) {
    const m = /^(\d+)(?:-(\d+))?(?::(\d+))?$/.exec(part.trim());
    if (!m) continue;
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    const step = m[3] === undefined ? 1 : Number(m[3]);
    for (let t = a; t <= b && out.length < 100_000; t += step) out.push(t);
  }
  return out;
}

/**
 * `squeue -h -r -t all -o '%i|%T|%r'` lines → state per "job_task". Without -r a pending array
 * reads "123_[0-3]"; both forms are expanded.
 */
export function parseSqueue(text: string): Map<string, TaskState> {
  const out = new Map<string, TaskState>();
  for (const line of text.split('\n')) {
    const [id, rawState, reason] = line.trim().split('|');
    if (!id || !rawState) continue;
    const m = /^(\d+)_(.+)$/.exec(id);
    if (!m) continue;
    const state = mapState(rawState);
    const note = reason && reason !== 'None' && reason !== '(null)' ? reason : undefined;
    for (const t of expandTasks(m[2])) out.set(`${m[1]}_${t}`, { state, ...(note ? { note } : {}) });
  }
  return out;
}

/** `sacct -n -P -X -o JobID,State,ExitCode` lines → state per "job_task" (exit code as the note). */
export function parseSacct(text: string): Map<string, TaskState> {
  const out = new Map<string, TaskState>();
  for (const line of text.split('\n')) {
    const [id, rawState, exit] = line.trim().split('|');
    if (!id || !rawState) continue;
    const m = /^(\d+)_(.+)$/.exec(id);
    if (!m) continue;
    const state = mapState(rawState);
    const code = exit && exit !== '0:0' ? `exit ${exit.split(':')[0]}` : undefined;
    for (const t of expandTasks(m[2])) out.set(`${m[1]}_${t}`, { state, ...(code ? { note: code } : {}) });
  }
  return out;
}

/**
 * Slurm's state of each task of `jobIds`, keyed "job_task": squeue first (live, and recent ends
 * within MinJobAge), then sacct for what squeue no longer shows. A task neither knows is 'gone'.
 * Returns null when Slurm cannot be asked at all (then nothing is concluded).
 */
export async function queryTasks(jobIds: string[], client: SlurmClient = systemSlurm): Promise<Map<string, TaskState> | null> {
  const jobs = [...new Set(jobIds)].filter((j) => /^\d+$/.test(j));
  if (!jobs.length) return new Map();
  const q = await client.run('squeue', ['-h', '-r', '-t', 'all', '-j', jobs.join(','), '-o', '%i|%T|%r']);
  // squeue exits non-zero for ids it has forgotten ("Invalid job id specified"); that is an answer.
  if (q.code === -1 || (q.code !== 0 && !/invalid job id/i.test(q.stderr))) return null;
  const states = q.code === 0 ? parseSqueue(q.stdout) : new Map<string, TaskState>();
  const known = new Set([...states.keys()].map((k) => k.split('_')[0]));
  const missing = jobs.filter((j) => !known.has(j));
  if (missing.length) {
    const a = await client.run('sacct', ['-n', '-P', '-X', '-j', missing.join(','), '-o', 'JobID,State,ExitCode']);
    if (a.code === 0) for (const [k, v] of parseSacct(a.stdout)) if (!states.has(k)) states.set(k, v);
  }
  return states;
}

const livenessCache = new Map<string, { at: number; states: Map<string, TaskState> | null }>();

/**
 * Whether a Slurm owner still lives, for the store's recovery (synchronous: squeue, then sacct,
 * remembered for 2 s per job). Pending, running or suspended: alive; ended or forgotten: dead;
 * Slurm cannot be asked (no client, controller down) or not an array task: unknown.
 */
export function slurmOwnerLiveness(owner: Extract<RunOwner, { kind: 'slurm' }>, maxAgeMs = 2000): Liveness {
  if (owner.arrayTaskId === undefined) return 'unknown';
  const now = Date.now();
  let c = livenessCache.get(owner.jobId);
  if (!c || now - c.at > maxAgeMs) {
    const run = (cmd: string, args: string[]) => spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
    const q = run('squeue', ['-h', '-r', '-t', 'all', '-j', owner.jobId, '-o', '%i|%T|%r']);
    let states: Map<string, TaskState> | null = null;
    if (!q.error && (q.status === 0 || /invalid job id/i.test(q.stderr ?? ''))) {
      states = q.status === 0 ? parseSqueue(q.stdout) : new Map();
      if (!states.size) {
        const a = run('sacct', ['-n', '-P', '-X', '-j', owner.jobId, '-o', 'JobID,State,ExitCode']);
        if (!a.error && a.status === 0) states = parseSacct(a.stdout);
      }
    }
    c = { at: now, states };
    livenessCache.set(owner.jobId, c);
  }
  if (!c.states) return 'unknown';
  const state = c.states.get(`${owner.jobId}_${owner.arrayTaskId}`)?.state ?? 'gone';
  if (state === 'pending' || state === 'running' || state === 'suspended') return 'alive';
  return state === 'unknown' ? 'unknown' : 'dead';
}

/** Installs slurmOwnerLiveness as the store's check of Slurm owners (store/owner.ts). */
export function installSlurmLiveness(): void {
  setSlurmLiveness((o) => slurmOwnerLiveness(o));
}

/** The run records with Slurm's state merged in; a run whose task ended without a word is written back as interrupted. */
export async function mergeSlurm(ws: Workspace, runs: RunRecord[], client: SlurmClient = systemSlurm): Promise<RunRecord[]> {
  const owned = runs.filter((r) => r.slurm);
  if (!owned.length) return runs;
  const states = await queryTasks(owned.map((r) => r.slurm!.jobId), client);
  return runs.map((r) => {
    if (!r.slurm) return r;
    const t: TaskState = states ? (states.get(`${r.slurm.jobId}_${r.slurm.taskId}`) ?? { state: 'gone' }) : { state: 'unknown', note: 'Slurm could not be asked' };
    const slurm: RunSlurm = { jobId: r.slurm.jobId, taskId: r.slurm.taskId, state: t.state, ...(t.note ? { note: t.note } : {}) };
    const m = mergeSlurmStatus(r.status, t.state);
    if (m.persist) {
      const error = `interrupted: Slurm task ${r.slurm.jobId}_${r.slurm.taskId} ${t.state === 'gone' ? 'is no longer known to Slurm' : `ended ${t.state}${t.note ? ` (${t.note})` : ''}`} while the run was ${r.status}`;
      try {
        const { slurm: _s, ...rest } = ws.updateRun(r.id, { status: 'interrupted', error, owner: undefined });
        return { ...rest, slurm };
      } catch {
        return { ...r, status: 'interrupted', error, slurm };
      }
    }
    return { ...r, status: m.status, slurm };
  });
}

// ---------------------------------------------------------------- submit and cancel

export interface SubmitInput {
  ws: Workspace;
  studyId: string;
  studyName: string;
  runs: RunRecord[];
  options: SlurmOptions;
  reportDir?: string;
  client?: SlurmClient;
  command?: string[];
}

function jobIdOf(parsable: string): string {
  const id = parsable.trim().split(';')[0];
  if (!/^\d+$/.test(id)) throw new SlurmError(`sbatch answered "${parsable.trim()}" instead of a job id`);
  return id;
}

/**
 * Submits the study's runs as one array job (held until every run records its task), then the
 * report job with an afterany dependency, then releases the array. Returns at once.
 */
export async function submitStudy(i: SubmitInput): Promise<SlurmSubmission> {
  const client = i.client ?? systemSlurm;
  checkOptions(i.options);
  if (!i.runs.length) throw new SlurmError('no runs to submit');
  const command = i.command ?? normlabCommand();
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
  const dir = join(i.ws.root, 'slurm', i.studyId);
  mkdirSync(dir, { recursive: true });
  const reportDir = i.reportDir ?? join(dir, 'report');
  const arrayFile = join(dir, `array-${stamp}.sh`);
  writeFileSync(arrayFile, arrayScript({ studyId: i.studyId, studyName: i.studyName, runIds: i.runs.map((r) => r.id), workspace: i.ws.root, dir, command, options: i.options }), { mode: 0o755 });
  const extra = i.options.sbatchArgs ?? [];
  const sub = await client.run('sbatch', ['--parsable', '--hold', ...extra, arrayFile]);
  if (sub.code !== 0) throw new SlurmError(`sbatch refused the study's array job (${arrayFile}): ${firstLine(sub.stderr) || `exit ${sub.code}`}`);
  const jobId = jobIdOf(sub.stdout);
  const reportFile = join(dir, `report-${jobId}.sh`);
  writeFileSync(reportFile, reportScript({ studyId: i.studyId, arrayJobId: jobId, workspace: i.ws.root, dir, reportDir, command, options: i.options }), { mode: 0o755 });
  const rep = await client.run('sbatch', ['--parsable', `--dependency=afterany:${jobId}`, '--kill-on-invalid-dep=no', ...extra, reportFile]);
  if (rep.code !== 0) {
    await client.run('scancel', [jobId]);
    throw new SlurmError(`sbatch refused the report job (${reportFile}): ${firstLine(rep.stderr) || `exit ${rep.code}`}; the array job ${jobId} was cancelled`);
  }
  const reportJobId = jobIdOf(rep.stdout);
  // The task owns its run from now on (the store asks Slurm whether it lives); `slurm` keeps the ids after the run ends.
  i.runs.forEach((r, taskId) => i.ws.updateRun(r.id, { slurm: { jobId, taskId }, owner: { kind: 'slurm', jobId, arrayTaskId: taskId } }));
  const rel = await client.run('scontrol', ['release', jobId]);
  if (rel.code !== 0) throw new SlurmError(`scontrol release ${jobId} failed: ${firstLine(rel.stderr) || `exit ${rel.code}`}; release it yourself (scontrol release ${jobId})`);
  const submission: SlurmSubmission = { jobId, reportJobId, dir, reportDir };
  appendFileSync(join(dir, 'submissions.jsonl'), JSON.stringify({ ...submission, runIds: i.runs.map((r) => r.id), submitted: new Date().toISOString() }) + '\n');
  return submission;
}

/** The study's submissions, oldest first (empty when it never went to Slurm). */
export function readSubmissions(ws: Workspace, studyId: string): (SlurmSubmission & { runIds: string[]; submitted: string })[] {
  try {
    return readFileSync(join(ws.root, 'slurm', studyId, 'submissions.jsonl'), 'utf8').split('\n').filter(Boolean).flatMap((l) => {
      try {
        return [JSON.parse(l)];
      } catch {
        return [];
      }
    });
  } catch {
    return [];
  }
}

/**
 * Cancels a run's Slurm task as the user: a pending task is cancelled by Slurm at once (and the
 * run recorded cancelled); a running one gets SIGINT, so `normlab train` stops after its step and
 * records the run cancelled. If it still runs after `graceMs`, plain scancel (SIGTERM, then KILL).
 */
export async function cancelTask(ws: Workspace, run: RunRecord, opts: { client?: SlurmClient; graceMs?: number } = {}): Promise<boolean> {
  const client = opts.client ?? systemSlurm;
  const s = run.slurm;
  if (!s) return false;
  const task = `${s.jobId}_${s.taskId}`;
  const states = await queryTasks([s.jobId], client);
  if (!states) throw new SlurmError(`cannot ask Slurm about task ${task}; cancel it with scancel ${task}`);
  const state = states.get(task)?.state ?? 'gone';
  if (state === 'pending' || state === 'suspended') {
    const r = await client.run('scancel', [task]);
    if (r.code !== 0) throw new SlurmError(`scancel ${task} failed: ${firstLine(r.stderr) || `exit ${r.code}`}`);
    ws.updateRun(run.id, { status: 'cancelled', error: undefined, owner: undefined, finished: new Date().toISOString() });
    return true;
  }
  if (state !== 'running') return false;
  // scancel may answer non-zero (seen: exit 229 while the task's batch step was still starting)
  // and yet deliver the signal: judge by the task's state, and fall back to a plain scancel.
  await client.run('scancel', ['--signal=INT', '--full', task]);
  const deadline = Date.now() + (opts.graceMs ?? 15_000);
  let stopped = false;
  while (!stopped && Date.now() < deadline) {
    await new Promise((res) => setTimeout(res, 250));
    const now = await queryTasks([s.jobId], client);
    stopped = Boolean(now && now.get(task)?.state !== 'running');
  }
  if (!stopped) {
    const r = await client.run('scancel', [task]);
    if (r.code !== 0) throw new SlurmError(`scancel ${task} failed: ${firstLine(r.stderr) || `exit ${r.code}`}`);
  }
  // The user asked: a task stopped before `normlab train` could record it (still starting) is cancelled too.
  const after = ws.getRun(run.id);
  if (after.status === 'queued' || after.status === 'running' || after.status === 'interrupted') {
    ws.updateRun(run.id, { status: 'cancelled', error: undefined, owner: undefined, finished: new Date().toISOString() });
  }
  return true;
}

// ---------------------------------------------------------------- live view of runs trained elsewhere

export interface SlurmWatcher {
  /** (Re)starts polling: call when Slurm runs may be active (listed, submitted). */
  touch(): void;
  close(): void;
}

/**
 * Polls the workspace and Slurm every `everyMs` while some Slurm-owned run is queued or running,
 * and emits what a local job would have: 'run.updated' when a run's record or task state changes,
 * 'run.epoch' for each epoch its task appended to metrics.jsonl. Stops by itself when none is left
 * active; touch() starts it again.
 */
export function watchSlurmRuns(
  ws: Workspace,
  emit: (event: 'run.updated' | 'run.epoch', payload: unknown) => void,
  opts: { everyMs?: number; client?: SlurmClient } = {},
): SlurmWatcher {
  const everyMs = opts.everyMs ?? 2000;
  const seen = new Map<string, { key: string; epochs: number }>();
  let timer: NodeJS.Timeout | null = null;
  let busy = false;
  let closed = false;

  const tick = async (): Promise<void> => {
    if (busy || closed) return;
    busy = true;
    try {
      const owned = ws.listRuns().filter((r) => r.slurm);
      const watched = owned.filter((r) => r.status === 'queued' || r.status === 'running' || r.status === 'interrupted' || seen.has(r.id));
      const merged = await mergeSlurm(ws, watched, opts.client);
      let active = 0;
      for (const r of merged) {
        const live = r.status === 'queued' || r.status === 'running';
        if (live) active += 1;
        const prev = seen.get(r.id);
        const key = JSON.stringify([r.status, r.epochsDone, r.updated, r.slurm?.state, r.slurm?.note]);
        const epochs = prev?.epochs ?? r.epochsDone;
        if (prev && prev.key !== key) {
          if (r.epochsDone > epochs) {
            for (const m of ws.readMetrics(r.id)) if (m.epoch > epochs && m.epoch <= r.epochsDone) emit('run.epoch', { runId: r.id, metrics: m });
          }
          emit('run.updated', r);
        }
        if (live || (prev && prev.key !== key)) seen.set(r.id, { key, epochs: Math.max(epochs, r.epochsDone) });
        else seen.delete(r.id);
      }
      if (!active && timer) {
        clearInterval(timer);
        timer = null;
      }
    } catch {
      // a run deleted or a file being replaced: the next tick sees the settled state
    } finally {
      busy = false;
    }
  };

  return {
    touch() {
      if (closed || timer) return;
      timer = setInterval(() => void tick(), everyMs);
      timer.unref?.();
      void tick();
    },
    close() {
      closed = true;
      if (timer) clearInterval(timer);
      timer = null;
    },
  };
}
