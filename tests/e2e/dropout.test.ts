/**
 * Dropout ensemble end to end: real runs trained with the CLI (1 epoch on 1,000 MNIST digits with
 * dropout 0.1, and one without dropout), `normlab dropout` on the command line, then the view in
 * Chromium: curve, histogram, image grid, cancel, and the no-dropout message with its action.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import type { DropoutReport, DropoutUnavailable } from '../../src-main/contract/dropout';
import { artifact, launchChromium, missingPrerequisite, ROOT, serve, type Served, watchProblems } from './helpers';

const missing = missingPrerequisite();

function cli(args: string[], workspace: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/normlab.js'), ...args, '--workspace', workspace], { cwd: ROOT, encoding: 'utf8', timeout: 240_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function trainRun(workspace: string, flags: string[]): string {
  const r = cli(['train', '--data', 'mnist-sample', '--epochs', '1', '--batch', '32', '--optimizer', 'adam', '--lr', '0.01', '--norm', 'batch', '--json', ...flags], workspace);
  expect(r.code, r.stderr).toBe(0);
  const last = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { run_id: string };
  return last.run_id;
}

describe.skipIf(missing)(`dropout ensemble end to end${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let browser: Browser;
  let workspace: string;
  let withDropout: string;
  let plain: string;

  beforeAll(async () => {
    workspace = mkdtempSync(join(tmpdir(), 'normlab-e2e-dropout-'));
    withDropout = trainRun(workspace, ['--train-limit', '1000', '--test-limit', '500', '--dropout', '0.1', '--name', 'mc-demo']);
    plain = trainRun(workspace, ['--train-limit', '200', '--test-limit', '100', '--dropout', '0', '--name', 'plain']);
    browser = await launchChromium();
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    rmSync(workspace, { recursive: true, force: true });
  });

  it('normlab dropout: JSON report for a dropout run, a clear message and exit 1 without dropout', () => {
    const r = cli(['dropout', withDropout, '--samples', '8', '--test-limit', '200', '--seed', '3', '--json'], workspace);
    expect(r.code, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout) as DropoutReport;
    expect(rep.status).toBe('ok');
    expect(rep.curve).toHaveLength(8);
    expect(rep.images).toBe(200);
    expect(rep.checkpoint.tag).toBe('best');
    expect(rep.gallery[0]).not.toHaveProperty('pixels');
    const human = cli(['dropout', withDropout, '--samples', '4', '--test-limit', '100'], workspace);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/weight-scaled network +accuracy \d+\.\d\d%/);
    expect(human.stdout).toMatch(/MC ensemble \(K=4 *\) +accuracy/);
    const none = cli(['dropout', plain, '--json'], workspace);
    expect(none.code).toBe(1);
    const u = JSON.parse(none.stdout) as DropoutUnavailable;
    expect(u).toMatchObject({ status: 'unavailable', reason: 'no-dropout' });
    const bad = cli(['dropout', withDropout, '--samples', '999'], workspace);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--samples expects an integer in 1..256, got "999"');
  });

  it('view: accuracy-vs-K with the weight-scaling line, entropy histogram, uncertain images; cancel; no-dropout action', async () => {
    const server: Served = await serve(workspace);
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      const problems = watchProblems(page);
      await page.goto(`${server.url}#/dropout?run=${withDropout}`);
      await expect.poll(() => page.getByTestId('dropout-run').inputValue(), { timeout: 60_000 }).toBe(withDropout);

      // Cancel a long analysis while it runs.
      await page.getByTestId('dropout-samples').fill('256');
      await page.getByTestId('dropout-run-button').click();
      const cancelButton = page.getByTestId('dropout-cancel');
      await expect.poll(() => cancelButton.isEnabled(), { timeout: 60_000 }).toBe(true);
      await expect.poll(async () => (await page.getByTestId('dropout-progress').textContent()) ?? '', { timeout: 60_000 }).toMatch(/mask \d+\/256/);
      await cancelButton.click();
      await expect.poll(async () => (await page.getByTestId('dropout-notice').textContent()) ?? '', { timeout: 60_000 }).toContain('Cancelled');

      await page.getByTestId('dropout-samples').fill('32');
      await page.getByTestId('dropout-run-button').click();
      const summary = page.getByTestId('dropout-summary');
      await summary.waitFor({ timeout: 240_000 });
      expect(await page.getByTestId('dropout-ensemble-acc').textContent()).toMatch(/^\d+\.\d\d%$/);
      const chart = page.getByTestId('dropout-acc-chart');
      const legend = await chart.locator('.nl-legend-item').allTextContents();
      expect(legend).toEqual(['MC ensemble of the first K masks', 'single mask K alone', 'weight-scaled network (no masks)']);
      expect(await chart.locator('.nl-axis-label').allTextContents()).toEqual(expect.arrayContaining(['masks K', 'test accuracy (%)']));
      expect(await page.getByTestId('dropout-grid').locator('.tile').count()).toBe(24);
      const hist = page.getByTestId('dropout-entropy-hist');
      // Two series of bars (empty bins draw nothing) under a y axis of image counts.
      expect(await hist.locator('.nl-series').count()).toBe(2);
      expect(await hist.locator('.nl-series rect').count()).toBeGreaterThan(3);
      expect(await hist.locator('.nl-axis-label').allTextContents()).toEqual(expect.arrayContaining(['images']));
      expect(await hist.locator('.nl-legend-item').allTextContents()).toEqual([expect.stringMatching(/^correct \(\d+\)$/), expect.stringMatching(/^wrong \(\d+\)$/)]);
      // The app scrolls inside its main pane, so a tall viewport is what captures the whole view.
      await page.setViewportSize({ width: 1400, height: 3000 });
      await page.waitForTimeout(500);
      const shot = artifact('dropout-view.png');
      await page.screenshot({ path: shot, fullPage: true });
      expect(statSync(shot).size).toBeGreaterThan(50_000);

      // A run without dropout: the message and the action, never an empty chart.
      await page.setViewportSize({ width: 1400, height: 1000 });
      // Selecting it is enough: the service answers without a job, before any click.
      await page.getByTestId('dropout-run').selectOption(plain);
      const card = page.getByTestId('dropout-unavailable');
      await card.waitFor({ timeout: 60_000 });
      expect(await card.textContent()).toContain('was trained without dropout');
      expect(await page.getByTestId('dropout-acc-chart').count()).toBe(0);
      await page.screenshot({ path: artifact('dropout-no-dropout.png') });
      await page.getByTestId('dropout-start-copy').click();
      await expect.poll(async () => (await page.getByTestId('dropout-notice').textContent()) ?? '', { timeout: 60_000 }).toMatch(/^Started run \S+ \(plain \+ dropout 0\.1\)/);
      expect(problems).toEqual([]);
    } finally {
      await server.stop();
    }
  });
});
