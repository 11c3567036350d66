/**
 * Optimizers with PyTorch's update formulas (so runs compare with torch_reference.py), their
 * serializable state, and learning-rate schedules.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ownedVariable } from './layers';
import type { OptimizerKind, TrainSettings } from '../contract/settings';
import { effectiveLr } from '../contract/settings';
import type { NamedWeights, TrainState } from './model-types';

export interface OptimizerConfig {
  kind: OptimizerKind;
  /** SGD momentum; β1 for Adam/AdamW. */
  momentum: number;
  nesterov: boolean;
  /** Decoupled weight decay (SGDW / AdamW): w ← w − lr·wd·w before the step. */
  weightDecay: number;
  beta2?: number;
  eps?: number;
}

/** A parameter the optimizer updates; `decay` says whether decoupled weight decay applies to it. */
export interface OptParam {
  name: string;
  variable: tf.Variable;
  decay: boolean;
}

/**
 * SGD: buf = μ·buf + g (dampening 0; buf starts at g as in PyTorch), step = g + μ·buf (Nesterov)
 * or buf; w ← w − lr·step.
 * Adam/AdamW: m = β1·m + (1−β1)·g, v = β2·v + (1−β2)·g², w ← w − lr·(m/(1−β1ᵗ)) / (√(v/(1−β2ᵗ)) + ε).
 * Weight decay is decoupled for every kind (w ← w·(1 − lr·wd) first, PyTorch's AdamW order):
 * with SGD that is SGDW; 'adam' with weightDecay > 0 therefore behaves as AdamW (coupled L2 is
 * the separate `l2` loss term).
 */
export class Optimizer {
  /** Steps taken (PyTorch's per-parameter `step`, the same for all parameters here). */
  step = 0;
  private readonly slots = new Map<string, tf.Variable>();
  private readonly beta2: number;
  private readonly eps: number;

  constructor(
    readonly config: OptimizerConfig,
    private readonly params: OptParam[],
  ) {
    this.beta2 = config.beta2 ?? 0.999;
    this.eps = config.eps ?? 1e-8;
    for (const p of params) {
      for (const s of this.slotNames()) this.slots.set(`${s}/${p.name}`, ownedVariable(() => tf.zerosLike(p.variable), false));
    }
  }

  private slotNames(): string[] {
    if (this.config.kind === 'sgd') return this.config.momentum > 0 ? ['momentum'] : [];
    return ['m', 'v'];
  }

  /** One update with gradients by parameter name (missing gradient = parameter not touched by the loss). */
  apply(grads: Record<string, tf.Tensor>, lr: number): void {
    this.step += 1;
    const { kind, momentum, nesterov, weightDecay } = this.config;
    const t = this.step;
    tf.tidy(() => {
      for (const p of this.params) {
        const g = grads[p.name];
        if (!g) continue;
        let w: tf.Tensor = p.variable;
        if (weightDecay > 0 && p.decay) w = tf.mul(w, 1 - lr * weightDecay);
        if (kind === 'sgd') {
          let d: tf.Tensor = g;
          if (momentum > 0) {
            const buf = this.slots.get(`momentum/${p.name}`)!;
            const nb = tf.add(tf.mul(buf, momentum), g);
            buf.assign(nb);
            d = nesterov ? tf.add(g, tf.mul(nb, momentum)) : nb;
          }
          p.variable.assign(tf.sub(w, tf.mul(d, lr)));
        } else {
          const b1 = momentum;
          const m = this.slots.get(`m/${p.name}`)!;
          const v = this.slots.get(`v/${p.name}`)!;
          const nm = tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1));
          const nv = tf.add(tf.mul(v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
          m.assign(nm);
          v.assign(nv);
          const bc1 = 1 - Math.pow(b1, t);
          const bc2 = 1 - Math.pow(this.beta2, t);
          const denom = tf.add(tf.div(tf.sqrt(nv), Math.sqrt(bc2)), this.eps);
          p.variable.assign(tf.sub(w, tf.mul(tf.div(nm, denom), lr / bc1)));
        }
      }
    });
  }

  /** Serializable state for TrainState.optimizer. */
  getState(): TrainState['optimizer'] {
    const slots: NamedWeights = {};
    for (const [name, v] of this.slots) slots[name] = { shape: [...v.shape], data: new Float32Array(v.dataSync() as Float32Array) };
    return { kind: this.config.kind, step: this.step, slots };
  }

  /** Restores state saved by getState(); the optimizer kind and slot shapes must match. */
  setState(s: TrainState['optimizer']): void {
    if (s.kind !== this.config.kind) throw new Error(`optimizer state: saved for "${s.kind}", this run uses "${this.config.kind}"`);
    for (const [name, v] of this.slots) {
      const src = s.slots[name];
      if (!src) throw new Error(`optimizer state: slot "${name}" is missing`);
      if (src.data.length !== v.size) throw new Error(`optimizer state: slot "${name}" has ${src.data.length} values, needs ${v.size}`);
    }
    for (const [name, v] of this.slots) tf.tidy(() => v.assign(tf.tensor(s.slots[name].data, v.shape, 'float32')));
    this.step = s.step;
  }

  dispose(): void {
    for (const v of this.slots.values()) v.dispose();
    this.slots.clear();
  }
}

/**
 * Learning rate at a step (epoch 0-based, step within the epoch 0-based), after the linear
 * scaling rule.
 * - constant: lr.
 * - step: lr·γ^⌊epoch/stepEvery⌋.
 * - onecycle: per step, linear warm-up over the first 30% of all steps from lr/25 (PyTorch's
 *   OneCycleLR div_factor) to lr, then cosine annealing to lr/1e4 at the last step.
 */
export function lrAt(
  s: Pick<TrainSettings, 'lr' | 'batch' | 'linearScaling' | 'schedule' | 'stepEvery' | 'stepGamma' | 'epochs'>,
  epoch: number,
  step: number,
  stepsPerEpoch: number,
): number {
  const base = effectiveLr(s);
  switch (s.schedule) {
    case 'constant':
      return base;
    case 'step':
      return base * Math.pow(s.stepGamma, Math.floor(epoch / s.stepEvery));
    case 'onecycle': {
      const total = Math.max(1, s.epochs * stepsPerEpoch);
      const t = epoch * stepsPerEpoch + step;
      const warm = Math.max(1, Math.round(0.3 * total));
      const start = base / 25;
      const end = base / 1e4;
      if (t < warm) return start + ((base - start) * t) / warm;
      const span = Math.max(1, total - 1 - warm);
      const p = Math.min(1, (t - warm) / span);
      return end + ((base - end) * (1 + Math.cos(Math.PI * p))) / 2;
    }
    default:
      throw new Error(`unknown learning-rate schedule ${JSON.stringify(s.schedule)}`);
  }
}
