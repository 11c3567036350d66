/**
 * A model file whose norm nodes are fixed (`norm: {kind: 'batch', …}`, as `import-model --norm
 * keep` writes) ignores the run's norm setting: the BN inspector, its timeline and the views'
 * "has BN" test follow the graph the run trained, not `settings.norm`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../../../src-main/engine/backend';
import { inspectRun } from '../../../src-main/analysis/bn-inspect';
import { bnTimeline } from '../../../src-main/analysis/bn-timeline';
import { runHasBn } from '../../../src-main/contract/bn';
import { MODEL_GRAPH_FORMAT, type GraphNode, type ModelGraph, type NormChoice } from '../../../src-main/contract/model-graph';
import { trainedRun } from '../bn/helpers';

const dir = mkdtempSync(join(tmpdir(), 'normlab-fixed-norms-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function modelFile(name: string, norm: NormChoice): string {
  const nodes: GraphNode[] = [
    { name: 'c1', op: 'conv2d', filters: 4, kernel: 3, bias: false, inputs: ['input'] },
    { name: 'n1', op: 'norm', norm, inputs: ['c1'] },
    { name: 'r1', op: 'relu', inputs: ['n1'] },
    { name: 'gap', op: 'gap', inputs: ['r1'] },
    { name: 'fc', op: 'dense', units: 10, inputs: ['gap'] },
  ];
  const g: ModelGraph = { format: MODEL_GRAPH_FORMAT, name, input: [28, 28, 1], classes: 10, nodes };
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(g));
  return file;
}

beforeAll(async () => {
  await initBackend();
});

describe('fixed norm nodes in a model file', () => {
  it('batch norm kept while the norm setting says none: the inspector finds it', async () => {
    const file = modelFile('kept-bn', { kind: 'batch', momentum: 0.1, eps: 1e-5, convention: 'pytorch' });
    const { ws, id, root } = await trainedRun({ model: file, engine: 'tfjs', norm: 'none', trainLimit: 200, testLimit: 100, batch: 50 }, mkdtempSync(join(dir, 'ws-')));
    const run = ws.getRun(id);
    expect(run.settings.norm).toBe('none');
    expect(runHasBn(run)).toBe(true);
    const t = bnTimeline(ws, id);
    expect(t.hasBn).toBe(true);
    expect(t.layers.map((l) => l.name)).toEqual(['n1']);
    const r = await inspectRun(ws, { id, testLimit: 100, batchSizes: [10] });
    expect(r.hasBn).toBe(true);
    expect(r.layers.map((l) => [l.name, l.channels])).toEqual([['n1', 4]]);
    expect(r.populationImages).toBe(200);
    rmSync(root, { recursive: true, force: true });
  }, 120_000);

  it('layer norm only, while the norm setting says batch: nothing to inspect, and the message says what the graph has', async () => {
    const file = modelFile('kept-ln', { kind: 'layer', eps: 1e-5 });
    const { ws, id, root } = await trainedRun({ model: file, engine: 'tfjs', norm: 'batch', trainLimit: 200, testLimit: 100, batch: 50 }, mkdtempSync(join(dir, 'ws-')));
    const run = ws.getRun(id);
    expect(runHasBn(run)).toBe(false);
    expect(runHasBn({ settings: run.settings })).toBe(true); // without the recorded graph, the setting decides
    expect(bnTimeline(ws, id).hasBn).toBe(false);
    const r = await inspectRun(ws, { id });
    expect(r.hasBn).toBe(false);
    expect(r.message).toBe('This run uses layer norm, which normalizes each image on its own and keeps no running statistics: there is nothing for the BN inspector to show.');
    rmSync(root, { recursive: true, force: true });
  }, 120_000);
});
