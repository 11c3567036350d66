/**
 * Settings validation under random objects (fast-check): resolveSettings against an independent
 * oracle built from the same SETTINGS table, then the services' boundary (zod + resolveSettings
 * + dataset check) through services.handle('runs.start', …) with a real engine worker. Every
 * outcome is a typed ApiError a person can act on, or a valid run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SETTINGS, resolveSettings, type SettingField, type TrainSettings } from '../../../src-main/contract/settings';
import { ApiError, type RunRecord } from '../../../src-main/contract/api';
import { createServices, type Services } from '../../../src-main/services';
import { WORKER_PATH } from '../reliability/helpers';

const RUNS = Number(process.env.NORMLAB_PROP_RUNS ?? 300);

function validValue(f: SettingField, v: unknown): boolean {
  switch (f.type) {
    case 'number':
      if (v === null) return Boolean(f.nullable);
      return typeof v === 'number' && Number.isFinite(v) && (!f.integer || Number.isInteger(v)) && v >= f.min && v <= f.max;
    case 'boolean':
      return typeof v === 'boolean';
    case 'choice':
      return typeof v === 'string' && f.choices.includes(v);
    case 'text':
      return typeof v === 'string' && v.length <= f.maxLength && (!f.pattern || v === '' || new RegExp(f.pattern).test(v));
  }
}

/** Values near and across each field's edges, plus junk of every JSON type. */
function fieldValue(f: SettingField): fc.Arbitrary<unknown> {
  const junk = fc.oneof(fc.constant(null), fc.string({ maxLength: 6 }), fc.boolean(), fc.double(), fc.array(fc.nat(), { maxLength: 2 }), fc.object({ maxDepth: 1 }));
  switch (f.type) {
    case 'number': {
      const edges = [f.min, f.max, f.min - 1, f.max + 1, (f.min + f.max) / 2, f.min + 0.5, NaN, Infinity, -Infinity];
      const inRange = f.integer ? fc.integer({ min: Math.ceil(f.min), max: Math.min(f.max, 2 ** 31 - 1) }) : fc.double({ min: f.min, max: f.max, noNaN: true });
      return fc.oneof({ weight: 4, arbitrary: inRange }, { weight: 2, arbitrary: fc.constantFrom(...edges) }, { weight: 1, arbitrary: junk });
    }
    case 'boolean':
      return fc.oneof({ weight: 4, arbitrary: fc.boolean() }, { weight: 1, arbitrary: fc.constantFrom('true', 0, 1) }, { weight: 1, arbitrary: junk });
    case 'choice':
      return fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...f.choices) }, { weight: 1, arbitrary: fc.constantFrom(...f.choices.map((c) => c.toUpperCase()), '') }, { weight: 1, arbitrary: junk });
    case 'text':
      return fc.oneof({ weight: 4, arbitrary: fc.string({ maxLength: 12 }) }, { weight: 1, arbitrary: fc.constant('x'.repeat(f.maxLength + 1)) }, { weight: 1, arbitrary: junk });
  }
}

const settingsObject: fc.Arbitrary<Record<string, unknown>> = fc
  .tuple(
    // A few fields per object (a form or a CLI line sets a handful), each valid most of the time.
    fc
      .subarray([...SETTINGS], { maxLength: 6 })
      .chain((fs): fc.Arbitrary<[string, unknown][]> => (fs.length ? fc.tuple(...fs.map((f) => fieldValue(f).map((v): [string, unknown] => [f.key, v]))) : fc.constant([])))
      .map((kv) => Object.fromEntries(kv)),
    // Unknown keys, including ones that look like prototype pollution.
    fc.option(fc.dictionary(fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('__proto__', 'constructor', 'toString', 'Epochs')), fc.nat(), { maxKeys: 2 }), { freq: 6 }),
  )
  .map(([known, extra]) => {
    const o: Record<string, unknown> = JSON.parse(JSON.stringify(known)) as Record<string, unknown>;
    // JSON turns NaN/Infinity into null; put the raw values back (the in-process door can see them).
    for (const [k, v] of Object.entries(known)) o[k] = v;
    if (extra) for (const [k, v] of Object.entries(extra)) Object.defineProperty(o, k, { value: v, enumerable: true, configurable: true, writable: true });
    return o;
  });

/** The oracle: which inputs must be accepted. */
function expectedOk(input: Record<string, unknown>): boolean {
  const known = new Set(SETTINGS.map((f) => f.key as string));
  if (Object.keys(input).some((k) => !known.has(k))) return false;
  for (const f of SETTINGS) if (f.key in input && input[f.key] !== undefined && !validValue(f, input[f.key])) return false;
  const get = <K extends keyof TrainSettings>(k: K): TrainSettings[K] =>
    (k in input ? input[k] : SETTINGS.find((f) => f.key === k)!.default) as TrainSettings[K];
  if (get('norm') === 'group' && [8, 16, 12].some((c) => c % get('groups') !== 0)) return false;
  if (get('norm') === 'ghost' && get('ghostBatch') > get('batch')) return false;
  return true;
}

