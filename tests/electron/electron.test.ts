/// <reference lib="dom" />
/**
 * The Electron window's hardening, checked in the running app through Playwright's _electron.
 * Skips (one line, with the reason) where the Electron binary was never downloaded.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { _electron, type ElectronApplication, type Page } from 'playwright-core';

const ROOT = resolve(__dirname, '../..');

/** The binary path without requiring 'electron' (that would try to download it). */
function electronBinary(): { path: string } | { missing: string } {
  const pathFile = join(ROOT, 'node_modules/electron/path.txt');
  if (!existsSync(pathFile)) return { missing: 'Electron binary absent (node_modules/electron/path.txt missing; run `npx install-electron` with internet)' };
  const exe = join(ROOT, 'node_modules/electron/dist', readFileSync(pathFile, 'utf8').trim());
  if (!existsSync(exe)) return { missing: `Electron binary absent (${exe} missing; run \`npx install-electron\` with internet)` };
  if (!existsSync(join(ROOT, 'out/main/electron.js'))) return { missing: 'NormLab is not built (run npm run build)' };
  if (process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY && !process.env.NORMLAB_ELECTRON_HEADLESS) {
    return { missing: 'no display for Electron (set DISPLAY, e.g. run under xvfb-run)' };
  }
  return { path: exe };
}

const bin = electronBinary();
const skipReason = 'missing' in bin ? bin.missing : null;
if (skipReason) console.log(`tests/electron skipped: ${skipReason}`);

describe.skipIf(skipReason)(`Electron window${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let app: ElectronApplication;
  let page: Page;
  let workspace: string;

  beforeAll(async () => {
    workspace = mkdtempSync(join(tmpdir(), 'normlab-electron-'));
    mkdirSync(join(workspace, 'user-data'));
    app = await _electron.launch({
      executablePath: (bin as { path: string }).path,
      args: [ROOT, `--user-data-dir=${join(workspace, 'user-data')}`],
      env: { ...process.env, NORMLAB_WORKSPACE: join(workspace, 'ws') } as Record<string, string>,
    });
    page = await app.firstWindow();
    await page.waitForLoadState('domcontentloaded');
  });

  afterAll(async () => {
    await app?.close();
    rmSync(workspace, { recursive: true, force: true });
  });

  it('runs the page with contextIsolation, sandbox, no nodeIntegration and webSecurity', async () => {
    // getLastWebPreferences is what Electron's own specs use; it is missing from the public typings.
    const prefs = await app.evaluate(({ BrowserWindow }) =>
      (BrowserWindow.getAllWindows()[0].webContents as unknown as { getLastWebPreferences(): Record<string, unknown> }).getLastWebPreferences());
    expect(prefs).toMatchObject({ contextIsolation: true, sandbox: true, nodeIntegration: false, webSecurity: true, webviewTag: false });
    expect(await page.evaluate(() => [typeof (globalThis as { require?: unknown }).require, typeof (globalThis as { process?: unknown }).process])).toEqual(['undefined', 'undefined']);
    expect(await page.evaluate(() => Object.keys((window as unknown as { normlab: object }).normlab).sort())).toEqual(['call', 'on']);
  });

  it('has a CSP that blocks inline script', async () => {
    const meta = await page.evaluate(() => document.querySelector('meta[http-equiv="Content-Security-Policy"]')?.getAttribute('content') ?? '');
    expect(meta).toContain("default-src 'none'");
    expect(meta).toContain("script-src 'self'");
    const ran = await page.evaluate(() => {
      const s = document.createElement('script');
      s.textContent = 'window.__inline = 1';
      document.head.appendChild(s);
      return (window as unknown as { __inline?: number }).__inline ?? null;
    });
    expect(ran).toBeNull();
  });

  it('refuses navigation and new windows', async () => {
    const before = page.url();
    expect(before).toMatch(/^file:.*\/out\/renderer\/index\.html/);
    await page.evaluate(() => {
      location.href = 'https://example.com/';
    });
    await page.waitForTimeout(500);
    expect(page.url()).toBe(before);
    expect(await page.evaluate(() => window.open('https://example.com/') === null)).toBe(true);
    await page.waitForTimeout(300);
    expect(app.windows()).toHaveLength(1);
  });

  it('answers an unknown or malformed method with a typed error, a valid call with its result', async () => {
    const call = (method: unknown, params: unknown) =>
      page.evaluate(([m, p]) => (window as unknown as { normlab: { call(m: unknown, p: unknown): Promise<unknown> } }).normlab.call(m, p), [method, params] as const);
    expect(await call('fs.readFile', { path: '/etc/passwd' })).toEqual({ ok: false, error: { code: 'invalid', message: 'Unknown method "fs.readFile"' } });
    expect(await call(42, {})).toMatchObject({ ok: false, error: { code: 'invalid' } });
    expect(await call('runs.get', { id: 42 })).toMatchObject({ ok: false, error: { code: 'invalid' } });
    const info = (await call('engine.info', {})) as { ok: boolean; result: { backend: string } };
    expect(info.ok).toBe(true);
    expect(['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu']).toContain(info.result.backend);
    await page.screenshot({ path: join(ROOT, 'tests/artifacts/electron.png') });
  });
});
