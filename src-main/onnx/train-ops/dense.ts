/**
 * dense: Y = X·W + b (Gemm; W [in, out] as in tfjs); dX = dY·Wᵀ, dW = Xᵀ·dY, db = Σ dY over N.
 * flatten: NCHW is already PyTorch's flatten order (C, then H, then W): Y = Reshape(X, [N, −1]),
 *          dX = Reshape(dY, shape of X).
 */
import type { TrainLowering } from './builder';

export const dense: TrainLowering<'dense'> = {
  forward(node, [x], shapes, b) {
    const name = node.name;
    const W = b.param({ name: `${name}/kernel`, shape: [shapes.in[0][0], node.units] });
    const bias = node.bias ?? true;
    const ins = [x, W];
    if (bias) ins.push(b.param({ name: `${name}/bias`, shape: [node.units] }));
    return {
      y: b.n('Gemm', name, ins),
      backward(dy, [need]) {
        b.n('Gemm', name, [x, dy], [{ name: 'transA', i: 1 }], `grad:${name}/kernel`);
        if (bias) b.n('ReduceSum', name, [dy, b.ints(`${name}/axis0`, [0])], [{ name: 'keepdims', i: 0 }], `grad:${name}/bias`);
        return [need ? b.n('Gemm', name, [dy, W], [{ name: 'transB', i: 1 }]) : null];
      },
    };
  },
};

export const flatten: TrainLowering<'flatten'> = {
  forward(node, [x], shapes, b) {
    if (shapes.in[0].length === 1) return { y: x, backward: (dy, [need]) => [need ? dy : null] };
    return {
      y: b.n('Reshape', node.name, [x, b.flat()]),
      backward: (dy, [need]) => [need ? b.n('Reshape', node.name, [dy, b.n('Shape', node.name, [x])]) : null],
    };
  },
};
