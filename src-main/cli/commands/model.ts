/** Model commands: import-model (PyTorch ONNX → model spec + initial weights), model (the torchsummary table). */
import type { ModelSummary } from '../../contract/model-graph';
import { formatShape } from '../../contract/model-api';
import { formatCount } from '../../contract/format';
import { describeIssue } from '../../model';
import { describeModel, importModel } from '../../services/models';
import { parse, UsageError } from '../args';
import { globalOptions, out, type Command } from '../common';

/** The torchsummary-style table, one line per node, then the totals. */
export function summaryLines(s: ModelSummary): string[] {
  const rows = s.rows.map((r) => [r.node, r.op, r.inputs.join(', '), formatShape(r.outputShape), formatCount(r.params), formatCount(r.macs)]);
  const head = ['node', 'op', 'inputs', 'output', 'params', 'MACs'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i >= 4 ? c.padStart(w[i]) : c.padEnd(w[i]))).join('  ').trimEnd();
  return [
    `model ${s.name}: input ${formatShape(s.input)}, ${s.classes} classes`,
    line(head),
    w.map((n) => '─'.repeat(n)).join('  '),
    ...rows.map(line),
    w.map((n) => '─'.repeat(n)).join('  '),
    `total ${formatCount(s.totalParams)} parameters, ${formatCount(s.totalMacs)} MACs per image`,
  ];
}

export const importModelCmd: Command = {
  name: 'import-model',
  summary: 'import a PyTorch torch.onnx.export file as a model spec (and its weights), or list every op it cannot take',
  usage:
    'normlab import-model FILE.onnx [--weights keep|reinit] [--norm auto|keep] [--out model.json] [--name NAME] [--json]\n\n' +
    '  --weights keep     (default) also write the file\'s weights as model.weights (NLCK) beside the spec; runs start from them\n' +
    '  --weights reinit   the architecture only: runs start from the seeded initialisation\n' +
    '  --norm auto        (default) each BatchNormalization follows the run\'s norm setting (studies swap it)\n' +
    '  --norm keep        batch norm with the file\'s epsilon and momentum, whatever the run\'s settings\n' +
    '  --out FILE.json    where to write the spec (default: FILE.json beside FILE.onnx)\n' +
    '  --name NAME        the model\'s name (default: the file name)\n\n' +
    '  Export from PyTorch with training=torch.onnx.TrainingMode.PRESERVE (module in eval mode) or\n' +
    '  TRAINING to keep BatchNorm as its own node; the default EVAL export folds BN into the conv.',
  async run(argv) {
    const { values, positionals } = parse(argv, { ...globalOptions, weights: { type: 'string' }, norm: { type: 'string' }, out: { type: 'string' }, name: { type: 'string' } });
    if (positionals.length !== 1) throw new UsageError('give exactly one .onnx file');
    const weights = (values.weights as string | undefined) ?? 'keep';
    if (weights !== 'keep' && weights !== 'reinit') throw new UsageError(`--weights expects keep or reinit, got "${weights}"`);
    const norm = (values.norm as string | undefined) ?? 'auto';
    if (norm !== 'auto' && norm !== 'keep') throw new UsageError(`--norm expects auto or keep, got "${norm}"`);
    const file = positionals[0];
    const outFile = (values.out as string | undefined) ?? file.replace(/\.onnx$/i, '') + '.json';
    if (!outFile.toLowerCase().endsWith('.json')) throw new UsageError(`--out must name a .json file, got "${outFile}"`);
    const r = importModel({ file, weights, norm, out: outFile, ...(values.name ? { name: values.name as string } : {}) });
    if (values.json) {
      out(JSON.stringify({ spec: r.spec, weights_file: r.weightsFile, weights: r.weights, params: r.summary.totalParams, graph: r.graph, report: r.report }));
      return 0;
    }
    out(`wrote ${r.spec}${r.weightsFile ? ` and ${r.weightsFile} (initial weights)` : ' (architecture only: runs start from the seeded initialisation)'}`);
    out(`from ${r.report.source} (${r.report.producer || 'unknown producer'}, opset ${r.report.opset}): ${Object.entries(r.report.onnxOps).map(([k, v]) => `${k}×${v}`).join(' ')}`);
    for (const d of r.report.dropped) out(`  no node for ${d.node} (${d.op}): ${d.why}`);
    for (const n of r.report.notes) out(`  note: ${n}`);
    out('');
    for (const l of summaryLines(r.summary)) out(l);
    out('');
    out(`train it: normlab train --model ${r.spec}`);
    return 0;
  },
};

export const modelCmd: Command = {
  name: 'model',
  summary: 'print a model as a table (node, op, output shape, parameters): a preset or a JSON file',
  usage: 'normlab model [PRESET|FILE.json] [--json]\n\n  Presets: s5 (default), resnet-tiny, separable, mlp. A file is checked: every problem names the node and the shape.',
  async run(argv) {
    const { values, positionals } = parse(argv, { ...globalOptions });
    if (positionals.length > 1) throw new UsageError('give at most one preset or file');
    const d = describeModel(positionals.length ? { model: positionals[0] } : {});
    if (values.json) {
      out(JSON.stringify({ source: d.source, valid: d.issues.length === 0, issues: d.issues, summary: d.summary, has_weights: d.hasWeights }));
      return d.issues.length ? 1 : 0;
    }
    if (d.issues.length) {
      process.stderr.write(`normlab model: ${d.source} has ${d.issues.length} problem${d.issues.length === 1 ? '' : 's'}:\n${d.issues.map((i) => `  ${describeIssue(i)}`).join('\n')}\n`);
      return 1;
    }
    for (const l of summaryLines(d.summary!)) out(l);
    if (d.hasWeights) out(`initial weights: ${d.graph!.weights} (beside the file)`);
    return 0;
  },
};

export const MODEL_COMMANDS: Command[] = [importModelCmd, modelCmd];
