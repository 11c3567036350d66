/**
 * Issue 18, the parts outside the store: exports that stay put (CLI --out never overwrites without
 * --force, never writes through a symlink), browser mode reads only from its data roots, `infer`
 * refuses non-finite outputs and invalid metadata, and Electron stops reloading a crashing window.
 * Real data: the embedded MNIST sample. Each case failed on the main before this change.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeOutFile } from '../../../src-main/cli/common';
import { CrashGuard, crashPageUrl } from '../../../src-main/electron/crash-guard';
import { checkDataPaths, resolveRoots } from '../../../src-main/services/data-roots';
import { inferFile } from '../../../src-main/services/onnx';
import { createServices } from '../../../src-main/services';
import { exportOnnx } from '../../../src-main/onnx/export';
import { initBackend } from '../../../src-main/engine/backend';
import { perturbedModel, specFor } from '../onnx/helpers';

let root: string;
beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'normlab-issue18-'));
  await initBackend();
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('item 2: the CLI writes where it is told, but never over a file or through a link', () => {
  it('refuses an existing file without --force, replaces it with --force, refuses a symlink always', () => {
    const dir = join(root, 'out');
    mkdirSync(dir);
    const file = join(dir, 'model.onnx');
    writeOutFile(file, 'first', false);
    expect(readFileSync(file, 'utf8')).toBe('first');
    expect(() => writeOutFile(file, 'second', false)).toThrow(`${file} exists; add --force to overwrite it`);
    writeOutFile(file, 'second', true);
    expect(readFileSync(file, 'utf8')).toBe('second');

    const precious = join(root, 'precious.txt');
    writeFileSync(precious, 'keep me');
    const link = join(dir, 'link.onnx');
    symlinkSync(precious, link);
    for (const force of [false, true]) expect(() => writeOutFile(link, 'evil', force)).toThrow(/symbolic link/);
    expect(readFileSync(precious, 'utf8')).toBe('keep me');
    // A dangling link is a link too: nothing is created where it points.
    const dangling = join(dir, 'dangling.onnx');
    symlinkSync(join(root, 'nowhere.onnx'), dangling);
    expect(() => writeOutFile(dangling, 'x', true)).toThrow(/symbolic link/);
    expect(existsSync(join(root, 'nowhere.onnx'))).toBe(false);
    expect(() => writeOutFile(join(root, 'no', 'such', 'dir.onnx'), 'x', false)).toThrow(/does not exist/);
  });
});

describe('item 2: browser mode reads datasets only from its roots', () => {
  it('allows named datasets and paths inside a root; refuses others, .. escapes and links out', () => {
    const allowed = join(root, 'datasets');
    const secret = join(root, 'secret');
    mkdirSync(join(allowed, 'kmnist'), { recursive: true });
    mkdirSync(secret);
    symlinkSync(secret, join(allowed, 'sneaky'));
    const roots = resolveRoots([allowed]);
    const ok = (m: string, p: unknown) => expect(() => checkDataPaths(m, p, roots)).not.toThrow();
    const no = (m: string, p: unknown) => expect(() => checkDataPaths(m, p, roots)).toThrow(/outside the folders this browser session may read/);
    ok('runs.start', { settings: { data: 'mnist-sample' } });
    ok('runs.start', { settings: { data: 'fashion-mnist' } });
    ok('runs.start', { settings: { data: join(allowed, 'kmnist') } });
    no('runs.start', { settings: { data: secret } });
    no('runs.start', { settings: { data: join(allowed, '..', 'secret') } });
    no('runs.start', { settings: { data: join(allowed, 'sneaky') } });
    no('onnx.infer', { file: '/etc/passwd', data: 'mnist-sample' });
    no('landscape.images', { data: '/usr/share' });
    expect(() => checkDataPaths('runs.start', { settings: { data: '/tmp' } }, [])).toThrow(/none: start it with normlab serve --data-root DIR/);
    expect(() => resolveRoots([join(root, 'missing')])).toThrow(/--data-root .*missing: no such folder/);
  });

  it('the services of a browser session refuse a path outside its roots before anything runs', async () => {
    const s = await createServices({ workspace: join(root, 'ws-browser'), dataRoots: [join(root, 'datasets')], lazyEngine: true });
    try {
      await expect(s.handle('runs.start', { settings: { data: '/usr/share/datasets/fashion-mnist', epochs: 1 } })).rejects.toMatchObject({ code: 'invalid' });
      await expect(s.handle('onnx.infer', { file: '/etc/hostname', data: 'mnist-sample' })).rejects.toThrow(/onnx.infer: file "\/etc\/hostname" is outside/);
      expect(s.workspace.listRuns()).toEqual([]);
    } finally {
      await s.close();
    }
  });
});

describe('item 7: infer refuses non-finite outputs and invalid metadata', () => {
  const spec = specFor({});
  const write = (name: string, weights: ReturnType<ReturnType<typeof perturbedModel>['getWeights']>, std: string): string => {
    const { bytes } = exportOnnx(spec, weights, { metadata: { dataset: 'mnist-sample', mean: '[0.13]', std } });
    const file = join(root, name);
    writeFileSync(file, bytes);
    return file;
  };

  it('a model whose metadata std is 0 is refused naming the file and the field', async () => {
    const m = perturbedModel(spec);
    const file = write('std0.onnx', m.getWeights(), '[0]');
    m.dispose();
    await expect(inferFile(file, 'mnist-sample', { limit: 64 })).rejects.toThrow(`${file}: metadata "std" is [0]`);
  });

  it('a model that outputs NaN gives an error, not "accuracy 11% loss NaN"', async () => {
    const m = perturbedModel(spec);
    const w = m.getWeights();
    m.dispose();
    const kernel = Object.keys(w).filter((k) => k.endsWith('/kernel')).at(-1)!;
    w[kernel].data.fill(NaN);
    const file = write('nan.onnx', w, '[0.31]');
    await expect(inferFile(file, 'mnist-sample', { limit: 64 })).rejects.toThrow(/outputs are not finite \(NaN or Infinity\) for 64 of 64 images/);
    // The same model with finite weights still scores.
    const good = perturbedModel(spec);
    const ok = await inferFile(write('ok.onnx', good.getWeights(), '[0.31]'), 'mnist-sample', { limit: 64 });
    good.dispose();
    expect(Number.isFinite(ok.loss)).toBe(true);
    expect(ok.images).toBe(64);
  });
});

describe('item 7: a crashing Electron window stops reloading', () => {
  it('reloads three times within a minute, then gives up; a crash a minute later starts over', () => {
    const g = new CrashGuard();
    expect([0, 1000, 2000].map((t) => g.onCrash(t))).toEqual(['reload', 'reload', 'reload']);
    expect(g.onCrash(3000)).toBe('give-up');
    expect(g.count).toBe(4);
    const later = new CrashGuard();
    expect(later.onCrash(0)).toBe('reload');
    expect(later.onCrash(70_000)).toBe('reload');
    expect(later.count).toBe(1);
  });

  it('the error page is inert (no script) and escapes what it shows', () => {
    const url = crashPageUrl('ended with "crashed" <script>', 4, '/home/u/<ws>');
    const html = decodeURIComponent(url.slice(url.indexOf(',') + 1));
    expect(html).toContain("default-src 'none'");
    expect(html).not.toContain('<script>');
    expect(html).toContain('&lt;script&gt;');
    expect(html).toContain('stopped 4 times in a row');
  });
});
