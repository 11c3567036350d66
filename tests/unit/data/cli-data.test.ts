/**
 * Issue 18 item 7 (data parts), through the real CLI: bad data is refused before a run is created,
 * on stderr, naming the file — an empty split, a stray label 255, class-names.txt as a folder, a FIFO.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli, notBuilt } from '../runs/helpers';
import { idxBytes, realSlice, tempDir, writeFolder } from './helpers';

const missing = notBuilt();
const tmp = tempDir();
afterAll(() => tmp.cleanup());

function folder(sub: string, opts: { trainLabels?: Uint8Array; testCount?: number } = {}): string {
  const s = realSlice(10);
  const m = opts.testCount ?? 4;
  return writeFolder(tmp.dir, sub, {
    'train-images-idx3-ubyte': idxBytes([6, 28, 28], s.images.subarray(0, 6 * 784)),
    'train-labels-idx1-ubyte': idxBytes([6], opts.trainLabels ?? s.labels.subarray(0, 6)),
    't10k-images-idx3-ubyte': idxBytes([m, 28, 28], s.images.subarray(6 * 784, (6 + m) * 784)),
    't10k-labels-idx1-ubyte': idxBytes([m], s.labels.subarray(6, 6 + m)),
  });
}

describe.skipIf(missing)(`bad data through the CLI${missing ? ` (skipped: ${missing})` : ''}`, () => {
  it('refuses each before a run exists: one line on stderr naming the file, nothing on stdout, exit 1', async () => {
    const stray = realSlice(10).labels.slice(0, 6);
    stray[2] = 255;
    const names = folder('names-dir');
    mkdirSync(join(names, 'class-names.txt'));
    const fifo = folder('fifo');
    rmSync(join(fifo, 't10k-images-idx3-ubyte'));
    execFileSync('mkfifo', [join(fifo, 't10k-images-idx3-ubyte')]);
    const cases: [string, string][] = [
      [folder('empty-test', { testCount: 0 }), 't10k-images-idx3-ubyte: holds 0 images'],
      [folder('stray-255', { trainLabels: stray }), 'train-labels-idx1-ubyte: labels run 0..255'],
      [names, 'class-names.txt: is a folder'],
      [fifo, 't10k-images-idx3-ubyte: is a named pipe (FIFO)'],
    ];
    const ws = join(tmp.dir, 'ws');
    for (const [dir, what] of cases) {
      const r = await cli(['train', '--data', dir, '--epochs', '1', '--workspace', ws, '--init']);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stdout).toBe('');
      const lines = r.stderr.split('\n').filter((l) => l.trim());
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toContain(join(dir, what.split(':')[0]));
      expect(lines[0]).toContain(what.split(': ')[1]);
    }
    expect(existsSync(join(ws, 'runs')) ? readdirSync(join(ws, 'runs')) : []).toEqual([]);
  }, 120_000);
});
