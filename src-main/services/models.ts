/**
 * Model services: import a PyTorch ONNX export (graph + initial weights), describe a preset, a
 * file or JSON being edited (torchsummary table, every problem named), save edited graphs into
 * the workspace's models/ folder, list what the `model` setting can take.
 *
 * None of this needs the engine worker: graphs are small and the layer table is plain code, so
 * the doors (CLI included) call these functions directly.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { ApiError } from '../contract/api';
import { DEFAULT_SETTINGS } from '../contract/settings';
import { MODEL_PRESETS, type ModelGraph } from '../contract/model-graph';
import type { ModelDescribeResult, ModelEntry, ModelImportResult } from '../contract/model-api';
import { describeIssue, isPreset, paramSpecs, presetGraph, stateSpecs, summarize, validateGraph } from '../model';
import { ImportError, importOnnx } from '../onnx/import';
import { decodeWeights, encodeWeights } from '../store/checkpoint-format';
import { nodeFileLayer } from '../store/file-layer';
export { loadModelWeights } from '../store/model-weights';
import type { Feature } from './features';

const files = nodeFileLayer();
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/** The workspace folder where the Model view keeps imported and edited models. */
export function modelsDir(workspace: string): string {
  return join(workspace, 'models');
}

/** `x.json` → `x.weights` (the NLCK file an import writes beside the spec). */
export function weightsPathFor(spec: string): string {
  return spec.replace(/\.json$/i, '') + '.weights';
}

function safeName(s: string): string {
  const t = s.replace(/\.onnx$/i, '').replace(/[^A-Za-z0-9._-]/g, '_').replace(/^[._-]+/, '').slice(0, 100);
  return t || 'imported';
}

/**
 * Imports an .onnx: `file` (a path) or `bytes` (uploaded, named `name`). With `out`, writes the
 * spec there and, when weights are kept, the NLCK weights beside it (`out` minus .json plus
 * .weights), the spec naming them. Writes are atomic.
 * @throws ApiError 'invalid' with the importer's message (every unsupported op/attribute named).
 */
export function importModel(p: { file?: string; bytes?: Uint8Array; name?: string; weights?: 'keep' | 'reinit'; norm?: 'auto' | 'keep'; out?: string | null }): ModelImportResult {
  const keep = (p.weights ?? 'keep') === 'keep';
  let bytes: Uint8Array;
  let source: string;
  if (p.file) {
    source = resolve(p.file);
    if (!existsSync(source)) throw new ApiError('not-found', `${source}: file not found`);
    bytes = readFileSync(source);
  } else if (p.bytes) {
    source = p.name ?? 'uploaded.onnx';
    bytes = p.bytes;
  } else {
    throw new ApiError('invalid', 'model.import: give a file path or the file\'s bytes');
  }
  const name = safeName(p.name ?? basename(source));
  let r: ReturnType<typeof importOnnx>;
  try {
    r = importOnnx(bytes, source, { name, keepWeights: keep, norm: p.norm ?? 'auto' });
  } catch (e) {
    if (e instanceof ImportError) throw new ApiError('invalid', e.message);
    throw e;
  }
  let spec: string | null = null;
  let weightsFile: string | null = null;
  const graph: ModelGraph = { ...r.graph };
  if (p.out) {
    spec = resolve(p.out);
    if (!spec.toLowerCase().endsWith('.json')) throw new ApiError('invalid', `--out must name a .json file, got ${p.out}`);
    files.mkdir(dirname(spec));
    if (keep && r.weights) {
      weightsFile = weightsPathFor(spec);
      files.writeFileAtomic(weightsFile, encodeWeights(r.weights, weightsFile));
      graph.weights = basename(weightsFile);
    }
    files.writeFileAtomic(spec, JSON.stringify(graph, null, 1) + '\n');
  }
  const { torchKeys: _t, file: _f, ...report } = r.report;
  return { graph, summary: summarize(graph), spec, weightsFile, weights: keep ? 'keep' : 'reinit', report: { ...report, source } };
}

/** Reads a model JSON file (untrusted): the parsed value, or a one-line error naming the file. */
export function readModelFile(path: string): unknown {
  const abs = resolve(path);
  if (!existsSync(abs)) throw new ApiError('not-found', `${abs}: model file not found`);
  try {
    return JSON.parse(readFileSync(abs, 'utf8')) as unknown;
  } catch (e) {
    throw new ApiError('invalid', `${abs}: not valid JSON (${(e as Error).message})`);
  }
}

