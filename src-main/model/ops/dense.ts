/** Flatten (NHWC → one vector in PyTorch's C, H, W order) and the dense layer (PyTorch Linear; kernel [in, out]). */
import { fmt, noMacs, noParams, noState, type OpDef, type ParamSpec } from '../op';

export const flatten: OpDef<'flatten'> = {
  arity: 'one',
  check: () => [],
  shape: (_n, [x]) => [x.reduce((a, b) => a * b, 1)],
  params: noParams,
  state: noState,
  macs: noMacs,
};

export const dense: OpDef<'dense'> = {
  arity: 'one',
  check(n) {
    const out = [];
    if (!(Number.isInteger(n.units) && n.units >= 1)) out.push({ field: 'units', message: `units must be a whole number ≥ 1, got ${JSON.stringify(n.units)}` });
    if (n.bias !== undefined && typeof n.bias !== 'boolean') out.push({ field: 'bias', message: `bias must be true or false, got ${JSON.stringify(n.bias)}` });
    return out;
  },
  shape: (n, [x]) => (x.length === 1 ? [n.units] : `dense needs a vector [units], got ${fmt(x)}: put flatten or gap before it`),
  params(n, [x]) {
    const bound = 1 / Math.sqrt(x[0]);
    const out: ParamSpec[] = [{ name: `${n.name}/kernel`, node: n.name, kind: 'kernel', shape: [x[0], n.units], init: { kind: 'uniform', bound } }];
    if (n.bias ?? true) out.push({ name: `${n.name}/bias`, node: n.name, kind: 'bias', shape: [n.units], init: { kind: 'uniform', bound } });
    return out;
  },
  state: noState,
  macs: (n, [x]) => x[0] * n.units,
};
