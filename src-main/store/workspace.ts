import type { StudySummary } from '../contract/study';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { EpochMetrics, RunRecord, RunStatus, StepLosses } from '../contract/api';
import { DEFAULT_SETTINGS, type TrainSettings } from '../contract/settings';
import type { BnRecord, NamedWeights, TrainState } from '../engine/model-types';
import { decodeTrainState, decodeWeights, encodeTrainState, encodeWeights, keepNonFinite } from './checkpoint-format';
import { StoreError, isDiskFull, reason } from './errors';
import { TMP_SUFFIX, nodeFileLayer, tmpOwner, type FileLayer } from './file-layer';
import { parseJsonl, type JsonlRead } from './jsonl';

/** A group of runs started together; the type lives in the contract. */
export type StudyRecord = StudySummary;

export interface WorkspaceOptions {
  /** Disk access; tests inject faults here. Default: node:fs. */
  files?: FileLayer;
  /** Where non-fatal findings go (skipped lines, fallback to an older checkpoint). Default: console.warn. */
  warn?: (message: string) => void;
  /** Whether a process id is alive. Default: process.kill(pid, 0). */
  isPidAlive?: (pid: number) => boolean;
  /** Clock, for tests. */
  now?: () => Date;
}

export interface CreateRunOptions {
  study?: string;
  name?: string;
  backend?: string;
  versions?: Record<string, string>;
  dataset?: RunRecord['dataset'];
  params?: number;
}

/** Fields a caller may change; id and created are fixed, updated is set by the store. */
export type RunPatch = Partial<Omit<RunRecord, 'id' | 'created' | 'updated'>>;

const NAME_RE = /^[A-Za-z0-9._-]+$/;
const STATUSES: readonly RunStatus[] = ['queued', 'running', 'done', 'failed', 'cancelled', 'interrupted', 'stopped-early'];
const WORKSPACE_FORMAT = 1;
/** A temp file of a live process is left alone unless it is older than this (then its writer is surely gone). */
const STALE_TMP_MS = 60 * 60 * 1000;
const TRASH_PREFIX = '.trash-';