/** The table and problems of a graph given as a preset name, a JSON path, or a value being edited. */
export function describeModel(p: { model?: string; graph?: unknown }, cwd = process.cwd()): ModelDescribeResult {
  let source: string;
  let raw: unknown;
  if (p.graph !== undefined) {
    source = 'edited JSON';
    raw = p.graph;
  } else {
    const m = p.model ?? 's5';
    if (isPreset(m)) {
      const g = presetGraph(m, DEFAULT_SETTINGS);
      return { source: m, graph: g, summary: summarize(g), issues: [], hasWeights: false };
    }
    source = isAbsolute(m) ? m : resolve(cwd, m);
    if (!m.toLowerCase().endsWith('.json')) {
      throw new ApiError('invalid', `model "${m}" is neither a preset (${MODEL_PRESETS.join(', ')}) nor a .json file`);
    }
    raw = readModelFile(source);
  }
  const issues = validateGraph(raw);
  const graph = typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? (raw as ModelGraph) : null;
  const hasWeights = typeof graph?.weights === 'string' && graph.weights.length > 0;
  if (hasWeights && source !== 'edited JSON') {
    const w = resolve(dirname(source), graph!.weights!);
    if (!existsSync(w)) issues.push({ node: '', field: 'weights', message: `the weights file ${w} is missing` });
  }
  return { source, graph, summary: issues.length ? null : summarize(graph!), issues, hasWeights };
}

/** True when the NLCK file exists and holds every parameter and running statistic of `g` with its shape. */
export function weightsFit(file: string, g: ModelGraph): boolean {
  if (!existsSync(file)) return false;
  try {
    const w = decodeWeights(readFileSync(file), file);
    return [...paramSpecs(g), ...stateSpecs(g)].every((p) => w[p.name] && w[p.name].shape.join() === p.shape.join());
  } catch {
    return false;
  }
}

/** Saves a graph (validated) as models/NAME.json in the workspace. */
export function saveModel(workspace: string, name: string, graph: unknown): { path: string; summary: ReturnType<typeof summarize> } {
  if (!NAME_RE.test(name)) throw new ApiError('invalid', `model name "${name}": use letters, digits, . _ - (at most 100)`);
  const issues = validateGraph(graph);
  if (issues.length) throw new ApiError('invalid', `model "${name}" has ${issues.length} problem${issues.length === 1 ? '' : 's'}: ${issues.map(describeIssue).join('; ')}`);
  const g = { ...(graph as ModelGraph), name };
  const dir = modelsDir(workspace);
  const path = join(dir, `${name}.json`);
  files.mkdir(dir);
  // Initial weights stay with the spec only while they sit beside it and still fit every
  // parameter (an edit that changes a shape drops them: runs then start from the seeded init).
  if (g.weights && !weightsFit(join(dir, g.weights), g)) delete g.weights;
  files.writeFileAtomic(path, JSON.stringify(g, null, 1) + '\n');
  return { path, summary: summarize(g) };
}

/** The presets, then every readable model file in the workspace's models/ folder. */
export function listModels(workspace: string): ModelEntry[] {
  const out: ModelEntry[] = MODEL_PRESETS.map((m) => {
    const g = presetGraph(m, DEFAULT_SETTINGS);
    return { value: m, label: `${m} (preset)`, kind: 'preset', params: summarize(g).totalParams, hasWeights: false };
  });
  const dir = modelsDir(workspace);
  if (!existsSync(dir)) return out;
  for (const f of readdirSync(dir).sort()) {
    if (!f.endsWith('.json')) continue;
    const path = join(dir, f);
    try {
      const d = describeModel({ model: path });
      out.push({ value: path, label: f.replace(/\.json$/, ''), kind: 'file', params: d.summary?.totalParams ?? null, hasWeights: d.hasWeights });
    } catch {
      // A file being written or damaged: leave it out of the list rather than fail it.
    }
  }
  return out;
}

export const modelsFeature: Feature = (ctx) => ({
  'model.import': {
    schema: z
      .object({
        file: z.string().min(1).max(4096).optional(),
        base64: z.string().max(200_000_000).optional(),
        name: z.string().min(1).max(200).optional(),
        weights: z.enum(['keep', 'reinit']).optional(),
        norm: z.enum(['auto', 'keep']).optional(),
        out: z.string().min(1).max(4096).refine((s) => s.toLowerCase().endsWith('.json'), 'must end in .json').optional(),
      })
      .strict()
      .refine((p) => (p.file === undefined) !== (p.base64 === undefined), 'give exactly one of file and base64'),
    handler: async (p) => {
      const name = safeName(p.name ?? (p.file ? basename(p.file) : 'imported'));
      const out = p.out ?? join(modelsDir(ctx.workspace.root), `${name}.json`);
      return importModel({ file: p.file, bytes: p.base64 !== undefined ? Buffer.from(p.base64, 'base64') : undefined, name: p.name, weights: p.weights, norm: p.norm, out });
    },
  },
  'model.describe': {
    schema: z.object({ model: z.string().min(1).max(4096).optional(), graph: z.unknown().optional() }).strict(),
    handler: async (p) => describeModel(p),
  },
  'model.save': {
    schema: z.object({ name: z.string().min(1).max(100), graph: z.unknown() }).strict(),
    handler: async (p) => saveModel(ctx.workspace.root, p.name, p.graph),
  },
  'model.list': {
    schema: z.object({}).strict() as unknown as z.ZodType<Record<string, never>>,
    handler: async () => listModels(ctx.workspace.root),
  },
});
