/**
 * The IDX reader under random and mutated input (fast-check): real Fashion-MNIST bytes, raw and
 * gzip, flipped, cut, spliced and with rewritten headers. Every outcome must be either a
 * DatasetError whose message starts with the file name, or exactly what an independent
 * reference parser reads from the same bytes. Never another exception type, never a hang.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import { DatasetError, encodeIdx, readIdx } from '../../../src-main/data/idx';

const DIR = '/usr/share/datasets/fashion-mnist';
const RUNS = Number(process.env.NORMLAB_PROP_RUNS ?? 300);

// Real bytes: the first 40 test images and their labels, as the reader would find them on disk.
const imagesAll = gunzipSync(readFileSync(`${DIR}/t10k-images-idx3-ubyte.gz`));
const labelsAll = gunzipSync(readFileSync(`${DIR}/t10k-labels-idx1-ubyte.gz`));
const N = 40;
const realImages = encodeIdx([N, 28, 28], imagesAll.subarray(16, 16 + N * 784));
const realLabels = encodeIdx([N], labelsAll.subarray(8, 8 + N));
const realLabelsGz = gzipSync(realLabels);

/** Independent reading of the format: null where the file must be refused. */
function reference(raw: Uint8Array): { dims: number[]; data: Uint8Array } | null {
  if (raw.length < 4 || raw[0] !== 0 || raw[1] !== 0 || raw[2] !== 0x08 || raw[3] === 0) return null;
  const nd = raw[3];
  if (raw.length < 4 + 4 * nd) return null;
  const dims: number[] = [];
  for (let i = 0; i < nd; i++) dims.push(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).readUInt32BE(4 + 4 * i));
  const size = dims.reduce((a, b) => a * b, 1);
  if (raw.length - 4 - 4 * nd !== size) return null;
  return { dims, data: raw.subarray(4 + 4 * nd) };
}

type Mutation =
  | { kind: 'flip'; at: number; value: number }
  | { kind: 'cut'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'dim'; index: number; value: number }
  | { kind: 'header'; at: number; value: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  // Rewritten dimensions (zero, huge, off by one) are the realistic damage to a header.
  fc.record({ kind: fc.constant('dim' as const), index: fc.nat({ max: 3 }), value: fc.oneof(fc.constantFrom(0, 1, 27, 28, 29, 39, 40, 41, 0xffffffff, 0x7fffffff), fc.nat()) }),
  fc.record({ kind: fc.constant('header' as const), at: fc.nat({ max: 3 }), value: fc.integer({ min: 0, max: 255 }) }),
);

function mutate(src: Uint8Array, ms: Mutation[]): Uint8Array {
  let b = Uint8Array.from(src);
  for (const m of ms) {
    if (b.length === 0) break;
    switch (m.kind) {
      case 'flip':
        b[m.at % b.length] = m.value;
        break;
      case 'cut':
        b = b.slice(0, m.at % (b.length + 1));
        break;
      case 'insert': {
        const at = m.at % (b.length + 1);
        b = Uint8Array.from([...b.subarray(0, at), ...m.bytes, ...b.subarray(at)]);
        break;
      }
      case 'dim':
        if (b.length >= 8 + 4 * m.index) Buffer.from(b.buffer).writeUInt32BE(m.value >>> 0, 4 + 4 * m.index);
        break;
      case 'header':
        if (b.length > m.at) b[m.at] = m.value;
        break;
    }
  }
  return b;
}

/** Runs the reader and checks the property; returns which way it went. */
function check(bytes: Uint8Array, rawForReference: Uint8Array | null, file: string): 'ok' | 'refused' {
  let result: ReturnType<typeof readIdx> | undefined;
  try {
    result = readIdx(bytes, file);
  } catch (e) {
    if (!(e instanceof DatasetError)) throw new Error(`readIdx threw ${(e as Error)?.name}: ${(e as Error)?.message}`);
    expect(e.message.startsWith(`${file}: `)).toBe(true);
    // A damaged header may declare up to 255 dimensions, each listed once in the message.
    expect(e.message.length).toBeLessThan(4000);
    expect(e.code).toBe('dataset');
    if (rawForReference) expect(reference(rawForReference)).toBeNull();
    return 'refused';
  }
  const ref = rawForReference ? reference(rawForReference) : null;
  if (rawForReference) {
    expect(ref).not.toBeNull();
    expect(result.dims).toEqual(ref!.dims);
    expect(Buffer.compare(Buffer.from(result.data), Buffer.from(ref!.data))).toBe(0);
  }
  expect(result.data.length).toBe(result.dims.reduce((a, b) => a * b, 1));
  return 'ok';
}

describe('IDX reader, property-based', () => {
  const tally = { ok: 0, refused: 0 };

  it('reads the unmutated real files exactly', () => {
    const img = readIdx(realImages, 'images.idx');
    expect(img.dims).toEqual([N, 28, 28]);
    expect(Buffer.compare(Buffer.from(img.data), imagesAll.subarray(16, 16 + N * 784))).toBe(0);
    const lab = readIdx(realLabelsGz, 'labels.gz');
    expect(Array.from(lab.data)).toEqual(Array.from(labelsAll.subarray(8, 8 + N)));
  });

  it('mutated raw images and labels: a DatasetError naming the file, or the reference result', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.array(mutation, { minLength: 1, maxLength: 4 }), (useImages, ms) => {
        const bytes = mutate(useImages ? realImages : realLabels, ms);
        tally[check(bytes, bytes[0] === 0x1f && bytes[1] === 0x8b ? null : bytes, '/data/x-idx3-ubyte')]++;
      }),
      { numRuns: RUNS },
    );
  });

  it('mutated raw bytes re-compressed with gzip: same outcome as the raw bytes', () => {
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 3 }), (ms) => {
        const raw = mutate(realLabels, ms);
        if (raw[0] === 0x1f && raw[1] === 0x8b) return;
        tally[check(gzipSync(raw), raw, 'labels.gz')]++;
      }),
      { numRuns: RUNS },
    );
  });

  it('damaged gzip streams (flips, cuts, insertions in the compressed bytes) never escape as another error', () => {
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 3 }), (ms) => {
        const gz = mutate(realLabelsGz, ms);
        let raw: Uint8Array | null = gz;
        if (gz[0] === 0x1f && gz[1] === 0x8b) {
          try {
            raw = gunzipSync(gz);
          } catch {
            raw = null; // must be refused; checked below
          }
        }
        const outcome = check(gz, raw, 'train-labels-idx1-ubyte.gz');
        if (raw === null) expect(outcome).toBe('refused');
        tally[outcome]++;
      }),
      { numRuns: RUNS },
    );
  });

  it('random bytes of any length', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        tally[check(b, b[0] === 0x1f && b[1] === 0x8b ? null : b, 'random.idx')]++;
      }),
      { numRuns: RUNS },
    );
    // Both outcomes must have been exercised, or the generators are too timid to mean anything.
    expect(tally.ok).toBeGreaterThan(0);
    expect(tally.refused).toBeGreaterThan(RUNS);
    console.log(`[props] IDX inputs tried: ${tally.ok + tally.refused} (${tally.ok} read, ${tally.refused} refused)`);
  });
});
