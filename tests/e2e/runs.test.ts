/// <reference lib="dom" />
/**
 * The Runs view in Chromium (browser mode): the form validates per field; two runs started from
 * the form queue (position shown) and train one after the other; the curves update live while
 * training, with a progress bar; the 1-epoch run on a small slice (500/200 images) reaches done;
 * Compare selected navigates with both ids; Delete asks for confirmation. Screenshots in
 * tests/artifacts/runs-*.png. Needs `npm run build`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { artifact, launchChromium, missingPrerequisite, serve, type Served, watchProblems } from './helpers';

const missing = missingPrerequisite();

async function fillForm(page: Page, values: Record<string, string>): Promise<void> {
  for (const [key, v] of Object.entries(values)) await page.getByTestId(`field-${key}`).fill(v);
}

describe.skipIf(missing)(`Runs view in Chromium${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let browser: Browser;
  let workspace: string;
  let server: Served;

  beforeAll(async () => {
    workspace = mkdtempSync(join(tmpdir(), 'normlab-e2e-runs-'));
    browser = await launchChromium();
    // One run at a time, so the second run waits in the queue (the default trains one per core).
    server = await serve(workspace, { NORMLAB_BACKEND: 'wasm', NORMLAB_PARALLEL: '1' });
  });

  afterAll(async () => {
    await server?.stop();
    await browser?.close();
    rmSync(workspace, { recursive: true, force: true });
  });

  it('starts queued runs from the form, shows live curves and progress, reaches done, and confirms deletion', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1200 } });
    const problems = watchProblems(page);
    await page.goto(server.url + '#/runs');
    const form = page.getByTestId('run-form');
    await form.waitFor({ timeout: 60_000 });
    // The dataset picker lists the engine's datasets once engine.info has arrived.
    await expect.poll(() => page.getByTestId('field-data-choice').locator('option').allInnerTexts(), { timeout: 60_000 })
      .toEqual(expect.arrayContaining([expect.stringContaining('mnist-sample'), 'a folder of IDX files…']));
    // Generated from the table: labels, defaults and help.
    expect(await page.locator('label[for="setting-bnMomentum"]').getAttribute('title')).toMatch(/cumulative average/);
    expect(await page.getByTestId('field-lr').inputValue()).toBe('0.05');
    expect(await form.innerText()).toContain('1 … 1000, whole · default 10');

    // Client-side validation, per field, before anything is sent.
    await fillForm(page, { epochs: '0' });
    await expect.poll(() => page.getByTestId('issue-epochs').innerText()).toBe('Epochs (epochs): must be between 1 and 1000, got 0');
    await page.getByTestId('run-start').click();
    await expect.poll(() => page.getByTestId('run-form-error').innerText()).toBe('Fix the field marked in red first.');
    // The invalid field gets the focus, so a long form does not hide it.
    expect(await page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe('field-epochs');
    await page.screenshot({ path: artifact('runs-form-invalid.png') });

    // A folder that does not exist: the services refuse it, the form says why, no run is created.
    await fillForm(page, { epochs: '1' });
    await page.getByTestId('field-data-choice').selectOption({ label: 'a folder of IDX files…' });
    await page.getByTestId('field-data').fill('/nonexistent/idx');
    await page.getByTestId('run-start').click();
    await expect.poll(() => page.getByTestId('run-form-error').innerText(), { timeout: 30_000 }).toContain('/nonexistent/idx');
    expect(await page.getByTestId('run-row').count()).toBe(0);
    await page.getByTestId('field-data-choice').selectOption('mnist-sample');

    // A longer run first, then the 1-epoch small-slice run queues behind it.
    await fillForm(page, { epochs: '3', trainLimit: '2000', testLimit: '200', name: 'warm-up' });
    expect(await page.getByTestId('issue-epochs').count()).toBe(0);
    // Checkboxes and the nullable BN momentum reach the run's settings.
    await page.getByTestId('field-shuffle').uncheck();
    await page.getByTestId('field-bnMomentum-null').check();
    expect(await page.getByTestId('field-bnMomentum').isDisabled()).toBe(true);
    await page.getByTestId('run-start').click();
    await expect.poll(() => page.getByTestId('run-row').count(), { timeout: 30_000 }).toBe(1);
    const warmRecord = JSON.parse(readFileSync(join(workspace, 'runs', (await page.getByTestId('run-row').getAttribute('data-run'))!, 'run.json'), 'utf8'));
    expect(warmRecord.settings).toMatchObject({ name: 'warm-up', epochs: 3, trainLimit: 2000, testLimit: 200, shuffle: false, bnMomentum: null, norm: 'batch' });
    await page.getByTestId('field-shuffle').check();
    await page.getByTestId('field-bnMomentum-null').uncheck();
    await fillForm(page, { epochs: '1', trainLimit: '500', testLimit: '200', name: 'small slice' });
    await page.getByTestId('run-start').click();
    await expect.poll(() => page.getByTestId('run-row').count(), { timeout: 30_000 }).toBe(2);
    const small = page.locator('[data-testid="run-row"]', { hasText: 'small slice' });
    const warm = page.locator('[data-testid="run-row"]', { hasText: 'warm-up' });
    await expect.poll(() => small.getByTestId('queue-position').innerText(), { timeout: 10_000 }).toBe('#1 in queue');
    expect(await small.getAttribute('data-status')).toBe('queued');

    // Watch the first run: progress bar, then the curves fill in epoch by epoch while it trains.
    await warm.click();
    const detail = page.getByTestId('run-detail');
    await expect.poll(() => detail.getAttribute('data-run')).toBe(await warm.getAttribute('data-run'));
    await expect.poll(() => page.getByTestId('run-progress').locator('progress').count(), { timeout: 60_000 }).toBe(1);
    expect(await page.getByTestId('run-progress').innerText()).toMatch(/^\d+% · epoch \d\/3 · step \d+\/\d+ of the epoch/);
    await expect.poll(() => page.getByTestId('epoch-table').locator('tbody tr').count(), { timeout: 120_000, interval: 200 }).toBeGreaterThanOrEqual(1);
    const statusWhenFirstEpochShowed = await page.getByTestId('detail-status').innerText();
    const accPath = page.getByTestId('chart-acc').locator('[data-series="test_acc"] path.nl-line');
    expect(await accPath.getAttribute('d')).toMatch(/^M[\d.]+,[\d.]+/);
    expect(statusWhenFirstEpochShowed).toBe('running'); // the curve updated live, not after the fact
    await expect.poll(() => page.getByTestId('run-progress').locator('progress').count(), { timeout: 30_000 }).toBe(1);
    await page.evaluate(() => document.querySelector('.main')?.scrollTo(0, 0));
    await page.screenshot({ path: artifact('runs-training.png') });
    // Epoch 2 arrives as an event: the line gains a segment.
    await expect.poll(async () => ((await accPath.getAttribute('d')) ?? '').split('L').length, { timeout: 120_000, interval: 300 }).toBeGreaterThanOrEqual(2);

    // Both runs finish, in order; the small one's curve and numbers are there.
    await expect.poll(() => warm.getAttribute('data-status'), { timeout: 180_000, interval: 500 }).toBe('done');
    await expect.poll(() => small.getAttribute('data-status'), { timeout: 180_000, interval: 500 }).toBe('done');
    expect(await warm.getByTestId('run-epochs').innerText()).toBe('3/3');
    expect(await small.getByTestId('run-epochs').innerText()).toBe('1/1');
    await small.click();
    await expect.poll(() => page.getByTestId('detail-status').innerText()).toBe('done');
    await expect.poll(() => page.getByTestId('epoch-table').locator('tbody tr').count()).toBe(1);
    const lossText = await page.getByTestId('chart-loss').innerHTML();
    for (const label of ['training', 'validation', 'test', 'loss (cross-entropy)', 'epoch']) expect(lossText).toContain(label);
    expect(await page.getByTestId('chart-loss').locator('[data-series="train_loss"] path.nl-line').getAttribute('d')).toMatch(/^M[\d.]+,[\d.]+/);
    const row = await small.innerText();
    expect(row).toMatch(/\d+\.\d\d%/);
    expect(row).toContain('mnist-sample');
    const smallRecord = JSON.parse(readFileSync(join(workspace, 'runs', (await small.getAttribute('data-run'))!, 'run.json'), 'utf8'));
    expect(smallRecord.settings).toMatchObject({ epochs: 1, trainLimit: 500, testLimit: 200, shuffle: true, bnMomentum: 0.1, data: 'mnist-sample' });
    // The list names norm and batch, then only what differs from the defaults (none here).
    for (const k of ['norm batch', 'batch 128']) expect(row.replace(/\s+/g, ' ')).toContain(k);
    expect(row).not.toContain('lr 0.05');
    // The per-step loss of its one epoch (500 images less 10% held out for validation = 450, in batches of 128: 4 steps) was kept.
    expect(((await page.locator('[data-testid="chart-steps"] path.nl-line:not(.nl-raw)').getAttribute('d')) ?? '').split('L')).toHaveLength(4);
    // One epoch is one point per curve (training, validation, test): drawn as a dot, since a line through one point is invisible.
    expect(await page.getByTestId('chart-acc').locator('circle.nl-dot').count()).toBe(3);
    await page.evaluate(() => document.querySelector('.main')?.scrollTo(0, 0));
    await page.screenshot({ path: artifact('runs-done.png') });

    // Delete asks first; "Keep it" keeps it, "Delete run" removes it from the list and the disk.
    const smallId = (await small.getAttribute('data-run'))!;
    await page.getByTestId('run-delete').click();
    const dialog = page.getByTestId('confirm-dialog');
    await dialog.waitFor();
    expect(await dialog.innerText()).toContain('Delete run small slice?');
    await page.screenshot({ path: artifact('runs-delete-confirm.png') });
    await page.getByTestId('confirm-cancel').click();
    expect(await dialog.count()).toBe(0);
    expect(await page.getByTestId('run-row').count()).toBe(2);
    expect(existsSync(join(workspace, 'runs', smallId))).toBe(true);
    await page.getByTestId('run-delete').click();
    await page.getByTestId('confirm-ok').click();
    await expect.poll(() => page.getByTestId('run-row').count()).toBe(1);
    expect(existsSync(join(workspace, 'runs', smallId))).toBe(false);

    // Compare selected carries the ids to the Compare view.
    const warmId = (await warm.getAttribute('data-run'))!;
    await warm.locator('input[type="checkbox"]').check();
    await page.getByTestId('compare-selected').click();
    await expect.poll(() => page.evaluate(() => location.hash)).toBe(`#/compare?runs=${warmId}`);
    expect(problems).toEqual([]);
  });
});
