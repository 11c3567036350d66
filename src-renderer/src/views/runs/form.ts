/**
 * The run form's logic, kept apart from Svelte so it can be tested in Node: the form is generated
 * from the one settings table (SETTINGS), parsed from what the inputs hold (strings, booleans), and
 * validated with the same resolveSettings the services use, so the form never accepts what the
 * services would refuse.
 */
import type { EpochMetrics, JobInfo, RunRecord, RunStatus } from '../../../../src-main/contract/api';
import { DEFAULT_SETTINGS, SETTINGS, resolveSettings, type SettingField, type TrainSettings } from '../../../../src-main/contract/settings';

/**
 * What the inputs hold: text as strings, checkboxes as booleans, number inputs as what Svelte's
 * bind:value gives (a number, or null when the box is empty or unparsable) or a typed string.
 */
export type FormValues = Record<string, string | number | boolean | null>;

/** Form state: the input values plus, for nullable numbers, whether "null" is chosen. */
export interface FormState {
  values: FormValues;
  /** Keys of nullable number fields set to null (bnMomentum: cumulative average). */
  nulls: Record<string, boolean>;
}

export const GROUP_ORDER: readonly SettingField['group'][] = ['data', 'run', 'optimizer', 'normalization', 'regularization', 'augmentation'];
export const GROUP_TITLES: Record<SettingField['group'], string> = {
  data: 'Data',
  run: 'Run',
  optimizer: 'Optimizer',
  normalization: 'Normalization',
  regularization: 'Regularization',
  augmentation: 'Augmentation',
};

/** The settings table split by group, in display order, each group keeping the table's order. */
export function groupedFields(fields: readonly SettingField[] = SETTINGS): { group: SettingField['group']; title: string; fields: SettingField[] }[] {
  return GROUP_ORDER.map((group) => ({ group, title: GROUP_TITLES[group], fields: fields.filter((f) => f.group === group) })).filter((g) => g.fields.length > 0);
}

/** Initial form state from a settings object (the defaults unless given). */
export function formFromSettings(settings: TrainSettings = DEFAULT_SETTINGS): FormState {
  const values: FormValues = {};
  const nulls: Record<string, boolean> = {};
  for (const f of SETTINGS) {
    const v = settings[f.key];
    if (f.type === 'boolean') values[f.key] = Boolean(v);
    else if (f.type === 'number') {
      if (v === null) {
        nulls[f.key] = true;
        values[f.key] = f.default === null ? '' : String(f.default);
      } else values[f.key] = String(v);
    } else values[f.key] = String(v);
  }
  return { values, nulls };
}

/** "min … max, default d" for a number field; the text under its input. */
export function rangeText(f: SettingField): string {
  if (f.type === 'number') return `${fmt(f.min)} … ${fmt(f.max)}${f.integer ? ', whole' : ''} · default ${f.default === null ? 'cumulative' : fmt(f.default)}`;
  if (f.type === 'boolean') return `default ${f.default ? 'on' : 'off'}`;
  if (f.type === 'choice') return `default ${f.default}`;
  return f.default ? `default ${f.default}` : 'optional';
}

function fmt(x: number): string {
  if (x !== 0 && (Math.abs(x) < 1e-3 || Math.abs(x) >= 1e6)) return x.toExponential(0);
  return String(x);
}

/** Step for a number input: 1 for integers, otherwise "any" so that every value in range is accepted. */
export function stepFor(f: SettingField): string {
  return f.type === 'number' && f.integer ? '1' : 'any';
}

/**
 * Turns the form into a settings request and checks it with resolveSettings.
 * Returns the settings to send and the problems by field key (empty when valid).
 */
export function formToSettings(state: FormState): { settings: Partial<TrainSettings>; issues: Record<string, string>; ok: boolean } {
  const raw: Record<string, unknown> = {};
  const issues: Record<string, string> = {};
  for (const f of SETTINGS) {
    const v = state.values[f.key];
    if (f.type === 'number') {
      if (f.nullable && state.nulls[f.key]) {
        raw[f.key] = null;
        continue;
      }
      const text = typeof v === 'string' ? v.trim() : v === null || v === undefined ? '' : String(v);
      if (text === '') {
        issues[f.key] = `${f.label} (${f.flag}): a value is needed${f.nullable ? ' (or choose cumulative)' : ''}`;
        continue;
      }
      const n = Number(text);
      if (!Number.isFinite(n)) {
        issues[f.key] = `${f.label} (${f.flag}): must be a number, got "${text}"`;
        continue;
      }
      raw[f.key] = n;
    } else if (f.type === 'boolean') raw[f.key] = Boolean(v);
    else raw[f.key] = typeof v === 'string' ? (f.key === 'data' ? v.trim() : v) : String(v ?? '');
  }
  if (typeof raw.data === 'string' && raw.data === '') issues.data = 'Dataset (data): pick a dataset or type a folder path';
  const r = resolveSettings(raw);
  if (!r.ok) for (const i of r.issues) issues[i.key] ??= i.message;
  const ok = Object.keys(issues).length === 0;
  return { settings: ok && r.ok ? r.value : (raw as Partial<TrainSettings>), issues, ok };
}

/**
 * When the BN momentum convention changes, a momentum still at the old convention's default
 * moves to the new one's (0.1 ↔ 0.99), as resolveSettings does for a request without one.
 */
export function onConventionChange(state: FormState, next: string): void {
  const current = Number(state.values.bnMomentum);
  if (next === 'keras' && current === 0.1) state.values.bnMomentum = '0.99';
  else if (next === 'pytorch' && current === 0.99) state.values.bnMomentum = '0.1';
}

