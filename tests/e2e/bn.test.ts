/**
 * BN inspector end to end: real runs trained with the CLI (2 epochs on 1,000 MNIST digits with a
 * BN record every step, and one without normalization), `normlab bn` on the command line
 * (text, --json, --recalibrate, the momentum translator), then the view in Chromium: heatmaps,
 * channel charts, the accuracy table with the batch-of-1 row, running vs population, and the
 * no-BN message. Screenshots in tests/artifacts/bn-*.png.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import type { BnReport } from '../../src-main/contract/bn';
import { artifact, launchChromium, missingPrerequisite, ROOT, serve, type Served, watchProblems } from './helpers';

const missing = missingPrerequisite();

function cli(args: string[], workspace: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/normlab.js'), ...args, '--workspace', workspace], { cwd: ROOT, encoding: 'utf8', timeout: 240_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function trainRun(workspace: string, flags: string[]): string {
  const r = cli(['train', '--data', 'mnist-sample', '--batch', '50', '--json', ...flags], workspace);
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { run_id: string }).run_id;
}

describe.skipIf(missing)(`BN inspector end to end${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let browser: Browser;
  let workspace: string;
  let bnRun: string;
  let noneRun: string;

  beforeAll(async () => {
    workspace = mkdtempSync(join(tmpdir(), 'normlab-e2e-bn-'));
    bnRun = trainRun(workspace, ['--epochs', '2', '--val-split', '0', '--train-limit', '1000', '--test-limit', '300', '--norm', 'batch', '--bn-record-every', '1', '--name', 'bn-demo']);
    noneRun = trainRun(workspace, ['--epochs', '1', '--train-limit', '200', '--test-limit', '100', '--norm', 'none', '--name', 'no-bn']);
    browser = await launchChromium();
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    rmSync(workspace, { recursive: true, force: true });
  });

  it('normlab bn: text and JSON reports, --recalibrate writes the checkpoint, no-BN runs exit 1 with a message', () => {
    const text = cli(['bn', bnRun, '--test-limit', '200', '--channels', '3'], workspace);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain('PyTorch: momentum=0.1');
    expect(text.stdout).toContain('Keras / TF.js: momentum=0.9');
    expect(text.stdout).toMatch(/batch statistics, test batch 1 +acc/);
    expect(text.stdout).toMatch(/timeline check: 40 steps replayed/);

    const j = cli(['bn', bnRun, '--test-limit', '200', '--recalibrate', '--json'], workspace);
    expect(j.code, j.stderr).toBe(0);
    const rep = JSON.parse(j.stdout) as BnReport;
    expect(rep.hasBn).toBe(true);
    expect(rep.layers.map((l) => l.name)).toEqual(['norm1', 'norm2', 'norm3', 'norm4', 'norm5', 'norm6']);
    expect(rep.accuracy.filter((a) => a.mode === 'batch').map((a) => a.batchSize)).toEqual([1, 8, 32, 128, 512]);
    expect(rep.recalibrated!.checkpoint).toBe('recalibrated');
    expect(rep.recalibrated!.accAfter).toBe(rep.accuracy[1].acc);
    expect(rep.lag.filter((p) => p.source.startsWith('records')).map((p) => p.epoch)).toEqual([1, 2]);
    expect(rep.lag.some((p) => /^checkpoint:(best|last)$/.test(p.source) && p.epoch === 2 && p.step === 40)).toBe(true);
    expect(rep.timelineCheck.maxAbsErrMean!).toBeLessThan(1e-5);
    expect(statSync(join(workspace, 'runs', bnRun, 'checkpoints', 'recalibrated.nlck')).size).toBeGreaterThan(1000);

    const none = cli(['bn', noneRun], workspace);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no normalization layers \(norm = none\)/);

    const tr = cli(['bn', '--momentum', '0.99', '--convention', 'keras'], workspace);
    expect(tr.code).toBe(0);
    expect(tr.stdout).toContain('PyTorch: momentum=0.01');
    expect(tr.stdout).toContain('ONNX BatchNormalization: momentum=0.99');
  });

  it('the BN view: heatmaps, channel charts, accuracy table with batch of 1, running vs population; no-BN message', async () => {
    const server: Served = await serve(workspace);
    try {
      const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
      const problems = watchProblems(page);
      await page.goto(`${server.url}#/bn?run=${bnRun}`);
      await page.getByTestId('bn-heatmaps').waitFor({ timeout: 60_000 });
      expect(await page.locator('[data-testid="bn-heatmaps"] canvas.pickable').count()).toBe(12);
      // Each heatmap has its colour scale.
      expect(await page.locator('[data-testid="bn-heatmaps"] .colorbar').count()).toBe(12);
      expect(await page.getByTestId('bn-momentum').innerText()).toMatch(/PyTorch\s+0\.1[\s\S]*Keras \/ TF\.js\s+0\.9[\s\S]*ONNX\s+0\.9/);
      await page.getByTestId('bn-layer').selectOption('norm2');
      await page.getByTestId('bn-channel').selectOption('3');
      await page.getByTestId('bn-inspect').click();
      await page.getByTestId('bn-accuracy').waitFor({ timeout: 240_000 });
      const table = await page.getByTestId('bn-accuracy').innerText();
      for (const b of [1, 8, 32, 128, 512]) expect(table).toContain(`batch statistics, test batch ${b}`);
      expect(table).toContain('running statistics (eval mode)');
      expect(table).toContain('population statistics (precise BN, sequential)');
      expect(table).toMatch(/batch of 1: each image normalized over its own/);
      expect(await page.getByTestId('bn-timeline-check').innerText()).toMatch(/40 steps replayed/);
      expect(await page.locator('figure svg circle').count()).toBe(32);
      // The shell scrolls inside its main pane, so a full-page shot needs a tall viewport.
      await page.setViewportSize({ width: 1440, height: 3200 });
      await page.waitForTimeout(500);
      await page.screenshot({ path: artifact('bn-view.png') });
      expect(statSync(artifact('bn-view.png')).size).toBeGreaterThan(20_000);

      await page.getByTestId('bn-run').selectOption(noneRun);
      await page.getByTestId('bn-none').waitFor({ timeout: 30_000 });
      expect(await page.getByTestId('bn-none').innerText()).toMatch(/no normalization layers/);
      await page.setViewportSize({ width: 1440, height: 900 });
      await page.screenshot({ path: artifact('bn-none.png') });
      expect(problems).toEqual([]);
    } finally {
      await server.stop();
    }
  });
});
