/// <reference lib="dom" />
/**
 * The Model view in Chromium (browser mode): a preset's table and drawing, importing a PyTorch
 * residual net (.onnx upload) with its residual adds drawn as skip edges, live validation of the
 * edited JSON naming the node and the shape, saving the edit, and choosing it for new runs; the
 * layout check and screenshots at 1440×900 and 1024×768.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { artifact, launchChromium, missingPrerequisite, ROOT, serve, watchProblems, type Served } from './helpers';
import { fullScreenshot, layoutProblems } from './layout';

const missing = missingPrerequisite();
const FIXTURE = join(ROOT, 'tests/fixtures/models/resnet_tiny.onnx');

describe.skipIf(missing)(`Model view${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let workspace: string;
  let browser: Browser;
  let server: Served;

  beforeAll(async () => {
    workspace = mkdtempSync(join(tmpdir(), 'normlab-e2e-model-'));
    browser = await launchChromium();
    server = await serve(workspace);
  });

  afterAll(async () => {
    await server?.stop();
    await browser?.close();
    rmSync(workspace, { recursive: true, force: true });
  });

  it('preset table, import of a PyTorch residual net, live JSON validation, save, use for runs', async () => {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    const problems = watchProblems(page);
    await page.goto(`${server.url}#/model`);
    await page.getByTestId('model-table').waitFor({ timeout: 60_000 });

    // The default preset: S5, 8.9k parameters (rows = graph nodes).
    await expect.poll(() => page.getByTestId('model-choice').inputValue()).toBe('s5');
    expect(await page.getByTestId('model-total').innerText()).toMatch(/^8,\d{3}$/);
    await page.getByTestId('model-choice').selectOption('resnet-tiny');
    await expect.poll(() => page.getByTestId('model-table').innerText()).toContain('add');
    expect(await page.locator('[data-testid="model-graph"] path[data-skip="true"]').count()).toBeGreaterThan(0);

    // Import the PyTorch fixture with its weights.
    await page.getByTestId('model-import').setInputFiles(FIXTURE);
    await page.getByTestId('model-imported').waitFor({ timeout: 60_000 });
    expect(await page.getByTestId('model-imported').innerText()).toContain('Its weights are kept');
    await expect.poll(() => page.getByTestId('model-choice').inputValue()).toBe(join(workspace, 'models', 'resnet_tiny.json'));
    await expect.poll(() => page.getByTestId('model-total').innerText()).toBe('7,298');
    const table = await page.getByTestId('model-table').innerText();
    expect(table).toMatch(/res1\.add\s+add\s+relu, res1\.bn2\s+28×28×8/);
    expect(await page.locator('[data-testid="model-graph"] path[data-skip="true"]').count()).toBe(2);
    expect(await page.locator('[data-testid="model-graph"] g[data-node]').count()).toBe(23);
    let layout = await layoutProblems(page);
    expect(layout.problems).toEqual([]);
    await fullScreenshot(page, artifact('model-view-1440.png'));

    // Edit: a dense layer reading an image is named with its shape; fixing it validates again.
    await page.getByTestId('model-edit').click();
    const json = await page.getByTestId('model-json').inputValue();
    const edit = (f: (g: { nodes: { name: string; inputs: string[]; filters?: number }[] }) => void) => {
      const g = JSON.parse(json);
      f(g);
      return JSON.stringify(g, null, 1);
    };
    await page.getByTestId('model-json').fill(edit((g) => (g.nodes.find((n) => n.name === 'fc')!.inputs = ['res2.relu_1'])));
    await expect.poll(() => page.getByTestId('model-issues').innerText(), { timeout: 10_000 }).toContain('dense needs a vector [units], got [14, 14, 16]');
    expect(await page.getByTestId('model-save').isDisabled()).toBe(true);
    // A wider strided conv: the residual add downstream no longer fits.
    await page.getByTestId('model-json').fill(edit((g) => (g.nodes.find((n) => n.name === 'down')!.filters = 24)));
    await expect.poll(() => page.getByTestId('model-issues').innerText(), { timeout: 10_000 }).toContain('add needs inputs of one shape; input 1 is [14, 14, 24], input 2 is [14, 14, 16]');
    await page.getByTestId('model-json').fill(json);
    await page.getByTestId('model-valid').waitFor({ timeout: 10_000 });
    await page.setViewportSize({ width: 1024, height: 768 });
    layout = await layoutProblems(page);
    expect(layout.problems).toEqual([]);
    await fullScreenshot(page, artifact('model-view-editor-1024.png'));
    await page.getByTestId('model-save-name').fill('res-copy');
    await page.getByTestId('model-save').click();
    await page.getByTestId('model-notice').waitFor();
    await expect.poll(() => page.getByTestId('model-choice').inputValue()).toBe(join(workspace, 'models', 'res-copy.json'));

    await page.getByTestId('model-use').click();
    expect(await page.evaluate(() => localStorage.getItem('normlab.model'))).toBe(join(workspace, 'models', 'res-copy.json'));
    expect(await page.getByTestId('model-use').innerText()).toBe('Used for new runs');
    // The run form and the study launcher start with the chosen model.
    const chosen = join(workspace, 'models', 'res-copy.json');
    await page.goto(`${server.url}#/runs`);
    await page.getByTestId('field-model').waitFor({ timeout: 30_000 });
    await expect.poll(() => page.getByTestId('field-model').inputValue(), { timeout: 10_000 }).toBe(chosen);
    expect(await page.getByTestId('field-model').locator('option').allInnerTexts()).toContain('res-copy · 7,298 params · imported weights');
    await page.goto(`${server.url}#/compare`);
    await page.getByTestId('study-model').waitFor({ timeout: 30_000 });
    expect(await page.getByTestId('study-model').inputValue()).toBe(chosen);
    await page.goto(`${server.url}#/model`);
    await page.getByTestId('model-table').waitFor({ timeout: 30_000 });
    await page.setViewportSize({ width: 1440, height: 900 });
    await page.getByTestId('model-choice').selectOption('separable');
    await page.getByTestId('model-table').waitFor();
    await fullScreenshot(page, artifact('model-view-separable-1440.png'));
    await page.setViewportSize({ width: 1024, height: 768 });
    layout = await layoutProblems(page);
    expect(layout.problems).toEqual([]);
    await fullScreenshot(page, artifact('model-view-1024.png'));

    // An unsupported module: one error naming each op.
    await page.getByTestId('model-import').setInputFiles(join(ROOT, 'tests/fixtures/models/unsupported.onnx'));
    await page.getByTestId('model-error').waitFor({ timeout: 30_000 });
    const err = await page.getByTestId('model-error').innerText();
    expect(err).toContain('/Sigmoid (Sigmoid)');
    expect(err).toContain('/up/Resize (Resize)');
    expect(problems).toEqual([]);
  });
});