/** Statuses in which Cancel, Resume and Delete make sense. */
export const canCancel = (s: RunStatus): boolean => s === 'running' || s === 'queued';
export const canResume = (s: RunStatus): boolean => s === 'interrupted' || s === 'cancelled' || s === 'failed';
export const canDelete = (s: RunStatus): boolean => s !== 'running' && s !== 'queued';

/** 1-based queue position of each queued training job's run, in submission order. */
export function queuePositions(jobs: readonly JobInfo[]): Map<string, number> {
  const out = new Map<string, number>();
  let n = 0;
  for (const j of jobs) {
    if (j.state !== 'queued' || !j.runId) continue;
    n += 1;
    out.set(j.runId, n);
  }
  return out;
}

/** The running job of a run, if any (its progress drives the progress bar). */
export function activeJob(jobs: readonly JobInfo[], runId: string): JobInfo | undefined {
  return jobs.find((j) => j.runId === runId && (j.state === 'running' || j.state === 'queued'));
}

/** Key settings of a run as short "name value" pairs for the run list. */
export function keySettings(s: TrainSettings): { label: string; value: string }[] {
  return [
    { label: 'norm', value: s.norm === 'ghost' ? `ghost/${s.ghostBatch}` : s.norm === 'group' ? `group/${s.groups}` : s.norm },
    { label: 'batch', value: String(s.batch) },
    { label: 'lr', value: String(s.lr) },
    { label: 'opt', value: s.optimizer },
    { label: 'dropout', value: String(s.dropout) },
    { label: 'l1', value: String(s.l1) },
    { label: 'l2', value: String(s.l2) },
    { label: 'wd', value: String(s.weightDecay) },
  ];
}

/** Short name of a run's dataset: the dataset name, or the last folder of a path. */
export function datasetLabel(run: RunRecord): string {
  if (run.dataset?.name) return run.dataset.name;
  const d = run.settings.data;
  const parts = d.split(/[\\/]/).filter(Boolean);
  return parts.at(-1) ?? d;
}

/** Merge an epoch into a metrics list: replaces the same epoch (a resumed run), keeps epoch order. */
export function mergeEpoch(metrics: readonly EpochMetrics[], m: EpochMetrics): EpochMetrics[] {
  return [...metrics.filter((x) => x.epoch !== m.epoch), m].sort((a, b) => a.epoch - b.epoch);
}

export type RunSortKey = 'status' | 'name' | 'dataset' | 'epochs' | 'best' | 'created';
export interface RunSort {
  key: RunSortKey;
  dir: 'asc' | 'desc';
}

const STATUS_ORDER = ['running', 'queued', 'interrupted', 'failed', 'cancelled', 'stopped-early', 'done'];

/** The run list sorted by a column (ties: newest first), names as displayed. */
export function sortRuns(runs: readonly RunRecord[], sort: RunSort, names: Map<string, string>): RunRecord[] {
  const name = (r: RunRecord) => names.get(r.id) ?? (r.name || r.id);
  const value = (r: RunRecord): number | string => {
    switch (sort.key) {
      case 'status': return STATUS_ORDER.indexOf(r.status);
      case 'name': return name(r).toLowerCase();
      case 'dataset': return datasetLabel(r).toLowerCase();
      case 'epochs': return r.epochsDone;
      case 'best': return r.bestValAcc ?? r.bestTestAcc ?? -1;
      case 'created': return r.created;
    }
  };
  const sign = sort.dir === 'asc' ? 1 : -1;
  return [...runs].sort((a, b) => {
    const va = value(a);
    const vb = value(b);
    const c = va < vb ? -1 : va > vb ? 1 : 0;
    return c !== 0 ? sign * c : b.created.localeCompare(a.created);
  });
}

/**
 * Runs whose name, id, dataset, study name or key settings contain every word of `text`
 * (case-insensitive), and whose status is `status` ('' = any).
 */
export function filterRuns(runs: readonly RunRecord[], text: string, status: string, names: Map<string, string>, studyNames: Readonly<Record<string, string>> = {}): RunRecord[] {
  const words = text.toLowerCase().split(/\s+/).filter(Boolean);
  return runs.filter((r) => {
    if (status && r.status !== status) return false;
    if (!words.length) return true;
    const hay = [names.get(r.id) ?? '', r.name, r.id, datasetLabel(r), r.study ? (studyNames[r.study] ?? r.study) : '', ...keySettings(r.settings).map((k) => `${k.label} ${k.value}`)]
      .join(' ')
      .toLowerCase();
    return words.every((w) => hay.includes(w));
  });
}

/** Who writes a run, for a person: "process 4242 on lab-3" or "Slurm job 55 task 3". */
export function ownerLabel(owner: RunRecord['owner']): string {
  if (!owner) return 'another process';
  if (owner.kind === 'slurm') return `Slurm job ${owner.jobId}${owner.arrayTaskId !== undefined ? ` task ${owner.arrayTaskId}` : ''}`;
  return `process ${owner.pid}${owner.host ? ` on ${owner.host}` : ''}`;
}

/**
 * A queued or running run that this app can neither follow nor cancel: no job of ours drives it
 * and it is no Slurm task of a study (those are followed by polling and cancelled with scancel).
 */
export function runsElsewhere(run: RunRecord, job: unknown): boolean {
  return (run.status === 'running' || run.status === 'queued') && !job && !run.slurm;
}
