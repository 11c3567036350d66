/**
 * End-to-end helpers: start browser mode exactly as a user does (`node bin/normlab.js serve`)
 * and drive Debian's Chromium through playwright-core. Nothing is built here: run
 * `npm run build` first (npm test does).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

export const ROOT = resolve(__dirname, '../..');
export const ARTIFACTS = join(ROOT, 'tests/artifacts');
export const CHROMIUM = process.env.NORMLAB_CHROMIUM ?? '/usr/bin/chromium';

export interface Served {
  url: string;
  port: number;
  token: string;
  child: ChildProcess;
  /** Everything the command printed so far (stdout and stderr). */
  output(): string;
  stop(): Promise<number | null>;
}

/** Why the e2e tests cannot run here, or null when they can. */
export function missingPrerequisite(): string | null {
  if (!existsSync(join(ROOT, 'out/main/cli.js')) || !existsSync(join(ROOT, 'out/renderer/index.html'))) return 'NormLab is not built (run npm run build)';
  if (!existsSync(CHROMIUM)) return `no Chromium at ${CHROMIUM} (apt-get install chromium)`;
  return null;
}

/** Start `normlab serve --port 0 --workspace DIR` and wait for the URL it prints. */
export function serve(workspace: string, env: Record<string, string> = {}, timeoutMs = 90_000): Promise<Served> {
  const child = spawn(process.execPath, [join(ROOT, 'bin/normlab.js'), 'serve', '--port', '0', '--workspace', workspace], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  const exited = new Promise<number | null>((ok) => child.once('exit', (code) => ok(code)));
  return new Promise((ok, fail) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(new Error(`normlab serve printed no URL within ${timeoutMs} ms:\n${text}`));
    }, timeoutMs);
    const onData = (chunk: Buffer): void => {
      text += chunk.toString();
      const m = /(http:\/\/127\.0\.0\.1:(\d+)\/\?token=([A-Za-z0-9_-]+))/.exec(text);
      if (!m) return;
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      child.stdout!.on('data', (c: Buffer) => (text += c.toString()));
      ok({
        url: m[1],
        port: Number(m[2]),
        token: m[3],
        child,
        output: () => text,
        async stop() {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
          const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
          const code = await exited;
          clearTimeout(t);
          return code;
        },
      });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (c: Buffer) => (text += c.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`normlab serve exited (${code}) before printing a URL:\n${text}`));
    });
  });
}

/** Headless Debian Chromium with everything that would reach the network turned off. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
}

/** Path for a screenshot under tests/artifacts/ (created on demand). */
export function artifact(name: string): string {
  mkdirSync(ARTIFACTS, { recursive: true });
  return join(ARTIFACTS, name);
}

/** Collects console errors, CSP violations and page errors, so a test can assert there were none. */
export function watchProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || /Content Security Policy/i.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  return problems;
}
