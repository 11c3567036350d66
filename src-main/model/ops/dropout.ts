/** Inverted dropout of units (Dropout) and of whole channels (Dropout2d); `rate: 'auto'` follows the settings. */
import { needImage, noMacs, noParams, noState, type FieldIssue, type OpDef } from '../op';

const checkRate = (v: unknown): FieldIssue[] =>
  v === 'auto' || (typeof v === 'number' && v >= 0 && v < 1) ? [] : [{ field: 'rate', message: `rate must be in [0, 1) or "auto", got ${JSON.stringify(v)}` }];

export const dropout: OpDef<'dropout'> = { arity: 'one', check: (n) => checkRate(n.rate), shape: (_n, [x]) => x, params: noParams, state: noState, macs: noMacs };

export const dropout2d: OpDef<'dropout2d'> = {
  arity: 'one',
  check: (n) => checkRate(n.rate),
  shape: (_n, [x]) => needImage('dropout2d', x) ?? x,
  params: noParams,
  state: noState,
  macs: noMacs,
};
