import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync, readdirSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_SETTINGS } from '../../../src-main/contract/settings';
import { Workspace, StoreError } from '../../../src-main/store';
import { deadPid, metrics, tempRoot } from './helpers';

let root: string;
let cleanup: () => void;
let warnings: string[];
const open = (): Workspace => new Workspace(root, { warn: (m) => warnings.push(m) });

beforeEach(() => {
  ({ root, cleanup } = tempRoot('ws'));
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

describe('runs', () => {
  it('creates the root, then creates, lists (newest first), gets and updates runs', () => {
    const nested = join(root, 'a', 'b');
    let t = Date.parse('2026-11-22T03:15:00.000Z');
    const ws = new Workspace(nested, { now: () => new Date(t) });
    expect(existsSync(join(nested, 'runs'))).toBe(true);
    expect(JSON.parse(readFileSync(join(nested, 'workspace.json'), 'utf8')).format).toBe(1);

    const a = ws.createRun({ ...DEFAULT_SETTINGS, l1: 1e-4 }, { name: 'L1' });
    t += 1500;
    const b = ws.createRun(DEFAULT_SETTINGS, { study: 'S6' });
    expect(a.id).toMatch(/^20261122-031500-[0-9a-f]{4}$/);
    expect(b.id).toMatch(/^20261122-031501-[0-9a-f]{4}$/);
    expect(a.status).toBe('queued');
    expect(a.epochsDone).toBe(0);
    expect(b.study).toBe('S6');

    const onDisk = JSON.parse(readFileSync(join(nested, 'runs', a.id, 'run.json'), 'utf8'));
    expect(onDisk).toEqual(a);
    expect(onDisk.settings.l1).toBe(1e-4);

    expect(ws.listRuns().map((r) => r.id)).toEqual([b.id, a.id]);
    expect(ws.getRun(a.id).name).toBe('L1');

    t += 2000;
    const u = ws.updateRun(a.id, { status: 'done', epochsDone: 3, bestTestAcc: 0.91 });
    expect(u.status).toBe('done');
    expect(u.updated).toBe('2026-11-22T03:15:03.500Z');
    expect(u.created).toBe(a.created);
    const again = new Workspace(nested).getRun(a.id);
    expect(again).toEqual(u);
    expect(again.bestTestAcc).toBe(0.91);
  });

  it('unknown run → not-found; path-traversal ids and tags → invalid, nothing touched outside', () => {
    const ws = open();
    expect(storeError(() => ws.getRun('20260101-000000-beef')).code).toBe('not-found');
    for (const bad of ['..', '.', '../../etc', 'a/b', 'a\\b', '', '.hidden', 'x'.repeat(129), 'run\u0000', 'ü']) {
      const e = storeError(() => ws.getRun(bad));
      expect(e.code).toBe('invalid');
      expect(e.message).toContain('invalid run id');
    }
    const run = ws.createRun(DEFAULT_SETTINGS);
    for (const tag of ['../last', '../../x', 'last.prev', 'a/b']) {
      expect(storeError(() => ws.readCheckpoint(run.id, tag)).code).toBe('invalid');
    }
    expect(storeError(() => ws.deleteRun('..')).code).toBe('invalid');
    expect(existsSync(join(root, 'runs'))).toBe(true);
  });

  it('a running run whose process is gone lists as interrupted, and that is persisted', () => {
    const ws = open();
    const run = ws.createRun(DEFAULT_SETTINGS);
    const queued = ws.createRun(DEFAULT_SETTINGS);
    const live = ws.createRun(DEFAULT_SETTINGS);
    const pid = deadPid();
    ws.updateRun(run.id, { status: 'running', owner: { kind: 'process', pid, host: '' }, epochsDone: 2 });
    ws.updateRun(queued.id, { status: 'queued', owner: { kind: 'process', pid, host: '' } });
    ws.updateRun(live.id, { status: 'running', owner: { kind: 'process', pid: process.pid, host: '' } });

    const list = open().listRuns();
    const byId = Object.fromEntries(list.map((r) => [r.id, r]));
    expect(byId[run.id].status).toBe('interrupted');
    expect(byId[run.id].error).toContain(`process ${pid}`);
    expect(byId[run.id].owner).toBeUndefined();
    expect(byId[run.id].epochsDone).toBe(2);
    expect(byId[queued.id].status).toBe('interrupted');
    expect(byId[live.id].status).toBe('running');

    const raw = JSON.parse(readFileSync(join(root, 'runs', run.id, 'run.json'), 'utf8'));
    expect(raw.status).toBe('interrupted');
    expect(raw.owner).toBeUndefined();
  });

  it('a garbage or invalid run.json lists as failed with an error naming the file, never throws', () => {
    const ws = open();
    const good = ws.createRun(DEFAULT_SETTINGS);
    const bad = ws.createRun(DEFAULT_SETTINGS);
    const wrong = ws.createRun(DEFAULT_SETTINGS);
    writeFileSync(join(root, 'runs', bad.id, 'run.json'), '{"id": "x", "status": "runn');
    writeFileSync(join(root, 'runs', wrong.id, 'run.json'), '{"status": "exploded", "settings": {}}');
    mkdirSync(join(root, 'runs', '20200101-000000-0000')); // folder without run.json
    const list = ws.listRuns();
    expect(list).toHaveLength(4);
    const byId = Object.fromEntries(list.map((r) => [r.id, r]));
    expect(byId[good.id].status).toBe('queued');
    expect(byId[bad.id].status).toBe('failed');
    expect(byId[bad.id].error).toContain(join(root, 'runs', bad.id, 'run.json'));
    expect(byId[bad.id].error).toContain('not valid JSON');
    expect(byId[wrong.id].error).toContain('field "status"');
    expect(byId[wrong.id].error).toContain('found "exploded"');
    expect(byId[wrong.id].damaged).toBe(byId[wrong.id].error);
    expect(byId['20200101-000000-0000'].error).toContain('run.json is missing');
    const e = storeError(() => ws.updateRun(bad.id, { status: 'done' }));
    expect(e.code).toBe('corrupt');
    expect(e.message).toContain(bad.id);
  });

  it('deleteRun refuses a live run, removes a finished one and drops it from studies', () => {
    const ws = open();
    const a = ws.createRun(DEFAULT_SETTINGS);
    const b = ws.createRun(DEFAULT_SETTINGS);
    ws.updateRun(a.id, { status: 'running', owner: { kind: 'process', pid: process.pid, host: '' } });
    const e = storeError(() => ws.deleteRun(a.id));
    expect(e.code).toBe('conflict');
    expect(e.message).toContain(`process ${process.pid}`);
    expect(existsSync(join(root, 'runs', a.id, 'run.json'))).toBe(true);

    const s = ws.createStudy('S6', 's6', [a.id, b.id]);
    ws.appendMetrics(b.id, metrics(1));
    ws.deleteRun(b.id);
    expect(existsSync(join(root, 'runs', b.id))).toBe(false);
    expect(readdirSync(join(root, 'runs'))).toEqual([a.id]);
    expect(ws.getStudy(s.id).runIds).toEqual([a.id]);
    expect(storeError(() => ws.getRun(b.id)).code).toBe('not-found');
  });

  it('studies: create, list, get, add runs; runs point back at their study', () => {
    let t = Date.parse('2026-11-22T04:00:00Z');
    const ws = new Workspace(root, { now: () => new Date((t += 1000)) });
    const runs = [0, 1, 2, 3].map(() => ws.createRun(DEFAULT_SETTINGS));
    const s = ws.createStudy('S6 regularizers', 's6', [runs[0].id, runs[1].id, runs[0].id]);
    expect(s.runIds).toEqual([runs[0].id, runs[1].id]);
    expect(ws.getRun(runs[1].id).study).toBe(s.id);
    const s2 = ws.addRunsToStudy(s.id, [runs[2].id, runs[1].id]);
    expect(s2.runIds).toEqual([runs[0].id, runs[1].id, runs[2].id]);
    expect(ws.getStudy(s.id)).toEqual(s2);
    const other = ws.createStudy('other', 'custom', [runs[3].id]);
    expect(ws.listStudies().map((x) => x.id)).toEqual([other.id, s.id]);
    expect(storeError(() => ws.createStudy('x', 'custom', ['20990101-000000-0000'])).code).toBe('not-found');
    expect(storeError(() => ws.getStudy('nope')).code).toBe('not-found');
    writeFileSync(join(root, 'studies', `${other.id}.json`), 'garbage');
    const listed = ws.listStudies().find((x) => x.id === other.id);
    expect(listed?.error).toContain(`${other.id}.json`);
  });

  it('listFiles and exportsDir report real sizes and hide temp files', () => {
    const ws = open();
    const run = ws.createRun(DEFAULT_SETTINGS);
    ws.appendMetrics(run.id, metrics(1));
    writeFileSync(join(ws.exportsDir(run.id), 'model.onnx'), Buffer.alloc(1234));
    writeFileSync(join(root, 'runs', run.id, `run.json.${process.pid}.abcd.tmp`), 'partial');
    const files = ws.listFiles(run.id);
    expect(files.map((f) => f.name)).toEqual(['exports/model.onnx', 'metrics.jsonl', 'run.json']);
    expect(files[0].bytes).toBe(1234);
    expect(files[2].bytes).toBe(readFileSync(join(root, 'runs', run.id, 'run.json')).length);
    expect(ws.runDir(run.id)).toBe(join(root, 'runs', run.id));
  });

  it('cleanup removes temp files of dead writers and half-deleted runs, keeps a live writer\'s; opening removes nothing', () => {
    const ws = open();
    const run = ws.createRun(DEFAULT_SETTINGS);
    const ck = join(root, 'runs', run.id, 'checkpoints');
    mkdirSync(ck);
    const dead = join(ck, `last.nlck.${deadPid()}.1a2b3c4d.tmp`);
    const mine = join(ck, `last.nlck.${process.pid}.5e6f7a8b.tmp`);
    writeFileSync(dead, 'half');
    writeFileSync(mine, 'in progress');
    mkdirSync(join(root, 'runs', `.trash-${run.id}-abcdef`, 'checkpoints'), { recursive: true });
    const other = join(ck, 'notes.tmp'); // a .tmp that is not in the store's own name pattern
    writeFileSync(other, 'user file');
    const ws2 = open();
    expect(existsSync(dead)).toBe(true); // opening (as a read-only command does) deletes nothing
    expect(ws2.cleaned).toHaveLength(0);
    ws2.cleanup();
    expect(existsSync(other)).toBe(true);
    expect(existsSync(dead)).toBe(false);
    expect(existsSync(mine)).toBe(true);
    expect(existsSync(join(root, 'runs', `.trash-${run.id}-abcdef`))).toBe(false);
    expect(ws2.cleaned).toHaveLength(2);
    expect(ws2.listRuns()).toHaveLength(1);
  });

  it('refuses a workspace written by a newer format', () => {
    writeFileSync(join(root, 'workspace.json'), JSON.stringify({ app: 'normlab', format: 99 }));
    const e = storeError(() => open());
    expect(e.code).toBe('conflict');
    expect(e.message).toContain('format 99');
  });
});
