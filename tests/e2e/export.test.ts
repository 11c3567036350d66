/// <reference lib="dom" />
/**
 * ONNX export end to end: a run trained on real MNIST digits, exported, inferred and
 * benchmarked through `normlab export|infer|bench-infer`, then the Export view in Chromium
 * (browser mode): export with BN folded, parity and audit shown, benchmark, download.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { resolveSettings } from '../../src-main/contract/settings';
import { initBackend } from '../../src-main/engine/backend';
import { JOBS } from '../../src-main/host/jobs';
import { Workspace } from '../../src-main/store/workspace';
import { artifact, launchChromium, missingPrerequisite, ROOT, serve, type Served } from './helpers';

const missing = missingPrerequisite();
const CLI = join(ROOT, 'bin/normlab.js');

function normlab(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describe.skipIf(missing)(`ONNX export${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let workspace: string;
  let runId: string;
  let browser: Browser | undefined;

  beforeAll(async () => {
    workspace = mkdtempSync(join(tmpdir(), 'normlab-e2e-export-'));
    // The run is trained in this process by the train job itself (as the worker would run it), so
    // this test exercises the export paths and not the training start-up.
    await initBackend();
    const ws = new Workspace(workspace);
    const s = resolveSettings({ data: 'mnist-sample', epochs: 1, trainLimit: 800, testLimit: 300, batch: 50 });
    if (!s.ok) throw new Error(JSON.stringify(s.issues));
    runId = ws.createRun(s.value).id;
    await JOBS.train({ runId, resume: false }, { jobId: 'e2e', workspace, progress: () => {}, emit: () => {}, cancelled: () => false });
    expect(ws.getRun(runId).status).toBe('done');
  });

  afterAll(async () => {
    await browser?.close();
    rmSync(workspace, { recursive: true, force: true });
  });

  it('normlab export / infer / bench-infer', () => {
    const file = join(workspace, 'out', 's5.onnx');
    // `--out` never creates folders (a typo'd path is an error, not a new tree): make it first.
    mkdirSync(join(workspace, 'out'));
    const ex = normlab(['export', runId, '--out', file, '--fold-bn', '--json', '--workspace', workspace]);
    expect(ex.stderr).toBe('');
    expect(ex.code).toBe(0);
    const r = JSON.parse(ex.stdout);
    expect(r).toMatchObject({ file, checkpoint: 'best', foldBn: true, opset: 17 });
    expect(r.parity.ok).toBe(true);
    expect(r.parity.maxAbsDiff).toBeLessThanOrEqual(1e-4);
    expect(JSON.parse(readFileSync(`${file}.json`, 'utf8')).parity).toEqual(r.parity);
    expect(statSync(join(workspace, 'runs', runId, 'exports', 's5.onnx.json')).size).toBeGreaterThan(100);

    const inf = normlab(['infer', file, '--data', 'mnist-sample', '--limit', '300', '--json']);
    expect(inf.code).toBe(0);
    const i = JSON.parse(inf.stdout);
    const metrics = readFileSync(join(workspace, 'runs', runId, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(i.images).toBe(300);
    expect(i.accuracy).toBeCloseTo(metrics[0].test_acc, 6);
    expect(i.normalization).toBe('metadata');
    expect(i.images_per_s).toBeGreaterThan(0);

    const bad = join(workspace, 'bad.onnx');
    writeFileSync(bad, 'this is not a protobuf');
    const b = normlab(['infer', bad, '--data', 'mnist-sample']);
    expect(b.code).toBe(1);
    expect(b.stderr).toMatch(new RegExp(`^normlab infer: ${bad.replace(/[.]/g, '\\.')} is not a valid ONNX model: `));
    expect(b.stderr).not.toMatch(/\n\s+at /);

    const bi = normlab(['bench-infer', runId, '--json', '--workspace', workspace]);
    expect(bi.code).toBe(0);
    const rows = JSON.parse(bi.stdout).rows as { engine: string; threads: number | null; images_per_s: number }[];
    expect(rows.map((x) => `${x.engine}/${x.threads}`)).toEqual(['tfjs/null', 'ort/1', 'ort/2', 'ort-folded/1', 'ort-folded/2']);
  });

  it('Export view: export with BN folded, parity, audit, benchmark, download', async () => {
    browser = await launchChromium();
    const server: Served = await serve(workspace);
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
      const problems: string[] = [];
      page.on('pageerror', (e) => problems.push(e.message));
      page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
      await page.goto(`${server.url}#/export?run=${runId}`);
      await page.getByTestId('export-run').waitFor({ timeout: 60_000 });
      expect(await page.getByTestId('export-run').inputValue()).toBe(runId);
      await page.getByTestId('export-fold').check();
      await page.getByTestId('export-button').click();
      await page.getByTestId('parity').waitFor({ timeout: 120_000 });
      await expect.poll(() => page.getByTestId('parity').innerText(), { timeout: 120_000 }).toContain('✓ matches');
      const maxText = await page.getByTestId('parity-max').innerText();
      expect(Number(maxText)).toBeLessThanOrEqual(1e-4);
      expect(await page.getByTestId('bn-table').locator('tbody tr').count()).toBe(6);
      expect(await page.getByTestId('bn-table').innerText()).toContain('into conv1');
      const nodes = await page.getByTestId('node-table').innerText();
      expect(nodes).toContain('[N, 8, 26, 26]');
      expect(nodes).not.toContain('BatchNormalization');
      expect(await page.getByTestId('audit').innerText()).toContain('dropout');

      await page.getByTestId('bench-button').click();
      await page.getByTestId('bench').waitFor({ timeout: 180_000 });
      expect(await page.getByTestId('bench').locator('tbody tr').count()).toBe(5);
      expect(await page.getByTestId('bench').locator('svg rect').count()).toBe(5);

      const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-button').click()]);
      expect(download.suggestedFilename()).toMatch(/\.onnx$/);
      const saved = join(workspace, 'downloaded.onnx');
      await download.saveAs(saved);
      expect(statSync(saved).size).toBeGreaterThan(10_000);

      await page.screenshot({ path: artifact('export-view.png'), fullPage: true });
      await page.getByTestId('bench').scrollIntoViewIfNeeded();
      await page.screenshot({ path: artifact('export-bench.png') });
      expect(problems).toEqual([]);
    } finally {
      await server.stop();
    }
  });
});
