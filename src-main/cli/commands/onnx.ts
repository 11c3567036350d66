/** ONNX commands: export (parity-checked), infer (onnxruntime-node on a dataset), bench-infer. */
import { CHECKPOINT_HELP } from '../../contract/checkpoint';
import type { ExportResult, InferBenchResult, InferResult } from '../../contract/onnx';
import { inferFile } from '../../services/onnx';
import { intFlag, parse, UsageError, checkpointFlag } from '../args';
import { existsSync, readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { globalOptions, out, withServices, workspaceDir, writeOutFile, type Command } from '../common';

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;

export const exportCmd: Command = {
  name: 'export',
  summary: 'export a run to ONNX (best checkpoint, else last), verified against tfjs on real test images',
  usage:
    'normlab export RUN [--out FILE.onnx [--force]] [--fold-bn] [--opset N] [--bake-normalization] [--checkpoint best|last|recalibrated] [--json] [--workspace DIR]\n\n' +
    '  --out FILE.onnx          a copy here (the export itself stays in the run\'s exports/ folder); FILE.onnx.json gets the parity check and audit.\n' +
    '                           Never overwrites an existing file without --force, never writes through a symbolic link\n' +
    '  --fold-bn                fold each batch norm into the conv or dense layer before it (W\' = W·γ/σ, b\' = β − γ·μ/σ)\n' +
    '  --opset N                ONNX opset 13–21 (default 17: LayerNormalization; 21: GroupNormalization)\n' +
    '  --bake-normalization     put (x − mean)/std in the graph: the model then takes raw pixels in [0, 1]\n' +
    `  --checkpoint TAG         ${CHECKPOINT_HELP}`,
  async run(argv) {
    const { values, positionals } = parse(argv, {
      ...globalOptions,
      out: { type: 'string' },
      'fold-bn': { type: 'boolean' },
      opset: { type: 'string' },
      'bake-normalization': { type: 'boolean' },
      checkpoint: { type: 'string' },
      force: { type: 'boolean' },
    });
    if (positionals.length !== 1) throw new UsageError('give exactly one run id');
    const checkpoint = values.checkpoint as string | undefined;
    const outFile = values.out as string | undefined;
    const tag = checkpointFlag(checkpoint);
    if (outFile !== undefined && !outFile.toLowerCase().endsWith('.onnx')) throw new UsageError(`--out must name a .onnx file, got "${outFile}"`);
    const force = Boolean(values.force);
    const target = outFile ? resolve(outFile) : undefined;
    if (target && !force && existsSync(target)) throw new Error(`${target} exists; add --force to overwrite it`);
    const req = {
      runId: positionals[0],
      ...(target ? { name: basename(target) } : {}),
      foldBn: Boolean(values['fold-bn']),
      bakeNormalization: Boolean(values['bake-normalization']),
      ...(values.opset !== undefined ? { opset: intFlag('opset', values.opset, 13, 21) } : {}),
      ...(tag ? { checkpoint: tag } : {}),
    };
    let r = (await withServices(workspaceDir(values.workspace), (s) => s.handle('onnx.export', req))) as ExportResult;
    if (target) {
      // The copy the user asked for, and its report beside it.
      writeOutFile(target, readFileSync(r.file), force);
      r = { ...r, file: target, name: basename(target), reportFile: `${target}.json` };
      writeOutFile(`${target}.json`, JSON.stringify(r, null, 1), force);
    }
    if (values.json) {
      out(JSON.stringify({ file: r.file, report: r.reportFile, run_id: r.runId, checkpoint: r.checkpoint, epoch: r.epoch, ...r.options,
        parity: r.parity, params: r.audit.params, ops: r.audit.ops, bytes: r.audit.bytes }));
      return 0;
    }
    out(`wrote ${r.file} (${(r.audit.bytes / 1024).toFixed(1)} KiB, opset ${r.options.opset}, ${r.checkpoint} checkpoint of epoch ${r.epoch}${r.options.foldBn ? ', BN folded' : ''}${r.options.bakeNormalization ? ', normalization baked in' : ''})`);
    out(`parity     max |Δp| ${r.parity.maxAbsDiff.toExponential(2)} ≤ ${r.parity.tolerance} on ${r.parity.images} ${r.parity.dataset} images; argmax agreement ${pct(r.parity.argmaxAgreement)}`);
    out(`graph      ${Object.entries(r.audit.ops).map(([k, v]) => `${k}×${v}`).join(' ')}; ${r.audit.params} parameters`);
    for (const b of r.audit.batchNorms) out(`bn         ${b.layer}: ε ${b.epsilon}, momentum ${b.momentum ?? '—'}${b.folded ? ` (folded into ${b.into})` : ''}`);
    if (r.audit.dropoutRemoved.length) out(`dropout    removed: ${r.audit.dropoutRemoved.join(', ')}`);
    out(`opset      ${r.audit.opsetReason}`);
    out(`report     ${r.reportFile}`);
    return 0;
  },
};

export const inferCmd: Command = {
  name: 'infer',
  summary: 'run an .onnx through onnxruntime-node on a dataset\'s test split: accuracy, loss, images/s',
  usage:
    'normlab infer FILE.onnx --data mnist|mnist-sample|fashion-mnist|DIR [--limit N] [--threads N] [--batch N] [--json]\n\n' +
    '  Inputs are normalized with the mean/std in the model\'s metadata (none when it was baked in).',
  async run(argv) {
    const { values, positionals } = parse(argv, {
      ...globalOptions,
      data: { type: 'string' },
      limit: { type: 'string' },
      threads: { type: 'string' },
      batch: { type: 'string' },
    });
    if (positionals.length !== 1) throw new UsageError('give exactly one .onnx file');
    if (!values.data) throw new UsageError('--data is required (mnist, mnist-sample, fashion-mnist or a folder of IDX files)');
    // ORT needs no engine worker, so this door calls the service function directly (no tfjs start-up).
    const r: InferResult = await inferFile(positionals[0], values.data as string, {
      limit: intFlag('limit', values.limit, 0, 10_000_000),
      threads: intFlag('threads', values.threads, 1, 64),
      batch: intFlag('batch', values.batch, 1, 8192),
    });
    if (values.json) {
      out(JSON.stringify({ file: r.file, dataset: r.dataset, images: r.images, accuracy: r.accuracy, loss: r.loss,
        images_per_s: Math.round(r.imagesPerSecond), batch: r.batch, threads: r.threads, normalization: r.normalization }));
      return 0;
    }
    out(`${r.file} on ${r.dataset} (${r.images} test images, inputs ${r.normalization === 'metadata' ? 'normalized with the metadata mean/std' : r.normalization === 'baked' ? 'raw: normalization baked in' : 'raw: no mean/std in the metadata'})`);
    out(`accuracy ${pct(r.accuracy)}  loss ${r.loss.toFixed(4)}  ${Math.round(r.imagesPerSecond)} images/s (batch ${r.batch}, ${r.threads} thread${r.threads > 1 ? 's' : ''})`);
    return 0;
  },
};

export const benchInferCmd: Command = {
  name: 'bench-infer',
  summary: 'inference images/s of a run: tfjs predict vs ONNX Runtime (BN kept, BN folded), threads 1 and 2',
  usage: 'normlab bench-infer RUN [--batch 128] [--json] [--workspace DIR]',
  async run(argv) {
    const { values, positionals } = parse(argv, { ...globalOptions, batch: { type: 'string' } });
    if (positionals.length !== 1) throw new UsageError('give exactly one run id');
    const batch = intFlag('batch', values.batch, 1, 4096);
    const r = (await withServices(workspaceDir(values.workspace), (s) =>
      s.handle('onnx.bench', { runId: positionals[0], ...(batch ? { batch } : {}) }),
    )) as InferBenchResult;
    if (values.json) {
      out(JSON.stringify({ run_id: r.runId, backend: r.backend, batch: r.batch, images: r.images,
        rows: r.rows.map((x) => ({ engine: x.engine, threads: x.threads, images_per_s: Math.round(x.imagesPerSecond), ms_per_batch: Number(x.msPerBatch.toFixed(3)) })) }));
      return 0;
    }
    out(`run ${r.runId}, batch ${r.batch}, ${r.images} real test images`);
    for (const x of r.rows) out(`  ${x.label.padEnd(34)} ${x.threads === null ? '   ' : `${x.threads}t `} ${String(Math.round(x.imagesPerSecond)).padStart(8)} images/s  ${x.msPerBatch.toFixed(2)} ms/batch`);
    return 0;
  },
};

export const ONNX_COMMANDS: Command[] = [exportCmd, inferCmd, benchInferCmd];
