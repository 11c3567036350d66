/**
 * Model specs are graphs (contract/model-graph.ts) with their placeholders resolved from the
 * run's settings (model/resolve.ts). Parameter names are stable ("conv1/kernel", "norm1/gamma",
 * "norm1/running_mean", …) because checkpoints, BN snapshots, weight histograms and the ONNX
 * exporter all key on them.
 */
import type { TrainSettings } from '../contract/settings';
import { newValueMomentum } from '../contract/settings';
import { readFileSync } from 'node:fs';
import { MODEL_PRESETS, type ModelGraph, type NormChoice, type ResolvedGraph } from '../contract/model-graph';
import { countParams as graphParams, describeIssue, inferShapes, isPreset, presetGraph, resolveGraph, summarize, validateGraph } from '../model';

/** A model the engines train: a resolved graph. */
export type ModelSpec = ResolvedGraph;
export type NormSpec = NormChoice;

/** Momentum of a BN spec as PyTorch states it (weight on the new batch value); null = cumulative. */
export function specMomentumNew(n: Extract<NormSpec, { kind: 'batch' | 'ghost' }>): number | null {
  return newValueMomentum({ bnConvention: n.convention, bnMomentum: n.momentum });
}

export type NetOptions = Pick<
  TrainSettings,
  'norm' | 'ghostBatch' | 'groups' | 'bnPosition' | 'bnConvention' | 'bnMomentum' | 'bnEps' | 'convBias' | 'dropout'
>;

/**
 * The S5 net (8.9k parameters with BN and no conv bias) as the `s5` preset resolved with the
 * settings; see model/presets.ts.
 */
export function s5Spec(o: NetOptions, input: [number, number, number] = [28, 28, 1], classes = 10): ModelSpec {
  return resolveGraph(presetGraph('s5', o, input, classes), o);
}

/** Trainable parameter count of a spec (running statistics excluded). */
export function countParams(spec: ModelSpec): number {
  return graphParams(spec);
}

/** Output shape of each node, in node order ([h, w, c], or [units] after gap/flatten/dense). */
export function layerShapes(spec: ModelSpec): number[][] {
  const shapes = inferShapes(spec);
  return spec.nodes.map((n) => shapes[n.name]);
}

/**
 * Multiply-accumulates of one image's forward pass through the convolutions and dense layers
 * (norms, activations and pooling left out: they are elementwise and a few percent of the work).
 * The speed ceiling in bench/onnx-bench.ts divides a measured GFLOP/s by 2 × this.
 */
export function forwardMacs(spec: ModelSpec): number {
  return summarize(spec).totalMacs;
}

/**
 * The graph a run trains: its `model` setting (a preset, or the path of a model JSON file) for
 * the dataset's input shape and classes, placeholders resolved from the settings, validated.
 * Errors name the file, the node and the shape that does not fit.
 */
export function specForSettings(
  settings: NetOptions & Pick<TrainSettings, 'model'>,
  input: [number, number, number],
  classes: number,
): ModelSpec {
  const model = settings.model || 's5';
  let graph: ModelGraph;
  let where = `model ${model}`;
  if (isPreset(model)) {
    graph = presetGraph(model, settings, input, classes);
  } else {
    where = `model file ${model}`;
    let text: string;
    try {
      text = readFileSync(model, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new Error(`${where}: ${code === 'ENOENT' ? `not found (presets: ${MODEL_PRESETS.join(', ')})` : (e as Error).message}`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw new Error(`${where}: not valid JSON (${(e as Error).message})`);
    }
    const issues = validateGraph(parsed);
    if (issues.length) throw new Error(`${where}: ${issues.map(describeIssue).join('; ')}`);
    graph = parsed as ModelGraph;
    const fits = graph.input.every((d, i) => d === input[i]);
    if (!fits) throw new Error(`${where}: input is [${graph.input.join(', ')}] but the dataset's images are [${input.join(', ')}]`);
    if (graph.classes !== classes) throw new Error(`${where}: classes is ${graph.classes} but the dataset has ${classes}`);
  }
  const resolved = resolveGraph(graph, settings);
  const issues = validateGraph(resolved);
  if (issues.length) throw new Error(`${where} with these settings: ${issues.map(describeIssue).join('; ')}`);
  return resolved;
}
