/**
 * Issue 16 item 6, studies: a study's variants are applied to the user's model. The norms preset
 * swaps EVERY norm node, the dropout preset sets EVERY dropout node, L1/L2 leave the graph alone;
 * on a model where variants would train the same network they are left out with a note, and a
 * study with nothing left to compare is refused with a message that says why.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { distinctRuns, expandPreset, GRAPH_ONLY_SETTINGS, type PlannedRun } from '../../../src-main/analysis/presets';
import { planOnModel } from '../../../src-main/services/study';
import { resolveSettings, type TrainSettings } from '../../../src-main/contract/settings';
import { MODEL_GRAPH_FORMAT, type GraphNode, type ModelGraph, type ResolvedGraph } from '../../../src-main/contract/model-graph';
import { specForSettings } from '../../../src-main/engine/spec';
import { presetGraph } from '../../../src-main/model';
import { DEFAULT_SETTINGS } from '../../../src-main/contract/settings';

const dir = mkdtempSync(join(tmpdir(), 'normlab-study-model-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function graphOf(p: PlannedRun): { settings: TrainSettings; graph: ResolvedGraph } {
  const r = resolveSettings(p.settings as Record<string, unknown>);
  if (!r.ok) throw new Error(r.issues.map((i) => i.message).join('; '));
  return { settings: r.value, graph: specForSettings(r.value, [28, 28, 1], 10) };
}

const autoNorms = (model: 'resnet-tiny' | 'separable') => (presetGraph(model, DEFAULT_SETTINGS).nodes as GraphNode[]).filter((n) => n.op === 'norm' && n.norm === 'auto').map((n) => n.name);
const autoDrops = (model: 'resnet-tiny' | 'separable') => (presetGraph(model, DEFAULT_SETTINGS).nodes as GraphNode[]).filter((n) => n.op === 'dropout' && n.rate === 'auto').map((n) => n.name);

describe('study presets on resnet-tiny and separable', () => {
  for (const model of ['resnet-tiny', 'separable'] as const) {
    it(`${model}: the norms preset swaps every norm node`, () => {
      const plan = expandPreset('norms', { overrides: { model } });
      expect(plan.map((p) => p.variant)).toEqual(['batch', 'ghost', 'layer', 'group', 'none']);
      const names = autoNorms(model);
      expect(names.length).toBeGreaterThanOrEqual(7);
      for (const p of plan) {
        const { graph } = graphOf(p);
        expect(graph.name).toBe(model);
        const norms = graph.nodes.filter((n) => n.op === 'norm');
        if (p.variant === 'none') {
          expect(norms).toEqual([]);
          // Every reader of a removed norm now reads the norm's input.
          for (const n of graph.nodes) for (const s of n.inputs) expect(names).not.toContain(s);
          continue;
        }
        expect(norms.map((n) => n.name)).toEqual(names);
        for (const n of norms) {
          expect(n.norm.kind).toBe(p.variant);
          if (n.norm.kind === 'ghost') expect(n.norm.virtualBatch).toBe(32);
          if (n.norm.kind === 'group') expect(n.norm.groups).toBe(4);
        }
      }
      expect(distinctRuns('norms', plan, graphOf, model).runs).toHaveLength(5);
    });

    it(`${model}: the dropout preset sets every dropout node; BN on/off with it`, () => {
      const plan = expandPreset('dropout', { overrides: { model } });
      const drops = autoDrops(model);
      expect(drops.length).toBeGreaterThanOrEqual(1);
      for (const p of plan) {
        const { graph, settings } = graphOf(p);
        const d = graph.nodes.filter((n) => n.op === 'dropout');
        if (settings.dropout === 0) expect(d).toEqual([]);
        else {
          expect(d.map((n) => n.name)).toEqual(drops);
          for (const n of d) expect(n.rate).toBe(settings.dropout);
        }
        expect(graph.nodes.filter((n) => n.op === 'norm').length).toBe(settings.norm === 'none' ? 0 : autoNorms(model).length);
      }
      expect(distinctRuns('dropout', plan, graphOf, model).runs).toHaveLength(8);
    });

    it(`${model}: the s6 preset changes L1/L2 only, the graph stays the same`, () => {
      const plan = expandPreset('s6', { overrides: { model, valSplit: 0.2 } });
      const graphs = plan.map((p) => JSON.stringify(graphOf(p).graph));
      expect(new Set(graphs).size).toBe(1);
      expect(plan.map((p) => [graphOf(p).settings.l1, graphOf(p).settings.l2, graphOf(p).settings.valSplit])).toEqual([[0, 0, 0.2], [5e-5, 0, 0.2], [0, 5e-4, 0.2], [5e-5, 5e-4, 0.2]]);
      expect(distinctRuns('s6', plan, graphOf, model)).toEqual({ runs: plan, notes: [] });
    });
  }

  it('bn-position on resnet-tiny: the model places its norms itself, so the study is refused', () => {
    const plan = expandPreset('bn-position', { overrides: { model: 'resnet-tiny' } });
    expect(() => distinctRuns('bn-position', plan, graphOf, 'resnet-tiny')).toThrow(
      "study bn-position: every variant would train the same network, because model resnet-tiny has no node that follows bnPosition, convBias (no norm: 'auto' or rate: 'auto' placeholder there)",
    );
    // On the S5 net they differ.
    expect(distinctRuns('bn-position', expandPreset('bn-position'), graphOf, 's5').runs).toHaveLength(4);
  });
});

/** A model file: conv → relu → [dropout 'auto'] → gap → dense; no norm node at all. */
function modelFile(name: string, withDropout: boolean): string {
  const nodes: GraphNode[] = [
    { name: 'c1', op: 'conv2d', filters: 4, kernel: 3, inputs: ['input'] },
    { name: 'r1', op: 'relu', inputs: ['c1'] },
    ...(withDropout ? [{ name: 'd1', op: 'dropout', rate: 'auto', inputs: ['r1'] } as GraphNode] : []),
    { name: 'gap', op: 'gap', inputs: [withDropout ? 'd1' : 'r1'] },
    { name: 'fc', op: 'dense', units: 10, inputs: ['gap'] },
  ];
  const g: ModelGraph = { format: MODEL_GRAPH_FORMAT, name, input: [28, 28, 1], classes: 10, nodes };
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(g));
  return file;
}

