/**
 * add: Y = Σ Xᵢ; every input's gradient is dY.
 * concat (channels, axis 1 of NCHW or of [N, U]): dXᵢ = the slice of dY along axis 1 that Xᵢ filled (Split).
 */
import type { TrainLowering } from './builder';

export const add: TrainLowering<'add'> = {
  forward(node, xs, _s, b) {
    const y = xs.length === 2 ? b.n('Add', node.name, xs) : b.n('Sum', node.name, xs);
    return { y, backward: (dy, need) => need.map((nd) => (nd ? dy : null)) };
  },
};

export const concat: TrainLowering<'concat'> = {
  forward(node, xs, shapes, b) {
    const y = b.n('Concat', node.name, xs, [{ name: 'axis', i: 1 }]);
    const sizes = shapes.in.map((s) => s[s.length - 1]);
    return {
      y,
      backward(dy, need) {
        if (!need.some(Boolean)) return need.map(() => null);
        const parts = b.nOuts('Split', node.name, [dy, b.ints(`${node.name}/split`, sizes)], [{ name: 'axis', i: 1 }], sizes.length);
        return parts.map((p, i) => (need[i] ? p : null));
      },
    };
  },
};
