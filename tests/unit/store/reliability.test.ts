/**
 * Issue 18 in the store: one writer per run (a lock naming pid + start time + host, or a Slurm
 * task), schemas for every file read back (a damaged run is named, the others are untouched),
 * resume cuts every append-only record back to the checkpoint it really has, and the store
 * deletes only what it wrote. Each case here failed on the main before this change.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { RunOwner } from '../../../src-main/contract/api';
import { DEFAULT_SETTINGS } from '../../../src-main/contract/settings';
import { Workspace, StoreError } from '../../../src-main/store';
import { acquireRunLock, currentOwner, ownerLiveness, processStartTime, setSlurmLiveness, LOCK_FILE } from '../../../src-main/store/owner';
import { deadPid, metrics, realState, tempRoot } from './helpers';

let root: string;
let cleanup: () => void;
let warnings: string[];
const open = (opts: ConstructorParameters<typeof Workspace>[1] = {}): Workspace => new Workspace(root, { warn: (m) => warnings.push(m), ...opts });

beforeEach(() => {
  ({ root, cleanup } = tempRoot('rel'));
  warnings = [];
});
afterEach(() => cleanup());

function storeError(fn: () => unknown): StoreError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(StoreError);
    return err as StoreError;
  }
  throw new Error('expected a StoreError, nothing was thrown');
}

const me = (): RunOwner => currentOwner({});

describe('item 1: a lock per run', () => {
  it('knows this process by pid, start time and host; a reused pid (other start time) is dead', () => {
    const owner = me();
    expect(owner).toMatchObject({ kind: 'process', pid: process.pid, host: hostname() });
    if (owner.kind !== 'process') throw new Error('unreachable');
    expect(owner.startTime).toMatch(/^.+:\d+$/);
    expect(ownerLiveness(owner)).toBe('alive');
    expect(ownerLiveness({ ...owner, startTime: `${owner.startTime}0` })).toBe('dead'); // same pid, another process
    expect(ownerLiveness({ kind: 'process', pid: deadPid(), host: hostname() })).toBe('dead');
    expect(ownerLiveness({ ...owner, host: 'elsewhere' })).toBe('unknown');
    expect(processStartTime(-1)).toBeUndefined();
  });

  it('a second writer is refused naming the holder; release lets the next one in', () => {
    const ws = open();
    const run = ws.createRun(DEFAULT_SETTINGS);
    const lock = ws.lockRun(run.id);
    const e = storeError(() => ws.lockRun(run.id));
    expect(e.code).toBe('conflict');
    expect(e.message).toContain(`process ${process.pid} on ${hostname()}`);
    expect(e.message).toContain('is running');
    expect(ws.runOwner(run.id)?.liveness).toBe('alive');
    lock.release();
    expect(existsSync(join(root, 'runs', run.id, LOCK_FILE))).toBe(false);
    ws.lockRun(run.id).release();
    // The lock file is not one of the run's files.
    const l2 = ws.lockRun(run.id);
    expect(ws.listFiles(run.id).map((f) => f.name)).toEqual(['run.json']);
    l2.release();
  });

  it('a lock left by a dead process, or by a process whose pid was reused, is taken over', () => {
    const ws = open();
    const run = ws.createRun(DEFAULT_SETTINGS);
    const dir = join(root, 'runs', run.id);
    const owner = me();
    if (owner.kind !== 'process') throw new Error('unreachable');
    for (const stale of [
      { kind: 'process', pid: deadPid(), host: hostname() },
      { ...owner, startTime: 'another-boot:1' }, // our pid, but recorded for another process
    ] as RunOwner[]) {
      writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ owner: stale, token: 'old', taken: '' }));
      const lock = ws.lockRun(run.id);
      expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).owner).toEqual(owner);
      lock.release();
    }
    // A run.json claiming "running" for a reused pid is interrupted and can be removed.
    ws.updateRun(run.id, { status: 'running', owner: { ...owner, startTime: 'another-boot:1' } });
    const listed = open().listRuns()[0];
    expect(listed.status).toBe('interrupted');
    expect(listed.error).toContain(`process ${process.pid}`);
    ws.deleteRun(run.id);
    expect(existsSync(dir)).toBe(false);
  });

  it('Slurm: the same task takes its lock back (requeue); another task is refused while its liveness is unknown', () => {
    const ws = open();
    const run = ws.createRun(DEFAULT_SETTINGS);
    const task = currentOwner({ SLURM_ARRAY_JOB_ID: '4242', SLURM_ARRAY_TASK_ID: '3', SLURM_JOB_ID: '4245' });
    expect(task).toMatchObject({ kind: 'slurm', jobId: '4242', arrayTaskId: 3 });
    ws.lockRun(run.id, task); // never released: the task was killed
    const again = ws.lockRun(run.id, task);
    again.release();
    ws.lockRun(run.id, task);
    const e = storeError(() => ws.lockRun(run.id, me()));
    expect(e.message).toContain('Slurm job 4242 task 3');
    expect(e.message).toContain('cannot be checked from here');
    const prev = setSlurmLiveness(() => 'dead');
    try {
      ws.lockRun(run.id, me()).release();
    } finally {
      setSlurmLiveness(prev);
    }
  });

  it('two processes racing for one lock: exactly one wins', () => {
    const ws = open();
    const run = ws.createRun(DEFAULT_SETTINGS);
    const dir = join(root, 'runs', run.id);
    const a: RunOwner = { kind: 'process', pid: 1, host: 'a' };
    const b: RunOwner = { kind: 'process', pid: 2, host: 'b' };
    const alive = () => 'alive' as const;
    acquireRunLock(dir, run.id, a, alive);
    expect(() => acquireRunLock(dir, run.id, b, alive)).toThrow(/process 1 on a/);
  });
});

describe('item 4: damaged records are named, never guessed around', () => {
  it('`"settings": {}` in one run lists that run as damaged and leaves the others intact', () => {
    const ws = open();
    const good = ws.createRun({ ...DEFAULT_SETTINGS, data: 'fashion-mnist' });
    const bad = ws.createRun(DEFAULT_SETTINGS);
    const file = join(root, 'runs', bad.id, 'run.json');
    writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), settings: {} }));
    const list = ws.listRuns();
    const byId = Object.fromEntries(list.map((r) => [r.id, r]));
    expect(byId[good.id].damaged).toBeUndefined();
    expect(byId[good.id].settings.data).toBe('fashion-mnist');
    expect(byId[bad.id].damaged).toContain(file);
    expect(byId[bad.id].damaged).toContain('field "settings.data" is missing');
    const e = storeError(() => ws.requireIntact(bad.id, 'ONNX export'));
    expect(e.code).toBe('corrupt');
    expect(e.message).toContain('ONNX export refused');
    expect(e.message).toContain('settings.data');
    // Wrong types are named too.
    writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), settings: { ...DEFAULT_SETTINGS, epochs: 'ten' } }));
    expect(ws.getRun(bad.id).damaged).toContain('field "settings.epochs": expected number, received string; found "ten"');
  });

  it('a metrics line {"epoch":3} is skipped by readers, named by damage(), and refused by analyses', () => {
    const ws = open();
    const run = ws.createRun(DEFAULT_SETTINGS);
    ws.appendMetrics(run.id, metrics(1));
    appendFileSync(join(root, 'runs', run.id, 'metrics.jsonl'), '{"epoch":3}\n');
    ws.appendMetrics(run.id, metrics(2));
    expect(ws.readMetrics(run.id).map((m) => m.epoch)).toEqual([1, 2]);
    expect(ws.damage(run.id)).toMatch(/metrics\.jsonl line 2: field "train_loss" is missing/);
    expect(() => ws.requireIntact(run.id, 'BN inspector')).toThrow(/BN inspector refused/);
    expect(() => ws.appendMetrics(run.id, { epoch: 4 } as never)).toThrow(/field "train_loss" is missing/);
  });

  it('records with and without val_loss/val_acc, and old records with a bare pid, are read', () => {
    const ws = open();
    const run = ws.createRun(DEFAULT_SETTINGS);
    ws.appendMetrics(run.id, metrics(1));
    ws.appendMetrics(run.id, { ...metrics(2), val_loss: 0.5, val_acc: 0.8 } as never);
    expect(ws.readMetrics(run.id).map((m) => (m as { val_acc?: number }).val_acc)).toEqual([undefined, 0.8]);
    expect(ws.damage(run.id)).toBeNull();
    const file = join(root, 'runs', run.id, 'run.json');
    const raw = JSON.parse(readFileSync(file, 'utf8'));
    delete raw.settings.threads; // a setting added after this record was written: its default
    writeFileSync(file, JSON.stringify({ ...raw, status: 'running', pid: deadPid(), futureField: { x: 1 } }));
    const r = ws.getRun(run.id);
    expect(r.status).toBe('interrupted');
    expect(r.settings.threads).toBe(DEFAULT_SETTINGS.threads);
    // A field this version does not know survives a rewrite.
    ws.updateRun(run.id, { name: 'renamed' });
    expect(JSON.parse(readFileSync(file, 'utf8')).futureField).toEqual({ x: 1 });
  });

  it('a study file with a wrong field is listed with an error naming it', () => {
    const ws = open();
    writeFileSync(join(root, 'studies', '20260101-000000-abcd.json'), JSON.stringify({ name: 'x', preset: 's6', runIds: 'all', created: '', updated: '' }));
    expect(ws.listStudies()[0].error).toContain('field "runIds"');
  });
});

describe('item 5: resume cuts every record back to the checkpoint it has', () => {
  function trained(epochs: number): { ws: Workspace; id: string } {
    const ws = open();
    const { id } = ws.createRun(DEFAULT_SETTINGS);
    for (let e = 1; e <= epochs; e++) {
      ws.appendBnRecord(id, { step: e * 10 - 5, epoch: e, layers: { bn1: { batchMean: [0.1 * e], batchVar: [1], runningMean: [0], runningVar: [1] } } });
      ws.appendBnRecord(id, { step: e * 10, epoch: e, layers: { bn1: { batchMean: [0.2 * e], batchVar: [1], runningMean: [0], runningVar: [1] } } });
      ws.appendMetrics(id, metrics(e));
      ws.appendSteps(id, { epoch: e, stepsPerEpoch: 10, points: [[e * 10, 1 / e]] });
      ws.writeCheckpoint(id, 'last', realState(e));
      ws.writeWeights(id, `epoch-${e}`, realState(e).weights);
    }
    return { ws, id };
  }

  it('bn.jsonl, steps, metrics and per-epoch weights written after the checkpoint are dropped, and said so', () => {
    const { ws, id } = trained(3);
    // The process died in epoch 4 after some BN records and one step line, before its checkpoint.
    ws.appendBnRecord(id, { step: 35, epoch: 4, layers: { bn1: { batchMean: [9], batchVar: [1], runningMean: [0], runningVar: [1] } } });
    ws.appendSteps(id, { epoch: 4, stepsPerEpoch: 10, points: [[40, 0.1]] });
    const point = ws.resumePoint(id);
    expect(point.state?.epoch).toBe(3);
    const cut = ws.cutForResume(id, 3);
    expect(cut.kept).toEqual({ metrics: 3, steps: 3, bn: 6, weights: 3 });
    expect(cut.dropped).toEqual({ metrics: 0, steps: 1, bn: 1, weights: 0 });
    expect(ws.readBnRecords(id).map((r) => r.step)).toEqual([5, 10, 15, 20, 25, 30]);
    // Cutting again (the job does it too) changes nothing.
    expect(ws.cutForResume(id, 3).dropped).toEqual({ metrics: 0, steps: 0, bn: 0, weights: 0 });
  });

  it('a damaged middle line is moved to metrics.jsonl.damaged, not deleted', () => {
    const { ws, id } = trained(2);
    const file = join(root, 'runs', id, 'metrics.jsonl');
    const lines = readFileSync(file, 'utf8').split('\n');
    lines.splice(1, 0, '{"epoch": 1.5, "garbage"');
    writeFileSync(file, lines.join('\n'));
    const cut = ws.cutForResume(id, 2);
    expect(cut.damagedLines).toEqual([{ file, lines: 1 }]);
    expect(readFileSync(`${file}.damaged`, 'utf8')).toBe('{"epoch": 1.5, "garbage"\n');
    expect(ws.readMetrics(id).map((m) => m.epoch)).toEqual([1, 2]);
  });

  it('a torn metrics line written after the checkpoint: resume goes back one checkpoint and trains that epoch again', () => {
    const { ws, id } = trained(3);
    const file = join(root, 'runs', id, 'metrics.jsonl');
    const text = readFileSync(file, 'utf8').trimEnd().split('\n');
    text[2] = text[2].slice(0, 25); // epoch 3's line torn; its checkpoint was written
    writeFileSync(file, text.join('\n'));
    const point = ws.resumePoint(id);
    expect(point.state?.epoch).toBe(2);
    expect(point.notes.join(' ')).toContain('no line for epoch 3');
    const cut = ws.cutForResume(id, 2);
    expect(cut.dropped.weights).toBe(1);
    expect(cut.damagedLines[0].lines).toBe(1);
    expect(existsSync(join(root, 'runs', id, 'weights', 'epoch-3.nlck'))).toBe(false);
    expect(ws.readMetrics(id).map((m) => m.epoch)).toEqual([1, 2]);
  });

  it('with both checkpoints deleted, resume claims none and starts over', () => {
    const { ws, id } = trained(2);
    rmSync(join(root, 'runs', id, 'checkpoints'), { recursive: true });
    const point = ws.resumePoint(id);
    expect(point.state).toBeNull();
    const cut = ws.cutForResume(id, 0);
    expect(cut.epoch).toBe(0);
    expect(cut.dropped).toEqual({ metrics: 2, steps: 2, bn: 4, weights: 2 });
    expect(ws.readMetrics(id)).toEqual([]);
  });

  it('best weights come only from the best epoch the checkpoint names', () => {
    const { ws, id } = trained(3);
    ws.writeCheckpoint(id, 'best', realState(2)); // realState(3).best.epoch === 2
    expect(ws.resumePoint(id).bestWeights).toBeDefined();
    ws.writeCheckpoint(id, 'best', realState(3)); // now 'best' is from epoch 3, its prev from 2
    expect(ws.resumePoint(id).bestWeights).toBeDefined();
    rmSync(join(root, 'runs', id, 'checkpoints', 'best.prev.nlck'));
    const p = ws.resumePoint(id);
    expect(p.bestWeights).toBeUndefined();
    expect(p.notes.join(' ')).toContain("no 'best' checkpoint of epoch 2");
  });
});

describe('item 6: opening a folder changes nothing', () => {
  it('a folder that is not a workspace is refused unless asked to initialise it; nothing is written', () => {
    mkdirSync(join(root, 'photos'));
    writeFileSync(join(root, 'notes.txt'), 'mine');
    const e = storeError(() => open());
    expect(e.code).toBe('invalid');
    expect(e.message).toContain('not a NormLab workspace');
    expect(e.message).toContain('--init');
    expect(readdirSync(root).sort()).toEqual(['notes.txt', 'photos']);
    const ws = open({ init: true });
    expect(existsSync(join(root, 'workspace.json'))).toBe(true);
    expect(ws.listRuns()).toEqual([]); // 'photos' is not a run
  });

  it('a read-only open of a missing folder creates nothing', () => {
    const ws = new Workspace(join(root, 'missing'), { readOnly: true });
    expect(ws.listRuns()).toEqual([]);
    expect(existsSync(join(root, 'missing'))).toBe(false);
  });

  it('an old temp file of a live writer, and a .tmp the store did not name, are kept by cleanup', () => {
    const ws = open();
    const run = ws.createRun(DEFAULT_SETTINGS);
    const dir = join(root, 'runs', run.id);
    const theirs = join(dir, 'draft.tmp');
    const live = join(dir, `run.json.${process.pid}.0badf00d.tmp`);
    writeFileSync(theirs, 'x');
    writeFileSync(live, 'x');
    const old = new Date(Date.now() - 3 * 3600_000);
    utimesSync(theirs, old, old);
    utimesSync(live, old, old);
    ws.cleanup();
    expect(existsSync(theirs)).toBe(true);
    expect(existsSync(live)).toBe(true);
  });

  it('rm removes only folders holding a run record NormLab wrote', () => {
    const ws = open();
    mkdirSync(join(root, 'runs', '20200101-000000-0000'));
    writeFileSync(join(root, 'runs', '20200101-000000-0000', 'thesis.tex'), 'mine');
    const e = storeError(() => ws.deleteRun('20200101-000000-0000'));
    expect(e.message).toContain('holds no run record written by NormLab');
    expect(existsSync(join(root, 'runs', '20200101-000000-0000', 'thesis.tex'))).toBe(true);
    // A damaged record NormLab wrote can be removed.
    const run = ws.createRun(DEFAULT_SETTINGS);
    const file = join(root, 'runs', run.id, 'run.json');
    writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), settings: {} }));
    ws.deleteRun(run.id);
    expect(existsSync(join(root, 'runs', run.id))).toBe(false);
  });
});