describe('a model without norm or dropout nodes', () => {
  it('norms: refused, naming the settings the model ignores', async () => {
    const file = modelFile('plain', false);
    const plan = expandPreset('norms', { overrides: { model: file, data: 'mnist-sample' } });
    await expect(planOnModel('norms', plan, dir)).rejects.toThrow(
      `study norms: every variant would train the same network, because model ${file} has no node that follows norm (no norm: 'auto' or rate: 'auto' placeholder there)`,
    );
  });

  it('dropout on a model with dropout but no norm: the BN/no-norm twins collapse, the rates stay, with a note', async () => {
    const file = modelFile('drop-only', true);
    const plan = expandPreset('dropout', { overrides: { model: file, data: 'mnist-sample' } });
    const r = await planOnModel('dropout', plan, dir);
    expect(r.runs.map((p) => p.variant)).toEqual(['bn-d0', 'bn-d0.05', 'bn-d0.1', 'bn-d0.25']);
    expect(r.notes).toEqual([
      `variant nonorm-d0 left out: it trains the same network as bn-d0, because model ${file} has no node that follows norm (no norm: 'auto' or rate: 'auto' placeholder there)`,
      `variant nonorm-d0.05 left out: it trains the same network as bn-d0.05, because model ${file} has no node that follows norm (no norm: 'auto' or rate: 'auto' placeholder there)`,
      `variant nonorm-d0.1 left out: it trains the same network as bn-d0.1, because model ${file} has no node that follows norm (no norm: 'auto' or rate: 'auto' placeholder there)`,
      `variant nonorm-d0.25 left out: it trains the same network as bn-d0.25, because model ${file} has no node that follows norm (no norm: 'auto' or rate: 'auto' placeholder there)`,
    ]);
    // Without any placeholder the dropout study compares nothing.
    await expect(planOnModel('dropout', expandPreset('dropout', { overrides: { model: modelFile('plain2', false), data: 'mnist-sample' } }), dir)).rejects.toThrow(/every variant would train the same network/);
    // Seeds are never merged: two seeds of one variant are two runs.
    expect((await planOnModel('s6', expandPreset('s6', { overrides: { model: file, data: 'mnist-sample' }, seeds: 2 }), dir)).runs).toHaveLength(8);
  });

  it('a variant the model cannot take is refused naming the variant', async () => {
    const plan = expandPreset('norms', { overrides: { model: 'resnet-tiny', data: 'mnist-sample' } }).map((p) => (p.variant === 'group' ? { ...p, settings: { ...p.settings, groups: 3 } } : p));
    await expect(planOnModel('norms', plan, dir)).rejects.toThrow(/^variant group: model resnet-tiny with these settings: node "stem_norm"/);
  });

  it('only graph settings are merged', () => {
    expect([...GRAPH_ONLY_SETTINGS].sort()).toEqual(['bnConvention', 'bnEps', 'bnMomentum', 'bnPosition', 'convBias', 'dropout', 'ghostBatch', 'groups', 'norm']);
  });
});
