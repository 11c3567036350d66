/**
 * An independent eval-mode forward pass of a resolved graph, written from the op definitions
 * with plain tfjs ops (tf.conv2d with explicit pads, tf.depthwiseConv2d for depthwise convs, the
 * BN formula by hand, dropout as the identity), so the analyses' numbers can be checked against
 * something that does not share engine/model.ts or engine/lower-tfjs.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ResolvedGraph, ResolvedNode } from '../../../src-main/contract/model-graph';
import type { NamedWeights } from '../../../src-main/engine/model-types';

const pair = (v: number | [number, number] | undefined, d: number): [number, number] => (v === undefined ? [d, d] : typeof v === 'number' ? [v, v] : v);

function pads(node: Extract<ResolvedNode, { op: 'conv2d' }>): [number, number, number, number] {
  const [kh, kw] = pair(node.kernel, 1);
  const [dh, dw] = pair(node.dilation, 1);
  if (node.padding === undefined || node.padding === 'valid') return [0, 0, 0, 0];
  if (node.padding === 'same') {
    const th = dh * (kh - 1);
    const tw = dw * (kw - 1);
    return [Math.floor(th / 2), Math.floor(tw / 2), th - Math.floor(th / 2), tw - Math.floor(tw / 2)];
  }
  return node.padding;
}

/**
 * Every node's output (eval mode: running statistics, no dropout) for the batch `x` [N, H, W, C].
 * The caller disposes the returned tensors (tf.dispose(Object.values(...))).
 */
export function referenceForward(graph: ResolvedGraph, w: NamedWeights, x: tf.Tensor4D): Record<string, tf.Tensor> {
  const t = (name: string) => {
    const v = w[name];
    if (!v) throw new Error(`reference forward: no weight ${name}`);
    return tf.tensor(v.data, v.shape, 'float32');
  };
  const values: Record<string, tf.Tensor> = { input: x.clone() };
  for (const n of graph.nodes) {
    const ins = n.inputs.map((s) => values[s]);
    values[n.name] = tf.tidy((): tf.Tensor => {
      switch (n.op) {
        case 'conv2d': {
          const [t0, l0, b0, r0] = pads(n);
          const xin = tf.pad(ins[0] as tf.Tensor4D, [[0, 0], [t0, b0], [l0, r0], [0, 0]]);
          const k = t(`${n.name}/kernel`) as tf.Tensor4D;
          const groups = n.groups ?? 1;
          const cin = ins[0].shape[3]!;
          let y: tf.Tensor4D;
          if (groups === 1) y = tf.conv2d(xin, k, pair(n.stride, 1), 'valid', 'NHWC', pair(n.dilation, 1));
          else if (groups === cin && n.filters === cin) {
            // [kh, kw, 1, C] → depthwise filter [kh, kw, C, 1] (same memory order).
            y = tf.depthwiseConv2d(xin, tf.reshape(k, [k.shape[0], k.shape[1], cin, 1]) as tf.Tensor4D, pair(n.stride, 1), 'valid', 'NHWC', pair(n.dilation, 1));
          } else throw new Error(`reference forward: groups ${groups} not covered`);
          return n.bias ?? true ? tf.add(y, t(`${n.name}/bias`)) : y;
        }
        case 'norm': {
          if (n.norm.kind !== 'batch' && n.norm.kind !== 'ghost') throw new Error('reference forward: only batch/ghost norm');
          const xn = tf.div(tf.sub(ins[0], t(`${n.name}/running_mean`)), tf.sqrt(tf.add(t(`${n.name}/running_var`), n.norm.eps)));
          return tf.add(tf.mul(xn, t(`${n.name}/gamma`)), t(`${n.name}/beta`));
        }
        case 'relu':
          return tf.relu(ins[0]);
        case 'dropout':
        case 'dropout2d':
          return ins[0].clone();
        case 'add':
          return tf.addN(ins);
        case 'gap':
          return tf.mean(ins[0], [1, 2]);
        case 'dense': {
          const y = tf.matMul(ins[0] as tf.Tensor2D, t(`${n.name}/kernel`) as tf.Tensor2D);
          return n.bias ?? true ? tf.add(y, t(`${n.name}/bias`)) : y;
        }
        case 'flatten':
          return ins[0].rank === 2 ? ins[0].clone() : tf.reshape(tf.transpose(ins[0], [0, 3, 1, 2]), [ins[0].shape[0], -1]);
        case 'maxpool': {
          const k = pair(n.kernel, 1);
          return tf.maxPool(ins[0] as tf.Tensor4D, k, pair(n.stride, k[0]), 'valid');
        }
        default:
          throw new Error(`reference forward: op ${n.op} not covered`);
      }
    });
  }
  return values;
}

/** Per-channel mean and variance (divisor N) over every axis but the last, in float64. */
export function channelMoments(t: tf.Tensor): { mean: number[]; var: number[] } {
  const c = t.shape[t.shape.length - 1]!;
  const d = t.dataSync();
  const n = d.length / c;
  const sum = new Float64Array(c);
  for (let i = 0; i < d.length; i++) sum[i % c] += d[i];
  const mean = Array.from(sum, (s) => s / n);
  const sq = new Float64Array(c);
  for (let i = 0; i < d.length; i++) sq[i % c] += (d[i] - mean[i % c]) ** 2;
  return { mean, var: Array.from(sq, (s) => s / n) };
}
