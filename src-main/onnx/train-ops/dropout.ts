/**
 * dropout (units, on images or vectors) and dropout2d (whole channels): Y = X · mask, dX = dY · mask.
 * The caller feeds `mask:<node>` (0 or 1/(1−p)), drawn as the tfjs engine draws it: mulberry32
 * seeded by the step's dropout seed and the node's name, in NHWC order ([N, H, W, C]; [N, U] for a
 * vector; [N, 1, 1, C] for dropout2d), written to NCHW positions.
 */
import type { TrainLowering } from './builder';

export const dropout: TrainLowering<'dropout'> = {
  forward(node, [x], shapes, b) {
    if (!(node.rate > 0)) return { y: x, backward: (dy, [need]) => [need ? dy : null] };
    const s = shapes.in[0];
    const image = s.length === 3;
    const mask = b.dropoutMask({ name: node.name, rate: node.rate, chw: image ? [s[2], s[0], s[1]] : [s[0], 1, 1], dims: image ? [s[2], s[0], s[1]] : [s[0]] });
    return { y: b.n('Mul', node.name, [x, mask]), backward: (dy, [need]) => [need ? b.n('Mul', node.name, [dy, mask]) : null] };
  },
};

export const dropout2d: TrainLowering<'dropout2d'> = {
  forward(node, [x], shapes, b) {
    if (!(node.rate > 0)) return { y: x, backward: (dy, [need]) => [need ? dy : null] };
    const c = shapes.in[0][2];
    const mask = b.dropoutMask({ name: node.name, rate: node.rate, chw: [c, 1, 1], dims: [c, 1, 1] });
    return { y: b.n('Mul', node.name, [x, mask]), backward: (dy, [need]) => [need ? b.n('Mul', node.name, [dy, mask]) : null] };
  },
};
