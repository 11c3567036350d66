/**
 * relu: dX = dY · sign(Y).
 * leaky_relu: Y = LeakyRelu(X, α); dX = dY where X > 0, α·dY elsewhere (tfjs' rule, also at X = 0).
 */
import type { TrainLowering } from './builder';

export const relu: TrainLowering<'relu'> = {
  forward(node, [x], _s, b) {
    const y = b.n('Relu', node.name, [x]);
    return { y, backward: (dy, [need]) => [need ? b.n('Mul', node.name, [dy, b.n('Sign', node.name, [y])]) : null] };
  },
};

export const leakyRelu: TrainLowering<'leaky_relu'> = {
  forward(node, [x], _s, b) {
    const y = b.n('LeakyRelu', node.name, [x], [{ name: 'alpha', f: node.alpha }]);
    return {
      y,
      backward(dy, [need]) {
        if (!need) return [null];
        const positive = b.n('Greater', node.name, [x, b.scalar(`${node.name}/zero`, 0)]);
        return [b.n('Where', node.name, [positive, dy, b.n('Mul', node.name, [dy, b.scalar(`${node.name}/alpha`, node.alpha)])])];
      },
    };
  },
};
