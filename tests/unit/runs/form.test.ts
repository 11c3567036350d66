/**
 * The run form's logic: generated from the settings table, parsed from input values and checked
 * with the same resolveSettings the services use.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS, SETTINGS } from '../../../src-main/contract/settings';
import type { EpochMetrics, JobInfo, RunRecord } from '../../../src-main/contract/api';
import {
  canCancel, canDelete, canResume, formFromSettings, formToSettings, filterRuns, groupedFields, sortRuns, keySettings, mergeEpoch,
  onConventionChange, queuePositions, rangeText,
} from '../../../src-renderer/src/views/runs/form';

describe('run form from the settings table', () => {
  it('shows every field exactly once, grouped, in the table order within a group', () => {
    const groups = groupedFields();
    const keys = groups.flatMap((g) => g.fields.map((f) => f.key));
    expect(keys.sort()).toEqual(SETTINGS.map((f) => f.key).sort());
    for (const g of groups) {
      const order = SETTINGS.filter((f) => f.group === g.group).map((f) => f.key);
      expect(g.fields.map((f) => f.key)).toEqual(order);
    }
    expect(groups[0].group).toBe('data');
  });

  it('starts at the defaults and turns them back into exactly DEFAULT_SETTINGS', () => {
    const r = formToSettings(formFromSettings());
    expect(r.ok).toBe(true);
    expect(r.issues).toEqual({});
    expect(r.settings).toEqual(DEFAULT_SETTINGS);
  });

  it('parses typed strings and numbers from inputs', () => {
    const form = formFromSettings();
    form.values.epochs = '1';
    form.values.trainLimit = 500; // bind:value on a number input gives a number
    form.values.testLimit = ' 200 ';
    form.values.lr = '1e-3';
    form.values.optimizer = 'adamw';
    form.values.nesterov = true;
    const r = formToSettings(form);
    expect(r.ok).toBe(true);
    expect(r.settings).toMatchObject({ epochs: 1, trainLimit: 500, testLimit: 200, lr: 0.001, optimizer: 'adamw', nesterov: true });
  });

  it('reports each bad field with the table label, flag and range', () => {
    const form = formFromSettings();
    form.values.epochs = '0';
    form.values.batch = '12.5';
    form.values.dropout = 'abc';
    form.values.lr = null; // an emptied number box
    const r = formToSettings(form);
    expect(r.ok).toBe(false);
    expect(r.issues.epochs).toBe('Epochs (epochs): must be between 1 and 1000, got 0');
    expect(r.issues.batch).toBe('Batch size (batch): must be a whole number, got 12.5');
    expect(r.issues.dropout).toBe('Dropout (dropout): must be a number, got "abc"');
    expect(r.issues.lr).toBe('Learning rate (lr): a value is needed');
    expect(Object.keys(r.issues).sort()).toEqual(['batch', 'dropout', 'epochs', 'lr']);
  });

  it('checks cross-field rules of resolveSettings (groups must divide the channels, ghost ≤ batch)', () => {
    const form = formFromSettings();
    form.values.norm = 'group';
    form.values.groups = '3';
    expect(formToSettings(form).issues.groups).toMatch(/3 does not divide 8 channels/);
    form.values.norm = 'ghost';
    form.values.ghostBatch = '256';
    form.values.batch = '64';
    expect(formToSettings(form).issues.ghostBatch).toMatch(/256 is larger than the batch size 64/);
  });

  it('sends null for BN momentum only when "cumulative" is chosen', () => {
    const form = formFromSettings();
    form.nulls.bnMomentum = true;
    form.values.bnMomentum = ''; // ignored while cumulative is chosen
    const r = formToSettings(form);
    expect(r.ok).toBe(true);
    expect(r.settings.bnMomentum).toBeNull();
    form.nulls.bnMomentum = false;
    expect(formToSettings(form).issues.bnMomentum).toBe('BN momentum (bn-momentum): a value is needed (or choose cumulative)');
    const back = formFromSettings({ ...DEFAULT_SETTINGS, bnMomentum: null });
    expect(back.nulls.bnMomentum).toBe(true);
  });

  it('moves the BN momentum between the conventions\' defaults, but not a value the user chose', () => {
    const form = formFromSettings();
    onConventionChange(form, 'keras');
    expect(form.values.bnMomentum).toBe('0.99');
    onConventionChange(form, 'pytorch');
    expect(form.values.bnMomentum).toBe('0.1');
    form.values.bnMomentum = '0.3';
    onConventionChange(form, 'keras');
    expect(form.values.bnMomentum).toBe('0.3');
  });

  it('needs a dataset name or folder', () => {
    const form = formFromSettings();
    form.values.data = '  ';
    expect(formToSettings(form).issues.data).toBe('Dataset (data): pick a dataset or type a folder path');
  });

  it('describes ranges and defaults under each input', () => {
    const f = (k: string) => SETTINGS.find((s) => s.key === k)!;
    expect(rangeText(f('epochs'))).toBe('1 … 1000, whole · default 10');
    expect(rangeText(f('bnEps'))).toBe('1e-12 … 1 · default 1e-5');
    expect(rangeText(f('bnMomentum'))).toBe('0 … 1 · default 0.1');
    expect(rangeText(f('shuffle'))).toBe('default on');
    expect(rangeText(f('norm'))).toBe('default batch');
  });
});

describe('run list helpers', () => {
  const job = (id: string, state: JobInfo['state'], runId?: string): JobInfo => ({ id, kind: 'train', title: id, state, ...(runId ? { runId } : {}) });

  it('numbers queued runs in submission order, skipping running and finished jobs', () => {
    const p = queuePositions([job('a', 'running', 'r1'), job('b', 'queued', 'r2'), job('x', 'queued'), job('c', 'done', 'r3'), job('d', 'queued', 'r4')]);
    expect([...p.entries()]).toEqual([['r2', 1], ['r4', 2]]);
  });

  it('offers cancel, resume and delete by status', () => {
    expect(['queued', 'running'].map((s) => canCancel(s as never))).toEqual([true, true]);
    expect(canCancel('done')).toBe(false);
    expect(['interrupted', 'cancelled', 'failed', 'done', 'running'].map((s) => canResume(s as never))).toEqual([true, true, true, false, false]);
    expect(canDelete('running')).toBe(false);
    expect(canDelete('interrupted')).toBe(true);
  });

  it('lists the key settings named in the issue', () => {
    const k = keySettings({ ...DEFAULT_SETTINGS, norm: 'ghost', ghostBatch: 16, l1: 5e-5, weightDecay: 0.01 });
    expect(k.map((x) => `${x.label} ${x.value}`)).toEqual(['norm ghost/16', 'batch 128', 'lr 0.05', 'opt sgd', 'dropout 0.05', 'l1 0.00005', 'l2 0', 'wd 0.01']);
  });

  it('merges live epochs in order and replaces a repeated epoch (a resumed run)', () => {
    const m = (epoch: number, loss: number) => ({ epoch, train_loss: loss }) as EpochMetrics;
    let list = mergeEpoch([], m(2, 0.5));
    list = mergeEpoch(list, m(1, 0.9));
    list = mergeEpoch(list, m(2, 0.4));
    expect(list.map((x) => [x.epoch, x.train_loss])).toEqual([[1, 0.9], [2, 0.4]]);
  });

  it('sorts the run list by any column and filters it by words and status', () => {
    const mk = (id: string, name: string, status: RunRecord['status'], epochsDone: number, best: number | undefined, created: string, data = 'mnist-sample', l1 = 0) =>
      ({ id, name, status, epochsDone, bestTestAcc: best, created, settings: { ...DEFAULT_SETTINGS, data, l1 } }) as RunRecord;
    const runs = [
      mk('a', 'no L1/L2', 'done', 40, 0.98, '2026-01-01T10:00:00Z'),
      mk('b', 'L1 (λ=0.00005)', 'running', 3, 0.91, '2026-01-02T10:00:00Z', 'mnist-sample', 0.00005),
      mk('c', 'fashion try', 'failed', 1, undefined, '2026-01-03T10:00:00Z', 'fashion-mnist'),
    ];
    const names = new Map(runs.map((r) => [r.id, r.name]));
    expect(sortRuns(runs, { key: 'best', dir: 'desc' }, names).map((r) => r.id)).toEqual(['a', 'b', 'c']);
    expect(sortRuns(runs, { key: 'epochs', dir: 'asc' }, names).map((r) => r.id)).toEqual(['c', 'b', 'a']);
    expect(sortRuns(runs, { key: 'name', dir: 'asc' }, names).map((r) => r.id)).toEqual(['c', 'b', 'a']);
    expect(sortRuns(runs, { key: 'status', dir: 'asc' }, names).map((r) => r.id)).toEqual(['b', 'c', 'a']);
    expect(sortRuns(runs, { key: 'created', dir: 'desc' }, names).map((r) => r.id)).toEqual(['c', 'b', 'a']);
    expect(filterRuns(runs, 'fashion', '', names).map((r) => r.id)).toEqual(['c']);
    expect(filterRuns(runs, 'l1 0.00005', '', names).map((r) => r.id)).toEqual(['b']);
    expect(filterRuns(runs, '', 'done', names).map((r) => r.id)).toEqual(['a']);
    expect(filterRuns(runs, 'S6', '', names, { st: 'S6 first' })).toEqual([]);
    expect(filterRuns([{ ...runs[0], study: 'st' }], 's6 first', '', names, { st: 'S6 first' }).map((r) => r.id)).toEqual(['a']);
  });
});
