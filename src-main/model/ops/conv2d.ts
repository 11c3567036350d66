/** 2-D convolution (PyTorch Conv2d): kernel, stride, padding valid/same/explicit, dilation, groups (depthwise when groups = in = out/m), bias. */
import type { Conv2dNode } from '../../contract/model-graph';
import { checkPadding, checkPair, convPads, fmt, needImage, pair, windowOut, type OpDef, type ParamSpec } from '../op';

/** Kernel, stride, dilation and pads of a conv node, with defaults filled in. */
export function convGeometry(node: Pick<Conv2dNode, 'kernel' | 'stride' | 'dilation' | 'padding'>) {
  const kernel = pair(node.kernel, [1, 1]);
  const stride = pair(node.stride, [1, 1]);
  const dilation = pair(node.dilation, [1, 1]);
  return { kernel, stride, dilation, pads: convPads(node.padding, kernel, dilation) };
}

export const conv2d: OpDef<'conv2d'> = {
  arity: 'one',
  check(n) {
    const out = [...checkPair('kernel', n.kernel, false), ...checkPair('stride', n.stride, true), ...checkPair('dilation', n.dilation, true), ...checkPadding(n.padding)];
    if (!(Number.isInteger(n.filters) && n.filters >= 1)) out.push({ field: 'filters', message: `filters must be a whole number ≥ 1, got ${JSON.stringify(n.filters)}` });
    if (n.groups !== undefined && !(Number.isInteger(n.groups) && n.groups >= 1)) out.push({ field: 'groups', message: `groups must be a whole number ≥ 1, got ${JSON.stringify(n.groups)}` });
    if (n.bias !== undefined && typeof n.bias !== 'boolean') out.push({ field: 'bias', message: `bias must be true or false, got ${JSON.stringify(n.bias)}` });
    if (out.length === 0 && n.padding === 'same' && pair(n.stride, [1, 1]).some((s) => s !== 1)) {
      out.push({ field: 'padding', message: 'padding "same" needs stride 1 (as in PyTorch); give explicit pads [top, left, bottom, right]' });
    }
    return out;
  },
  shape(n, [x]) {
    const bad = needImage('conv2d', x);
    if (bad) return bad;
    const [h, w, c] = x;
    const groups = n.groups ?? 1;
    if (c % groups !== 0) return `groups ${groups} does not divide the ${c} input channels of ${fmt(x)}`;
    if (n.filters % groups !== 0) return `groups ${groups} does not divide filters ${n.filters}`;
    const g = convGeometry(n);
    const ho = windowOut(h, g.pads[0], g.pads[2], g.kernel[0], g.stride[0], g.dilation[0]);
    const wo = windowOut(w, g.pads[1], g.pads[3], g.kernel[1], g.stride[1], g.dilation[1]);
    if (ho < 1 || wo < 1) return `input ${fmt(x)} is too small for a ${g.kernel[0]}×${g.kernel[1]} kernel (dilation ${g.dilation.join('×')}, pads [${g.pads.join(', ')}])`;
    return [ho, wo, n.filters];
  },
  params(n, [x]) {
    const g = convGeometry(n);
    const inPerGroup = x[2] / (n.groups ?? 1);
    const bound = 1 / Math.sqrt(inPerGroup * g.kernel[0] * g.kernel[1]);
    const out: ParamSpec[] = [{ name: `${n.name}/kernel`, node: n.name, kind: 'kernel', shape: [g.kernel[0], g.kernel[1], inPerGroup, n.filters], init: { kind: 'uniform', bound } }];
    if (n.bias ?? true) out.push({ name: `${n.name}/bias`, node: n.name, kind: 'bias', shape: [n.filters], init: { kind: 'uniform', bound } });
    return out;
  },
  state: () => [],
  macs(n, [x], [ho, wo]) {
    const g = convGeometry(n);
    return ho * wo * n.filters * g.kernel[0] * g.kernel[1] * (x[2] / (n.groups ?? 1));
  },
};
