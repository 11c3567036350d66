import type { NamedWeights, TrainState } from '../engine/model-types';
import { crc32 } from './crc32';
import { StoreError } from './errors';

/**
 * The NLCK checkpoint file: one file per checkpoint so that one rename replaces it atomically.
 *
 *   0  "NLCK"                      magic
 *   4  u32 LE  version (1)
 *   8  u32 LE  header length H (JSON, space-padded so the data starts 8-byte aligned)
 *  12  u32 LE  CRC-32 of the header bytes
 *  16  header JSON: { kind, meta, arrays: [{ group, name, shape, offset, length }], dataBytes, dataCrc32 }
 *  16+H  Float32 little-endian data of every array, concatenated in header order
 *
 * The header has its own CRC because a flipped digit in it (say, the epoch) would otherwise
 * parse as valid JSON and be trusted.
 */
export const NLCK_MAGIC = 'NLCK';
export const NLCK_VERSION = 1;
const PREFIX = 16;

export type CheckpointKind = 'train-state' | 'weights';

interface ArrayEntry {
  group: 'weights' | 'slots';
  name: string;
  shape: number[];
  /** Byte offset from the start of the data section. */
  offset: number;
  /** Number of float32 elements. */
  length: number;
}

interface Header {
  kind: CheckpointKind;
  meta: unknown;
  arrays: ArrayEntry[];
  dataBytes: number;
  dataCrc32: number;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function checkHost(): void {
  // Float32 arrays are copied byte for byte; every platform Electron ships on is little-endian.
  if (!LITTLE_ENDIAN) throw new StoreError('io', 'checkpoints need a little-endian host');
}

/** JSON replacer that keeps NaN and ±Infinity, which plain JSON would turn into null. */
export function keepNonFinite(_key: string, v: unknown): unknown {
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  return v;
}

/** Reviver matching keepNonFinite. */
export function reviveNonFinite(_key: string, v: unknown): unknown {
  if (v === 'NaN') return NaN;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  return v;
}

function collect(group: ArrayEntry['group'], w: NamedWeights, out: { entry: ArrayEntry; data: Float32Array }[], what: string): void {
  for (const [name, t] of Object.entries(w)) {
    if (!t || !(t.data instanceof Float32Array)) {
      throw new StoreError('invalid', `${what}: ${group} array "${name}" is not a Float32Array`);
    }
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (!t.shape.every((d) => Number.isInteger(d) && d >= 0) || n !== t.data.length) {
      throw new StoreError('invalid', `${what}: ${group} array "${name}" has shape [${t.shape.join(', ')}] but ${t.data.length} values`);
    }
    out.push({ entry: { group, name, shape: [...t.shape], offset: 0, length: t.data.length }, data: t.data });
  }
}

function bytesOf(f: Float32Array): Uint8Array {
  return new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
}

function encode(kind: CheckpointKind, meta: unknown, groups: { weights: NamedWeights; slots?: NamedWeights }, what: string): Uint8Array {
  checkHost();
  const arrays: { entry: ArrayEntry; data: Float32Array }[] = [];
  collect('weights', groups.weights, arrays, what);
  if (groups.slots) collect('slots', groups.slots, arrays, what);
  let offset = 0;
  let dataCrc = 0;
  for (const a of arrays) {
    a.entry.offset = offset;
    offset += a.data.byteLength;
    dataCrc = crc32(bytesOf(a.data), dataCrc);
  }
  const header: Header = { kind, meta, arrays: arrays.map((a) => a.entry), dataBytes: offset, dataCrc32: dataCrc };
  let json = JSON.stringify(header, keepNonFinite);
  const pad = (8 - ((PREFIX + Buffer.byteLength(json)) % 8)) % 8;
  json += ' '.repeat(pad);
  const headerBytes = Buffer.from(json, 'utf8');
  // One allocation and one copy per array: checkpoints are written every epoch.
  const out = Buffer.allocUnsafe(PREFIX + headerBytes.length + offset);
  out.write(NLCK_MAGIC, 0, 'latin1');
  out.writeUInt32LE(NLCK_VERSION, 4);
  out.writeUInt32LE(headerBytes.length, 8);
  out.writeUInt32LE(crc32(headerBytes), 12);
  headerBytes.copy(out, PREFIX);
  const dataStart = PREFIX + headerBytes.length;
  for (const a of arrays) out.set(bytesOf(a.data), dataStart + a.entry.offset);
  return out;
}

function decode(bytes: Uint8Array, file: string): { header: Header; weights: NamedWeights; slots: NamedWeights } {
  checkHost();
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bad = (why: string): StoreError => new StoreError('corrupt', `checkpoint file ${file} is corrupt: ${why}`, file);
  if (buf.length < PREFIX || buf.toString('latin1', 0, 4) !== NLCK_MAGIC) throw bad('it does not start with NLCK');
  const version = buf.readUInt32LE(4);
  if (version !== NLCK_VERSION) throw bad(`format version ${version} is not supported (expected ${NLCK_VERSION})`);
  const hLen = buf.readUInt32LE(8);
  if (PREFIX + hLen > buf.length) throw bad(`header of ${hLen} bytes runs past the end of the ${buf.length}-byte file (truncated)`);
  const headerBytes = buf.subarray(PREFIX, PREFIX + hLen);
  if (crc32(headerBytes) !== buf.readUInt32LE(12)) throw bad('header checksum mismatch');
  let header: Header;
  try {
    header = JSON.parse(headerBytes.toString('utf8'), reviveNonFinite) as Header;
  } catch {
    throw bad('header is not valid JSON');
  }
  const dataStart = PREFIX + hLen;
  if (buf.length !== dataStart + header.dataBytes) {
    throw bad(`expected ${dataStart + header.dataBytes} bytes, found ${buf.length} (truncated or padded)`);
  }
  const data = buf.subarray(dataStart);
  if (crc32(data) !== header.dataCrc32) throw bad('data checksum mismatch');
  const weights: NamedWeights = {};
  const slots: NamedWeights = {};
  for (const e of header.arrays) {
    if (e.offset % 4 !== 0 || e.offset + e.length * 4 > header.dataBytes) throw bad(`array "${e.name}" lies outside the data`);
    // Copy into a fresh buffer: the file buffer may be pooled and not 4-byte aligned.
    const f = new Float32Array(e.length);
    new Uint8Array(f.buffer).set(data.subarray(e.offset, e.offset + e.length * 4));
    (e.group === 'slots' ? slots : weights)[e.name] = { shape: e.shape, data: f };
  }
  return { header, weights, slots };
}

/** Serializes everything needed to continue a run. */
export function encodeTrainState(state: TrainState, what = 'checkpoint'): Uint8Array {
  const { weights, optimizer, ...rest } = state;
  const meta = { ...rest, optimizer: { kind: optimizer.kind, step: optimizer.step } };
  return encode('train-state', meta, { weights, slots: optimizer.slots }, what);
}

/** Reads a train-state file; throws StoreError 'corrupt' naming `file` on any damage. */
export function decodeTrainState(bytes: Uint8Array, file: string): TrainState {
  const { header, weights, slots } = decode(bytes, file);
  if (header.kind !== 'train-state') {
    throw new StoreError('corrupt', `checkpoint file ${file} holds ${header.kind}, not a training state`, file);
  }
  const meta = header.meta as Omit<TrainState, 'weights' | 'optimizer'> & { optimizer: { kind: string; step: number } };
  return { ...meta, weights, optimizer: { kind: meta.optimizer.kind, step: meta.optimizer.step, slots } };
}

/** Serializes weights alone (the same format, no optimizer). */
export function encodeWeights(weights: NamedWeights, what = 'weights'): Uint8Array {
  return encode('weights', {}, { weights }, what);
}

/** Reads a weights file; a train-state file is accepted too and its weights returned. */
export function decodeWeights(bytes: Uint8Array, file: string): NamedWeights {
  return decode(bytes, file).weights;
}
