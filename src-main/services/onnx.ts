/**
 * ONNX services: export (worker job, parity-checked), list/download/reveal exports, inference on
 * a dataset through onnxruntime-node (in this process: ORT runs natively off the JS thread), and
 * the inference benchmark (worker job, since it times tfjs too).
 */
import { CHECKPOINT_TAGS } from '../contract/checkpoint';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { ApiError } from '../contract/api';
import type { ExportResult, InferResult } from '../contract/onnx';
import { loadDataset } from '../data/dataset';
import { MAX_OPSET, MIN_OPSET } from '../onnx/export';
import { checkInputFits, openSession, runBatches, scoreProbabilities } from '../onnx/runtime';
import { nhwcToNchw } from '../onnx/io';
import { gatherBatch } from '../data/normalize';
import type { Feature } from './features';
import { runId } from './registry';

let revealer: ((path: string) => void) | null = null;

/**
 * Electron's main process installs `shell.showItemInFolder` here; browser mode and the CLI leave
 * it unset and `onnx.reveal` answers revealed = false with the path.
 */
export function setRevealHandler(fn: ((path: string) => void) | null): void {
  revealer = fn;
}

const exportName = z.string().regex(/^[A-Za-z0-9._-]{1,200}\.onnx$/, 'an export file name ending in .onnx');

function parseJsonArray(v: string | undefined, what: string, file: string): number[] | null {
  if (v === undefined) return null;
  try {
    const a = JSON.parse(v) as unknown;
    if (Array.isArray(a) && a.every((x) => typeof x === 'number' && Number.isFinite(x))) return a as number[];
  } catch {
    /* reported below */
  }
  throw new ApiError('invalid', `${file}: metadata "${what}" is not a list of numbers: ${v.slice(0, 100)}`);
}

/** Runs an .onnx over a dataset's test split: accuracy, loss and images/s. */
export async function inferFile(file: string, data: string, opts: { limit?: number; threads?: number; batch?: number } = {}): Promise<InferResult> {
  const path = resolve(file);
  const s = await openSession(path, { threads: opts.threads ?? 1 }).catch((e: Error) => {
    throw new ApiError('invalid', e.message);
  });
  try {
    const ds = await loadDataset(data);
    const { height, width, channels } = ds.info;
    try {
      checkInputFits(s, ds.info, ds.info.name);
    } catch (e) {
      throw new ApiError('invalid', (e as Error).message);
    }
    const count = Math.min(opts.limit && opts.limit > 0 ? opts.limit : ds.test.count, ds.test.count);
    const meta = s.info.metadata;
    const baked = meta.normalization_baked === 'true';
    const mean = baked ? null : parseJsonArray(meta.mean, 'mean', path);
    const std = baked ? null : parseJsonArray(meta.std, 'std', path);
    if (mean && std && (mean.length !== channels || std.length !== channels)) {
      throw new ApiError('invalid', `${path}: metadata mean/std have ${mean.length}/${std.length} values, the dataset has ${channels} channel(s)`);
    }
    if (std && std.some((v) => !(v > 0))) {
      throw new ApiError('invalid', `${path}: metadata "std" is ${JSON.stringify(std)}; every channel needs a standard deviation above 0 (dividing by it would give Infinity)`);
    }
    if ((mean === null) !== (std === null)) {
      throw new ApiError('invalid', `${path}: metadata has "${mean ? 'mean' : 'std'}" without "${mean ? 'std' : 'mean'}"; both or neither`);
    }
    const normalization: InferResult['normalization'] = baked ? 'baked' : mean && std ? 'metadata' : 'none';
    const idx = Int32Array.from({ length: count }, (_, i) => i);
    const nhwc = gatherBatch(ds.test.images, idx, 0, count, height * width * channels, mean && std ? mean : new Array(channels).fill(0), mean && std ? std : new Array(channels).fill(1));
    const batch = opts.batch ?? 128;
    const r = await runBatches(s, nhwcToNchw(nhwc, count, height, width, channels), count, batch);
    if (r.classes !== ds.info.classNames.length) {
      throw new ApiError('invalid', `${path}: the model gives ${r.classes} classes but ${ds.info.name} has ${ds.info.classNames.length}`);
    }
    let bad = 0;
    for (let i = 0; i < count; i++) {
      for (let c = 0; c < r.classes; c++) {
        if (!Number.isFinite(r.probabilities[i * r.classes + c])) {
          bad++;
          break;
        }
      }
    }
    if (bad > 0) {
      throw new ApiError('invalid', `${path}: the model's outputs are not finite (NaN or Infinity) for ${bad} of ${count} images; no accuracy or loss is reported for it`);
    }
    const score = scoreProbabilities(r.probabilities, r.classes, ds.test.labels, count);
    return {
      file: path,
      dataset: ds.info.name,
      images: count,
      accuracy: score.accuracy,
      loss: score.loss,
      imagesPerSecond: count / r.seconds,
      batch,
      threads: opts.threads ?? 1,
      seconds: r.seconds,
      normalization,
    };
  } finally {
    await s.session.release();
  }
}

