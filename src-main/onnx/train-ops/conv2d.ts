/**
 * conv2d: Conv with pads, strides, dilations and groups; W in OIHW [O, I/g, kh, kw].
 *   dX = ConvTranspose(dY, W) with the same pads, strides, dilations and groups, and
 *        output_padding = the rows/columns the forward window never reached
 *        ((H + pads − d·(k−1) − 1) mod s), so dX has X's shape.
 *   dW   stride 1, one group (every S5 conv): one batched MatMul per kernel offset (matmulFilterGrad);
 *        otherwise a Conv with the roles swapped (swappedFilterGrad).
 *   db = Σ dY over N, H, W
 */
import type { Attr } from '../export';
import { convGeometry } from '../../model';
import type { StepBuilder, TrainLowering } from './builder';

interface Geometry {
  kernel: [number, number];
  stride: [number, number];
  dilation: [number, number];
  /** [top, left, bottom, right] */
  pads: [number, number, number, number];
  groups: number;
  cin: number;
  cout: number;
  /** Input and output [h, w]. */
  hw: [number, number];
  ohw: [number, number];
}

/**
 * dW by matrix products. With X channel-major and padded to Hp×Wp, and dY zero-padded to the same
 * grid, both flattened over images·Hp·Wp, the kernel tap (a, b) is an offset of d·(a·Wp + b):
 * dW[:, :, a, b] = Xf[:, off:off+L] · dYf[0:L, :], where L stops where dYf holds only padding.
 * The batch is split in S = 2 halves (1 for an odd batch): the products become one batched MatMul
 * [S, Cin, L]·[S, L, Cout], whose halves MLAS runs on separate threads, summed over S.
 * Stride 1 and one group only.
 */
function matmulFilterGrad(b: StepBuilder, name: string, x: string, dy: string, geo: Geometry): string {
  const { kernel: [kh, kw], dilation: [dh, dw], pads, cin, cout } = geo;
  const [hin, win] = geo.hw;
  const [ho, wo] = geo.ohw;
  const [hp, wp] = [hin + pads[0] + pads[2], win + pads[1] + pads[3]];
  const maxOff = (kh - 1) * dh * wp + (kw - 1) * dw;
  const S = b.batchSplit();
  const shapeOf = (dims: number[]) => b.n('Concat', name, [S, b.ints(`${name}/dims`, dims)], [{ name: 'axis', i: 0 }]);
  // X: [N, Cin, H, W] → [S, Cin, N/S, Hp, Wp] → [S, Cin, L]
  let xt = b.n('Transpose', name, [b.n('Reshape', name, [x, shapeOf([-1, cin, hin, win])])], [{ name: 'perm', ints: [0, 2, 1, 3, 4] }]);
  if (pads.some((p) => p > 0)) xt = b.n('Pad', name, [xt, b.ints(`${name}/pads_x`, [0, 0, 0, pads[0], pads[1], 0, 0, 0, pads[2], pads[3]])]);
  const xf = b.n('Reshape', name, [xt, b.ints(`${name}/shape_s_cin_flat`, [0, cin, -1])]);
  // dY: [N, Cout, Ho, Wo] → [N, Ho, Wo, Cout], zero-padded to [N, Hp, Wp, Cout] → [S, L, Cout]
  let gt = b.n('Transpose', name, [dy], [{ name: 'perm', ints: [0, 2, 3, 1] }]);
  if (ho !== hp || wo !== wp) gt = b.n('Pad', name, [gt, b.ints(`${name}/pads_dy`, [0, 0, 0, 0, 0, hp - ho, wp - wo, 0])]);
  const gf = b.n('Reshape', name, [gt, shapeOf([-1, cout])]);
  const shifted: string[] = [];
  let gL = gf;
  if (maxOff === 0) shifted.push(xf);
  else {
    // L = (N/S)·Hp·Wp − maxOff, from the dynamic batch.
    const len = b.n('Sub', name, [b.n('Shape', name, [xf], [{ name: 'start', i: 2 }]), b.ints(`${name}/max_off`, [maxOff])]);
    gL = b.n('Slice', name, [gf, b.ints(`${name}/zero`, [0]), len, b.ints(`${name}/axis1`, [1])]);
    const axis2 = b.ints(`${name}/axis2`, [2]);
    for (let a = 0; a < kh; a++)
      for (let c = 0; c < kw; c++) {
        const st = b.ints(`${name}/off${a}_${c}`, [a * dh * wp + c * dw]);
        shifted.push(b.n('Slice', name, [xf, st, b.n('Add', name, [len, st]), axis2]));
      }
  }
  // One product per tap, [Cin, Cout] each after the sum over S, stacked tap-major:
  // [kh·kw·Cin, Cout] is the HWIO kernel, transposed to the OIHW layout the input has.
  const axis0 = b.ints(`${name}/axis0`, [0]);
  const perTap = shifted.map((sh) => b.n('ReduceSum', name, [b.n('MatMul', name, [sh, gL]), axis0], [{ name: 'keepdims', i: 0 }]));
  const dwFlat = perTap.length === 1 ? perTap[0] : b.n('Concat', name, perTap, [{ name: 'axis', i: 0 }]);
  const dw4 = b.n('Reshape', name, [dwFlat, b.ints(`${name}/shape_kkio`, [kh, kw, cin, cout])]);
  return b.n('Transpose', name, [dw4], [{ name: 'perm', ints: [3, 2, 0, 1] }], `grad:${name}/kernel`);
}

