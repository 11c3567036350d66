import * as nodeFs from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

/**
 * Every disk access of the store goes through this interface, so that tests (and the disk-full
 * case of issue 11) can put faults exactly where a real disk would produce them.
 * Synchronous on purpose: files are small, and a write that returns has reached the disk.
 */
export interface FileLayer {
  /**
   * Replaces `path` with `data` so that a reader sees the old file or the new one, never a mix:
   * temp file in the same folder, fsync, rename, fsync of the folder. When `keepPrevious` is
   * given, the old file is first renamed there, so one older good copy survives the write.
   * On failure the temp file is removed, the old file is untouched, and the error is rethrown.
   */
  writeFileAtomic(path: string, data: string | Uint8Array, opts?: { keepPrevious?: string }): void;
  /** Appends one line and fsyncs; starts on a new line if the file does not end with one (a torn line). */
  appendLine(path: string, line: string): void;
  readFile(path: string): Buffer;
  readdir(path: string): string[];
  stat(path: string): { size: number; mtimeMs: number; isDirectory: boolean };
  rm(path: string, opts?: { recursive?: boolean }): void;
  /** Creates the folder and its parents; no error if it exists. */
  mkdir(path: string): void;
  rename(from: string, to: string): void;
  exists(path: string): boolean;
}

/** The parts of node:fs the default layer uses; a test passes a copy with one function replaced. */
export type FsLike = Pick<
  typeof nodeFs,
  | 'openSync' | 'writeSync' | 'fsyncSync' | 'closeSync' | 'renameSync' | 'unlinkSync' | 'readFileSync'
  | 'readdirSync' | 'statSync' | 'rmSync' | 'mkdirSync' | 'existsSync' | 'fstatSync' | 'readSync'
>;

/** Suffix of every temp file the store writes; `<name>.<pid>.<random>.tmp`, so a stale one names its owner. */
export const TMP_SUFFIX = '.tmp';
const TMP_RE = /\.(\d+)\.[0-9a-f]{8}\.tmp$/;

/** The pid that wrote a temp file, or null if the name is not one of ours. */
export function tmpOwner(name: string): number | null {
  const m = TMP_RE.exec(name);
  return m ? Number(m[1]) : null;
}

/** Name of a fresh temp file next to `path`. */
export function tmpPathFor(path: string): string {
  return join(dirname(path), `${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}${TMP_SUFFIX}`);
}

function writeAll(fs: FsLike, fd: number, data: Uint8Array): void {
  let off = 0;
  while (off < data.length) off += fs.writeSync(fd, data, off, data.length - off);
}

/** The default layer over node:fs (or a stand-in with the same functions). */
export function nodeFileLayer(fs: FsLike = nodeFs): FileLayer {
  const fsyncDir = (dir: string): void => {
    // A folder fsync makes the rename itself durable; Windows cannot open folders, so failures are ignored.
    let fd: number | undefined;
    try {
      fd = fs.openSync(dir, 'r');
      fs.fsyncSync(fd);
    } catch {
      /* best effort */
    } finally {
      if (fd !== undefined) try { fs.closeSync(fd); } catch { /* ignore */ }
    }
  };
  const unlinkQuiet = (p: string): void => {
    try { fs.unlinkSync(p); } catch { /* already gone */ }
  };

  return {
    writeFileAtomic(path, data, opts) {
      const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
      const tmp = tmpPathFor(path);
      try {
        const fd = fs.openSync(tmp, 'wx', 0o644);
        try {
          writeAll(fs, fd, bytes);
          fs.fsyncSync(fd);
        } finally {
          fs.closeSync(fd);
        }
        if (opts?.keepPrevious && fs.existsSync(path)) fs.renameSync(path, opts.keepPrevious);
        fs.renameSync(tmp, path);
      } catch (err) {
        unlinkQuiet(tmp);
        throw err;
      }
      fsyncDir(dirname(path));
    },

    appendLine(path, line) {
      if (line.includes('\n')) throw new Error(`appendLine: the line for ${path} contains a newline`);
      const fd = fs.openSync(path, 'a+', 0o644);
      try {
        let prefix = '';
        const size = fs.fstatSync(fd).size;
        if (size > 0) {
          const last = Buffer.alloc(1);
          fs.readSync(fd, last, 0, 1, size - 1);
          if (last[0] !== 0x0a) prefix = '\n';
        }
        writeAll(fs, fd, Buffer.from(prefix + line + '\n', 'utf8'));
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    },

    readFile: (path) => fs.readFileSync(path),
    readdir: (path) => fs.readdirSync(path),
    stat(path) {
      const s = fs.statSync(path);
      return { size: s.size, mtimeMs: s.mtimeMs, isDirectory: s.isDirectory() };
    },
    rm: (path, opts) => fs.rmSync(path, { force: true, recursive: opts?.recursive ?? false }),
    mkdir: (path) => void fs.mkdirSync(path, { recursive: true }),
    rename: (from, to) => fs.renameSync(from, to),
    exists: (path) => fs.existsSync(path),
  };
}
