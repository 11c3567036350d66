/**
 * CLI flags generated from the one settings table, plus the few composite flags the issue
 * specifies (--norm ghost:N, --augment rotate:DEG,shift:PX,erase:P, --bn-momentum null).
 */
import { parseCheckpointTag, type CheckpointTag } from '../contract/checkpoint';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { SETTINGS, type SettingField } from '../contract/settings';

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** parseArgs options for every setting (booleans get a --no- twin). */
export function settingOptions(): Options {
  const o: Options = {};
  for (const f of SETTINGS) {
    if (f.type === 'boolean') {
      o[f.flag] = { type: 'boolean' };
      o[`no-${f.flag}`] = { type: 'boolean' };
    } else {
      o[f.flag] = { type: 'string' };
    }
  }
  o.augment = { type: 'string' };
  return o;
}

function parseNumber(f: SettingField & { type: 'number' }, raw: string): number | null {
  if (f.nullable && (raw === 'null' || raw === 'none' || raw === '')) return null;
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v)) throw new UsageError(`--${f.flag} expects a number, got "${raw}"`);
  return v;
}

/** Converts parsed flag values into a partial settings object (validation happens in services). */
export function settingsFromFlags(values: Record<string, string | boolean | undefined>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of SETTINGS) {
    const raw = values[f.flag];
    if (f.type === 'boolean') {
      if (values[`no-${f.flag}`]) out[f.key] = false;
      else if (raw) out[f.key] = true;
      continue;
    }
    if (raw === undefined || typeof raw === 'boolean') continue;
    if (f.type === 'number') out[f.key] = parseNumber(f, raw);
    else if (f.key === 'norm' && raw.includes(':')) {
      const [kind, n] = raw.split(':');
      const num = Number(n);
      if (!Number.isInteger(num) || num <= 0) throw new UsageError(`--norm ${raw}: expected ghost:N or group:N with N a positive integer`);
      if (kind === 'ghost') Object.assign(out, { norm: 'ghost', ghostBatch: num });
      else if (kind === 'group') Object.assign(out, { norm: 'group', groups: num });
      else throw new UsageError(`--norm ${raw}: only ghost:N and group:N take a number`);
    } else out[f.key] = raw;
  }
  const aug = values.augment;
  if (typeof aug === 'string' && aug.length) {
    for (const part of aug.split(',')) {
      const [k, v] = part.split(':');
      const num = Number(v);
      if (v === undefined || !Number.isFinite(num)) throw new UsageError(`--augment ${aug}: "${part}" should look like rotate:10, shift:2 or erase:0.25`);
      if (k === 'rotate') out.augRotate = num;
      else if (k === 'shift') out.augShift = num;
      else if (k === 'erase') out.augErase = num;
      else throw new UsageError(`--augment: unknown augmentation "${k}" (rotate, shift, erase)`);
    }
  }
  return out;
}

/** Help lines for the settings flags, from the table. */
export function settingsHelp(): string {
  return SETTINGS.map((f) => {
    const def = f.type === 'boolean' ? (f.default ? 'on' : 'off') : f.default === null ? 'null' : JSON.stringify(f.default);
    const kind = f.type === 'choice' ? f.choices.join('|') : f.type === 'number' ? (f.integer ? 'N' : 'X') : f.type === 'text' ? 'TEXT' : '';
    const flag = f.type === 'boolean' ? `--[no-]${f.flag}` : `--${f.flag} ${kind}`;
    return `  ${flag.padEnd(34)} ${f.help} (default ${def})`;
  }).join('\n') + '\n  --augment rotate:DEG,shift:PX,erase:P   shorthand for the three augmentation settings';
}

export function parse(argv: string[], options: Options, allowPositionals = true) {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, ''));
  }
}

/** An integer flag in min..max (undefined when absent). */
export function intFlag(name: string, raw: unknown, min: number, max: number): number | undefined {
  if (raw === undefined) return undefined;
  const v = Number(raw);
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isInteger(v) || v < min || v > max) {
    throw new UsageError(`--${name} expects an integer in ${min}..${max}, got "${String(raw)}"`);
  }
  return v;
}

/** A number flag in (min, max] (undefined when absent). */
export function numFlag(name: string, raw: unknown, min: number, max: number): number | undefined {
  if (raw === undefined) return undefined;
  const v = Number(raw);
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(v) || v <= min || v > max) {
    throw new UsageError(`--${name} expects a number in (${min}, ${max}], got "${String(raw)}"`);
  }
  return v;
}

/** A --checkpoint flag by the one rule (best, last, recalibrated); absent = the default rule. */
export function checkpointFlag(v: unknown): CheckpointTag | undefined {
  try {
    return parseCheckpointTag(v);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}
