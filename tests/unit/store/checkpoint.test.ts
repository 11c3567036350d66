import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_SETTINGS } from '../../../src-main/contract/settings';
import {
  Workspace, StoreError, nodeFileLayer, crc32, encodeTrainState, decodeTrainState, type FsLike,
} from '../../../src-main/store';
import type { NamedWeights, TrainState } from '../../../src-main/engine/model-types';
import { crc32Js } from '../../../src-main/store/crc32';
import { fashionPixels, metrics, realState, tempRoot } from './helpers';

let root: string;
let cleanup: () => void;
let warnings: string[];

beforeEach(() => {
  ({ root, cleanup } = tempRoot('ckpt'));
  warnings = [];
});
afterEach(() => cleanup());

/** Float32 arrays equal bit for bit (NaN payloads and -0 included), shapes equal. */
function expectSameWeights(a: NamedWeights, b: NamedWeights): void {
  expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
  for (const k of Object.keys(a)) {
    expect(b[k].shape, k).toEqual(a[k].shape);
    expect(b[k].data).toBeInstanceOf(Float32Array);
    const bitsA = new Uint32Array(a[k].data.buffer, a[k].data.byteOffset, a[k].data.length);
    const bitsB = new Uint32Array(b[k].data.buffer, b[k].data.byteOffset, b[k].data.length);
    expect(Array.from(bitsB), k).toEqual(Array.from(bitsA));
  }
}

function expectSameState(a: TrainState, b: TrainState): void {
  expectSameWeights(a.weights, b.weights);
  expectSameWeights(a.optimizer.slots, b.optimizer.slots);
  expect(b.epoch).toBe(a.epoch);
  expect(b.optimizer.kind).toBe(a.optimizer.kind);
  expect(b.optimizer.step).toBe(a.optimizer.step);
  expect(b.best).toEqual(a.best);
  expect(b.earlyStopWait).toBe(a.earlyStopWait);
  expect(b.normalization).toEqual(a.normalization);
}

function ckDir(id: string): string {
  return join(root, 'runs', id, 'checkpoints');
}

describe('NLCK format', () => {
  it('crc32 matches the standard check value', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
    const px = Buffer.from(fashionPixels(4).buffer);
    expect(crc32(px)).toBe(crc32Js(px));
    expect(crc32(px.subarray(1000), crc32(px.subarray(0, 1000)))).toBe(crc32Js(px));
  });

  it('round trip is exact: Float32 bits, shapes, optimizer slots, normalization, best', () => {
    const ws = new Workspace(root);
    const id = ws.createRun(DEFAULT_SETTINGS).id;
    const s = realState(3);
    ws.writeCheckpoint(id, 'last', s);
    const back = ws.readCheckpoint(id, 'last');
    expect(back).not.toBeNull();
    expectSameState(s, back!);
    expect(Object.is(back!.weights['conv1/kernel'].data[0], -0)).toBe(true);
    expect(back!.weights['conv1/kernel'].data[1]).toBeNaN();

    const bytes = fs.readFileSync(join(ckDir(id), 'last.nlck'));
    expect(bytes.toString('latin1', 0, 4)).toBe('NLCK');
    expect(bytes.readUInt32LE(4)).toBe(1);
    expect((16 + bytes.readUInt32LE(8)) % 8).toBe(0); // data section aligned
    const floats = 72 + 8 + 8 + 160 + 10 + 1 + 72 + 72;
    expect(bytes.length).toBe(16 + bytes.readUInt32LE(8) + floats * 4);

    expect(ws.readCheckpoint(id, 'best')).toBeNull();
    expect(ws.listCheckpoints(id)).toEqual(['last']);
  });

  it('weights alone round-trip through writeWeights/readWeights', () => {
    const ws = new Workspace(root);
    const id = ws.createRun(DEFAULT_SETTINGS).id;
    const px = fashionPixels(2);
    const w: NamedWeights = { 'dense/kernel': { shape: [784, 2], data: px } };
    ws.writeWeights(id, 'final', w);
    expectSameWeights(w, ws.readWeights(id, 'final')!);
    expect(ws.readWeights(id, 'other')).toBeNull();
  });

  it('every single flipped byte anywhere in the file is detected', () => {
    const good = Buffer.from(encodeTrainState(realState(2)));
    let detected = 0;
    for (let i = 0; i < good.length; i++) {
      const bad = Buffer.from(good);
      bad[i] ^= 0x10;
      try {
        decodeTrainState(bad, '/x/last.nlck');
      } catch (err) {
        expect(err).toBeInstanceOf(StoreError);
        expect((err as StoreError).code).toBe('corrupt');
        expect((err as StoreError).message).toContain('/x/last.nlck');
        detected++;
      }
    }
    expect(detected).toBe(good.length);
    expect(() => decodeTrainState(good.subarray(0, good.length - 4), 'f')).toThrow(/truncated/);
    expect(() => decodeTrainState(Buffer.concat([good, Buffer.alloc(4)]), 'f')).toThrow(/expected \d+ bytes/);
  });

  it('refuses arrays whose shape does not match their length', () => {
    const s = realState(1);
    s.weights['dense/bias'] = { shape: [11], data: new Float32Array(10) };
    expect(() => encodeTrainState(s)).toThrow(/dense\/bias" has shape \[11\] but 10 values/);
  });
});

