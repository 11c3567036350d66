import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_SETTINGS } from '../../../src-main/contract/settings';
import { Workspace } from '../../../src-main/store';
import type { BnRecord } from '../../../src-main/engine/model-types';
import { metrics, tempRoot } from './helpers';

let root: string;
let cleanup: () => void;
let warnings: string[];
let ws: Workspace;
let id: string;

beforeEach(() => {
  ({ root, cleanup } = tempRoot('metrics'));
  warnings = [];
  ws = new Workspace(root, { warn: (m) => warnings.push(m) });
  id = ws.createRun(DEFAULT_SETTINGS).id;
});
afterEach(() => cleanup());

describe('metrics.jsonl', () => {
  it('appends one line per epoch and reads them back exactly (NaN and Infinity survive)', () => {
    for (let e = 1; e <= 3; e++) ws.appendMetrics(id, metrics(e));
    const diverged = { ...metrics(4), train_loss: NaN, test_loss: Infinity, events: ['early-stop'] };
    ws.appendMetrics(id, diverged);
    const text = readFileSync(join(root, 'runs', id, 'metrics.jsonl'), 'utf8');
    expect(text.split('\n')).toHaveLength(5); // 4 lines + trailing ''
    const back = ws.readMetrics(id);
    expect(back.slice(0, 3)).toEqual([metrics(1), metrics(2), metrics(3)]);
    expect(back[3].train_loss).toBeNaN();
    expect(back[3].test_loss).toBe(Infinity);
    expect(back[3].events).toEqual(['early-stop']);
  });

  it('a torn last line is ignored, and the next append starts on a new line', () => {
    ws.appendMetrics(id, metrics(1));
    ws.appendMetrics(id, metrics(2));
    const file = join(root, 'runs', id, 'metrics.jsonl');
    const line3 = JSON.stringify(metrics(3));
    appendFileSync(file, line3.slice(0, Math.floor(line3.length / 2))); // a write cut short by a crash

    const r = ws.readMetricsReport(id);
    expect(r.records.map((m) => m.epoch)).toEqual([1, 2]);
    expect(r.tornTail).toBe(true);
    expect(r.skipped).toBe(0);
    expect(warnings).toEqual([]);

    ws.appendMetrics(id, metrics(3));
    const lines = readFileSync(file, 'utf8').split('\n');
    expect(lines[3]).toBe(line3); // the new record is a whole line of its own
    const r2 = ws.readMetricsReport(id);
    expect(r2.records.map((m) => m.epoch)).toEqual([1, 2, 3]);
    expect(r2.skipped).toBe(1); // the torn fragment is now a middle line
    expect(r2.tornTail).toBe(false);
    expect(warnings.join()).toContain('skipped 1 unreadable line');
  });

  it('truncateMetrics drops epochs past the checkpoint and the torn fragments, atomically', () => {
    for (let e = 1; e <= 5; e++) ws.appendMetrics(id, metrics(e));
    const file = join(root, 'runs', id, 'metrics.jsonl');
    appendFileSync(file, '{"epoch": 6, "train_');
    expect(ws.truncateMetrics(id, 3)).toBe(2);
    expect(readFileSync(file, 'utf8')).toBe([1, 2, 3].map((e) => JSON.stringify(metrics(e)) + '\n').join(''));
    // resume: epochs 4.. are written again, and the curve has each epoch once
    ws.appendMetrics(id, metrics(4));
    expect(ws.readMetrics(id).map((m) => m.epoch)).toEqual([1, 2, 3, 4]);
    expect(ws.truncateMetrics(id, 10)).toBe(0);
  });

  it('a missing file reads as no metrics; a line without an epoch is not a record', () => {
    expect(ws.readMetrics(id)).toEqual([]);
    writeFileSync(join(root, 'runs', id, 'metrics.jsonl'), '{"loss": 1}\n' + JSON.stringify(metrics(1)) + '\n');
    const r = ws.readMetricsReport(id);
    expect(r.records).toEqual([metrics(1)]);
    expect(r.skipped).toBe(1);
  });
});

describe('bn.jsonl', () => {
  it('round-trips BN records and ignores a torn last line', () => {
    const rec = (step: number): BnRecord => ({
      step, epoch: 1,
      layers: { bn1: { batchMean: [0.1, -0.2], batchVar: [1.5, 0.25], runningMean: [0.01 * step, 0], runningVar: [1, 1] } },
    });
    ws.appendBnRecord(id, rec(0));
    ws.appendBnRecord(id, rec(50));
    appendFileSync(join(root, 'runs', id, 'bn.jsonl'), '{"step":100,"epoch":1,"lay');
    expect(ws.readBnRecords(id)).toEqual([rec(0), rec(50)]);
    ws.appendBnRecord(id, rec(100));
    expect(ws.readBnRecords(id).map((r) => r.step)).toEqual([0, 50, 100]);
  });
});
