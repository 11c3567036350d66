/**
 * Who owns a run: one writer per run, recorded in a lock file next to run.json.
 *
 * A process owner is named by pid, the process's start time (from /proc/<pid>/stat, prefixed by
 * the boot id) and the host, so a pid that the system has since given to another process is
 * recognised as stale. A Slurm owner is named by job id and array task id; whether such a job is
 * still alive is answered by a hook (the Slurm executor installs one; until then: "unknown").
 */
import * as nodeFs from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { RunOwner } from '../contract/api';
import { StoreError, reason } from './errors';

export type Liveness = 'alive' | 'dead' | 'unknown';

/** Name of the lock file inside a run folder. */
export const LOCK_FILE = 'owner.lock';
/** A lock file that cannot be parsed and is older than this is taken as left by a crashed writer. */
const UNREADABLE_LOCK_MS = 10_000;

function readText(path: string): string | null {
  try {
    return nodeFs.readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

let bootIdCache: string | null | undefined;
function bootId(): string | null {
  if (bootIdCache === undefined) bootIdCache = readText('/proc/sys/kernel/random/boot_id')?.trim() || null;
  return bootIdCache;
}

/**
 * The start time of a process as "<boot id>:<clock ticks since boot>" (Linux), or undefined where
 * /proc is not available or the process does not exist.
 */
export function processStartTime(pid: number): string | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  const stat = readText(`/proc/${pid}/stat`);
  if (!stat) return undefined;
  // Field 2 (comm) may contain spaces and parentheses: the fields after it start after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = rest[19]; // field 22 of proc(5): starttime
  if (!ticks || !/^\d+$/.test(ticks)) return undefined;
  return `${bootId() ?? 'boot'}:${ticks}`;
}

/** Whether a pid exists on this host (signal 0 touches nothing). */
export function pidExists(pid: number): boolean {
  // pid 0 and negatives address process groups in kill(2); never treat them as a run's owner.
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The owner this process writes into a lock: a Slurm task when run inside one (so that a requeued
 * task takes its own run back), otherwise this process.
 */
export function currentOwner(env: NodeJS.ProcessEnv = process.env): RunOwner {
  const job = env.SLURM_ARRAY_JOB_ID || env.SLURM_JOB_ID;
  if (job && /^\d+$/.test(job)) {
    const task = env.SLURM_ARRAY_TASK_ID;
    return { kind: 'slurm', jobId: job, ...(task && /^\d+$/.test(task) ? { arrayTaskId: Number(task) } : {}), host: hostname() };
  }
  const startTime = processStartTime(process.pid);
  return { kind: 'process', pid: process.pid, ...(startTime ? { startTime } : {}), host: hostname() };
}

/** Liveness of a Slurm owner; replaced by the Slurm executor (squeue). Default: unknown. */
export type SlurmLiveness = (owner: Extract<RunOwner, { kind: 'slurm' }>) => Liveness;
let slurmLiveness: SlurmLiveness = () => 'unknown';

/** Installs the Slurm liveness check (returns the previous one, for tests). */
export function setSlurmLiveness(fn: SlurmLiveness): SlurmLiveness {
  const prev = slurmLiveness;
  slurmLiveness = fn;
  return prev;
}

export interface LivenessOptions {
  /** Whether a pid exists on this host. Default: signal 0. */
  pidExists?: (pid: number) => boolean;
  /** Start time of a pid on this host. Default: /proc/<pid>/stat. */
  startTime?: (pid: number) => string | undefined;
  /** This host's name. Default: os.hostname(). */
  host?: string;
}

/** Is the owner still running? A process on another host cannot be checked from here: unknown. */
export function ownerLiveness(owner: RunOwner, opts: LivenessOptions = {}): Liveness {
  if (owner.kind === 'slurm') return slurmLiveness(owner);
  if (owner.host && owner.host !== (opts.host ?? hostname())) return 'unknown';
  if (!(opts.pidExists ?? pidExists)(owner.pid)) return 'dead';
  if (owner.startTime === undefined) return 'alive'; // a record from before start times were kept
  const now = (opts.startTime ?? processStartTime)(owner.pid);
  // Same pid, other start time: the system has given the pid to another process.
  if (now === undefined) return 'alive';
  return now === owner.startTime ? 'alive' : 'dead';
}

/** Same writer: same process (pid + start time + host) or same Slurm task. */
export function sameOwner(a: RunOwner, b: RunOwner): boolean {
  if (a.kind === 'slurm' && b.kind === 'slurm') return a.jobId === b.jobId && a.arrayTaskId === b.arrayTaskId;
  if (a.kind === 'process' && b.kind === 'process') return a.pid === b.pid && a.host === b.host && a.startTime === b.startTime;
  return false;
}

/** "process 1234 on host-a" (without the host when `withHost` is false) or "Slurm job 55 task 3". */
export function describeOwner(owner: RunOwner, withHost = true): string {
  if (owner.kind === 'slurm') return `Slurm job ${owner.jobId}${owner.arrayTaskId !== undefined ? ` task ${owner.arrayTaskId}` : ''}`;
  return `process ${owner.pid}${withHost && owner.host ? ` on ${owner.host}` : ''}`;
}

/** Checks the shape of an owner read from disk; null when it is not one. */
export function parseOwner(v: unknown): RunOwner | null {
  if (typeof v !== 'object' || v === null) return null;
  const o = v as Record<string, unknown>;
  if (o.kind === 'process' && Number.isInteger(o.pid) && (o.pid as number) > 0) {
    return {
      kind: 'process', pid: o.pid as number,
      ...(typeof o.startTime === 'string' ? { startTime: o.startTime } : {}),
      host: typeof o.host === 'string' ? o.host : '',
    };
  }
  if (o.kind === 'slurm' && typeof o.jobId === 'string' && /^\d+$/.test(o.jobId)) {
    return {
      kind: 'slurm', jobId: o.jobId,
      ...(Number.isInteger(o.arrayTaskId) ? { arrayTaskId: o.arrayTaskId as number } : {}),
      ...(typeof o.host === 'string' ? { host: o.host } : {}),
    };
  }
  return null;
}

/** A held run lock; release() removes the lock file if it is still ours. */
export interface RunLock {
  readonly owner: RunOwner;
  readonly file: string;
  release(): void;
}

interface LockBody {
  owner: RunOwner;
  token: string;
  taken: string;
}

function readLock(file: string): { body: LockBody | null; mtimeMs: number } | null {
  let text: string;
  let mtimeMs: number;
  try {
    text = nodeFs.readFileSync(file, 'utf8');
    mtimeMs = nodeFs.statSync(file).mtimeMs;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new StoreError('io', `cannot read the run lock ${file}: ${reason(err)}`, file, { cause: err });
  }
  try {
    const v = JSON.parse(text) as Record<string, unknown>;
    const owner = parseOwner(v.owner);
    if (owner && typeof v.token === 'string') return { body: { owner, token: v.token, taken: String(v.taken ?? '') }, mtimeMs };
  } catch {
    /* fall through: unreadable */
  }
  return { body: null, mtimeMs };
}

/** Who holds the lock of the run in `runDir`, if anyone (a stale holder is still returned). */
export function lockHolder(runDir: string): RunOwner | null {
  return readLock(join(runDir, LOCK_FILE))?.body?.owner ?? null;
}

/**
 * Takes the run's lock for `owner`. Refuses (StoreError 'conflict', naming the holder) while
 * another live owner holds it; a holder that is gone (dead pid, reused pid) is replaced. The
 * same Slurm task (a requeue) takes its lock back.
 */
export function acquireRunLock(runDir: string, runId: string, owner: RunOwner, liveness: (o: RunOwner) => Liveness = (o) => ownerLiveness(o)): RunLock {
  const file = join(runDir, LOCK_FILE);
  const token = randomBytes(8).toString('hex');
  const body: LockBody = { owner, token, taken: new Date().toISOString() };
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const fd = nodeFs.openSync(file, 'wx', 0o644);
      try {
        nodeFs.writeSync(fd, JSON.stringify(body) + '\n');
        nodeFs.fsyncSync(fd);
      } finally {
        nodeFs.closeSync(fd);
      }
      return lockHandle(file, owner, token);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new StoreError('io', `cannot take the lock of run ${runId} (${file}): ${reason(err)}`, file, { cause: err });
      }
    }
    const held = readLock(file);
    if (!held) continue; // released meanwhile
    if (held.body) {
      const h = held.body.owner;
      const takeBack = owner.kind === 'slurm' && sameOwner(h, owner);
      const state = takeBack ? 'dead' : liveness(h);
      if (state !== 'dead') {
        const how = state === 'alive' ? 'is running' : 'may still be running (it cannot be checked from here)';
        throw new StoreError('conflict', `run ${runId} is being written by ${describeOwner(h)}, which ${how}; cancel it there or wait for it to finish`, file);
      }
    } else if (Date.now() - held.mtimeMs < UNREADABLE_LOCK_MS) {
      // A lock being written right now; give its writer a moment.
      throw new StoreError('conflict', `run ${runId} is being taken by another process (lock ${file} is being written); try again`, file);
    }
    breakStale(file, held.body?.token ?? null);
  }
  throw new StoreError('conflict', `run ${runId}: could not take its lock ${file} (other processes keep taking it)`, file);
}

