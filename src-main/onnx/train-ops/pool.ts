/**
 * maxpool: MaxPool (padded cells are −∞, as the tfjs lowering pads with −3.4e38) with argmax indices
 *          (flat over the whole NCHW input). dX = MaxUnpool(dY, indices) where windows do not
 *          overlap and nothing is padded; otherwise dY scattered onto the flat input with
 *          ScatterElements(reduction = add), so a cell that wins several windows sums their gradients.
 * avgpool: AveragePool with count_include_pad = 0 (padded cells are not counted, as in the tfjs
 *          lowering). dX = ConvTranspose of dY / count (the real cells of each window) with a 1×kh×kw
 *          kernel of ones, per image and channel, with the forward's strides and pads.
 * gap:     ReduceMean over H, W; dX = dY / (H·W) broadcast.
 */
import type { Attr } from '../export';
import { poolGeometry } from '../../model';
import type { TrainLowering } from './builder';

const rest = (n: number, p0: number, p1: number, k: number, s: number) => (n + p0 + p1 - k) % s;

export const maxpool: TrainLowering<'maxpool'> = {
  forward(node, [x], shapes, b) {
    const name = node.name;
    const { kernel, stride, pads } = poolGeometry(node);
    const attrs: Attr[] = [{ name: 'kernel_shape', ints: kernel }, { name: 'strides', ints: stride }];
    const padded = pads.some((p) => p > 0);
    if (padded) attrs.push({ name: 'pads', ints: pads });
    const [y, idx] = b.nOuts('MaxPool', name, [x], attrs, 2);
    const overlap = stride[0] < kernel[0] || stride[1] < kernel[1];
    return {
      y,
      backward(dy, [need]) {
        if (!need) return [null];
        const shapeX = b.n('Shape', name, [x]);
        if (!overlap && !padded) return [b.n('MaxUnpool', name, [dy, idx, shapeX], attrs)];
        const flat = b.shared('shape_flat', () => b.ints('shape_flat', [-1]));
        const zeros = b.n('ConstantOfShape', name, [b.n('Reshape', name, [b.n('Size', name, [x]), b.shared('shape_1', () => b.ints('shape_1', [1]))])]);
        const scattered = b.n('ScatterElements', name, [zeros, b.n('Reshape', name, [idx, flat]), b.n('Reshape', name, [dy, flat])], [{ name: 'axis', i: 0 }, { name: 'reduction', s: 'add' }]);
        return [b.n('Reshape', name, [scattered, shapeX])];
      },
    };
  },
};

export const avgpool: TrainLowering<'avgpool'> = {
  forward(node, [x], shapes, b) {
    const name = node.name;
    const { kernel, stride, pads } = poolGeometry(node);
    const [h, w] = shapes.in[0];
    const [ho, wo] = shapes.out;
    const attrs: Attr[] = [{ name: 'kernel_shape', ints: kernel }, { name: 'strides', ints: stride }];
    const padded = pads.some((p) => p > 0);
    if (padded) attrs.push({ name: 'pads', ints: pads }, { name: 'count_include_pad', i: 0 });
    const y = b.n('AveragePool', name, [x], attrs);
    return {
      y,
      backward(dy, [need]) {
        if (!need) return [null];
        // 1/count per output cell: the window's real rows × real columns.
        const real = (i: number, s: number, p: number, k: number, n: number) => Math.min(i * s - p + k, n) - Math.max(i * s - p, 0);
        const inv = new Float32Array(ho * wo);
        for (let i = 0; i < ho; i++) for (let j = 0; j < wo; j++) inv[i * wo + j] = 1 / (real(i, stride[0], pads[0], kernel[0], h) * real(j, stride[1], pads[1], kernel[1], w));
        const scaled = b.n('Mul', name, [dy, padded ? b.floats(`${name}/inv_count`, [ho, wo], inv) : b.scalar(`${name}/inv_count`, inv[0])]);
        const single = b.n('Reshape', name, [scaled, b.ints(`${name}/shape_1hw`, [-1, 1, ho, wo])]);
        const ones = b.floats(`${name}/ones`, [1, 1, kernel[0], kernel[1]], new Float32Array(kernel[0] * kernel[1]).fill(1));
        const tAttrs: Attr[] = [{ name: 'strides', ints: stride }, { name: 'pads', ints: pads }];
        const outPad = [rest(h, pads[0], pads[2], kernel[0], stride[0]), rest(w, pads[1], pads[3], kernel[1], stride[1])];
        if (outPad.some((p) => p > 0)) tAttrs.push({ name: 'output_padding', ints: outPad });
        const dx1 = b.n('ConvTranspose', name, [single, ones], tAttrs);
        return [b.n('Reshape', name, [dx1, b.n('Shape', name, [x])])];
      },
    };
  },
};

export const gap: TrainLowering<'gap'> = {
  forward(node, [x], shapes, b) {
    const name = node.name;
    const [h, w] = shapes.in[0];
    return {
      y: b.n('ReduceMean', name, [x], [{ name: 'axes', ints: [2, 3] }, { name: 'keepdims', i: 0 }]),
      backward(dy, [need]) {
        if (!need) return [null];
        const g4 = b.n('Reshape', name, [dy, b.nc11()]);
        return [b.n('Expand', name, [b.n('Mul', name, [g4, b.scalar(`${name}/inv_area`, 1 / (h * w))]), b.n('Shape', name, [x])])];
      },
    };
  },
};
