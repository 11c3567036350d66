/**
 * The shared formats and the colour rule (src-main/contract/format.ts, colors.ts): one way to
 * write a percentage, a date or a label, and a run colour that depends only on the run.
 */
import { describe, expect, it } from 'vitest';
import {
  baseLabel, distinctRunNames, formatBytes, formatCount, formatDate, formatDateTime, formatDuration, formatLoss, formatNumber,
  formatPercent, formatPoints, labelled,
} from '../../../src-main/contract/format';
import { PALETTE, assignColors, colorSlots, hashString } from '../../../src-main/contract/colors';

describe('formats', () => {
  it('writes percentages, points, losses and counts one way', () => {
    expect(formatPercent(0.983456)).toBe('98.35%');
    expect(formatPercent(1)).toBe('100.00%');
    expect(formatPercent(0.5, 1)).toBe('50.0%');
    expect(formatPercent(null)).toBe('—');
    expect(formatPercent(Number.NaN)).toBe('—');
    expect(formatPoints(0.0025)).toBe('+0.25 pts');
    expect(formatPoints(-0.012)).toBe('-1.20 pts');
    expect(formatPoints(-0.00001)).toBe('-0.00 pts');
    expect(formatLoss(0.073412)).toBe('0.0734');
    expect(formatCount(8915)).toBe('8,915');
  });

  it('writes numbers without float noise', () => {
    expect(formatNumber(21)).toBe('21');
    expect(formatNumber(0.1 + 0.2)).toBe('0.3');
    expect(formatNumber(0.00005)).toBe('5e-5');
    expect(formatNumber(2.5e6)).toBe('2.5e6');
    expect(formatNumber(1234.5678)).toBe('1235');
    expect(formatNumber(-0.0125)).toBe('-0.0125');
    expect(formatNumber(0)).toBe('0');
  });

  it('writes dates as local YYYY-MM-DD HH:MM and durations in s / min / h', () => {
    const d = new Date(2026, 11, 2, 3, 5, 59);
    expect(formatDateTime(d.toISOString())).toBe('2026-12-02 03:05');
    expect(formatDate(d)).toBe('2026-12-02');
    expect(formatDateTime('not a date')).toBe('—');
    expect(formatDateTime(undefined)).toBe('—');
    expect(formatDuration(42.4)).toBe('42 s');
    expect(formatDuration(185)).toBe('3 min 05 s');
    expect(formatDuration(7440)).toBe('2 h 04 min');
    expect(formatDuration(-1)).toBe('—');
    expect(formatBytes(37068)).toBe('36.2 KiB');
  });

  it('never repeats a label in front of a text that already starts with it', () => {
    const name = 'L1 (λ=0.00005)';
    const note = 'L1 (λ=0.00005): a constant pull of lr·λ/(1−β) = 2.50e-5 toward zero per step';
    expect(labelled(name, note)).toBe(note);
    expect(labelled('no L1/L2', 'no L1, L2 or weight decay')).toBe('no L1/L2: no L1, L2 or weight decay');
    expect(labelled('L2 (λ=0.0005)', 'L2 (λ=0.0005) in the loss: each step')).toBe('L2 (λ=0.0005) in the loss: each step');
    expect(labelled('', 'x')).toBe('x');
    expect(baseLabel('L1 (λ=0.00005) · seed 3')).toBe('L1 (λ=0.00005)');
  });

  it('tells runs of two studies apart by the study name, and others by their creation time', () => {
    const runs = [
      { id: 'a-1111', name: 'L1 (λ=0.00005)', study: 's1' },
      { id: 'b-2222', name: 'L1 (λ=0.00005)', study: 's2' },
      { id: 'c-3333', name: 'no L1/L2', study: 's1' },
      { id: 'd-4444', name: '', created: new Date(2026, 0, 5, 9, 30).toISOString() },
      { id: 'e-5555', name: 'same', created: new Date(2026, 0, 5, 9, 30).toISOString() },
      { id: 'f-6666', name: 'same', created: new Date(2026, 0, 5, 9, 30).toISOString() },
    ];
    const names = distinctRunNames(runs, { s1: 'S6 first', s2: 'S6 second' });
    expect(names.get('a-1111')).toBe('L1 (λ=0.00005) · S6 first');
    expect(names.get('b-2222')).toBe('L1 (λ=0.00005) · S6 second');
    expect(names.get('c-3333')).toBe('no L1/L2');
    expect(names.get('d-4444')).toBe('d-4444');
    // Same name and same minute: the id's tail decides.
    expect(names.get('e-5555')).toBe('same · 2026-01-05 09:30 · 5555');
    expect(names.get('f-6666')).toBe('same · 2026-01-05 09:30 · 6666');
    expect(new Set(names.values()).size).toBe(runs.length);
  });
});

describe('run colours', () => {
  const study = { id: 'st', runIds: ['r-none', 'r-l1', 'r-l2', 'r-l1l2'] };
  const runs = [
    { id: 'r-l2', name: 'L2 (λ=0.0005)', study: 'st' },
    { id: 'r-l1l2', name: 'L1+L2 (λ₁=0.00005, λ₂=0.0005)', study: 'st' },
    { id: 'r-none', name: 'no L1/L2', study: 'st' },
    { id: 'r-l1', name: 'L1 (λ=0.00005)', study: 'st' },
    { id: 'lone', name: 'my run' },
  ];

  it('gives study runs their variant slot, whatever order they are listed in', () => {
    const slots = colorSlots(runs, [study]);
    expect([slots.get('r-none'), slots.get('r-l1'), slots.get('r-l2'), slots.get('r-l1l2')]).toEqual([0, 1, 2, 3]);
    expect(slots.get('lone')).toBe(hashString('lone') % PALETTE.length);
    // A study missing from the list orders its runs as given.
    const unlisted = colorSlots(runs, []);
    expect(unlisted.get('r-l2')).toBe(0);
    expect(unlisted.get('r-none')).toBe(2);
  });

  it('seeds of one variant share the slot', () => {
    const seeded = [
      { id: 'x1', name: 'L1 (λ=0.1) · seed 1', study: 'q' },
      { id: 'x2', name: 'L1 (λ=0.1) · seed 2', study: 'q' },
      { id: 'y1', name: 'L2 (λ=0.1) · seed 1', study: 'q' },
    ];
    const slots = colorSlots(seeded, [{ id: 'q', runIds: ['x1', 'x2', 'y1'] }]);
    expect([slots.get('x1'), slots.get('x2'), slots.get('y1')]).toEqual([0, 0, 1]);
  });

  it('moves only a colliding run to the next free colour, and keeps groups together', () => {
    const c = assignColors([
      { id: 'a', slot: 1 },
      { id: 'b', slot: 1 },
      { id: 'c', slot: 2 },
      { id: 'd', slot: 1, group: 'a' },
    ]);
    expect(c.get('a')).toBe(PALETTE[1]);
    expect(c.get('b')).toBe(PALETTE[2]);
    expect(c.get('c')).toBe(PALETTE[3]);
    expect(c.get('d')).toBe(PALETTE[1]);
  });
});
