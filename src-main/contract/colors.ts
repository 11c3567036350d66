/**
 * The colour rule, in one place for every view and every exported chart: a run keeps its colour
 * wherever it is drawn. Runs of a study take their variant's slot (the order in which the study
 * lists its variants: for S6 no L1/L2, L1, L2, L1+L2; seeds of a variant share it); other runs
 * hash their id into the palette. Only when two runs drawn together would share a colour does
 * the later one move to the next free colour (see assignColors).
 */
import { baseLabel } from './format';

/** Ten colours distinguishable from each other and readable on white. */
export const PALETTE = ['#2f6db5', '#d1603d', '#3a9a5b', '#8b5cb8', '#c29a1f', '#3b9ab2', '#c2477e', '#6b7280', '#7a5c3e', '#1f2937'] as const;

/** Colours of the data splits, for charts of one run (train, validation and test of the same run). */
export const SPLIT_COLORS = { train: '#2f6db5', val: '#d1603d', test: '#3a9a5b' } as const;

/** FNV-1a of a string, as an unsigned 32-bit integer: a stable slot for ids outside a study. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export interface ColorRun {
  id: string;
  name: string;
  /** Study id, when the run belongs to one. */
  study?: string;
}

/**
 * The palette slot of each run: its variant's position in its study (variants ordered as the
 * study lists its runs, seeds of one variant together), or a hash of its id outside a study.
 * `studies` gives each study's run order; a study missing there orders its runs as `runs` does.
 */
export function colorSlots(runs: readonly ColorRun[], studies: readonly { id: string; runIds: readonly string[] }[] = []): Map<string, number> {
  const byId = new Map(runs.map((r) => [r.id, r] as const));
  const order = new Map<string, string[]>();
  for (const s of studies) order.set(s.id, [...s.runIds]);
  for (const r of runs) {
    if (!r.study) continue;
    const list = order.get(r.study) ?? [];
    if (!list.includes(r.id)) list.push(r.id);
    order.set(r.study, list);
  }
  const variantSlot = new Map<string, Map<string, number>>();
  for (const [study, ids] of order) {
    const slots = new Map<string, number>();
    for (const id of ids) {
      const r = byId.get(id);
      if (!r) continue;
      const v = baseLabel(r.name || r.id);
      if (!slots.has(v)) slots.set(v, slots.size);
    }
    variantSlot.set(study, slots);
  }
  const out = new Map<string, number>();
  for (const r of runs) {
    const slot = r.study ? variantSlot.get(r.study)?.get(baseLabel(r.name || r.id)) : undefined;
    out.set(r.id, slot ?? hashString(r.id) % PALETTE.length);
  }
  return out;
}

/**
 * Colours for runs drawn together, in the given order: each run's own slot, except that a run
 * whose colour is already taken in this chart (by a run of another configuration) takes the next
 * free one. Runs with the same `group` (seeds of one variant) share a colour on purpose.
 */
export function assignColors(items: readonly { id: string; slot: number; group?: string }[]): Map<string, string> {
  const used = new Map<number, string>();
  const out = new Map<string, string>();
  for (const it of items) {
    const group = it.group ?? it.id;
    let slot = ((it.slot % PALETTE.length) + PALETTE.length) % PALETTE.length;
    for (let k = 0; k < PALETTE.length && used.has(slot) && used.get(slot) !== group; k++) slot = (slot + 1) % PALETTE.length;
    if (!used.has(slot)) used.set(slot, group);
    out.set(it.id, PALETTE[slot]);
  }
  return out;
}

/** The colour of one run drawn alone (its slot, no collision handling). */
export function runColor(slot: number): string {
  return PALETTE[((slot % PALETTE.length) + PALETTE.length) % PALETTE.length];
}
