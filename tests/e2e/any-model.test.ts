/**
 * Issue 16 item 6 in the browser: a run trained on resnet-tiny (a residual net: adds, a strided
 * 1×1 projection) with batch norm and dropout, shown by the BN, Dropout, Landscape, Weights,
 * Export and Misclassified views. Each view must list the model's own nodes (every BN node, every kernel),
 * compute its analysis, and lay out without overlaps at 1440×900 and 1024×768. Screenshots in
 * tests/artifacts/anymodel-*.png.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import type { RunRecord } from '../../src-main/contract/api';
import { artifact, launchChromium, missingPrerequisite, ROOT, serve, type Served, watchProblems } from './helpers';
import { layoutPass, type ViewState } from './layout';

const missing = missingPrerequisite();

function cli(args: string[], workspace: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/normlab.js'), ...args, '--workspace', workspace], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe.skipIf(missing)(`every view on a resnet-tiny run${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let browser: Browser;
  let workspace: string;
  let run: RunRecord;

  beforeAll(async () => {
    workspace = mkdtempSync(join(tmpdir(), 'normlab-e2e-anymodel-'));
    const r = cli(['train', '--model', 'resnet-tiny', '--engine', 'tfjs', '--data', 'mnist-sample', '--epochs', '2', '--train-limit', '600', '--test-limit', '200',
      '--batch', '50', '--optimizer', 'adam', '--lr', '0.01', '--val-split', '0', '--norm', 'batch', '--dropout', '0.1', '--name', 'resnet-tiny demo', '--json'], workspace);
    expect(r.code, r.stderr).toBe(0);
    const id = (JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { run_id: string }).run_id;
    const shown = cli(['runs', '--json'], workspace);
    run = (JSON.parse(shown.stdout) as RunRecord[]).find((x) => x.id === id)!;
    expect(run.model!.name).toBe('resnet-tiny');
    browser = await launchChromium();
  }, 400_000);

  afterAll(async () => {
    await browser?.close();
    if (workspace) rmSync(workspace, { recursive: true, force: true });
  });

  it('BN, Dropout, Landscape, Weights, Export and Misclassified show the run\'s own nodes, at 1440×900 and 1024×768', async () => {
    const server: Served = await serve(workspace);
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    const problems = watchProblems(page);
    const norms = run.model!.nodes.filter((n) => n.op === 'norm').map((n) => n.name);
    const kernels = run.model!.nodes.filter((n) => n.op === 'conv2d' || n.op === 'dense').map((n) => `${n.name}/kernel`);
    const found: string[] = [];
    const states: ViewState[] = [
      {
        name: 'bn', hash: `bn?run=${run.id}`,
        ready: async (p) => {
          await p.getByTestId('bn-heatmaps').waitFor({ timeout: 60_000 });
          // Every BN node of the residual net, in graph order (the projection's norm included).
          expect(await p.getByTestId('bn-layer').locator('option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value))).toEqual(norms);
          await p.getByTestId('bn-inspect').click();
          await p.getByTestId('bn-accuracy').waitFor({ timeout: 240_000 });
          expect(await p.getByTestId('bn-accuracy').innerText()).toContain('population statistics (precise BN, sequential)');
        },
      },
      {
        name: 'dropout', hash: `dropout?run=${run.id}`,
        ready: async (p) => {
          await expect.poll(() => p.getByTestId('dropout-run').inputValue(), { timeout: 60_000 }).toBe(run.id);
          await p.getByTestId('dropout-samples').fill('8');
          await p.getByTestId('dropout-run-button').click();
          await p.getByTestId('dropout-summary').waitFor({ timeout: 120_000 });
          expect(await p.getByTestId('dropout-ensemble-acc').textContent()).toMatch(/^\d+\.\d\d%$/);
          const drops = run.model!.nodes.filter((n) => n.op === 'dropout').map((n) => n.name);
          expect(await p.getByTestId('dropout-layers').innerText()).toBe(`dropout 0.1 in ${drops.length} node${drops.length === 1 ? '' : 's'} (${drops.join(', ')})`);
        },
      },
      {
        name: 'landscape', hash: `landscape?tab=network&run=${run.id}`,
        ready: async (p) => {
          await p.getByTestId('landscape-grid').fill('5');
          await p.getByTestId('landscape-eval').fill('100');
          await p.getByTestId('landscape-trajectory').check();
          await p.getByTestId('landscape-compute').click();
          await p.getByTestId('landscape-line').waitFor({ timeout: 240_000 });
          await expect.poll(() => p.getByTestId('landscape-contour').count(), { timeout: 60_000 }).toBe(1);
          await expect.poll(() => p.getByTestId('landscape-progress').count(), { timeout: 30_000 }).toBe(0);
        },
      },
      {
        name: 'weights', hash: `weights?runs=${run.id}`,
        ready: async (p) => {
          await p.getByTestId('weights-sparsity').locator('.nl-series').first().waitFor({ timeout: 60_000 });
          const options = await p.getByTestId('weights-layer').locator('option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value));
          expect(options).toEqual(['all', ...kernels]);
        },
      },
      {
        name: 'export', hash: `export?run=${run.id}`,
        ready: async (p) => {
          await p.getByTestId('export-button').click();
          await p.getByTestId('audit').waitFor({ timeout: 120_000 });
          // The residual adds are in the exported graph.
          expect(await p.getByTestId('audit').innerText()).toMatch(/\bAdd\b/);
        },
      },
      {
        name: 'misclassified', hash: `misclassified?runs=${run.id}`,
        ready: async (p) => {
          await expect.poll(() => p.getByTestId('mis-tile').count(), { timeout: 60_000 }).toBeGreaterThan(0);
        },
      },
    ];
    try {
      found.push(...(await layoutPass(page, server.url, states, (name, w) => artifact(`anymodel-${name}-${w}.png`))));
      expect(found).toEqual([]);
      expect(problems).toEqual([]);
    } finally {
      await page.close();
      await server.stop();
    }
  }, 900_000);
});
