/**
 * The rooms of src-main (eslint.config.js ROOMS, rule normlab/rooms): small files linted in
 * memory through ESLint's Node API at paths inside each room. A forbidden import fails lint with
 * a message that names both rooms; the allowed ones pass; a type-only room passes only as
 * `import type`; and every folder of src-main is a room the config knows.
 */
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { ESLint } from 'eslint';

const ROOT = resolve(__dirname, '../../..');
const CONFIG = join(ROOT, 'eslint.config.js');
let eslint: ESLint;
let ROOMS: Record<string, { code: string[]; types?: string[] }>;

beforeAll(async () => {
  eslint = new ESLint({ cwd: ROOT, overrideConfigFile: CONFIG });
  ({ ROOMS } = (await import(pathToFileURL(CONFIG).href)) as { ROOMS: typeof ROOMS });
});

/** The normlab/rooms messages for `code` as if it were src-main/<file>. */
async function rooms(file: string, code: string): Promise<string[]> {
  const [r] = await eslint.lintText(code, { filePath: join(ROOT, 'src-main', file) });
  return r.messages.filter((m) => m.ruleId === 'normlab/rooms').map((m) => m.message);
}

describe('lint keeps the rooms', () => {
  it('engine/ and onnx/ never import each other; host/ composes them', async () => {
    expect(await rooms('engine/probe.ts', "import { ExportError } from '../onnx/export';\nexport { ExportError };\n"))
      .toEqual([expect.stringMatching(/^engine\/ may not import onnx\/ \(rooms only look down; engine\/ may import: contract, model, data\)/)]);
    expect(await rooms('onnx/probe.ts', "import { trainRun } from '../engine/train';\nexport { trainRun };\n"))
      .toEqual([expect.stringMatching(/^onnx\/ may not import engine\//)]);
    // Nested files resolve from their own folder: engine/kernels/x.ts → ../../onnx is onnx/.
    expect(await rooms('engine/kernels/probe.ts', "export { buildTrainGraph } from '../../onnx/train-graph';\n"))
      .toEqual([expect.stringMatching(/^engine\/ may not import onnx\//)]);
    expect(await rooms('host/probe.ts', "import { trainRun } from '../engine/train';\nimport { exportOnnx } from '../onnx/export';\nexport { trainRun, exportOnnx };\n")).toEqual([]);
  });

  it('the CLI goes through the services, never the store or the engine host (static or dynamic import)', async () => {
    expect(await rooms('cli/commands/probe.ts', "import { Workspace } from '../../store/workspace';\nexport { Workspace };\n"))
      .toEqual([expect.stringMatching(/^cli\/ may not import store\//)]);
    expect(await rooms('cli/probe.ts', "export const open = () => import('../store/workspace');\n"))
      .toEqual([expect.stringMatching(/^cli\/ may not import store\//)]);
    expect(await rooms('cli/probe.ts', "import { MAX_PARALLEL } from '../host/engine-host';\nexport { MAX_PARALLEL };\n"))
      .toEqual([expect.stringMatching(/^cli\/ may not import host\//)]);
    expect(await rooms('cli/probe.ts', "import { createServices } from '../services';\nexport { createServices };\n")).toEqual([]);
  });

  it('a type-only room passes only as import type', async () => {
    expect(await rooms('store/probe.ts', "import type { TrainState } from '../engine/model-types';\nexport type { TrainState };\n")).toEqual([]);
    expect(await rooms('store/probe.ts', "import { type TrainState } from '../engine/model-types';\nexport type { TrainState };\n")).toEqual([]);
    expect(await rooms('store/probe.ts', "import { STREAM } from '../engine/rng';\nexport { STREAM };\n"))
      .toEqual(['store/ may import engine/ only for its types (use import type).']);
  });

  it('the pure rooms look at contract/ only; nothing below the doors imports a door or Electron', async () => {
    expect(await rooms('model/probe.ts', "import { permutation } from '../engine/rng';\nexport { permutation };\n")).toEqual([expect.stringMatching(/^model\/ may not import engine\//)]);
    expect(await rooms('data/probe.ts', "import { permutation } from '../engine/rng';\nexport { permutation };\n")).toEqual([expect.stringMatching(/^data\/ may not import engine\//)]);
    expect(await rooms('data/probe.ts', "import { permutation } from '../contract/math/rng';\nexport { permutation };\n")).toEqual([]);
    expect(await rooms('services/probe.ts', "import { startServer } from '../server/server';\nexport { startServer };\n")).toEqual([expect.stringMatching(/^services\/ may not import server\//)]);
    expect(await rooms('services/probe.ts', "import { app } from 'electron';\nexport { app };\n")).toEqual(['services/ may not import Electron: only src-main/electron does.']);
    expect(await rooms('electron/probe.ts', "import { app } from 'electron';\nexport { app };\n")).toEqual([]);
    expect(await rooms('engine/probe.ts', "import x from '../../src-renderer/src/App.svelte';\nexport { x };\n")).toEqual([expect.stringMatching(/a relative import never leaves src-main/)]);
  });

  it('every folder of src-main is a room of the config, and a new one is reported until it is', async () => {
    const folders = readdirSync(join(ROOT, 'src-main'), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();
    expect(Object.keys(ROOMS).sort()).toEqual(folders);
    expect(await rooms('newroom/probe.ts', 'export const x = 1;\n')).toEqual([expect.stringMatching(/^src-main\/newroom\/ is not a room in eslint.config.js ROOMS/)]);
  });
});
