/**
 * A deliberately plain eval-mode forward pass over a model graph (NHWC, float64 accumulation),
 * written from the definitions in contract/model-graph.ts and nothing else. Tests use it as an
 * independent check of the importer's layouts (a wrong transpose or pad order changes the
 * logits) without going through either engine.
 */
import type { ModelGraph, Pads, Pair } from '../../../src-main/contract/model-graph';

type Weights = Record<string, { shape: number[]; data: Float32Array }>;
interface T { shape: number[]; data: Float32Array }

const two = (p: Pair | undefined, d: number): [number, number] => (p === undefined ? [d, d] : typeof p === 'number' ? [p, p] : p);

function pads(padding: 'valid' | 'same' | Pads | undefined, h: number, w: number, k: [number, number], s: [number, number], d: [number, number]): Pads {
  if (padding === undefined || padding === 'valid') return [0, 0, 0, 0];
  if (padding === 'same') {
    const tot = (size: number, i: number) => Math.max((Math.ceil(size / s[i]) - 1) * s[i] + (k[i] - 1) * d[i] + 1 - size, 0);
    const th = tot(h, 0);
    const tw = tot(w, 1);
    return [Math.floor(th / 2), Math.floor(tw / 2), th - Math.floor(th / 2), tw - Math.floor(tw / 2)];
  }
  return padding;
}

