/** Elementwise activations: ReLU and leaky ReLU (PyTorch LeakyReLU, y = x for x > 0 else α·x). */
import { noMacs, noParams, noState, type OpDef } from '../op';

export const relu: OpDef<'relu'> = { arity: 'one', check: () => [], shape: (_n, [x]) => x, params: noParams, state: noState, macs: noMacs };

export const leakyRelu: OpDef<'leaky_relu'> = {
  arity: 'one',
  check: (n) => (typeof n.alpha === 'number' && Number.isFinite(n.alpha) && n.alpha >= 0 ? [] : [{ field: 'alpha', message: `alpha must be a number ≥ 0, got ${JSON.stringify(n.alpha)}` }]),
  shape: (_n, [x]) => x,
  params: noParams,
  state: noState,
  macs: noMacs,
};
