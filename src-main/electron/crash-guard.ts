/**
 * A renderer that crashes again right after every reload would loop forever. The guard allows a
 * few reloads within a time window, then the window shows an error page instead. Pure: no
 * Electron import, so it is tested directly.
 */
export interface CrashGuardOptions {
  /** Reloads allowed within `windowMs` before giving up. */
  maxReloads?: number;
  windowMs?: number;
}

export class CrashGuard {
  private readonly crashes: number[] = [];
  private readonly maxReloads: number;
  private readonly windowMs: number;

  constructor(opts: CrashGuardOptions = {}) {
    this.maxReloads = opts.maxReloads ?? 3;
    this.windowMs = opts.windowMs ?? 60_000;
  }

  /** Records a crash at `now` (ms); 'reload' while under the limit, then 'give-up'. */
  onCrash(now: number): 'reload' | 'give-up' {
    this.crashes.push(now);
    while (this.crashes.length && now - this.crashes[0] > this.windowMs) this.crashes.shift();
    return this.crashes.length > this.maxReloads ? 'give-up' : 'reload';
  }

  /** Crashes counted in the current window. */
  get count(): number {
    return this.crashes.length;
  }
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** The page shown after the guard gives up, as a data: URL (no script, nothing loaded). */
export function crashPageUrl(reason: string, crashes: number, workspace: string): string {
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>NormLab stopped</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<style>body{font:15px/1.5 system-ui,sans-serif;margin:64px auto;max-width:640px;color:#1d2330;background:#f6f7f9}
h1{font-size:20px}code{background:#e8ebf0;padding:1px 4px;border-radius:3px}</style></head><body>
<h1>NormLab's window stopped ${crashes} times in a row</h1>
<p>The last time it ${escapeHtml(reason)}. NormLab stopped reloading it so that it does not loop.</p>
<p>Your runs are safe on disk in <code>${escapeHtml(workspace)}</code>; runs that were training show as
<em>interrupted</em> and can be resumed.</p>
<p>Quit and start NormLab again. If this keeps happening, the same workbench runs in a browser
(<code>normlab serve</code>) and on the command line (<code>normlab runs</code>).</p>
</body></html>`;
  return `data:text/html;charset=utf-8,${encodeURIComponent(html)}`;
}
