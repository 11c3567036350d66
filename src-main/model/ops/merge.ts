/** Joins: elementwise add (residual connections; every input the same shape) and concat along channels. */
import { fmt, noMacs, noParams, noState, type OpDef } from '../op';

export const add: OpDef<'add'> = {
  arity: 'many',
  check: () => [],
  shape(_n, xs) {
    const first = fmt(xs[0]);
    const odd = xs.findIndex((s) => fmt(s) !== first);
    return odd < 0 ? xs[0] : `add needs inputs of one shape; input 1 is ${first}, input ${odd + 1} is ${fmt(xs[odd])}`;
  },
  params: noParams,
  state: noState,
  macs: noMacs,
};

export const concat: OpDef<'concat'> = {
  arity: 'many',
  check: () => [],
  shape(_n, xs) {
    const rank = xs[0].length;
    for (let i = 1; i < xs.length; i++) {
      const same = xs[i].length === rank && xs[i].slice(0, -1).every((d, j) => d === xs[0][j]);
      if (!same) return `concat joins along channels: every input needs the same other dimensions; input 1 is ${fmt(xs[0])}, input ${i + 1} is ${fmt(xs[i])}`;
    }
    return [...xs[0].slice(0, -1), xs.reduce((s, x) => s + x[rank - 1], 0)];
  },
  params: noParams,
  state: noState,
  macs: noMacs,
};
