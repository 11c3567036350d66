#!/usr/bin/env node
// The `normlab` command: a thin launcher for the built CLI bundle (out/main/cli.js).
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const cli = fileURLToPath(new URL('../out/main/cli.js', import.meta.url));
if (!existsSync(cli)) {
  process.stderr.write('NormLab is not built: run npm run build\n');
  process.exit(1);
}
const mod = await import(pathToFileURL(cli).href);
const main = mod.main ?? mod.default;
const code = await main(process.argv.slice(2));
// Workers and sockets are closed by the command; exit explicitly so a stray handle cannot hang the shell.
process.exit(typeof code === 'number' ? code : 0);