describe('resolveSettings, property-based', () => {
  it('accepts exactly the valid objects, keeps their values, and names the flag of every problem', () => {
    let ok = 0;
    let refused = 0;
    fc.assert(
      fc.property(settingsObject, (input) => {
        const r = resolveSettings(input);
        expect(r.ok).toBe(expectedOk(input));
        if (r.ok) {
          ok++;
          for (const f of SETTINGS) {
            const v = r.value[f.key];
            expect(validValue(f, v)).toBe(true);
            if (f.key in input && !(f.key === 'bnMomentum' && !('bnMomentum' in input))) expect(v).toStrictEqual(input[f.key]);
          }
        } else {
          refused++;
          expect(r.issues.length).toBeGreaterThan(0);
          for (const i of r.issues) {
            const f = SETTINGS.find((s) => s.key === i.key);
            if (f) expect(i.message).toContain(`(${f.flag})`);
            else expect(i.message).toBe(`unknown setting "${i.key}"`);
          }
        }
      }),
      { numRuns: RUNS * 2 },
    );
    expect(ok).toBeGreaterThan(10);
    expect(refused).toBeGreaterThan(10);
    console.log(`[props] settings objects tried (resolveSettings): ${ok + refused} (${ok} valid, ${refused} refused)`);
  });
});

describe("services.handle('runs.start', …) with random requests", () => {
  let root: string;
  let services: Services;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'normlab-props-settings-'));
    services = await createServices({ workspace: root, workerPath: WORKER_PATH, env: { NORMLAB_BACKEND: 'wasm' } });
  });
  afterAll(async () => {
    await services?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('answers a typed ApiError (invalid with issues, or dataset) or starts a run with the resolved settings', async () => {
    const tally = { run: 0, invalid: 0, dataset: 0 };
    const request = fc.oneof(
      { weight: 6, arbitrary: settingsObject.map((s) => ({ settings: s })) },
      // Whole requests of the wrong shape: must stop at the zod schema.
      { weight: 1, arbitrary: fc.anything({ maxDepth: 2 }) },
      { weight: 1, arbitrary: fc.record({ settings: settingsObject, study: fc.oneof(fc.string({ maxLength: 3 }), fc.nat(), fc.constant('x'.repeat(201))) }) },
    );
    await fc.assert(
      fc.asyncProperty(request, fc.constantFrom('mnist-sample', '/nonexistent/normlab-data', 7), async (req, data) => {
        // Keep accepted runs tiny: the point is the boundary, not the training.
        if (req && typeof req === 'object' && 'settings' in req && req.settings && typeof req.settings === 'object') {
          Object.assign(req.settings as object, { data, trainLimit: 64, testLimit: 64, epochs: 1, batch: 32 });
        }
        let res: { run: RunRecord } | undefined;
        try {
          res = (await services.handle('runs.start', req)) as { run: RunRecord };
        } catch (e) {
          const err = e as { name?: string; code?: string; message?: string; issues?: unknown[] };
          expect(e).toBeInstanceOf(ApiError);
          expect(['invalid', 'dataset']).toContain(err.code);
          expect(typeof err.message).toBe('string');
          expect(err.message).not.toMatch(/\n\s+at /); // no stack trace in what a person sees
          if (err.code === 'dataset') expect(err.message).toContain('normlab-data');
          const s = (req as { settings?: Record<string, unknown> } | null)?.settings;
          if (err.code === 'invalid' && s && typeof s === 'object' && !('study' in (req as object)) && Object.keys(req as object).length === 1) {
            // A well-shaped request refused by the settings table carries one issue per problem.
            if (!resolveSettings(s).ok) expect(err.issues?.length).toBeGreaterThan(0);
          }
          tally[err.code as 'invalid' | 'dataset']++;
          return;
        }
        tally.run++;
        // zod's record drops an own "__proto__" key (JSON.parse makes one) instead of refusing it: safe, so allowed.
        const s = Object.fromEntries(Object.entries((req as { settings: Record<string, unknown> }).settings).filter(([k]) => k !== '__proto__'));
        const r = resolveSettings(s);
        expect(r.ok).toBe(true);
        expect(res.run.settings).toEqual((r as { value: TrainSettings }).value);
        await services.handle('runs.cancel', { id: res.run.id });
      }),
      { numRuns: Math.round(RUNS / 2) },
    );
    expect(tally.run).toBeGreaterThan(0);
    expect(tally.invalid).toBeGreaterThan(0);
    console.log(`[props] runs.start requests tried: ${tally.run + tally.invalid + tally.dataset} (${tally.run} runs, ${tally.invalid} invalid, ${tally.dataset} dataset errors)`);
  });
});