export const onnxFeature: Feature = (ctx) => {
  const reportFor = (id: string, name: string): ExportResult => {
    const p = join(ctx.workspace.exportsDir(id), `${name}.json`);
    if (!existsSync(p)) throw new ApiError('not-found', `run ${id} has no export named ${name}`);
    return JSON.parse(readFileSync(p, 'utf8')) as ExportResult;
  };
  return {
    'onnx.export': {
      schema: z
        .object({
          runId,
          name: exportName.optional(),
          foldBn: z.boolean().optional(),
          opset: z.number().int().min(MIN_OPSET).max(MAX_OPSET).optional(),
          bakeNormalization: z.boolean().optional(),
          checkpoint: z.enum(CHECKPOINT_TAGS).optional(),
        })
        .strict(),
      handler: async (p) => {
        const run = ctx.workspace.requireIntact(p.runId, 'ONNX export');
        return ctx.runJob('onnx.export', p, { title: `Export ${run.name || run.id} to ONNX`, runId: run.id });
      },
    },
    'onnx.exports': {
      schema: z.object({ runId }).strict(),
      handler: async ({ runId: id }) => {
        const dir = ctx.workspace.exportsDir(id);
        const out: ExportResult[] = [];
        for (const n of readdirSync(dir)) {
          if (!n.endsWith('.onnx.json')) continue;
          try {
            out.push(JSON.parse(readFileSync(join(dir, n), 'utf8')) as ExportResult);
          } catch {
            // A report being written right now, or damaged: skip it rather than fail the list.
          }
        }
        return out.sort((a, b) => (a.created < b.created ? 1 : -1));
      },
    },
    'onnx.download': {
      schema: z.object({ runId, name: exportName }).strict(),
      handler: async ({ runId: id, name }) => {
        reportFor(id, name);
        // The file in the run's own exports folder, never a path read from the report.
        const file = join(ctx.workspace.exportsDir(id), name);
        if (!existsSync(file)) throw new ApiError('not-found', `${file}: the exported file is gone (moved or deleted)`);
        const bytes = readFileSync(file);
        return { name, base64: bytes.toString('base64'), bytes: bytes.length };
      },
    },
    'onnx.reveal': {
      schema: z.object({ runId, name: exportName }).strict(),
      handler: async ({ runId: id, name }) => {
        reportFor(id, name);
        const file = join(ctx.workspace.exportsDir(id), name);
        if (!existsSync(file)) throw new ApiError('not-found', `${file}: the exported file is gone (moved or deleted)`);
        if (!revealer) return { revealed: false, path: file };
        revealer(file);
        return { revealed: true, path: file };
      },
    },
    'onnx.infer': {
      schema: z
        .object({
          file: z.string().min(1).max(4096),
          data: z.string().min(1).max(4096),
          limit: z.number().int().min(0).max(10_000_000).optional(),
          threads: z.number().int().min(1).max(64).optional(),
          batch: z.number().int().min(1).max(8192).optional(),
        })
        .strict(),
      handler: async (p) => inferFile(p.file, p.data, p),
    },
    'onnx.bench': {
      schema: z
        .object({ runId, batch: z.number().int().min(1).max(4096).optional(), images: z.number().int().min(1).max(100_000).optional() })
        .strict(),
      handler: async (p) => {
        const run = ctx.workspace.requireIntact(p.runId, 'inference benchmark');
        return ctx.runJob('onnx.bench', p, { title: `Inference benchmark ${run.name || run.id}`, runId: run.id });
      },
    },
  };
};