describe('checkpoint safety', () => {
  it('keeps the previous copy; a corrupt last falls back to it; both corrupt → error naming the file', () => {
    const ws = new Workspace(root, { warn: (m) => warnings.push(m) });
    const id = ws.createRun(DEFAULT_SETTINGS).id;
    ws.writeCheckpoint(id, 'last', realState(1));
    ws.writeCheckpoint(id, 'last', realState(2));
    expect(fs.readdirSync(ckDir(id)).sort()).toEqual(['last.nlck', 'last.prev.nlck']);
    expect(ws.readCheckpoint(id, 'last')!.epoch).toBe(2);

    const last = join(ckDir(id), 'last.nlck');
    const bytes = fs.readFileSync(last);
    bytes[bytes.length - 100] ^= 0xff;
    fs.writeFileSync(last, bytes);
    const back = ws.readCheckpoint(id, 'last');
    expectSameState(realState(1), back!);
    expect(warnings.join('\n')).toMatch(/using the previous copy .*last\.prev\.nlck because .*last\.nlck is corrupt: data checksum mismatch/);

    fs.writeFileSync(join(ckDir(id), 'last.prev.nlck'), 'NLCK garbage');
    let err: StoreError | undefined;
    try {
      ws.readCheckpoint(id, 'last');
    } catch (e) {
      err = e as StoreError;
    }
    expect(err).toBeInstanceOf(StoreError);
    expect(err!.code).toBe('corrupt');
    expect(err!.message).toContain(last);
    expect(err!.message).toContain('last.prev.nlck is corrupt too');
    expect(err!.file).toBe(last);
  });

  it('a crash between the two renames (only last.prev left) still reads', () => {
    const ws = new Workspace(root, { warn: (m) => warnings.push(m) });
    const id = ws.createRun(DEFAULT_SETTINGS).id;
    ws.writeCheckpoint(id, 'last', realState(4));
    fs.renameSync(join(ckDir(id), 'last.nlck'), join(ckDir(id), 'last.prev.nlck'));
    expect(ws.readCheckpoint(id, 'last')!.epoch).toBe(4);
    expect(ws.listCheckpoints(id)).toEqual(['last']);
    ws.writeCheckpoint(id, 'last', realState(5));
    expect(ws.readCheckpoint(id, 'last')!.epoch).toBe(5);
  });

  it('disk full during writeCheckpoint: clear error, previous checkpoint readable, no temp file left', () => {
    let armed = false;
    let faults = 0;
    // A disk that fills up halfway through the next write, as ENOSPC arrives in reality.
    const fullDisk: FsLike = {
      ...fs,
      writeSync: ((fd: number, buf: Uint8Array, off?: number, len?: number) => {
        if (!armed) return (fs.writeSync as (...a: unknown[]) => number)(fd, buf, off, len);
        faults++;
        const half = Math.floor((len ?? buf.length) / 2);
        fs.writeSync(fd, buf, off ?? 0, half);
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28 });
      }) as typeof fs.writeSync,
    };
    const ws = new Workspace(root, { files: nodeFileLayer(fullDisk), warn: (m) => warnings.push(m) });
    const id = ws.createRun(DEFAULT_SETTINGS).id;
    ws.writeCheckpoint(id, 'last', realState(1));
    ws.writeCheckpoint(id, 'last', realState(2));
    ws.appendMetrics(id, metrics(1));

    armed = true;
    let err: StoreError | undefined;
    try {
      ws.writeCheckpoint(id, 'last', realState(3));
    } catch (e) {
      err = e as StoreError;
    }
    expect(faults).toBe(1);
    expect(err).toBeInstanceOf(StoreError);
    expect(err!.code).toBe('disk-full');
    expect(err!.message).toBe(`disk full while writing checkpoint last of run ${id}; the previous checkpoint is kept`);
    expect(fs.readdirSync(ckDir(id)).sort()).toEqual(['last.nlck', 'last.prev.nlck']);
    expectSameState(realState(2), ws.readCheckpoint(id, 'last')!);

    // metrics append cut short by a full disk: earlier epochs survive, the next append is clean
    expect(() => ws.appendMetrics(id, metrics(2))).toThrow(`disk full while writing metrics of epoch 2 of run ${id}; earlier epochs are kept`);
    expect(() => ws.updateRun(id, { epochsDone: 2 })).toThrow(/disk full while writing run.json .*previous run.json is kept/);
    armed = false;
    expect(ws.getRun(id).epochsDone).toBe(0);
    ws.appendMetrics(id, metrics(2));
    expect(ws.readMetrics(id).map((m) => m.epoch)).toEqual([1, 2]);
    expect(ws.listFiles(id).some((f) => f.name.endsWith('.tmp'))).toBe(false);
    expect(fs.readdirSync(join(root, 'runs', id)).filter((n) => n.endsWith('.tmp'))).toEqual([]);

    // the first checkpoint on a full disk says there was nothing to keep
    const id2 = ws.createRun(DEFAULT_SETTINGS).id;
    armed = true;
    expect(() => ws.writeCheckpoint(id2, 'best', realState(1))).toThrow(
      `disk full while writing checkpoint best of run ${id2}; no earlier copy existed`,
    );
    armed = false;
    expect(ws.readCheckpoint(id2, 'best')).toBeNull();
  });
});
