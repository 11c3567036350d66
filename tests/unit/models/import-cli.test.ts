/**
 * `normlab import-model` and `normlab model` through the CLI door, and the model services the
 * Model view calls (describe, save, list), on the PyTorch fixtures.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../../src-main/cli/main';
import { decodeWeights } from '../../../src-main/store/checkpoint-format';
import { importOnnx } from '../../../src-main/onnx/import';
import { describeModel, importModel, listModels, saveModel } from '../../../src-main/services/models';
import { validateGraph } from '../../../src-main/model';
import { fixtureBytes, fixturePath } from '../onnx/import-fixtures';

const dir = mkdtempSync(join(tmpdir(), 'normlab-import-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let stdout: string[];
let stderr: string[];
beforeEach(() => {
  stdout = [];
  stderr = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => (stdout.push(String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => (stderr.push(String(s)), true));
});
afterEach(() => vi.restoreAllMocks());

describe('normlab import-model', () => {
  it('writes the spec and its NLCK weights beside it; the spec names them and validates; the table is printed', async () => {
    const out = join(dir, 'res.json');
    expect(await main(['import-model', fixturePath('resnet_tiny'), '--out', out])).toBe(0);
    const spec = JSON.parse(readFileSync(out, 'utf8'));
    expect(spec.weights).toBe('res.weights');
    expect(spec.name).toBe('resnet_tiny');
    expect(validateGraph(spec)).toEqual([]);
    const w = decodeWeights(readFileSync(join(dir, 'res.weights')), 'res.weights');
    const direct = importOnnx(fixtureBytes('resnet_tiny'), 'x').weights!;
    expect(Object.keys(w).sort()).toEqual(Object.keys(direct).sort());
    expect(Array.from(w['res1.conv1/kernel'].data)).toEqual(Array.from(direct['res1.conv1/kernel'].data));
    expect(w['res1.bn1/running_var'].shape).toEqual([8]);
    const text = stdout.join('');
    expect(text).toContain(`wrote ${out} and ${join(dir, 'res.weights')} (initial weights)`);
    expect(text).toMatch(/res1\.add\s+add\s+relu, res1\.bn2\s+28×28×8\s+0\s+0/);
    expect(text).toContain('total 7,298 parameters');
    expect(text).toContain('no node for /Reshape (Reshape): flatten after global pooling');
  });

  it('--weights reinit writes the architecture only', async () => {
    const out = join(dir, 'sep.json');
    expect(await main(['import-model', fixturePath('separable'), '--weights', 'reinit', '--out', out, '--name', 'my-sep'])).toBe(0);
    const spec = JSON.parse(readFileSync(out, 'utf8'));
    expect(spec.weights).toBeUndefined();
    expect(spec.name).toBe('my-sep');
    expect(existsSync(join(dir, 'sep.weights'))).toBe(false);
    expect(stdout.join('')).toContain('architecture only');
  });

  it('an unsupported module fails with exit 1 and one message naming every node, op and attribute; nothing is written', async () => {
    const out = join(dir, 'bad.json');
    expect(await main(['import-model', fixturePath('unsupported'), '--out', out])).toBe(1);
    const err = stderr.join('');
    expect(err).toContain('cannot import 3 nodes');
    expect(err).toContain('/conv/Pad (Pad, mode): mode "reflect" is not supported');
    expect(err).toContain('/Sigmoid (Sigmoid): op Sigmoid is not supported');
    expect(err).toContain('/up/Resize (Resize): op Resize is not supported');
    expect(existsSync(out)).toBe(false);
  });

  it('norm nodes are placeholders by default (the run decides); --norm keep writes batch norm with the file\'s ε and momentum', async () => {
    const auto = JSON.parse(readFileSync(join(dir, 'res.json'), 'utf8'));
    expect(auto.nodes.find((n: { name: string }) => n.name === 'res1.bn1').norm).toBe('auto');
    const out = join(dir, 'res-keep.json');
    expect(await main(['import-model', fixturePath('resnet_tiny'), '--norm', 'keep', '--out', out])).toBe(0);
    const kept = JSON.parse(readFileSync(out, 'utf8'));
    expect(kept.nodes.find((n: { name: string }) => n.name === 'res1.bn1').norm).toEqual({ kind: 'batch', momentum: 0.1, eps: 1e-5, convention: 'pytorch' });
  });

  it('usage errors: no file, a bad --weights', async () => {
    expect(await main(['import-model'])).toBe(2);
    expect(await main(['import-model', fixturePath('mlp'), '--weights', 'some'])).toBe(2);
    expect(stderr.join('')).toContain('--weights expects keep or reinit, got "some"');
  });
});

describe('normlab model', () => {
  it('prints a preset as a table with totals', async () => {
    expect(await main(['model', 'resnet-tiny'])).toBe(0);
    const text = stdout.join('');
    expect(text).toMatch(/^model resnet-tiny: input 28×28×1, 10 classes/);
    expect(text).toMatch(/node\s+op\s+inputs\s+output\s+params\s+MACs/);
    expect(text).toMatch(/total [\d,]+ parameters/);
  });

  it('a JSON file with a shape that does not fit: exit 1, the node and the shapes named', async () => {
    const g = JSON.parse(readFileSync(join(dir, 'res.json'), 'utf8'));
    g.nodes.find((n: { name: string }) => n.name === 'fc').inputs = ['res2.relu_1'];
    delete g.weights;
    const f = join(dir, 'broken.json');
    writeFileSync(f, JSON.stringify(g));
    expect(await main(['model', f])).toBe(1);
    expect(stderr.join('')).toContain('node "fc" (inputs): dense needs a vector [units], got [14, 14, 16]');
  });
});

describe('model services (the Model view)', () => {
  it('describe: an edited graph gets its problems named, a valid one its table', () => {
    const g = importOnnx(fixtureBytes('s5like'), 's5like.onnx').graph;
    const ok = describeModel({ graph: g });
    expect(ok.issues).toEqual([]);
    expect(ok.summary!.totalParams).toBe(8890);
    const bad = describeModel({ graph: { ...g, nodes: g.nodes.map((n) => (n.name === 'b2.0' ? { ...n, kernel: 30 } : n)) } });
    expect(bad.summary).toBeNull();
    expect(bad.issues.some((i) => i.node === 'b2.0')).toBe(true);
    expect(describeModel({ graph: 'nonsense' }).issues.length).toBeGreaterThan(0);
  });

  it('import from uploaded bytes into the workspace, save an edited copy, list both after the presets', () => {
    const ws = join(dir, 'ws');
    const r = importModel({ bytes: fixtureBytes('mlp'), name: 'mlp.onnx', out: join(ws, 'models', 'mlp.json') });
    expect(r.spec).toBe(join(ws, 'models', 'mlp.json'));
    expect(r.report.source).toBe('mlp.onnx');
    const saved = saveModel(ws, 'mlp-wide', { ...r.graph, nodes: r.graph.nodes.map((n) => (n.name === 'fc1' ? { ...n, units: 64 } : n)) });
    expect(saved.summary.totalParams).toBeGreaterThan(r.summary.totalParams);
    const list = listModels(ws);
    expect(list.slice(0, 4).map((m) => m.value)).toEqual(['s5', 'resnet-tiny', 'separable', 'mlp']);
    // The widened copy no longer fits the imported weights, so it starts from the seeded init.
    expect(list.slice(4).map((m) => [m.label, m.hasWeights])).toEqual([['mlp-wide', false], ['mlp', true]]);
    expect(() => saveModel(ws, 'x', { ...r.graph, nodes: [] })).toThrow(/model "x" has 1 problem/);
  });
});