/** Logits [n, classes] for n images given NHWC (already scaled as the model expects). */
export function referenceForward(g: ModelGraph, w: Weights, x: Float32Array, n: number): Float32Array {
  const vals = new Map<string, T>([['input', { shape: [...g.input], data: x }]]);
  const get = (name: string) => {
    const v = w[name];
    if (!v) throw new Error(`reference: no weight ${name}`);
    return v;
  };
  for (const node of g.nodes) {
    const a = vals.get(node.inputs[0])!;
    const per = a.shape.reduce((p, q) => p * q, 1);
    let out: T;
    switch (node.op) {
      case 'conv2d': {
        const [h, wd, c] = a.shape;
        const k = two(node.kernel, 1);
        const s = two(node.stride, 1);
        const d = two(node.dilation, 1);
        const p = pads(node.padding, h, wd, k, s, d);
        const groups = node.groups ?? 1;
        const cg = c / groups;
        const og = node.filters / groups;
        const oh = Math.floor((h + p[0] + p[2] - (k[0] - 1) * d[0] - 1) / s[0]) + 1;
        const ow = Math.floor((wd + p[1] + p[3] - (k[1] - 1) * d[1] - 1) / s[1]) + 1;
        const K = get(`${node.name}/kernel`).data;
        const B = node.bias ? get(`${node.name}/bias`).data : null;
        const o = new Float32Array(n * oh * ow * node.filters);
        for (let b = 0; b < n; b++)
          for (let y = 0; y < oh; y++)
            for (let xx = 0; xx < ow; xx++)
              for (let f = 0; f < node.filters; f++) {
                const gi = Math.floor(f / og);
                let acc = B ? B[f] : 0;
                for (let ky = 0; ky < k[0]; ky++) {
                  const iy = y * s[0] - p[0] + ky * d[0];
                  if (iy < 0 || iy >= h) continue;
                  for (let kx = 0; kx < k[1]; kx++) {
                    const ix = xx * s[1] - p[1] + kx * d[1];
                    if (ix < 0 || ix >= wd) continue;
                    for (let ci = 0; ci < cg; ci++) acc += a.data[((b * h + iy) * wd + ix) * c + gi * cg + ci] * K[((ky * k[1] + kx) * cg + ci) * node.filters + f];
                  }
                }
                o[((b * oh + y) * ow + xx) * node.filters + f] = acc;
              }
        out = { shape: [oh, ow, node.filters], data: o };
        break;
      }
      case 'norm': {
        if (node.norm === 'auto' || node.norm.kind !== 'batch') throw new Error('reference: batch norm only');
        const c = a.shape[a.shape.length - 1];
        const [gm, bt, mu, vr] = ['gamma', 'beta', 'running_mean', 'running_var'].map((q) => get(`${node.name}/${q}`).data);
        const eps = node.norm.eps;
        const o = new Float32Array(a.data.length);
        for (let i = 0; i < o.length; i++) {
          const ch = i % c;
          o[i] = ((a.data[i] - mu[ch]) / Math.sqrt(vr[ch] + eps)) * gm[ch] + bt[ch];
        }
        out = { shape: a.shape, data: o };
        break;
      }
      case 'relu':
        out = { shape: a.shape, data: a.data.map((v) => (v > 0 ? v : 0)) };
        break;
      case 'leaky_relu':
        out = { shape: a.shape, data: a.data.map((v) => (v > 0 ? v : node.alpha * v)) };
        break;
      case 'dropout':
      case 'dropout2d':
        out = a;
        break;
      case 'maxpool':
      case 'avgpool': {
        const [h, wd, c] = a.shape;
        const k = two(node.kernel, 1);
        const s = node.stride === undefined ? k : two(node.stride, 1);
        const p = node.padding ?? [0, 0, 0, 0];
        const oh = Math.floor((h + p[0] + p[2] - k[0]) / s[0]) + 1;
        const ow = Math.floor((wd + p[1] + p[3] - k[1]) / s[1]) + 1;
        const o = new Float32Array(n * oh * ow * c);
        for (let b = 0; b < n; b++)
          for (let y = 0; y < oh; y++)
            for (let xx = 0; xx < ow; xx++)
              for (let ch = 0; ch < c; ch++) {
                let m = -Infinity;
                let sum = 0;
                let cnt = 0;
                for (let ky = 0; ky < k[0]; ky++)
                  for (let kx = 0; kx < k[1]; kx++) {
                    const iy = y * s[0] - p[0] + ky;
                    const ix = xx * s[1] - p[1] + kx;
                    if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                    const v = a.data[((b * h + iy) * wd + ix) * c + ch];
                    m = Math.max(m, v);
                    sum += v;
                    cnt++;
                  }
                o[((b * oh + y) * ow + xx) * c + ch] = node.op === 'maxpool' ? m : sum / cnt;
              }
        out = { shape: [oh, ow, c], data: o };
        break;
      }
      case 'gap': {
        const [h, wd, c] = a.shape;
        const o = new Float32Array(n * c);
        for (let b = 0; b < n; b++)
          for (let ch = 0; ch < c; ch++) {
            let sum = 0;
            for (let i = 0; i < h * wd; i++) sum += a.data[(b * h * wd + i) * c + ch];
            o[b * c + ch] = sum / (h * wd);
          }
        out = { shape: [c], data: o };
        break;
      }
      case 'flatten': {
        if (a.shape.length === 1) {
          out = a;
          break;
        }
        const [h, wd, c] = a.shape;
        const o = new Float32Array(a.data.length);
        for (let b = 0; b < n; b++)
          for (let y = 0; y < h; y++) for (let xx = 0; xx < wd; xx++) for (let ch = 0; ch < c; ch++) o[b * per + (ch * h + y) * wd + xx] = a.data[b * per + (y * wd + xx) * c + ch];
        out = { shape: [per], data: o };
        break;
      }
      case 'dense': {
        const K = get(`${node.name}/kernel`).data;
        const B = node.bias ? get(`${node.name}/bias`).data : null;
        const o = new Float32Array(n * node.units);
        for (let b = 0; b < n; b++)
          for (let u = 0; u < node.units; u++) {
            let acc = B ? B[u] : 0;
            for (let i = 0; i < per; i++) acc += a.data[b * per + i] * K[i * node.units + u];
            o[b * node.units + u] = acc;
          }
        out = { shape: [node.units], data: o };
        break;
      }
      case 'add': {
        const b2 = vals.get(node.inputs[1])!;
        out = { shape: a.shape, data: a.data.map((v, i) => v + b2.data[i]) };
        break;
      }
      case 'concat': {
        const parts = node.inputs.map((i) => vals.get(i)!);
        const cs = parts.map((q) => q.shape[q.shape.length - 1]);
        const ctot = cs.reduce((p, q) => p + q, 0);
        const cells = per / cs[0];
        const o = new Float32Array(n * cells * ctot);
        for (let r = 0; r < n * cells; r++) {
          let off = 0;
          parts.forEach((q, j) => {
            for (let ch = 0; ch < cs[j]; ch++) o[r * ctot + off + ch] = q.data[r * cs[j] + ch];
            off += cs[j];
          });
        }
        out = { shape: [...a.shape.slice(0, -1), ctot], data: o };
        break;
      }
    }
    vals.set(node.name, out);
  }
  return vals.get(g.output ?? g.nodes[g.nodes.length - 1].name)!.data;
}
