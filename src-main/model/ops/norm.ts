/**
 * Normalization: batch, ghost (virtual batches), layer, group. After a conv it is BatchNorm2d
 * (statistics per channel over N, H, W); after a dense layer BatchNorm1d (per unit over N).
 * `norm: 'auto'` takes its kind from the run's settings (resolveGraph).
 */
import type { NormChoice } from '../../contract/model-graph';
import type { FieldIssue, OpDef, StateSpec } from '../op';
import { fmt } from '../op';

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

export function checkNormChoice(v: unknown): FieldIssue[] {
  if (v === 'auto') return [];
  if (typeof v !== 'object' || v === null) return [{ field: 'norm', message: `norm must be "auto" or an object with kind batch, ghost, layer or group, got ${JSON.stringify(v)}` }];
  const c = v as Partial<Record<string, unknown>>;
  const out: FieldIssue[] = [];
  if (!isNum(c.eps) || (c.eps as number) <= 0) out.push({ field: 'norm.eps', message: `norm.eps must be a number > 0, got ${JSON.stringify(c.eps)}` });
  switch (c.kind) {
    case 'ghost':
    case 'batch':
      if (c.kind === 'ghost' && !(Number.isInteger(c.virtualBatch) && (c.virtualBatch as number) >= 1)) out.push({ field: 'norm.virtualBatch', message: `norm.virtualBatch must be a whole number ≥ 1, got ${JSON.stringify(c.virtualBatch)}` });
      if (!(c.momentum === null || (isNum(c.momentum) && c.momentum >= 0 && c.momentum <= 1))) out.push({ field: 'norm.momentum', message: `norm.momentum must be in [0, 1] or null (cumulative), got ${JSON.stringify(c.momentum)}` });
      if (c.convention !== 'pytorch' && c.convention !== 'keras') out.push({ field: 'norm.convention', message: `norm.convention must be "pytorch" or "keras", got ${JSON.stringify(c.convention)}` });
      break;
    case 'group':
      if (!(Number.isInteger(c.groups) && (c.groups as number) >= 1)) out.push({ field: 'norm.groups', message: `norm.groups must be a whole number ≥ 1, got ${JSON.stringify(c.groups)}` });
      break;
    case 'layer':
      break;
    default:
      out.push({ field: 'norm.kind', message: `norm.kind must be batch, ghost, layer or group, got ${JSON.stringify(c.kind)}` });
  }
  return out;
}

/** Whether a norm keeps running statistics (batch and ghost BN do; layer and group norm do not). */
export const hasRunningStats = (n: NormChoice | 'auto'): n is Extract<NormChoice, { kind: 'batch' | 'ghost' }> =>
  n !== 'auto' && (n.kind === 'batch' || n.kind === 'ghost');

export const norm: OpDef<'norm'> = {
  arity: 'one',
  check: (n) => checkNormChoice(n.norm),
  shape(n, [x]) {
    if (x.length !== 3 && x.length !== 1) return `norm needs an image [h, w, c] or a vector [units], got ${fmt(x)}`;
    const c = x[x.length - 1];
    if (n.norm !== 'auto' && n.norm.kind === 'group' && c % n.norm.groups !== 0) return `group norm: ${n.norm.groups} groups do not divide the ${c} channels of ${fmt(x)}`;
    return x;
  },
  params(n, [x]) {
    const c = x[x.length - 1];
    return [
      { name: `${n.name}/gamma`, node: n.name, kind: 'gamma', shape: [c], init: { kind: 'const', value: 1 } },
      { name: `${n.name}/beta`, node: n.name, kind: 'beta', shape: [c], init: { kind: 'const', value: 0 } },
    ];
  },
  state(n, [x]) {
    if (!hasRunningStats(n.norm)) return [];
    const c = x[x.length - 1];
    const out: StateSpec[] = [
      { name: `${n.name}/running_mean`, node: n.name, kind: 'running_mean', shape: [c], value: 0 },
      { name: `${n.name}/running_var`, node: n.name, kind: 'running_var', shape: [c], value: 1 },
    ];
    if (n.norm.momentum === null) out.push({ name: `${n.name}/count`, node: n.name, kind: 'count', shape: [1], value: 0 });
    return out;
  },
  macs: () => 0,
};