/** Default liveness test: signal 0 checks existence without touching the process. */
export function pidAlive(pid: number): boolean {
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

/** Sortable id: UTC time to the second plus 4 random hex digits, e.g. 20261122-031500-ab12. */
export function makeId(now: Date): string {
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  const t = `${now.getUTCFullYear()}${p(now.getUTCMonth() + 1)}${p(now.getUTCDate())}-${p(now.getUTCHours())}${p(now.getUTCMinutes())}${p(now.getUTCSeconds())}`;
  return `${t}-${randomBytes(2).toString('hex')}`;
}

/** Throws StoreError 'invalid' unless `s` is a safe single path component. */
export function checkName(kind: string, s: unknown): string {
  if (
    typeof s !== 'string' || s.length === 0 || s.length > 128 || !NAME_RE.test(s) ||
    s === '.' || s === '..' || s.startsWith('.') || s.endsWith(TMP_SUFFIX)
  ) {
    throw new StoreError('invalid', `invalid ${kind} ${JSON.stringify(s)}: use up to 128 letters, digits, '.', '_' or '-', not starting with '.'`);
  }
  return s;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isMetrics(v: unknown): v is EpochMetrics {
  return isObject(v) && typeof v.epoch === 'number' && Number.isFinite(v.epoch);
}

function isStepLosses(v: unknown): v is StepLosses {
  return (
    isObject(v) && typeof v.epoch === 'number' && Number.isFinite(v.epoch) && typeof v.stepsPerEpoch === 'number' && Array.isArray(v.points) &&
    v.points.every((p) => Array.isArray(p) && p.length === 2 && typeof p[0] === 'number' && typeof p[1] === 'number')
  );
}

function isBnRecord(v: unknown): v is BnRecord {
  return isObject(v) && typeof v.step === 'number' && typeof v.epoch === 'number' && isObject(v.layers);
}

/**
 * The workspace folder: one folder per run, written so that a crash, a kill -9 or a full disk at
 * any moment leaves every file either as it was or as it was meant to be.
 *
 *   workspace.json
 *   runs/<id>/run.json  metrics.jsonl  steps.jsonl  bn.jsonl  checkpoints/<tag>.nlck (+ <tag>.prev.nlck)
 *             weights/<tag>.nlck  exports/
 *   studies/<id>.json
 */
export class Workspace {
  readonly root: string;
  /** Stale temp files and half-deleted runs removed when the workspace was opened (paths). */
  readonly cleaned: string[] = [];
  private readonly fs: FileLayer;
  private readonly warn: (message: string) => void;
  private readonly isPidAlive: (pid: number) => boolean;
  private readonly now: () => Date;

  /** Opens (creating if missing) the workspace at `root` and removes what crashed writers left behind. */
  constructor(root: string, opts: WorkspaceOptions = {}) {
    this.root = root;
    this.fs = opts.files ?? nodeFileLayer();
    this.warn = opts.warn ?? ((m) => console.warn(`[store] ${m}`));
    this.isPidAlive = opts.isPidAlive ?? pidAlive;
    this.now = opts.now ?? (() => new Date());
    try {
      this.fs.mkdir(join(root, 'runs'));
      this.fs.mkdir(join(root, 'studies'));
    } catch (err) {
      throw new StoreError('io', `workspace folder ${root} cannot be created: ${reason(err)}`, root, { cause: err });
    }
    this.checkFormat();
    this.cleanupStale();
  }

  // ---------------------------------------------------------------- runs

  /** Creates runs/<id>/run.json with status 'queued'. */
  createRun(settings: TrainSettings, opts: CreateRunOptions = {}): RunRecord {
    if (opts.study !== undefined) checkName('study id', opts.study);
    const now = this.now();
    let id = makeId(now);
    for (let i = 0; this.fs.exists(this.runPath(id)); i++) {
      if (i > 50) throw new StoreError('conflict', `could not find a free run id in ${this.root}`);
      id = makeId(now);
    }
    const stamp = now.toISOString();
    const rec: RunRecord = {
      id,
      name: opts.name ?? (settings.name || id),
      status: 'queued',
      settings,
      ...(opts.study !== undefined ? { study: opts.study } : {}),
      backend: opts.backend ?? '',
      versions: opts.versions ?? {},
      ...(opts.dataset ? { dataset: opts.dataset } : {}),
      ...(opts.params !== undefined ? { params: opts.params } : {}),
      created: stamp,
      updated: stamp,
      epochsDone: 0,
    };
    this.guardWrite(`run.json of new run ${id}`, 'nothing was created', this.runJson(id), () => {
      this.fs.mkdir(this.runPath(id));
      this.fs.writeFileAtomic(this.runJson(id), JSON.stringify(rec, null, 2) + '\n');
    });
    return rec;
  }

  /**
   * Every run, newest first. Never throws for one bad run: an unreadable run.json shows as
   * 'failed' with an error naming the file; a run whose owner process died shows as 'interrupted'.
   */
  listRuns(): RunRecord[] {
    const runsDir = join(this.root, 'runs');
    let names: string[];
    try {
      names = this.fs.readdir(runsDir);
    } catch (err) {
      throw new StoreError('io', `cannot list runs in ${runsDir}: ${reason(err)}`, runsDir, { cause: err });
    }
    const out: RunRecord[] = [];
    for (const name of names) {
      if (name.startsWith('.') || !NAME_RE.test(name) || name.endsWith(TMP_SUFFIX)) continue;
      const dir = join(runsDir, name);
      try {
        if (!this.fs.stat(dir).isDirectory) continue;
        const { record, broken } = this.load(name);
        // A run deleted by another process while we listed is gone, not failed.
        if (!broken || this.fs.exists(dir)) out.push(record);
      } catch (err) {
        if (this.fs.exists(dir)) out.push(this.brokenRecord(name, `run folder ${dir} cannot be read: ${reason(err)}`));
      }
    }
    return out.sort((a, b) => (a.created === b.created ? (a.id < b.id ? 1 : -1) : a.created < b.created ? 1 : -1));
  }

  /** One run, with the same recovery as listRuns. Unknown id → StoreError 'not-found'. */
  getRun(id: string): RunRecord {
    this.requireRun(id);
    return this.load(id).record;
  }

  /** Merges `patch` into run.json atomically and stamps 'updated'. Returns the new record. */
  updateRun(id: string, patch: RunPatch): RunRecord {
    this.requireRun(id);
    const { record, broken } = this.load(id);
    if (broken) throw new StoreError('corrupt', `cannot update run ${id}: ${record.error}`, this.runJson(id));
    const next = { ...record, ...patch, id: record.id, created: record.created, updated: this.now().toISOString() } as RunRecord;
    this.writeRecord(next);
    return next;
  }

  /** Removes a run and its files, and drops it from its studies. Refuses while its process is alive. */
  deleteRun(id: string): void {
    this.requireRun(id);
    const { record } = this.load(id);
    if ((record.status === 'running' || record.status === 'queued') && record.pid !== undefined && this.isPidAlive(record.pid)) {
      throw new StoreError('conflict', `run ${id} is ${record.status} in process ${record.pid}; cancel it before deleting`);
    }
    // Rename first: a crash during the recursive delete then leaves a hidden folder, not a half run.
    const trash = join(this.root, 'runs', `${TRASH_PREFIX}${id}-${randomBytes(3).toString('hex')}`);
    try {
      this.fs.rename(this.runPath(id), trash);
      this.fs.rm(trash, { recursive: true });
    } catch (err) {
      throw new StoreError('io', `could not delete run ${id} (${this.runPath(id)}): ${reason(err)}`, this.runPath(id), { cause: err });
    }
    for (const s of this.listStudies()) {
      if (s.error || !s.runIds.includes(id)) continue;
      this.writeStudy({ ...s, runIds: s.runIds.filter((r) => r !== id), updated: this.now().toISOString() });
    }
  }

  /** Folder of a run. */
  runDir(id: string): string {
    this.requireRun(id);
    return this.runPath(id);
  }

  /** Folder for a run's exports (ONNX, images), created if missing. */
  exportsDir(id: string): string {
    this.requireRun(id);
    const dir = join(this.runPath(id), 'exports');
    this.fs.mkdir(dir);
    return dir;
  }

  /** Files of a run, relative paths with '/', sorted; temp files of writes in progress are not shown. */
  listFiles(id: string): { name: string; bytes: number }[] {
    this.requireRun(id);
    const out: { name: string; bytes: number }[] = [];
    const walk = (dir: string, prefix: string): void => {
      for (const name of this.fs.readdir(dir)) {
        if (name.endsWith(TMP_SUFFIX)) continue;
        const p = join(dir, name);
        let st: { size: number; isDirectory: boolean };
        try {
          st = this.fs.stat(p);
        } catch {
          continue; // renamed away by a concurrent checkpoint write
        }
        if (st.isDirectory) walk(p, `${prefix}${name}/`);
        else out.push({ name: prefix + name, bytes: st.size });
      }
    };
    walk(this.runPath(id), '');
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  // ---------------------------------------------------------------- metrics and BN records

  /** Appends one epoch to metrics.jsonl and flushes it to disk. */
  appendMetrics(id: string, m: EpochMetrics): void {
    this.requireRun(id);
    if (!isMetrics(m)) throw new StoreError('invalid', `metrics for run ${id} need a numeric epoch`);
    const file = this.metricsPath(id);
    this.guardWrite(`metrics of epoch ${m.epoch} of run ${id}`, 'earlier epochs are kept', file, () =>
      this.fs.appendLine(file, JSON.stringify(m, keepNonFinite)),
    );
  }

  /** Epoch metrics in file order; a torn last line is ignored, bad lines in the middle are skipped. */
  readMetrics(id: string): EpochMetrics[] {
    return this.readMetricsReport(id).records;
  }

  /** readMetrics plus what was skipped, for tools that report damage. */
  readMetricsReport(id: string): JsonlRead<EpochMetrics> {
    this.requireRun(id);
    return this.readJsonl(id, this.metricsPath(id), 'metrics.jsonl', isMetrics);
  }

  /**
   * Keeps only epochs ≤ `epoch` (the last checkpoint) so that a resumed run does not repeat
   * epochs; rewrites atomically, which also drops torn lines. Returns how many records were dropped.
   */
  truncateMetrics(id: string, epoch: number): number {
    this.requireRun(id);
    const file = this.metricsPath(id);
    if (!this.fs.exists(file)) return 0;
    const { records, skipped, tornTail } = this.readJsonl(id, file, 'metrics.jsonl', isMetrics);
    const kept = records.filter((m) => m.epoch <= epoch);
    const dropped = records.length - kept.length;
    if (dropped === 0 && skipped === 0 && !tornTail) return 0;
    const text = kept.map((m) => JSON.stringify(m, keepNonFinite) + '\n').join('');
    this.guardWrite(`metrics.jsonl of run ${id}`, 'the previous metrics are kept', file, () => this.fs.writeFileAtomic(file, text));
    return dropped;
  }

  /** Appends one epoch's per-step training losses to steps.jsonl and flushes it (like metrics). */
  appendSteps(id: string, rec: StepLosses): void {
    this.requireRun(id);
    if (!isStepLosses(rec)) throw new StoreError('invalid', `step losses for run ${id} need a numeric epoch, stepsPerEpoch and [step, loss] points`);
    const file = this.stepsPath(id);
    this.guardWrite(`step losses of epoch ${rec.epoch} of run ${id}`, 'earlier epochs are kept', file, () =>
      this.fs.appendLine(file, JSON.stringify(rec, keepNonFinite)),
    );
  }

  /**
   * Per-step losses in epoch order, one record per epoch (the last written wins); a torn last
   * line is ignored. Empty for runs trained before steps.jsonl existed.
   */
  readSteps(id: string): StepLosses[] {
    this.requireRun(id);
    const byEpoch = new Map<number, StepLosses>();
    for (const r of this.readJsonl(id, this.stepsPath(id), 'steps.jsonl', isStepLosses).records) byEpoch.set(r.epoch, r);
    return [...byEpoch.values()].sort((a, b) => a.epoch - b.epoch);
  }

  /** Keeps only epochs ≤ `epoch` in steps.jsonl (a resume repeats the epoch in flight), atomically. */
  truncateSteps(id: string, epoch: number): void {
    this.requireRun(id);
    const file = this.stepsPath(id);
    if (!this.fs.exists(file)) return;
    const { records, skipped, tornTail } = this.readJsonl(id, file, 'steps.jsonl', isStepLosses);
    const kept = records.filter((r) => r.epoch <= epoch);
    if (kept.length === records.length && skipped === 0 && !tornTail) return;
    const text = kept.map((r) => JSON.stringify(r, keepNonFinite) + '\n').join('');
    this.guardWrite(`steps.jsonl of run ${id}`, 'the previous step losses are kept', file, () => this.fs.writeFileAtomic(file, text));
  }

  /** Appends one BN snapshot to bn.jsonl. */
  appendBnRecord(id: string, r: BnRecord): void {
    this.requireRun(id);
    if (!isBnRecord(r)) throw new StoreError('invalid', `BN record for run ${id} needs numeric step, epoch and a layers object`);
    const file = this.bnPath(id);
    this.guardWrite(`BN record of step ${r.step} of run ${id}`, 'earlier records are kept', file, () =>
      this.fs.appendLine(file, JSON.stringify(r, keepNonFinite)),
    );
  }

  /** BN snapshots in file order; a torn last line is ignored. */
  readBnRecords(id: string): BnRecord[] {
    this.requireRun(id);
    return this.readJsonl(id, this.bnPath(id), 'bn.jsonl', isBnRecord).records;
  }

  // ---------------------------------------------------------------- checkpoints and weights

  /**
   * Writes checkpoints/<tag>.nlck atomically; the one it replaces becomes <tag>.prev.nlck, so a
   * good checkpoint exists at every instant. Disk full → StoreError 'disk-full', previous kept.
   */
  writeCheckpoint(id: string, tag: string, state: TrainState): void {
    this.requireRun(id);
    this.checkTag(tag);
    const what = `checkpoint ${tag} of run ${id}`;
    this.writeNlck(what, join(this.runPath(id), 'checkpoints'), tag, () => encodeTrainState(state, what));
  }

  /**
   * The checkpoint, or null if none was written. A corrupt file falls back to the previous copy
   * (with a warning); if no good copy exists → StoreError 'corrupt' naming the file.
   */
  readCheckpoint(id: string, tag: string): TrainState | null {
    this.requireRun(id);
    this.checkTag(tag);
    return this.readNlck(`checkpoint ${tag} of run ${id}`, join(this.runPath(id), 'checkpoints'), tag, decodeTrainState);
  }

  /** Tags of the checkpoints a run has (from <tag>.nlck or a surviving <tag>.prev.nlck). */
  listCheckpoints(id: string): string[] {
    this.requireRun(id);
    const dir = join(this.runPath(id), 'checkpoints');
    if (!this.fs.exists(dir)) return [];
    const tags = new Set<string>();
    for (const n of this.fs.readdir(dir)) {
      const m = /^(.+?)(\.prev)?\.nlck$/.exec(n);
      if (m) tags.add(m[1]);
    }
    return [...tags].sort();
  }

  /** Weights alone (same NLCK format) in weights/<tag>.nlck, e.g. for exports and analyses. */
  writeWeights(id: string, tag: string, weights: NamedWeights): void {
    this.requireRun(id);
    this.checkTag(tag);
    const what = `weights ${tag} of run ${id}`;
    this.writeNlck(what, join(this.runPath(id), 'weights'), tag, () => encodeWeights(weights, what));
  }

  /** Weights written by writeWeights, or null; same fallback as readCheckpoint. */
  readWeights(id: string, tag: string): NamedWeights | null {
    this.requireRun(id);
    this.checkTag(tag);
    return this.readNlck(`weights ${tag} of run ${id}`, join(this.runPath(id), 'weights'), tag, decodeWeights);
  }

  // ---------------------------------------------------------------- studies

  /** Creates studies/<id>.json and marks each run as belonging to it. */
  createStudy(name: string, preset: string, runIds: string[]): StudyRecord {
    runIds.forEach((r) => this.requireRun(r));
    const now = this.now();
    let id = makeId(now);
    while (this.fs.exists(this.studyPath(id))) id = makeId(now);
    const stamp = now.toISOString();
    const study: StudyRecord = { id, name, preset, runIds: [...new Set(runIds)], created: stamp, updated: stamp };
    this.writeStudy(study);
    this.linkRuns(id, study.runIds);
    return study;
  }

  /** Every study, newest first; an unreadable file is listed with `error` set, never thrown. */
  listStudies(): StudyRecord[] {
    const dir = join(this.root, 'studies');
    const out: StudyRecord[] = [];
    for (const n of this.fs.readdir(dir)) {
      const m = /^(.+)\.json$/.exec(n);
      if (!m || !NAME_RE.test(m[1]) || m[1].startsWith('.')) continue;
      try {
        out.push(this.loadStudy(m[1]));
      } catch (err) {
        out.push({ id: m[1], name: m[1], preset: '', runIds: [], created: '', updated: '', error: reason(err) });
      }
    }
    return out.sort((a, b) => (a.created === b.created ? (a.id < b.id ? 1 : -1) : a.created < b.created ? 1 : -1));
  }

  /** One study; unknown → 'not-found', unreadable → 'corrupt'. */
  getStudy(id: string): StudyRecord {
    checkName('study id', id);
    return this.loadStudy(id);
  }

  /** Adds runs (once each) to a study and marks them as belonging to it. */
  addRunsToStudy(id: string, runIds: string[]): StudyRecord {
    const study = this.getStudy(id);
    runIds.forEach((r) => this.requireRun(r));
    const next = { ...study, runIds: [...new Set([...study.runIds, ...runIds])], updated: this.now().toISOString() };
    this.writeStudy(next);
    this.linkRuns(id, runIds);
    return next;
  }

  // ---------------------------------------------------------------- internals

  private runPath(id: string): string {
    return join(this.root, 'runs', id);
  }
  private runJson(id: string): string {
    return join(this.runPath(id), 'run.json');
  }
  private metricsPath(id: string): string {
    return join(this.runPath(id), 'metrics.jsonl');
  }
  private stepsPath(id: string): string {
    return join(this.runPath(id), 'steps.jsonl');
  }
  private bnPath(id: string): string {
    return join(this.runPath(id), 'bn.jsonl');
  }
  private studyPath(id: string): string {
    return join(this.root, 'studies', `${id}.json`);
  }

  private requireRun(id: string): void {
    checkName('run id', id);
    if (!this.fs.exists(this.runPath(id))) {
      throw new StoreError('not-found', `no run ${id} in workspace ${this.root}`, this.runPath(id));
    }
  }

  private checkTag(tag: string): void {
    checkName('checkpoint tag', tag);
    if (tag.endsWith('.prev') || tag.endsWith('.nlck')) {
      throw new StoreError('invalid', `invalid checkpoint tag "${tag}": names ending in .prev or .nlck are reserved`);
    }
  }

  /** Reads run.json, applying the interrupted-run recovery; a bad file gives a placeholder record. */
  private load(id: string): { record: RunRecord; broken: boolean } {
    const file = this.runJson(id);
    if (!this.fs.exists(file)) return { record: this.brokenRecord(id, `${file} is missing`), broken: true };
    let parsed: unknown;
    try {
      parsed = JSON.parse(this.fs.readFile(file).toString('utf8'));
    } catch (err) {
      const why = err instanceof SyntaxError ? `is not valid JSON (${err.message})` : `cannot be read (${reason(err)})`;
      return { record: this.brokenRecord(id, `${file} ${why}`), broken: true };
    }
    const problem = !isObject(parsed)
      ? 'it is not an object'
      : !STATUSES.includes(parsed.status as RunStatus)
        ? `field "status" is ${JSON.stringify(parsed.status)}`
        : !isObject(parsed.settings)
          ? 'field "settings" is missing'
          : null;
    if (problem) return { record: this.brokenRecord(id, `${file} is not a run record: ${problem}`), broken: true };
    const rec = { ...(parsed as unknown as RunRecord), id };

    // A run owned by a Slurm task may be training on another node, where its pid means nothing
    // here: the services ask Slurm instead (services/slurm.ts, mergeSlurm).
    if ((rec.status === 'running' || rec.status === 'queued') && rec.pid !== undefined && !rec.slurm && !this.isPidAlive(rec.pid)) {
      const stamp = this.now().toISOString();
      const fixed: RunRecord = {
        ...rec,
        status: 'interrupted',
        error: `interrupted: process ${rec.pid} that owned this ${rec.status} run is gone (found at ${stamp})`,
        updated: stamp,
      };
      delete fixed.pid;
      try {
        this.writeRecord(fixed);
      } catch (err) {
        // Still report the truth; the next read tries to persist it again.
        this.warn(`run ${id} is interrupted but run.json could not be updated: ${reason(err)}`);
      }
      return { record: fixed, broken: false };
    }
    return { record: rec, broken: false };
  }

  private brokenRecord(id: string, error: string): RunRecord {
    let stamp = new Date(0).toISOString();
    try {
      stamp = new Date(this.fs.stat(this.runPath(id)).mtimeMs).toISOString();
    } catch {
      /* keep epoch */
    }
    return {
      id, name: id, status: 'failed', settings: { ...DEFAULT_SETTINGS }, backend: '', versions: {},
      created: stamp, updated: stamp, epochsDone: 0, error,
    };
  }

  private writeRecord(rec: RunRecord): void {
    const file = this.runJson(rec.id);
    this.guardWrite(`run.json of run ${rec.id}`, 'the previous run.json is kept', file, () =>
      this.fs.writeFileAtomic(file, JSON.stringify(rec, null, 2) + '\n'),
    );
  }

  private readJsonl<T>(id: string, file: string, label: string, valid: (v: unknown) => v is T): JsonlRead<T> {
    if (!this.fs.exists(file)) return { records: [], skipped: 0, tornTail: false };
    let text: string;
    try {
      text = this.fs.readFile(file).toString('utf8');
    } catch (err) {
      throw new StoreError('io', `cannot read ${label} of run ${id} (${file}): ${reason(err)}`, file, { cause: err });
    }
    const r = parseJsonl(text, valid);
    if (r.skipped > 0) this.warn(`${label} of run ${id}: skipped ${r.skipped} unreadable line(s) in ${file}`);
    return r;
  }

  private writeNlck(what: string, dir: string, tag: string, encode: () => Uint8Array): void {
    const file = join(dir, `${tag}.nlck`);
    const bytes = encode();
    const had = this.fs.exists(file) || this.fs.exists(join(dir, `${tag}.prev.nlck`));
    this.guardWrite(what, had ? `the previous ${what.split(' ')[0]} is kept` : 'no earlier copy existed', file, () => {
      this.fs.mkdir(dir);
      this.fs.writeFileAtomic(file, bytes, { keepPrevious: join(dir, `${tag}.prev.nlck`) });
    });
  }

  private readNlck<T>(what: string, dir: string, tag: string, decode: (b: Uint8Array, file: string) => T): T | null {
    const file = join(dir, `${tag}.nlck`);
    const prev = join(dir, `${tag}.prev.nlck`);
    let firstError: StoreError | null = null;
    for (const p of [file, prev]) {
      if (!this.fs.exists(p)) continue;
      let bytes: Buffer;
      try {
        bytes = this.fs.readFile(p);
      } catch (err) {
        // A writer in another process may have just renamed it to <tag>.prev.nlck: read that one.
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw new StoreError('io', `cannot read ${what} (${p}): ${reason(err)}`, p, { cause: err });
      }
      try {
        const value = decode(bytes, p);
        if (p === prev) {
          this.warn(`${what}: using the previous copy ${prev} because ${firstError ? firstError.message : `${file} is missing`}`);
        }
        return value;
      } catch (err) {
        if (!(err instanceof StoreError)) throw err;
        firstError ??= err;
      }
    }
    if (firstError) {
      const more = this.fs.exists(prev) && firstError.file !== prev ? `; the previous copy ${prev} is corrupt too` : '; there is no older copy';
      throw new StoreError('corrupt', `${what}: ${firstError.message}${more}`, firstError.file);
    }
    return null;
  }

  /** Turns a failed write into a StoreError that says what was being written and what survived. */
  private guardWrite<T>(what: string, kept: string, file: string, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (err instanceof StoreError) throw err;
      if (isDiskFull(err)) throw new StoreError('disk-full', `disk full while writing ${what}; ${kept}`, file, { cause: err });
      throw new StoreError('io', `could not write ${what} (${file}): ${reason(err)}; ${kept}`, file, { cause: err });
    }
  }

  private loadStudy(id: string): StudyRecord {
    const file = this.studyPath(id);
    if (!this.fs.exists(file)) throw new StoreError('not-found', `no study ${id} in workspace ${this.root}`, file);
    let v: unknown;
    try {
      v = JSON.parse(this.fs.readFile(file).toString('utf8'));
    } catch (err) {
      throw new StoreError('corrupt', `study file ${file} cannot be read: ${reason(err)}`, file, { cause: err });
    }
    if (!isObject(v) || !Array.isArray(v.runIds) || typeof v.name !== 'string') {
      throw new StoreError('corrupt', `study file ${file} is not a study record`, file);
    }
    return { ...(v as unknown as StudyRecord), id };
  }

  private writeStudy(s: StudyRecord): void {
    const file = this.studyPath(s.id);
    this.guardWrite(`study ${s.id}`, 'the previous study file is kept', file, () =>
      this.fs.writeFileAtomic(file, JSON.stringify(s, null, 2) + '\n'),
    );
  }

  private linkRuns(studyId: string, runIds: string[]): void {
    for (const r of runIds) {
      const { record, broken } = this.load(r);
      if (!broken && record.study !== studyId) this.updateRun(r, { study: studyId });
    }
  }

  private checkFormat(): void {
    const file = join(this.root, 'workspace.json');
    if (!this.fs.exists(file)) {
      try {
        this.fs.writeFileAtomic(file, JSON.stringify({ app: 'normlab', format: WORKSPACE_FORMAT, created: this.now().toISOString() }, null, 2) + '\n');
      } catch (err) {
        throw new StoreError(isDiskFull(err) ? 'disk-full' : 'io', `cannot initialize workspace ${this.root}: ${reason(err)}`, file, { cause: err });
      }
      return;
    }
    let format: unknown;
    try {
      format = (JSON.parse(this.fs.readFile(file).toString('utf8')) as { format?: unknown }).format;
    } catch (err) {
      this.warn(`${file} cannot be read (${reason(err)}); treating the folder as format ${WORKSPACE_FORMAT}`);
      return;
    }
    if (typeof format === 'number' && format > WORKSPACE_FORMAT) {
      throw new StoreError('conflict', `workspace ${this.root} has format ${format}, newer than this NormLab understands (${WORKSPACE_FORMAT}); use a newer version`, file);
    }
  }

  /** Removes temp files whose writer is gone and folders a crashed deleteRun left behind. */
  private cleanupStale(): void {
    const nowMs = this.now().getTime();
    const cleanDir = (dir: string, depth: number): void => {
      let names: string[];
      try {
        names = this.fs.readdir(dir);
      } catch {
        return;
      }
      for (const name of names) {
        const p = join(dir, name);
        try {
          const st = this.fs.stat(p);
          if (st.isDirectory) {
            if (depth === 0 && name.startsWith(TRASH_PREFIX)) {
              this.fs.rm(p, { recursive: true });
              this.cleaned.push(p);
            } else if (depth < 3) cleanDir(p, depth + 1);
          } else if (name.endsWith(TMP_SUFFIX)) {
            const owner = tmpOwner(name);
            const old = nowMs - st.mtimeMs > STALE_TMP_MS;
            if (old || (owner !== null && owner !== process.pid && !this.isPidAlive(owner))) {
              this.fs.rm(p);
              this.cleaned.push(p);
            }
          }
        } catch (err) {
          this.warn(`could not clean up ${p}: ${reason(err)}`);
        }
      }
    };
    cleanDir(join(this.root, 'runs'), 0);
    cleanDir(join(this.root, 'studies'), 1);
    cleanDir(this.root, 3);
  }
}