/**
 * dW[o, i, a, b] = Σ_{n,y,x} dY[n, o, y, x] · Xpad[n, g(o)·I/g + i, y·s + a·d, x·s + b·d]: a Conv of
 * X (images moved into channels, [I/g, g·N, H, W]) with dY as its kernel ([O, N, Ho, Wo]), group g,
 * stride d and dilation s (the forward's swapped), the forward's pads. Its output [I/g, O, kh', kw']
 * may run past the kernel (kh' ≥ kh) where the forward window never reached: sliced off.
 */
function swappedFilterGrad(b: StepBuilder, name: string, x: string, dy: string, geo: Geometry): string {
  const { kernel: [kh, kw], stride, dilation, pads, groups: g, cin, cout } = geo;
  const [hin, win] = geo.hw;
  const [ho, wo] = geo.ohw;
  // X: [N, Cin, H, W] → [N, g, I/g, H, W] → [I/g, g, N, H, W] → [I/g, g·N, H, W]
  const x5 = b.n('Reshape', name, [x, b.ints(`${name}/shape_x5`, [0, g, cin / g, hin, win])]);
  const xs = b.n('Reshape', name, [b.n('Transpose', name, [x5], [{ name: 'perm', ints: [2, 1, 0, 3, 4] }]), b.ints(`${name}/shape_xs`, [cin / g, -1, hin, win])]);
  // dY: [N, Cout, Ho, Wo] → [N, g, O/g, Ho, Wo] → [g, O/g, N, Ho, Wo] → [O, N, Ho, Wo]
  const d5 = b.n('Reshape', name, [dy, b.ints(`${name}/shape_dy5`, [0, g, cout / g, ho, wo])]);
  const ds = b.n('Reshape', name, [b.n('Transpose', name, [d5], [{ name: 'perm', ints: [1, 2, 0, 3, 4] }]), b.ints(`${name}/shape_dys`, [cout, -1, ho, wo])]);
  let w = b.n('Conv', name, [xs, ds], [
    { name: 'pads', ints: pads },
    { name: 'strides', ints: dilation },
    { name: 'dilations', ints: stride },
    { name: 'group', i: g },
  ]);
  const khOut = Math.floor((hin + pads[0] + pads[2] - stride[0] * (ho - 1) - 1) / dilation[0]) + 1;
  const kwOut = Math.floor((win + pads[1] + pads[3] - stride[1] * (wo - 1) - 1) / dilation[1]) + 1;
  if (khOut !== kh || kwOut !== kw) {
    w = b.n('Slice', name, [w, b.ints(`${name}/kslice_start`, [0, 0]), b.ints(`${name}/kslice_end`, [kh, kw]), b.ints(`${name}/kslice_axes`, [2, 3])]);
  }
  return b.n('Transpose', name, [w], [{ name: 'perm', ints: [1, 0, 2, 3] }], `grad:${name}/kernel`);
}

export const conv2d: TrainLowering<'conv2d'> = {
  forward(node, [x], shapes, b) {
    const { kernel, stride, dilation, pads } = convGeometry(node);
    const [hin, win, cin] = shapes.in[0];
    const [ho, wo, cout] = shapes.out;
    const groups = node.groups ?? 1;
    const geo: Geometry = { kernel, stride, dilation, pads, groups, cin, cout, hw: [hin, win], ohw: [ho, wo] };
    const W = b.param({ name: `${node.name}/kernel`, shape: [cout, cin / groups, kernel[0], kernel[1]], hwio: [kernel[0], kernel[1], cin / groups, cout] });
    const ins = [x, W];
    const bias = node.bias ?? true;
    if (bias) ins.push(b.param({ name: `${node.name}/bias`, shape: [cout] }));
    const attrs: Attr[] = [{ name: 'pads', ints: pads }];
    if (stride.some((s) => s !== 1)) attrs.push({ name: 'strides', ints: stride });
    if (dilation.some((d) => d !== 1)) attrs.push({ name: 'dilations', ints: dilation });
    if (groups !== 1) attrs.push({ name: 'group', i: groups });
    const y = b.n('Conv', node.name, ins, attrs);
    return {
      y,
      backward(dy, [needX]) {
        if (bias) b.sumNhw(node.name, dy, `grad:${node.name}/bias`);
        if (stride.every((s) => s === 1) && groups === 1) matmulFilterGrad(b, node.name, x, dy, geo);
        else swappedFilterGrad(b, node.name, x, dy, geo);
        if (!needX) return [null];
        // Rows/columns of X past the last window: ConvTranspose adds them back as zeros.
        const rest = (n: number, p0: number, p1: number, k: number, s: number, d: number) => (n + p0 + p1 - d * (k - 1) - 1) % s;
        const outPad = [rest(hin, pads[0], pads[2], kernel[0], stride[0], dilation[0]), rest(win, pads[1], pads[3], kernel[1], stride[1], dilation[1])];
        const tAttrs: Attr[] = [...attrs];
        if (outPad.some((p) => p > 0)) tAttrs.push({ name: 'output_padding', ints: outPad });
        return [b.n('ConvTranspose', node.name, [dy, W], tAttrs)];
      },
    };
  },
};
