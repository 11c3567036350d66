/// <reference lib="dom" />
/**
 * Browser mode end to end: `normlab serve` → Chromium → the app shell shows the engine backend
 * that came from the worker, the nav, and a clear banner when the server goes away.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { artifact, launchChromium, missingPrerequisite, serve, type Served, watchProblems } from './helpers';

const missing = missingPrerequisite();
const KNOWN_BACKENDS = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

describe.skipIf(missing)(`browser mode in Chromium${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let browser: Browser;
  let workspace: string;

  beforeAll(async () => {
    workspace = mkdtempSync(join(tmpdir(), 'normlab-e2e-'));
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    rmSync(workspace, { recursive: true, force: true });
  });

  it('loads the app, shows the backend from the worker, and survives the server going away', async () => {
    const server: Served = await serve(workspace);
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      const problems = watchProblems(page);
      const response = await page.goto(server.url);
      expect(response?.status()).toBe(200);
      expect(response?.headers()['content-security-policy']).toContain("script-src 'self'");

      const backend = page.getByTestId('backend');
      await expect.poll(() => backend.getAttribute('data-state'), { timeout: 60_000 }).toBe('ready');
      const text = (await backend.textContent())!.trim();
      const name = text.split(' · ')[0];
      expect(KNOWN_BACKENDS).toContain(name);
      // The overview shows the same engine.info answer, with the reason for the choice.
      expect(await page.getByTestId('overview-backend').textContent()).toBe(name);
      expect(await page.getByTestId('jobs').textContent()).toContain('No jobs running');

      // Nav: the overview is live; views not written yet are disabled, not faked.
      const navText = await page.locator('nav').innerText();
      for (const label of ['Model', 'Runs', 'Compare', 'BN', 'Dropout', 'Landscape', 'Weights', 'Misclassified', 'Export']) expect(navText).toContain(label);
      const disabled = await page.locator('nav [aria-disabled="true"]').count();
      const coming = await page.locator('nav small', { hasText: 'coming in this build' }).count();
      expect(coming).toBe(disabled);
      expect(await page.locator('nav a').count() + disabled).toBe(10);
      expect(await page.getByTestId('error-banner').count()).toBe(0);

      const shot = artifact('browser-mode.png');
      await page.screenshot({ path: shot });
      expect(statSync(shot).size).toBeGreaterThan(10_000);
      expect(problems).toEqual([]);

      // The server stops: the page says so instead of failing silently.
      expect(await server.stop()).toBe(0);
      await page.getByTestId('error-banner').waitFor({ timeout: 20_000 });
      expect(await page.getByTestId('error-banner').innerText()).toContain('NormLab is unreachable');
      await page.screenshot({ path: artifact('browser-mode-offline.png') });
      await page.close();
    } finally {
      await server.stop();
    }
  });

  it('uses the backend the worker was forced to (NORMLAB_BACKEND=cpu), and refuses a page without the token', async () => {
    const server = await serve(workspace, { NORMLAB_BACKEND: 'cpu' });
    try {
      const page = await browser.newPage();
      await page.goto(server.url);
      const backend = page.getByTestId('backend');
      await expect.poll(() => backend.getAttribute('data-state'), { timeout: 60_000 }).toBe('ready');
      expect((await backend.textContent())!.trim().split(' · ')[0]).toBe('cpu');

      await page.goto(`http://127.0.0.1:${server.port}/`);
      const banner = page.getByTestId('error-banner');
      await banner.waitFor({ timeout: 10_000 });
      expect(await banner.innerText()).toContain('no access token');

      // A stale token (an earlier launch's address): the server says so, the page says what to do, once.
      const stale = server.token.slice(0, -2) + (server.token.endsWith('AA') ? 'BB' : 'AA');
      await page.goto(`http://127.0.0.1:${server.port}/?token=${stale}`);
      await expect.poll(() => banner.innerText(), { timeout: 10_000 }).toContain('Access refused');
      const text = await banner.innerText();
      expect(text).toContain('refused this page’s access token');
      expect(text).toContain('run `normlab serve` again for a fresh one');
      expect(text).not.toContain('Retrying');
      await page.waitForTimeout(2500);
      expect(await banner.innerText()).toBe(text);
      await page.screenshot({ path: artifact('browser-mode-token-refused.png') });
      await page.close();
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });
});
