/**
 * Electron main process: one hardened window onto the services. The renderer is local files only,
 * reaches the services through one invoke channel whose method names are checked here, and
 * receives events on one channel.
 */
import { app, BrowserWindow, dialog, ipcMain, session, shell, type IpcMainInvokeEvent, type WebContents } from 'electron';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ApiError, METHODS, type ApiErrorShape } from '../contract/api';
import { createServices } from '../services';
import { setRevealHandler } from '../services/onnx';
import { CALL_CHANNEL, EVENT_CHANNEL } from './channels';
import { ELECTRON_CSP } from './security';
import { CrashGuard, crashPageUrl } from './crash-guard';

const here = fileURLToPath(new URL('.', import.meta.url));
const rendererIndex = join(here, '../renderer/index.html');
const rendererRoot = pathToFileURL(join(here, '../renderer/')).href;
const methods = new Set<string>(METHODS);

type Services = Awaited<ReturnType<typeof createServices>>;

function errorShape(err: unknown): ApiErrorShape {
  if (err instanceof ApiError) return err.toShape();
  return { code: 'internal', message: err instanceof Error ? err.message : String(err) };
}

/** True for our own renderer files; anything else (devtools, a stray frame) gets no API. */
function fromOurPage(event: IpcMainInvokeEvent): boolean {
  const url = event.senderFrame?.url ?? '';
  return url.startsWith(rendererRoot);
}

function harden(contents: WebContents): void {
  // Nothing in the app navigates: links to elsewhere are refused, new windows denied.
  contents.on('will-navigate', (e) => e.preventDefault());
  contents.on('will-redirect', (e) => e.preventDefault());
  contents.on('will-attach-webview', (e) => e.preventDefault());
  contents.setWindowOpenHandler(() => ({ action: 'deny' }));
}

function createWindow(workspace: string): BrowserWindow {
  const win = new BrowserWindow({
    width: 1280,
    height: 820,
    minWidth: 900,
    minHeight: 600,
    show: false,
    title: 'NormLab',
    backgroundColor: '#f6f7f9',
    webPreferences: {
      preload: join(here, '../preload/preload.cjs'),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      experimentalFeatures: false,
      webviewTag: false,
      spellcheck: false,
    },
  });
  win.once('ready-to-show', () => win.show());
  const guard = new CrashGuard();
  win.webContents.on('render-process-gone', (_e, details) => {
    if (win.isDestroyed()) return;
    if (guard.onCrash(Date.now()) === 'reload') {
      console.error(`NormLab: the window's renderer stopped (${details.reason}); reloading (${guard.count}).`);
      void win.loadFile(rendererIndex);
    } else {
      console.error(`NormLab: the window's renderer stopped ${guard.count} times in a row (${details.reason}); showing an error page.`);
      void win.loadURL(crashPageUrl(`ended with "${details.reason}" (exit code ${details.exitCode})`, guard.count, workspace));
    }
  });
  void win.loadFile(rendererIndex);
  return win;
}

async function main(): Promise<void> {
  app.enableSandbox();
  app.on('web-contents-created', (_e, contents) => harden(contents));
  await app.whenReady();

  const ses = session.defaultSession;
  ses.setPermissionRequestHandler((_wc, _permission, callback) => callback(false));
  ses.setPermissionCheckHandler(() => false);
  ses.webRequest.onHeadersReceived((details, callback) => {
    callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [ELECTRON_CSP] } });
  });
  // No remote content: only our own files (and devtools) may load.
  ses.webRequest.onBeforeRequest((details, callback) => {
    const ok = details.url.startsWith(rendererRoot) || details.url.startsWith('devtools:') || details.url.startsWith('data:') || details.url.startsWith('blob:');
    callback({ cancel: !ok });
  });

  const workspace = process.env.NORMLAB_WORKSPACE || join(app.getPath('userData'), 'workspace');
  let services: Services;
  try {
    services = await createServices({ workspace });
    // "Open containing folder" for exports: only the desktop door can show a folder.
    setRevealHandler((path) => shell.showItemInFolder(path));
  } catch (err) {
    dialog.showErrorBox('NormLab cannot start', `The workspace at ${workspace} could not be opened:\n${err instanceof Error ? err.message : String(err)}`);
    app.exit(1);
    return;
  }

  ipcMain.handle(CALL_CHANNEL, async (event, method: unknown, params: unknown) => {
    if (!fromOurPage(event)) return { ok: false, error: { code: 'invalid', message: 'Calls are accepted only from the NormLab window' } };
    if (typeof method !== 'string' || !methods.has(method)) {
      return { ok: false, error: { code: 'invalid', message: `Unknown method "${String(method).slice(0, 80)}"` } };
    }
    try {
      return { ok: true, result: await services.handle(method, params ?? {}) };
    } catch (err) {
      return { ok: false, error: errorShape(err) };
    }
  });

  const unsubscribe = services.subscribe((event, payload) => {
    for (const win of BrowserWindow.getAllWindows()) {
      if (!win.isDestroyed()) win.webContents.send(EVENT_CHANNEL, event, payload);
    }
  });

  createWindow(workspace);
  app.on('activate', () => {
    if (BrowserWindow.getAllWindows().length === 0) createWindow(workspace);
  });
  app.on('window-all-closed', () => app.quit());

  let closing = false;
  app.on('before-quit', (e) => {
    if (closing) return;
    closing = true;
    e.preventDefault();
    unsubscribe();
    void services.close().finally(() => app.quit());
  });
}

main().catch((err: unknown) => {
  console.error(`NormLab failed to start: ${err instanceof Error ? err.message : String(err)}`);
  app.exit(1);
});
