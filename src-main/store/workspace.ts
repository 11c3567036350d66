import type { StudySummary } from '../contract/study';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { EpochMetrics, ResumeReport, RunOwner, RunRecord, StepLosses } from '../contract/api';
import { DEFAULT_SETTINGS, type TrainSettings } from '../contract/settings';
import type { BnRecord, NamedWeights, TrainState } from '../engine/model-types';
import { decodeTrainState, decodeWeights, encodeTrainState, encodeWeights, keepNonFinite } from './checkpoint-format';
import { StoreError, isDiskFull, reason } from './errors';
import { TMP_SUFFIX, nodeFileLayer, tmpOwner, type FileLayer } from './file-layer';
import { parseJsonl, type JsonlRead } from './jsonl';
import { LOCK_FILE, acquireRunLock, currentOwner, describeOwner, lockHolder, ownerLiveness, pidExists, type Liveness, type RunLock } from './owner';
import { bnRecordSchema, describeIssue, epochMetricsSchema, runRecordSchema, stepLossesSchema, studySchema, workspaceFileSchema } from './schemas';
import type { z } from 'zod';

/** A group of runs started together; the type lives in the contract. */
export type StudyRecord = StudySummary;

export interface WorkspaceOptions {
  /** Disk access; tests inject faults here. Default: node:fs. */
  files?: FileLayer;
  /** Where non-fatal findings go (skipped lines, fallback to an older checkpoint). Default: console.warn. */
  warn?: (message: string) => void;
  /** Whether a run's owner is still running. Default: ownerLiveness (pid + start time + host; Slurm hook). */
  liveness?: (owner: RunOwner) => Liveness;
  /** Whether a pid on this host exists (for the owners of temp files). Default: signal 0. */
  isPidAlive?: (pid: number) => boolean;
  /**
   * Make the folder a workspace even if it already holds other files. Without it, a folder that
   * has files but no workspace.json is refused (an empty or missing folder is initialised).
   */
  init?: boolean;
  /** Open for reading only: a missing workspace is refused instead of created. */
  readOnly?: boolean;
  /** Clock, for tests. */
  now?: () => Date;
}

/** What resume kept and dropped when it cut the append-only records back to its checkpoint. */
export type ResumeCut = Omit<ResumeReport, 'notes'>;

/** The checkpoint a resume starts from, and the best-epoch weights that belong with it. */
export interface ResumePoint {
  state: TrainState | null;
  bestWeights?: NamedWeights;
  /** Why the newest checkpoint was not used (empty when it was). */
  notes: string[];
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
const WORKSPACE_FORMAT = 1;
const TRASH_PREFIX = '.trash-';
const TRASH_RE = /^\.trash-[A-Za-z0-9._-]+-[0-9a-f]{6}$/;

/** Default liveness test of a pid on this host: signal 0 checks existence without touching the process. */
export const pidAlive = pidExists;

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

type Check = (v: unknown) => string | null;
/** A line checker over a schema: null when the value fits, else the field and what is wrong. */
function check(schema: z.ZodType): Check {
  return (v) => {
    const r = schema.safeParse(v);
    return r.success ? null : describeIssue(r.error, v);
  };
}
const isMetrics = check(epochMetricsSchema);
const isStepLosses = check(stepLossesSchema);
const isBnRecord = check(bnRecordSchema);

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
  /** Stale temp files and half-deleted runs removed by cleanup() (paths). */
  readonly cleaned: string[] = [];
  private readonly fs: FileLayer;
  private readonly warn: (message: string) => void;
  private readonly isPidAlive: (pid: number) => boolean;
  private readonly liveness: (owner: RunOwner) => Liveness;
  private readonly now: () => Date;

