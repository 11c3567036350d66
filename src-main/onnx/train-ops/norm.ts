/**
 * norm: batch, ghost, layer and group normalization, on images [N, C, H, W] and after a dense
 * layer on vectors [N, C] (BatchNorm1d; worked as [N, C, 1, 1], as the tfjs lowering does).
 *   BN     dγ = Σ dY·x̂, dβ = Σ dY, dX = γ/σ · (dY − dβ/M − x̂·dγ/M), M = N·H·W; forward and
 *          backward each end in a BatchNormalization op used as a per-channel scale-and-shift
 *   ghost BN  the same per virtual batch: the means over a virtual batch's images are products
 *          with ghost_avg, broadcast back to its images with ghost_ind
 *   layer / group norm  per image and group of C/G channels (layer: G = 1), g = dY·γ:
 *          dX = 1/σ · (g − mean(g) − x̂·mean(g·x̂)); dγ, dβ as for BN
 * Batch and ghost BN output their batch statistics (`mean:<node>`, `var:<node>`, biased
 * variance; [C], or [G, C] for ghost BN) for the caller to fold into the running statistics.
 */
import type { StepBuilder, TrainLowering } from './builder';

export const norm: TrainLowering<'norm'> = {
  forward(node, [xIn], shapes, b) {
    const name = node.name;
    const s = shapes.in[0];
    const vector = s.length === 1;
    const c = s[s.length - 1];
    const perImage = vector ? 1 : s[0] * s[1];
    const x = vector ? b.n('Reshape', name, [xIn, b.nc11()]) : xIn;
    const n = (op: string, ins: string[], attrs: Parameters<StepBuilder['n']>[3] = [], out?: string) => b.n(op, name, ins, attrs, out);
    const gamma = b.param({ name: `${name}/gamma`, shape: [c] });
    const beta = b.param({ name: `${name}/beta`, shape: [c] });
    const gammaC11 = () => n('Reshape', [gamma, b.channelShape()]);
    const affine = (xhat: string, gr: string) => n('Add', [n('Mul', [xhat, gr]), n('Reshape', [beta, b.channelShape()])]);
    const invStd = (variance: string) => n('Reciprocal', [n('Sqrt', [n('Add', [variance, b.scalar(`${name}/eps`, node.norm.eps)])])]);
    const out = (y4: string) => (vector ? n('Reshape', [y4, b.flat()]) : y4);
    const gradIn = (dx4: string) => (vector ? n('Reshape', [dx4, b.flat()]) : dx4);
    const gradOut = (dy: string) => (vector ? n('Reshape', [dy, b.nc11()]) : dy);
    const spec = node.norm;

    if (spec.kind === 'layer' || spec.kind === 'group') {
      // Per image over [N, G, C/G·H·W] (layer norm: one group), affine per channel.
      const groups = spec.kind === 'layer' ? 1 : spec.groups;
      const lastAxis = [{ name: 'axes', ints: [2] }];
      const shapeNg = b.ints(`${name}/shape_ng`, [0, groups, -1]);
      const xg = n('Reshape', [x, shapeNg]);
      const mean = n('ReduceMean', [xg], lastAxis);
      const xc = n('Sub', [xg, mean]);
      const inv = invStd(n('ReduceMean', [n('Mul', [xc, xc])], lastAxis));
      const xhatG = n('Mul', [xc, inv]);
      const xhat = n('Reshape', [xhatG, n('Shape', [x])]);
      const gr = gammaC11();
      return {
        y: out(affine(xhat, gr)),
        backward(dyIn, [needX]) {
          const dy = gradOut(dyIn);
          b.sumNhw(name, dy, `grad:${name}/beta`);
          b.sumNhw(name, n('Mul', [dy, xhat]), `grad:${name}/gamma`);
          if (!needX) return [null];
          const gy = n('Reshape', [n('Mul', [dy, gr]), shapeNg]);
          const m1 = n('ReduceMean', [gy], lastAxis);
          const m2 = n('ReduceMean', [n('Mul', [gy, xhatG])], lastAxis);
          const dxG = n('Mul', [inv, n('Sub', [n('Sub', [gy, m1]), n('Mul', [xhatG, m2])])]);
          return [gradIn(n('Reshape', [dxG, n('Shape', [x])]))];
        },
      };
    }

    if (spec.kind === 'ghost') {
      // Per virtual batch: per-image spatial means, averaged over the virtual batch (ghost_avg),
      // broadcast back to its images (ghost_ind).
      const vb = spec.virtualBatch;
      const { avg, ind } = b.ghost(vb);
      const hwMean = (v: string) => n('ReduceMean', [v], [{ name: 'axes', ints: [2, 3] }, { name: 'keepdims', i: 0 }]);
      const toImages = (groupRows: string) => n('Reshape', [n('MatMul', [ind, groupRows]), b.nc11()]);
      const mean = n('MatMul', [avg, hwMean(x)], [], `mean:${name}`);
      const xc = n('Sub', [x, toImages(mean)]);
      const variance = n('MatMul', [avg, hwMean(n('Mul', [xc, xc]))], [], `var:${name}`);
      const inv = toImages(invStd(variance));
      const xhat = n('Mul', [xc, inv]);
      const gr = gammaC11();
      b.output(`mean:${name}`, ['G', c]);
      b.output(`var:${name}`, ['G', c]);
      b.batchNorms.push({ name, channels: c, perImage, virtualBatch: vb });
      return {
        y: out(affine(xhat, gr)),
        backward(dyIn, [needX]) {
          const dy = gradOut(dyIn);
          b.sumNhw(name, dy, `grad:${name}/beta`);
          const dyXhat = n('Mul', [dy, xhat]);
          b.sumNhw(name, dyXhat, `grad:${name}/gamma`);
          if (!needX) return [null];
          // dX = γ/σ_g · (dY − mean_g(dY) − x̂·mean_g(dY·x̂)), means over each virtual batch.
          const groupMean = (v: string) => toImages(n('MatMul', [avg, hwMean(v)]));
          const inner = n('Sub', [n('Sub', [dy, groupMean(dy)]), n('Mul', [xhat, groupMean(dyXhat)])]);
          return [gradIn(n('Mul', [inner, n('Mul', [gr, inv])]))];
        },
      };
    }

    // Batch BN. The centred input xc is the one full-size tensor kept for the backward pass; the
    // scale-and-shift xc·γ/σ + β is one BatchNormalization pass fed the batch statistics (mean 0,
    // since xc is centred), instead of three passes (·1/σ, ·γ, +β) over a stored x̂.
    const axes = [{ name: 'axes', ints: [0, 2, 3] }];
    const mean = n('ReduceMean', [x], axes);
    const xc = n('Sub', [x, mean]);
    const variance = n('ReduceMean', [n('Mul', [xc, xc])], axes);
    const flatC = b.ints(`${name}/shape_c`, [c]);
    n('Reshape', [mean, flatC], [], `mean:${name}`);
    const varC = n('Reshape', [variance, flatC], [], `var:${name}`);
    b.output(`mean:${name}`, [c]);
    b.output(`var:${name}`, [c]);
    b.batchNorms.push({ name, channels: c, perImage });
    const zeros = b.floats(`${name}/zeros`, [c], new Float32Array(c));
    const bn = (t: string, scale: string, shift: string, v: string, eps: number) =>
      n('BatchNormalization', [t, scale, shift, zeros, v], [{ name: 'epsilon', f: eps }]);
    const y = bn(xc, gamma, beta, varC, node.norm.eps);
    return {
      y: out(y),
      backward(dyIn, [needX]) {
        const dy = gradOut(dyIn);
        // With x̂ = xc/σ: dβ = Σ dY, dγ = Σ dY·x̂ = (1/σ)·Σ dY·xc and
        // dX = γ/σ · (dY − dβ/M − x̂·dγ/M) = k1·dY + (k2·xc + k3),
        // k1 = γ/σ, k2 = −k1·dγ/(σ·M), k3 = −k1·dβ/M (per channel); k2·xc + k3 is one
        // BatchNormalization pass (mean 0, variance 1, ε = 0).
        const inv = invStd(varC);
        const dbeta = b.sumNhw(name, dy, `grad:${name}/beta`);
        const dgamma = n('Mul', [b.sumNhw(name, n('Mul', [dy, xc])), inv], [], `grad:${name}/gamma`);
        if (!needX) return [null];
        const invM = n('Mul', [b.invN, b.scalar(`${name}/inv_hw`, 1 / perImage)]);
        const k1 = n('Mul', [gamma, inv]);
        const k1M = n('Neg', [n('Mul', [k1, invM])]);
        const k2 = n('Mul', [n('Mul', [k1M, dgamma]), inv]);
        const k3 = n('Mul', [k1M, dbeta]);
        const ones = b.floats(`${name}/ones`, [c], new Float32Array(c).fill(1));
        const dx = n('Add', [n('Mul', [dy, n('Reshape', [k1, b.channelShape()])]), bn(xc, k2, k3, ones, 0)]);
        return [gradIn(dx)];
      },
    };
  },
};