/**
 * Removes a stale lock without removing one that another process took meanwhile: the lock is
 * renamed to a unique name, checked to be the stale one, and put back if it is not.
 */
function breakStale(file: string, staleToken: string | null): void {
  const aside = `${file}.stale-${process.pid}-${randomBytes(3).toString('hex')}`;
  try {
    nodeFs.renameSync(file, aside);
  } catch {
    return; // someone else moved it first
  }
  const moved = readLock(aside);
  if (moved && (moved.body?.token ?? null) !== staleToken) {
    // We moved a fresh lock: give it back unless yet another one was created meanwhile.
    try {
      nodeFs.linkSync(aside, file);
    } catch {
      /* a newer lock exists; the fresh one we moved loses, its owner sees the token gone on release */
    }
  }
  try {
    nodeFs.unlinkSync(aside);
  } catch {
    /* gone */
  }
}

function lockHandle(file: string, owner: RunOwner, token: string): RunLock {
  let released = false;
  return {
    owner,
    file,
    release() {
      if (released) return;
      released = true;
      const held = readLockQuiet(file);
      if (held?.body?.token !== token) return; // not ours any more
      try {
        nodeFs.unlinkSync(file);
      } catch {
        /* gone */
      }
    },
  };
}

function readLockQuiet(file: string): ReturnType<typeof readLock> {
  try {
    return readLock(file);
  } catch {
    return null;
  }
}
