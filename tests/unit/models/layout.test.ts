/** The Model view's drawing layout: rows by depth, a chain in one column, branches side by side, residual edges marked. */
import { describe, expect, it } from 'vitest';
import { summarize } from '../../../src-main/model';
import { importOnnx } from '../../../src-main/onnx/import';
import { layoutGraph } from '../../../src-renderer/src/views/model/layout';
import { fixtureBytes } from '../onnx/import-fixtures';

describe('layoutGraph', () => {
  it('residual net: one column, the two adds read their block input through a skip edge', () => {
    const s = summarize(importOnnx(fixtureBytes('resnet_tiny'), 'r.onnx').graph);
    const lay = layoutGraph(s.input, s.rows);
    expect(lay.cols).toBe(1);
    expect(lay.rows).toBe(23);
    expect(lay.edges.filter((e) => e.skip).map((e) => `${e.from}→${e.to}`)).toEqual(['relu→res1.add', 'relu_1→res2.add']);
    const add = lay.nodes.find((n) => n.name === 'res1.add')!;
    expect(add.row).toBe(1 + lay.nodes.find((n) => n.name === 'res1.bn2')!.row);
  });

  it('two branches into a concat sit side by side in one row, the concat back in the first column', () => {
    const s = summarize(importOnnx(fixtureBytes('separable'), 's.onnx').graph);
    const lay = layoutGraph(s.input, s.rows);
    const a = lay.nodes.find((n) => n.name === 'branch_a')!;
    const b = lay.nodes.find((n) => n.name === 'branch_b')!;
    const c = lay.nodes.find((n) => n.name === 'concat')!;
    expect([a.row, a.col, b.row, b.col]).toEqual([a.row, 0, a.row, 1]);
    expect([c.row, c.col]).toEqual([a.row + 1, 0]);
    expect(lay.edges.some((e) => e.skip)).toBe(false);
  });
});
