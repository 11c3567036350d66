/**
 * Both step engines for trainRun: onnxruntime (host/ort-trainer.ts, on onnx/'s training graph)
 * when the settings and the model allow it, else tfjs. This is where engine/ and onnx/ meet, so
 * neither imports the other; every caller that trains (worker jobs, CLI through services, tests,
 * benches) uses `trainRun` from here.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { EngineChoice, StepEngine, StepEngineContext, StepEngineFactory } from '../engine/step-engine';
import { applyUpdate, evaluate, tfjsStepEngine, trainRun as trainLoop } from '../engine/train';
import { ExportError } from '../onnx/export';
import { chooseEngine, gradTensors, OrtTrainer } from './ort-trainer';

/**
 * The onnxruntime step engine: forward and backward on onnxruntime, the update (penalties,
 * clipping, optimizer) on the model's tf variables with the code the tfjs engine uses.
 */
async function ortStepEngine(ctx: StepEngineContext, choice: EngineChoice): Promise<StepEngine> {
  const { model, params, optimizer, settings } = ctx;
  const trainer = await OrtTrainer.create(ctx.spec, settings.loss, choice.threads ?? 1);
  let updateMs = 0;
  // Eval-mode passes through onnxruntime (the model exported as `normlab export` does); a model
  // the exporter cannot express is evaluated on tfjs from then on.
  let ortEval = true;
  return {
    choice,
    async step({ x, labels, n, cfg, next }) {
      const r = await trainer.step(model, params, x, labels, n, cfg.dropoutSeed, next);
      const tUpdate = performance.now();
      const stats = tf.tidy(() => {
        const u = applyUpdate(params, optimizer, gradTensors(params, r.grads), cfg);
        return tf.stack([tf.scalar(r.loss), tf.scalar(r.correct), u.norm, u.clipped]) as tf.Tensor1D;
      });
      const [loss, correct, norm, clipped] = await stats.data();
      stats.dispose();
      updateMs += performance.now() - tUpdate;
      return { loss, correct, norm, clipped };
    },
    async evaluate(split, normalization) {
      if (ortEval) {
        try {
          return await trainer.evaluate(model, split, normalization, { batch: 500, loss: settings.loss });
        } catch (e) {
          if (!(e instanceof ExportError)) throw e;
          ortEval = false;
        }
      }
      return evaluate(model, split, normalization, { batch: 500, loss: settings.loss });
    },
    stepTiming() {
      const steps = trainer.timing.steps;
      if (steps === 0) return undefined;
      return Object.fromEntries(
        Object.entries({ ...trainer.timing, update: updateMs })
          .filter(([k]) => k !== 'steps')
          .map(([k, v]) => [k, Math.round((v / steps) * 100) / 100]),
      );
    },
    dispose: () => trainer.dispose(),
  };
}

/**
 * `engine: auto | tfjs | onnxruntime`: onnxruntime when chosen or when auto finds the model fits
 * its training graph; auto falls back to tfjs (with the reason) when onnxruntime cannot start.
 */
export const stepEngines: StepEngineFactory = async (ctx) => {
  const choice = chooseEngine(ctx.settings, ctx.spec);
  if (choice.engine === 'tfjs') return tfjsStepEngine(ctx, choice);
  try {
    return await ortStepEngine(ctx, choice);
  } catch (e) {
    if (ctx.settings.engine === 'onnxruntime') throw new Error(`engine onnxruntime could not start: ${(e as Error).message}`);
    return tfjsStepEngine(ctx, { engine: 'tfjs', reason: `onnxruntime could not start (${(e as Error).message.split('\n')[0]})` });
  }
};

/** engine/train.ts `trainRun` with both step engines (`options.engines` still overrides). */
export function trainRun(...[settings, data, hooks, resume, bestWeights, options]: Parameters<typeof trainLoop>): ReturnType<typeof trainLoop> {
  return trainLoop(settings, data, hooks, resume, bestWeights, { engines: stepEngines, ...options });
}
