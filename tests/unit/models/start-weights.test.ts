/** Starting from imported weights: taken by name and shape, seeded otherwise, and the split said. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS } from '../../../src-main/contract/settings';
import { paramSpecs, resolveGraph, stateSpecs } from '../../../src-main/model';
import { splitStart } from '../../../src-main/model/start-weights';
import { importOnnx } from '../../../src-main/onnx/import';
import { importModel, loadModelWeights } from '../../../src-main/services/models';
import { fixtureBytes, fixturePath } from '../onnx/import-fixtures';

const dir = mkdtempSync(join(tmpdir(), 'normlab-start-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('splitStart', () => {
  const { graph, weights } = importOnnx(fixtureBytes('resnet_tiny'), 'r.onnx');
  const specsFor = (norm: typeof DEFAULT_SETTINGS.norm) => {
    const g = resolveGraph(graph, { ...DEFAULT_SETTINGS, norm, groups: 4 });
    return [...paramSpecs(g), ...stateSpecs(g)];
  };

  it('a default run (batch norm) takes every tensor from the import', () => {
    const s = splitStart(specsFor('batch'), weights!);
    expect(s.seeded).toEqual([]);
    expect(s.unused).toEqual([]);
    expect(s.taken.length).toBe(Object.keys(weights!).length);
    expect(Array.from(s.values['res1.conv1/kernel'].data)).toEqual(Array.from(weights!['res1.conv1/kernel'].data));
  });

  it('a group-norm variant keeps γ/β and the convs, and does not use the running statistics', () => {
    const s = splitStart(specsFor('group'), weights!);
    expect(s.seeded).toEqual([]);
    expect(s.unused.sort()).toEqual(Object.keys(weights!).filter((k) => /running_/.test(k)).sort());
  });

  it('a norm-none variant leaves the BN tensors unused', () => {
    const s = splitStart(specsFor('none'), weights!);
    expect(s.unused.every((k) => /(gamma|beta|running_mean|running_var)$/.test(k))).toBe(true);
    expect(s.unused.length).toBe(6 * 4);
  });

  it('a widened layer is seeded, saying which shapes differ', () => {
    const wide = { ...graph, nodes: graph.nodes.map((n) => (n.name === 'fc' ? { ...n } : n)) };
    const specs = [...paramSpecs(resolveGraph(wide, DEFAULT_SETTINGS))].map((p) => (p.name === 'fc/kernel' ? { ...p, shape: [16, 12] } : p));
    const s = splitStart(specs, weights!);
    expect(s.seeded).toEqual([{ name: 'fc/kernel', why: 'the file has [16, 10], the graph needs [16, 12]' }]);
  });
});

describe('loadModelWeights', () => {
  it('reads the weights a spec names, relative to the spec', () => {
    const r = importModel({ file: fixturePath('mlp'), out: join(dir, 'sub', 'mlp.json') });
    const w = loadModelWeights(r.spec!, r.graph)!;
    expect(w['fc1/kernel'].shape).toEqual([784, 32]);
    expect(loadModelWeights(r.spec!, { ...r.graph, weights: undefined })).toBeNull();
  });

  it('a missing or damaged weights file is an error naming it', () => {
    expect(() => loadModelWeights(join(dir, 'x.json'), { weights: 'gone.weights' })).toThrow(/names weights gone\.weights, but .*gone\.weights is missing/);
    writeFileSync(join(dir, 'bad.weights'), 'NLCK but not really');
    expect(() => loadModelWeights(join(dir, 'x.json'), { weights: 'bad.weights' })).toThrow(/bad\.weights is corrupt/);
  });
});
