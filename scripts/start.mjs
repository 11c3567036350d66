#!/usr/bin/env node
// `npm start`: build when the sources are newer than out/, then open the Electron window, or
// browser mode when the Electron binary is missing (it downloads on first use, which needs the
// internet) or there is no display.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const at = (...p) => join(root, ...p);

const OUTPUTS = ['out/main/electron.js', 'out/main/cli.js', 'out/main/worker.js', 'out/preload/preload.cjs', 'out/renderer/index.html'];
const SOURCES = ['src-main', 'src-renderer', 'resources', 'electron.vite.config.ts', 'package.json', 'tsconfig.json', 'tsconfig.web.json'];

function newestMtime(path) {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = 0;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

/** Rebuild only when an output is missing or older than the newest source file. */
function buildIfStale() {
  const outputs = OUTPUTS.map((p) => at(p));
  const oldestOutput = outputs.every(existsSync) ? Math.min(...outputs.map((p) => statSync(p).mtimeMs)) : 0;
  const newestSource = Math.max(...SOURCES.map((p) => newestMtime(at(p))));
  if (oldestOutput >= newestSource) return;
  console.log(oldestOutput ? 'Sources changed: rebuilding NormLab…' : 'Building NormLab…');
  const r = spawnSync(process.execPath, [at('node_modules/electron-vite/bin/electron-vite.js'), 'build'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error('The build failed (see above); fix it and run npm start again.');
    process.exit(r.status ?? 1);
  }
}

/** Path of the Electron executable, or null when its download never happened. */
function electronBinary() {
  const pathFile = at('node_modules/electron/path.txt');
  if (!existsSync(pathFile)) return null;
  const exe = at('node_modules/electron/dist', readFileSync(pathFile, 'utf8').trim());
  return existsSync(exe) ? exe : null;
}

function tryInstallElectron() {
  const installer = at('node_modules/electron/install.js');
  if (!existsSync(installer)) return false;
  console.log('Electron binary not found: trying to download it (60 s at most)…');
  const r = spawnSync(process.execPath, [installer], { cwd: at('node_modules/electron'), stdio: 'ignore', timeout: 60_000 });
  return r.status === 0 && electronBinary() !== null;
}

/** Run a child in the foreground, passing Ctrl-C on, and exit with its code. */
function foreground(cmd, args, env = process.env) {
  const child = spawn(cmd, args, { cwd: root, stdio: 'inherit', env });
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

function browserMode() {
  foreground(process.execPath, [at('bin/normlab.js'), 'serve', '--open']);
}

buildIfStale();

const noDisplay = process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY;
let electron = electronBinary();
if (!electron && tryInstallElectron()) electron = electronBinary();

if (!electron) {
  console.log('Electron binary missing (it downloads from the internet on first use, which failed): run `npx install-electron` on a machine with internet — opening browser mode instead.');
  browserMode();
} else if (noDisplay) {
  console.log('No display found (DISPLAY/WAYLAND_DISPLAY unset) — opening browser mode instead.');
  browserMode();
} else {
  const env = { ...process.env };
  delete env.ELECTRON_RUN_AS_NODE;
  foreground(electron, [root], env);
}
