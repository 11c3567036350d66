/**
 * Losses, L1/L2 penalties and gradient clipping.
 *
 * The penalties' gradients are added to the data gradients directly (λ₁·sign(w), 2λ₂·w) rather
 * than differentiated through the loss: the same update as PyTorch's loss + λΣ|w| backward
 * (sign(0) = 0 as in torch), without extra autodiff work.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { ClipKind, LossKind } from '../contract/settings';

/**
 * Mean loss over the batch. 'ce' = softmax cross-entropy; 'mse' = mean over classes and batch of
 * (softmax(logits) − onehot)².
 */
export function lossFn(kind: LossKind, logits: tf.Tensor2D, onehot: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    if (kind === 'ce') return tf.neg(tf.mean(tf.sum(tf.mul(onehot, tf.logSoftmax(logits)), 1))) as tf.Scalar;
    if (kind === 'mse') return tf.mean(tf.squaredDifference(tf.softmax(logits), onehot)) as tf.Scalar;
    throw new Error(`unknown loss ${JSON.stringify(kind)}; use ce or mse`);
  });
}

export interface Penalty {
  l1: number;
  l2: number;
}

/** λ₁Σ|w| + λ₂Σw² over the given tensors, as a scalar tensor. */
export function penaltyValue(weights: tf.Tensor[], p: Penalty): tf.Scalar {
  return tf.tidy(() => {
    let total: tf.Tensor = tf.scalar(0);
    for (const w of weights) {
      if (p.l1 > 0) total = tf.add(total, tf.mul(tf.sum(tf.abs(w)), p.l1));
      if (p.l2 > 0) total = tf.add(total, tf.mul(tf.sum(tf.square(w)), p.l2));
    }
    return total as tf.Scalar;
  });
}

/** Gradient of the penalty for one tensor added to its data gradient: g + λ₁·sign(w) + 2λ₂·w. */
export function addPenaltyGrad(g: tf.Tensor, w: tf.Tensor, p: Penalty): tf.Tensor {
  return tf.tidy(() => {
    let out = g;
    if (p.l1 > 0) out = tf.add(out, tf.mul(tf.sign(w), p.l1));
    if (p.l2 > 0) out = tf.add(out, tf.mul(w, 2 * p.l2));
    return out;
  });
}

/** √(Σ‖g‖²) over all gradients, as a scalar tensor. */
export function globalNorm(grads: tf.Tensor[]): tf.Scalar {
  return tf.tidy(() => {
    let s: tf.Tensor = tf.scalar(0);
    for (const g of grads) s = tf.add(s, tf.sum(tf.square(g)));
    return tf.sqrt(s) as tf.Scalar;
  });
}

/**
 * Clips gradients in the graph (no read-back). 'norm': scale all by min(1, max/(‖g‖+1e-6))
 * (PyTorch's clip_grad_norm_); 'value': clamp each element to ±threshold (clip_grad_value_).
 * Returns the clipped gradients, the pre-clip global norm and a 0/1 flag "was clipped".
 */
export function clipGrads(grads: tf.Tensor[], kind: ClipKind, threshold: number): { grads: tf.Tensor[]; norm: tf.Scalar; clipped: tf.Scalar } {
  return tf.tidy(() => {
    const norm = globalNorm(grads);
    if (kind === 'none') return { grads: grads.map((g) => g.clone()), norm, clipped: tf.scalar(0) };
    if (kind === 'norm') {
      const scale = tf.minimum(tf.scalar(1), tf.div(threshold, tf.add(norm, 1e-6)));
      return { grads: grads.map((g) => tf.mul(g, scale)), norm, clipped: tf.cast(tf.greater(norm, threshold), 'float32') as tf.Scalar };
    }
    if (kind === 'value') {
      let maxAbs: tf.Tensor = tf.scalar(0);
      for (const g of grads) maxAbs = tf.maximum(maxAbs, tf.max(tf.abs(g)));
      return {
        grads: grads.map((g) => tf.clipByValue(g, -threshold, threshold)),
        norm,
        clipped: tf.cast(tf.greater(maxAbs, threshold), 'float32') as tf.Scalar,
      };
    }
    throw new Error(`unknown clipping ${JSON.stringify(kind)}; use none, norm or value`);
  });
}
