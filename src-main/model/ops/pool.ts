/**
 * Max and average pooling (kernel, stride = kernel by default, optional pads of at most half the
 * kernel as PyTorch allows; average pooling does not count padded cells), and global average pooling.
 */
import type { AvgPoolNode, MaxPoolNode } from '../../contract/model-graph';
import { checkPads, checkPair, fmt, needImage, noMacs, noParams, noState, pair, windowOut, type FieldIssue, type OpDef, type Shape } from '../op';

export function poolGeometry(n: MaxPoolNode | AvgPoolNode) {
  const kernel = pair(n.kernel, [1, 1]);
  const stride = pair(n.stride, kernel);
  const pads = n.padding ?? [0, 0, 0, 0];
  return { kernel, stride, pads };
}

function check(n: MaxPoolNode | AvgPoolNode): FieldIssue[] {
  const out = [...checkPair('kernel', n.kernel, false), ...checkPair('stride', n.stride, true), ...checkPads('padding', n.padding)];
  if (out.length === 0 && n.padding) {
    const k = pair(n.kernel, [1, 1]);
    const p = n.padding;
    if (p[0] > k[0] / 2 || p[2] > k[0] / 2 || p[1] > k[1] / 2 || p[3] > k[1] / 2) out.push({ field: 'padding', message: `padding [${p.join(', ')}] must be at most half the kernel ${k.join('×')}` });
  }
  return out;
}

function shape(op: string, n: MaxPoolNode | AvgPoolNode, x: Shape): Shape | string {
  const bad = needImage(op, x);
  if (bad) return bad;
  const g = poolGeometry(n);
  const ho = windowOut(x[0], g.pads[0], g.pads[2], g.kernel[0], g.stride[0]);
  const wo = windowOut(x[1], g.pads[1], g.pads[3], g.kernel[1], g.stride[1]);
  if (ho < 1 || wo < 1) return `input ${fmt(x)} is too small for a ${g.kernel.join('×')} window`;
  return [ho, wo, x[2]];
}

export const maxpool: OpDef<'maxpool'> = { arity: 'one', check, shape: (n, [x]) => shape('maxpool', n, x), params: noParams, state: noState, macs: noMacs };
export const avgpool: OpDef<'avgpool'> = { arity: 'one', check, shape: (n, [x]) => shape('avgpool', n, x), params: noParams, state: noState, macs: noMacs };

export const gap: OpDef<'gap'> = {
  arity: 'one',
  check: () => [],
  shape: (_n, [x]) => needImage('gap', x) ?? [x[2]],
  params: noParams,
  state: noState,
  macs: noMacs,
};
