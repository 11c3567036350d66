/// <reference lib="dom" />
/**
 * The S6 study from the UI: the Compare view's launcher starts a 2-epoch study on a small slice,
 * the four runs finish, the charts and tables fill in (screenshot), and the Misclassified view
 * shows 25 captioned tiles for the L1 run (screenshot).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { artifact, launchChromium, missingPrerequisite, serve, type Served, watchProblems } from './helpers';

const missing = missingPrerequisite();

describe.skipIf(missing)(`S6 study in Chromium${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let browser: Browser;
  let workspace: string;
  let server: Served;

  beforeAll(async () => {
    workspace = mkdtempSync(join(tmpdir(), 'normlab-e2e-study-'));
    browser = await launchChromium();
    server = await serve(workspace);
  });

  afterAll(async () => {
    await server?.stop();
    await browser?.close();
    rmSync(workspace, { recursive: true, force: true });
  });

  it('runs a 2-epoch S6 study from the Compare view and shows curves, tables and misclassified images', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const problems = watchProblems(page);
    await page.goto(server.url + '#/compare');
    await page.getByTestId('study-launcher').waitFor({ timeout: 60_000 });
    await expect.poll(() => page.getByTestId('study-preset').inputValue(), { timeout: 60_000 }).toBe('s6');
    await page.getByTestId('study-epochs').fill('2');
    await page.getByTestId('study-train-limit').fill('1000');
    await page.getByTestId('study-test-limit').fill('500');
    await page.getByTestId('study-start').click();
    await expect.poll(() => page.getByTestId('study-progress').textContent(), { timeout: 280_000, interval: 2000 }).toBe('4/4 runs finished');

    // The study is selected; its four groups show in the legend, the table and the diff.
    const table = page.getByTestId('compare-table');
    await expect.poll(() => table.locator('tbody tr').count(), { timeout: 30_000 }).toBe(4);
    const rows = await table.locator('tbody tr').allInnerTexts();
    expect(rows.every((r) => /\t2\t/.test(r) && /%/.test(r))).toBe(true);
    const diff = await page.getByTestId('compare-diff').innerText();
    expect(diff).toContain('L1 λ');
    expect(diff).toContain('L2 λ');
    expect(diff).not.toContain('Epochs');
    const acc = page.getByTestId('chart-test_acc');
    const accText = await acc.locator('svg').innerHTML();
    for (const label of ['no L1/L2', 'L1 (λ=0.00005)', 'L2 (λ=0.0005)', 'accuracy (%)', 'epoch']) expect(accText).toContain(label);
    // Hover shows values of all four runs at the epoch under the pointer.
    const box = (await acc.locator('svg').boundingBox())!;
    await page.mouse.move(box.x + box.width - 30, box.y + 120);
    await expect.poll(() => page.getByTestId('chart-tip').innerText()).toContain('epoch 2');
    await page.screenshot({ path: artifact('study-compare.png'), fullPage: true });

    // Misclassified: the L1 run, 25 tiles with actual and predicted names.
    const l1Row = rows.findIndex((r) => r.startsWith('L1 ('));
    expect(l1Row).toBeGreaterThanOrEqual(0);
    await page.goto(server.url + '#/misclassified');
    const select = page.getByTestId('mis-run');
    await select.waitFor({ timeout: 30_000 });
    const options = await select.locator('option').allInnerTexts();
    const l1 = options.findIndex((o) => o.startsWith('L1 ('));
    await select.selectOption({ index: l1 });
    await page.getByTestId('mis-show').click();
    await expect.poll(() => page.getByTestId('mis-tile').count(), { timeout: 60_000 }).toBe(25);
    const first = await page.getByTestId('mis-tile').first().innerText();
    expect(first).toMatch(/actual: \d/);
    expect(first).toMatch(/predicted: \d \(p=0\.\d\d\)/);
    expect(await page.getByTestId('mis-summary').innerText()).toContain('L1 (');
    await page.screenshot({ path: artifact('study-misclassified.png'), fullPage: true });
    expect(problems).toEqual([]);
  });
});
