/**
 * Loss landscape end to end: two real runs (with and without BN, 3 epochs on 600 MNIST digits,
 * per-epoch weights written as the proposed train-job change would), `normlab landscape` on the
 * command line (PNG/SVG/JSON, usage errors), then the view in Chromium: the toy's sliders, the
 * two runs side by side with the trajectory and the 1-D curve, cancel, and the normalization lab.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import type { LandscapeReport } from '../../src-main/contract/landscape';
import { initBackend } from '../../src-main/engine/backend';
import { smallSettings, tempWorkspace, trainedRun } from '../unit/landscape/helpers';
import { artifact, launchChromium, missingPrerequisite, ROOT, serve, type Served, watchProblems } from './helpers';

const missing = missingPrerequisite();

function cli(args: string[], workspace: string): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/normlab.js'), ...args, '--workspace', workspace], { cwd: ROOT, encoding: 'utf8', timeout: 240_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe.skipIf(missing)(`loss landscape end to end${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let browser: Browser;
  let workspace: string;
  let withBn: string;
  let noBn: string;

  beforeAll(async () => {
    await initBackend();
    const t = tempWorkspace('normlab-e2e-landscape-');
    workspace = t.dir;
    withBn = await trainedRun(t.ws, smallSettings({ name: 'with-bn', norm: 'batch' }));
    noBn = await trainedRun(t.ws, smallSettings({ name: 'no-bn', norm: 'none', optimizer: 'adam', lr: 0.003 }));
    browser = await launchChromium();
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    rmSync(workspace, { recursive: true, force: true });
  });

  it('normlab landscape: two runs, trajectory, PNG/SVG/JSON; usage errors exit 2', () => {
    const out = join(workspace, 'plots');
    const r = cli(['landscape', withBn, noBn, '--grid', '7', '--eval-limit', '200', '--trajectory', '--line', '9', '--out', out, '--json'], workspace);
    expect(r.code, r.stderr).toBe(0);
    const { reports, files } = JSON.parse(r.stdout) as { reports: LandscapeReport[]; files: string[] };
    expect(reports.map((x) => x.norm)).toEqual(['batch', 'none']);
    for (const rep of reports) {
      expect(rep.grid.directions).toBe('pca');
      expect(rep.trajectory!.epochs).toEqual([0, 1, 2, 3]);
      expect(rep.trajectory!.explained[0] + rep.trajectory!.explained[1]).toBeLessThanOrEqual(1);
      expect(rep.grid.loss).toHaveLength(49);
      expect(rep.line!.loss).toHaveLength(9);
    }
    for (const f of files) expect(existsSync(f), f).toBe(true);
    expect(files.filter((f) => f.endsWith('.png'))).toHaveLength(3);
    expect(readFileSync(join(out, `landscape-${withBn}.svg`), 'utf8')).toContain('class="legend"');
    const human = cli(['landscape', withBn, '--grid', '5', '--eval-limit', '100', '--line', '0', '--recompute-bn', '--out', out], workspace);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/5×5 grid along two filter-normalized random directions \(seed 1\), BN statistics recomputed per point/);
    expect(human.stdout).toMatch(/\d+\.\d points\/s/);
    const bad = cli(['landscape', withBn, '--grid', '100'], workspace);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--grid expects an integer in 3..61, got "100"');
  });

  it('view: toy sliders redraw at once; two runs side by side with trajectory and 1-D curve; cancel; normalization lab', async () => {
    const server: Served = await serve(workspace);
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      const problems = watchProblems(page);
      await page.goto(`${server.url}#/landscape`);

      // Toy: raw features on scales 1 and 10 are ill-conditioned; moving the scale-2 slider to 1 makes them round.
      const rawSummary = page.getByTestId('toy-raw-summary');
      await rawSummary.waitFor({ timeout: 60_000 });
      const kappa = async () => Number(/κ = ([\d.e+]+)/.exec((await rawSummary.textContent()) ?? '')![1]);
      expect(await kappa()).toBeGreaterThan(50);
      expect(await page.getByTestId('toy-raw').locator('path.level').count()).toBeGreaterThan(5);
      await page.screenshot({ path: artifact('landscape-toy.png') });
      await page.getByTestId('toy-scale2').fill('0');
      await expect.poll(kappa, { timeout: 5_000 }).toBeLessThan(3);
      await page.getByTestId('toy-l1').fill('1.5');
      await expect.poll(async () => page.getByTestId('toy-normalized').locator('text').allTextContents(), { timeout: 5_000 }).toContain('penalized minimum');
      await page.screenshot({ path: artifact('landscape-toy-l1.png') });
      await page.getByTestId('toy-scale2').fill('1');
      await page.getByTestId('toy-lr').fill('-0.3');
      await expect.poll(async () => (await rawSummary.textContent()) ?? '', { timeout: 5_000 }).toContain('DIVERGES');

      // Real network: cancel a big grid, then two runs with the trajectory.
      await page.getByTestId('tab-network').click();
      await page.getByTestId('landscape-run-a').selectOption(withBn);
      await page.getByTestId('landscape-grid').fill('41');
      await page.getByTestId('landscape-compute').click();
      await expect.poll(async () => (await page.getByTestId('landscape-progress').textContent()) ?? '', { timeout: 60_000 }).toMatch(/grid row \d+\/41/);
      await page.getByTestId('landscape-cancel').click();
      await expect.poll(async () => (await page.getByTestId('landscape-error').textContent()) ?? '', { timeout: 60_000 }).toContain('cancelled');

      await page.getByTestId('landscape-run-b').selectOption(noBn);
      await page.getByTestId('landscape-grid').fill('11');
      await page.getByTestId('landscape-eval').fill('300');
      await page.getByTestId('landscape-trajectory').check();
      await page.getByTestId('landscape-compute').click();
      await page.getByTestId('landscape-line').waitFor({ timeout: 240_000 });
      const contours = page.getByTestId('landscape-contour');
      // The second run's plot joins the first when its job ends.
      await expect.poll(() => contours.count(), { timeout: 240_000 }).toBe(2);
      expect(await contours.first().locator('text').allTextContents()).toEqual(expect.arrayContaining([expect.stringMatching(/^PC1 \(\d+\.\d% of variance/), 'test loss (log scale)', 'e0', 'e3']));
      const explained = await page.getByTestId('landscape-explained').allTextContents();
      expect(explained).toHaveLength(2);
      expect(explained[0]).toMatch(/explain \d+\.\d% \+ \d+\.\d% = \d+\.\d%/);
      // Hover read-out.
      const box = await contours.first().locator('svg').boundingBox();
      await page.mouse.move(box!.x + box!.width * 0.4, box!.y + box!.height * 0.5);
      await expect.poll(async () => (await contours.first().getByTestId('landscape-contour-readout').textContent()) ?? '', { timeout: 5_000 }).toMatch(/loss \d/);
      await page.setViewportSize({ width: 1400, height: 2000 });
      await page.waitForTimeout(400);
      const shot = artifact('landscape-network.png');
      await page.screenshot({ path: shot, fullPage: true });
      expect(statSync(shot).size).toBeGreaterThan(50_000);

      await page.setViewportSize({ width: 1400, height: 1100 });
      await page.getByTestId('tab-images').click();
      const lab = page.getByTestId('norm-lab');
      await lab.waitFor({ timeout: 60_000 });
      expect(await lab.locator('canvas').count()).toBe(16);
      await page.waitForTimeout(300);
      await page.screenshot({ path: artifact('landscape-normlab.png') });
      expect(problems).toEqual([]);
    } finally {
      await server.stop();
    }
  });
});