  /**
   * Opens the workspace at `root`. A missing or empty folder is initialised (unless readOnly); a
   * folder with other files and no workspace.json is refused unless `init` is set, so that
   * pointing NormLab at the wrong folder changes nothing there. Opening deletes nothing: writers
   * call cleanup().
   */
  constructor(root: string, opts: WorkspaceOptions = {}) {
    this.root = root;
    this.fs = opts.files ?? nodeFileLayer();
    this.warn = opts.warn ?? ((m) => console.warn(`[store] ${m}`));
    this.isPidAlive = opts.isPidAlive ?? pidAlive;
    this.liveness = opts.liveness ?? ((o) => ownerLiveness(o, { pidExists: this.isPidAlive }));
    this.now = opts.now ?? (() => new Date());
    this.openFolder(opts);
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
    if (!this.fs.exists(runsDir)) return []; // a read-only open of a folder with no workspace yet
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
    if (broken) throw new StoreError('corrupt', `cannot update run ${id}: ${record.damaged ?? record.error}`, this.runJson(id));
    const next = { ...record, ...patch, id: record.id, created: record.created, updated: this.now().toISOString() } as RunRecord;
    this.writeRecord(next);
    return next;
  }

  /**
   * Removes a run and its files, and drops it from its studies. Refuses while its owner may still
   * be running, and refuses a folder that holds no run record NormLab wrote.
   */
  deleteRun(id: string): void {
    this.requireRun(id);
    const { record, broken } = this.load(id);
    if (broken && !this.hasOwnRecord(id)) {
      throw new StoreError('invalid', `${this.runPath(id)} holds no run record written by NormLab (${record.damaged ?? record.error}); it is left as it is`, this.runPath(id));
    }
    const holder = lockHolder(this.runPath(id));
    const owner = (record.status === 'running' || record.status === 'queued') ? record.owner ?? holder : holder;
    if (owner && this.liveness(owner) !== 'dead') {
      throw new StoreError('conflict', `run ${id} is ${record.status} in ${describeOwner(owner)}; cancel it before deleting`);
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
        if (name.endsWith(TMP_SUFFIX) || (prefix === '' && name.startsWith(LOCK_FILE))) continue;
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
    const bad = isMetrics(m);
    if (bad) throw new StoreError('invalid', `metrics for run ${id}: ${bad}`);
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
   * epochs; rewrites atomically. Unreadable lines are moved to metrics.jsonl.damaged, never lost.
   * Returns how many records were dropped.
   */
  truncateMetrics(id: string, epoch: number): number {
    this.requireRun(id);
    return this.cutJsonl<EpochMetrics>(id, this.metricsPath(id), 'metrics.jsonl', isMetrics, (m) => m.epoch <= epoch).dropped;
  }

  /** Appends one epoch's per-step training losses to steps.jsonl and flushes it (like metrics). */
  appendSteps(id: string, rec: StepLosses): void {
    this.requireRun(id);
    const bad = isStepLosses(rec);
    if (bad) throw new StoreError('invalid', `step losses for run ${id}: ${bad}`);
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
    for (const r of this.readJsonl<StepLosses>(id, this.stepsPath(id), 'steps.jsonl', isStepLosses).records) byEpoch.set(r.epoch, r);
    return [...byEpoch.values()].sort((a, b) => a.epoch - b.epoch);
  }

  /** Keeps only epochs ≤ `epoch` in steps.jsonl (a resume repeats the epoch in flight), atomically. */
  truncateSteps(id: string, epoch: number): void {
    this.requireRun(id);
    this.cutJsonl<StepLosses>(id, this.stepsPath(id), 'steps.jsonl', isStepLosses, (r) => r.epoch <= epoch);
  }

  /**
   * Before a resume from the checkpoint of `epoch` (0: none, start over): cuts every append-only
   * record back to it — metrics, step losses, BN records (recorded during epochs ≤ `epoch`) and
   * per-epoch weights — and moves unreadable lines to `<file>.damaged`. Says what it kept and dropped.
   */
  cutForResume(id: string, epoch: number): ResumeCut {
    this.requireRun(id);
    const m = this.cutJsonl<EpochMetrics>(id, this.metricsPath(id), 'metrics.jsonl', isMetrics, (r) => r.epoch <= epoch);
    const st = this.cutJsonl<StepLosses>(id, this.stepsPath(id), 'steps.jsonl', isStepLosses, (r) => r.epoch <= epoch);
    const bn = this.cutJsonl<BnRecord>(id, this.bnPath(id), 'bn.jsonl', isBnRecord, (r) => r.epoch <= epoch);
    const w = { kept: 0, dropped: 0 };
    const wdir = join(this.runPath(id), 'weights');
    if (this.fs.exists(wdir)) {
      for (const n of this.fs.readdir(wdir)) {
        const e = /^epoch-(\d+)(\.prev)?\.nlck$/.exec(n);
        if (!e) continue;
        if (Number(e[1]) <= epoch) {
          if (!e[2]) w.kept++;
          continue;
        }
        this.guardWrite(`removal of ${n} of run ${id}`, 'the file is kept', join(wdir, n), () => this.fs.rm(join(wdir, n)));
        if (!e[2]) w.dropped++;
      }
    }
    return {
      epoch,
      kept: { metrics: m.kept, steps: st.kept, bn: bn.kept, weights: w.kept },
      dropped: { metrics: m.dropped, steps: st.dropped, bn: bn.dropped, weights: w.dropped },
      damagedLines: [m, st, bn].filter((r) => r.damaged > 0).map((r) => ({ file: r.file, lines: r.damaged })),
    };
  }

  /**
   * Damage in the files of a run that analyses rely on: run.json against its schema, then every
   * line of metrics.jsonl (a torn last line is not damage). Null when the run is intact.
   */
  damage(id: string): string | null {
    this.requireRun(id);
    const { record } = this.load(id);
    if (record.damaged) return record.damaged;
    const r = this.readJsonl<EpochMetrics>(id, this.metricsPath(id), 'metrics.jsonl', isMetrics, true);
    const b = r.bad.find((x) => !(r.tornTail && x === r.bad.at(-1)));
    return b ? `${this.metricsPath(id)} line ${b.line}: ${b.why}` : null;
  }

  /** Throws StoreError 'corrupt' naming the file and field when the run is damaged (analyses call this). */
  requireIntact(id: string, what: string): RunRecord {
    const why = this.damage(id);
    if (why) throw new StoreError('corrupt', `${what} refused: run ${id} is damaged (${why}); nothing is guessed around it`);
    return this.getRun(id);
  }

  // ---------------------------------------------------------------- owner lock

  /**
   * Takes the run's writer lock for `owner` (default: this process, or this Slurm task). Refuses,
   * naming the holder, while another live writer holds it; a dead holder (gone or reused pid) is
   * replaced. Records the owner in run.json.
   */
  lockRun(id: string, owner: RunOwner = currentOwner()): RunLock {
    this.requireRun(id);
    return acquireRunLock(this.runPath(id), id, owner, this.liveness);
  }

  /** The run's lock holder and whether it is still running, or null when no lock is held. */
  runOwner(id: string): { owner: RunOwner; liveness: Liveness } | null {
    this.requireRun(id);
    const owner = lockHolder(this.runPath(id));
    return owner ? { owner, liveness: this.liveness(owner) } : null;
  }

  /** Appends one BN snapshot to bn.jsonl. */
  appendBnRecord(id: string, r: BnRecord): void {
    this.requireRun(id);
    const bad = isBnRecord(r);
    if (bad) throw new StoreError('invalid', `BN record for run ${id}: ${bad}`);
    const file = this.bnPath(id);
    this.guardWrite(`BN record of step ${r.step} of run ${id}`, 'earlier records are kept', file, () =>
      this.fs.appendLine(file, JSON.stringify(r, keepNonFinite)),
    );
  }

  /** BN snapshots in file order; a torn last line is ignored. */
  readBnRecords(id: string): BnRecord[] {
    this.requireRun(id);
    return this.readJsonl<BnRecord>(id, this.bnPath(id), 'bn.jsonl', isBnRecord).records;
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

  /**
   * The checkpoint a resume starts from: 'last', or its previous copy when 'last' is corrupt or
   * is after an epoch whose metrics line was lost (a torn line written after the checkpoint), so
   * that epoch is trained again instead of lost; null when neither exists. Never claims more
   * than it has: the epoch is the decoded checkpoint's own.
   */
  resumePoint(id: string): ResumePoint {
    this.requireRun(id);
    const dir = join(this.runPath(id), 'checkpoints');
    const have = new Set(this.readJsonl<EpochMetrics>(id, this.metricsPath(id), 'metrics.jsonl', isMetrics, true).records.map((m) => m.epoch));
    const notes: string[] = [];
    let state: TrainState | null = null;
    for (const p of [join(dir, 'last.nlck'), join(dir, 'last.prev.nlck')]) {
      const s = this.decodeFile(p, (b) => decodeTrainState(b, p), notes);
      if (!s) continue;
      if (s.epoch > 0 && !have.has(s.epoch)) {
        notes.push(`${p} is after epoch ${s.epoch}, but metrics.jsonl has no line for epoch ${s.epoch}`);
        continue;
      }
      state = s;
      break;
    }
    if (!state) {
      if (this.fs.exists(join(dir, 'last.nlck')) || this.fs.exists(join(dir, 'last.prev.nlck')) || notes.length) notes.push('no usable checkpoint: the run starts over from epoch 1');
      return { state: null, notes };
    }
    let bestWeights: NamedWeights | undefined;
    const bestEpoch = state.best?.epoch;
    if (bestEpoch !== undefined) {
      for (const p of [join(dir, 'best.nlck'), join(dir, 'best.prev.nlck')]) {
        const b = this.decodeFile(p, (bytes) => decodeTrainState(bytes, p), notes);
        if (b && b.epoch === bestEpoch) {
          bestWeights = b.weights;
          break;
        }
      }
      if (!bestWeights) notes.push(`no 'best' checkpoint of epoch ${bestEpoch}: early stopping restores from the epochs trained from here on`);
    }
    return { state, ...(bestWeights ? { bestWeights } : {}), notes };
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
    for (const n of this.safeReaddir(dir)) {
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

  /**
   * Reads run.json against its schema, applying the interrupted-run recovery (an owner that is gone
   * makes a queued or running run 'interrupted'). A file that does not fit gives a placeholder
   * record marked `damaged`, naming the file and the field.
   */
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
    const checked = runRecordSchema.safeParse(parsed);
    if (!checked.success) {
      return { record: this.brokenRecord(id, `${file} is not a valid run record: ${describeIssue(checked.error, parsed)}`, parsed), broken: true };
    }
    const rec = { ...checked.data, id, name: checked.data.name || id } as RunRecord;

    if ((rec.status === 'running' || rec.status === 'queued') && rec.owner && this.liveness(rec.owner) === 'dead') {
      const stamp = this.now().toISOString();
      const owner = rec.owner;
      const fixed: RunRecord = {
        ...rec,
        status: 'interrupted',
        error: `interrupted: ${describeOwner(owner, false)} that owned this ${rec.status} run is gone (found at ${stamp}${owner.host ? ` on ${owner.host}` : ''})`,
        updated: stamp,
      };
      delete fixed.owner;
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

  /** A placeholder for a run whose run.json cannot be used: listed as damaged, never guessed around. */
  private brokenRecord(id: string, error: string, parsed?: unknown): RunRecord {
    let stamp = new Date(0).toISOString();
    try {
      stamp = new Date(this.fs.stat(this.runPath(id)).mtimeMs).toISOString();
    } catch {
      /* keep epoch */
    }
    const p = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown>;
    const text = (k: string, d: string): string => (typeof p[k] === 'string' && p[k] ? (p[k] as string) : d);
    return {
      id, name: text('name', id), status: 'failed', settings: { ...DEFAULT_SETTINGS }, backend: '', versions: {},
      created: text('created', stamp), updated: text('updated', stamp), epochsDone: 0, error, damaged: error,
    };
  }

  /** Whether runs/<id>/run.json is a record NormLab wrote (a JSON object naming this run), damaged or not. */
  private hasOwnRecord(id: string): boolean {
    try {
      const v = JSON.parse(this.fs.readFile(this.runJson(id)).toString('utf8')) as Record<string, unknown>;
      return typeof v === 'object' && v !== null && v.id === id && typeof v.created === 'string';
    } catch {
      return false;
    }
  }

  private writeRecord(rec: RunRecord): void {
    const file = this.runJson(rec.id);
    this.guardWrite(`run.json of run ${rec.id}`, 'the previous run.json is kept', file, () =>
      this.fs.writeFileAtomic(file, JSON.stringify(rec, null, 2) + '\n'),
    );
  }

  private readJsonl<T>(id: string, file: string, label: string, check: Check, quiet = false): JsonlRead<T> {
    if (!this.fs.exists(file)) return { records: [], skipped: 0, tornTail: false, bad: [] };
    let text: string;
    try {
      text = this.fs.readFile(file).toString('utf8');
    } catch (err) {
      throw new StoreError('io', `cannot read ${label} of run ${id} (${file}): ${reason(err)}`, file, { cause: err });
    }
    const r = parseJsonl<T>(text, check);
    if (r.skipped > 0 && !quiet) {
      const first = r.bad.find((b) => !(r.tornTail && b === r.bad.at(-1)))!;
      this.warn(`${label} of run ${id}: skipped ${r.skipped} unreadable line(s) in ${file} (line ${first.line}: ${first.why})`);
    }
    return r;
  }

  /**
   * Rewrites a line-per-record file keeping the records `keep` accepts; lines that are not records
   * are first appended to `<file>.damaged` (so nothing is lost), then left out.
   */
  private cutJsonl<T>(id: string, file: string, label: string, check: Check, keep: (r: T) => boolean): { file: string; kept: number; dropped: number; damaged: number } {
    if (!this.fs.exists(file)) return { file, kept: 0, dropped: 0, damaged: 0 };
    const r = this.readJsonl<T>(id, file, label, check, true);
    const kept = r.records.filter(keep);
    const dropped = r.records.length - kept.length;
    if (r.bad.length > 0) {
      const aside = `${file}.damaged`;
      this.guardWrite(`damaged lines of ${label} of run ${id}`, `${label} is unchanged`, aside, () => {
        for (const b of r.bad) this.fs.appendLine(aside, b.text.replace(/\n/g, ' '));
      });
      this.warn(`${label} of run ${id}: moved ${r.bad.length} unreadable line(s) to ${aside} (line ${r.bad[0].line}: ${r.bad[0].why})`);
    }
    if (dropped > 0 || r.bad.length > 0) {
      const text = kept.map((m) => JSON.stringify(m, keepNonFinite) + '\n').join('');
      this.guardWrite(`${label} of run ${id}`, `the previous ${label} is kept`, file, () => this.fs.writeFileAtomic(file, text));
    }
    return { file, kept: kept.length, dropped, damaged: r.bad.length };
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

  /** Decodes one NLCK file; null (with a note) when it is missing or corrupt. */
  private decodeFile<T>(p: string, decode: (b: Uint8Array) => T, notes: string[]): T | null {
    if (!this.fs.exists(p)) return null;
    try {
      return decode(this.fs.readFile(p));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      notes.push(`${p} cannot be used: ${reason(err)}`);
      return null;
    }
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
    const checked = studySchema.safeParse(v);
    if (!checked.success) throw new StoreError('corrupt', `study file ${file} is not a study record: ${describeIssue(checked.error, v)}`, file);
    return { ...checked.data, id };
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

  /** Checks (or creates) workspace.json; refuses folders that are not workspaces unless asked to initialise one. */
  private openFolder(opts: WorkspaceOptions): void {
    const root = this.root;
    const file = join(root, 'workspace.json');
    if (!this.fs.exists(file)) {
      let names: string[] = [];
      if (this.fs.exists(root)) {
        try {
          if (!this.fs.stat(root).isDirectory) throw new StoreError('invalid', `workspace ${root} is a file, not a folder`, root);
          names = this.fs.readdir(root);
        } catch (err) {
          if (err instanceof StoreError) throw err;
          throw new StoreError('io', `workspace folder ${root} cannot be read: ${reason(err)}`, root, { cause: err });
        }
      }
      if (names.length > 0 && !opts.init) {
        throw new StoreError(
          'invalid',
          `${root} is not a NormLab workspace (it has no workspace.json but holds ${names.length} other entr${names.length === 1 ? 'y' : 'ies'}); ` +
            'choose another folder, or initialise this one explicitly (normlab … --init)',
          root,
        );
      }
      if (opts.readOnly) return; // nothing there yet: an empty workspace, and nothing is created
      try {
        this.fs.mkdir(join(root, 'runs'));
        this.fs.mkdir(join(root, 'studies'));
        this.fs.writeFileAtomic(file, JSON.stringify({ app: 'normlab', format: WORKSPACE_FORMAT, created: this.now().toISOString() }, null, 2) + '\n');
      } catch (err) {
        throw new StoreError(isDiskFull(err) ? 'disk-full' : 'io', `cannot initialize workspace ${root}: ${reason(err)}`, file, { cause: err });
      }
      return;
    }
    let v: unknown;
    try {
      v = JSON.parse(this.fs.readFile(file).toString('utf8'));
    } catch (err) {
      throw new StoreError('corrupt', `${file} cannot be read (${reason(err)}); it marks ${root} as a NormLab workspace — restore it or remove the folder`, file, { cause: err });
    }
    const checked = workspaceFileSchema.safeParse(v);
    if (!checked.success) {
      throw new StoreError('corrupt', `${file} is not a NormLab workspace file: ${describeIssue(checked.error, v)}`, file);
    }
    if (checked.data.format > WORKSPACE_FORMAT) {
      throw new StoreError('conflict', `workspace ${root} has format ${checked.data.format}, newer than this NormLab understands (${WORKSPACE_FORMAT}); use a newer version`, file);
    }
    if (opts.readOnly) return;
    try {
      this.fs.mkdir(join(root, 'runs'));
      this.fs.mkdir(join(root, 'studies'));
    } catch (err) {
      throw new StoreError('io', `workspace folder ${root} cannot be created: ${reason(err)}`, root, { cause: err });
    }
  }

  /**
   * Removes what crashed writers of this store left behind, and nothing else: temp files named by
   * the store's own pattern (`<file>.<pid>.<hex>.tmp`) whose writing process is gone, stale lock
   * copies, and run folders a crashed deleteRun had renamed to `.trash-<id>-<hex>`. Writers call
   * this (starting or resuming a run); reading a workspace never deletes anything.
   */
  cleanup(): string[] {
    const removed: string[] = [];
    const deadWriter = (pid: number | null): boolean => pid !== null && pid !== process.pid && !this.isPidAlive(pid);
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
            if (depth === 0 && dir === join(this.root, 'runs') && TRASH_RE.test(name)) {
              this.fs.rm(p, { recursive: true });
              removed.push(p);
            } else if (depth < 2) cleanDir(p, depth + 1);
          } else if (name.endsWith(TMP_SUFFIX) ? deadWriter(tmpOwner(name)) : deadWriter(staleLockOwner(name))) {
            this.fs.rm(p);
            removed.push(p);
          }
        } catch (err) {
          this.warn(`could not clean up ${p}: ${reason(err)}`);
        }
      }
    };
    cleanDir(join(this.root, 'runs'), 0);
    cleanDir(join(this.root, 'studies'), 2);
    for (const name of this.safeReaddir(this.root)) {
      if (name.startsWith('workspace.json.') && deadWriter(tmpOwner(name))) {
        const p = join(this.root, name);
        try {
          this.fs.rm(p);
          removed.push(p);
        } catch (err) {
          this.warn(`could not clean up ${p}: ${reason(err)}`);
        }
      }
    }
    this.cleaned.push(...removed);
    return removed;
  }

  private safeReaddir(dir: string): string[] {
    try {
      return this.fs.readdir(dir);
    } catch {
      return [];
    }
  }
}

/** The pid in the name of a stale lock set aside by breakStale (`owner.lock.stale-<pid>-<hex>`), or null. */
function staleLockOwner(name: string): number | null {
  const m = /^owner\.lock\.stale-(\d+)-[0-9a-f]{6}$/.exec(name);
  return m ? Number(m[1]) : null;
}
