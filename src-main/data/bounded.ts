/**
 * Bounded reads of dataset files. Every input is checked before its bytes are read: only regular
 * files are opened (a FIFO would block, a link to /dev/zero never ends), an IDX header's claimed
 * size must match the file (raw) or bound the inflated stream (gzip, streamed, never inflated
 * past that claim), and nothing larger than the cap is read at all. A refused input leaves no big
 * buffer behind, so memory returns to its baseline.
 */
import { constants, type Stats } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import { DatasetError, parseIdxHeader, type Idx } from './idx';

/** Most bytes one dataset file may hold (data after its header); NORMLAB_MAX_DATA_BYTES overrides. */
export const DEFAULT_MAX_FILE_BYTES = 1024 ** 3;

/** Deflate cannot compress better than about 1032:1, so a claim beyond this ratio is a lie. */
const MAX_DEFLATE_RATIO = 1032;

export function maxFileBytes(): number {
  const env = Number(process.env.NORMLAB_MAX_DATA_BYTES);
  return Number.isFinite(env) && env > 0 ? env : DEFAULT_MAX_FILE_BYTES;
}

function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a named pipe (FIFO)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/**
 * Opens a regular file for reading without blocking (a FIFO opened O_NONBLOCK returns at once and
 * is then refused by fstat) and returns its handle and size.
 * @throws DatasetError naming the file: missing, unreadable, or not a regular file.
 */
export async function openRegular(path: string, what = 'a dataset file'): Promise<{ fh: FileHandle; size: number }> {
  let fh: FileHandle;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DatasetError(path, code === 'ENOENT' ? 'file not found' : `cannot be read (${code ?? (e as Error).message})`);
  }
  const st = await fh.stat();
  if (!st.isFile()) {
    await fh.close();
    throw new DatasetError(path, `is ${kindOf(st)}, expected ${what} (only regular files are read)`);
  }
  return { fh, size: st.size };
}

/** Reads a small regular text file (class names), refusing anything over `limit` bytes. */
export async function readSmallText(path: string, limit = 1024 * 1024): Promise<string> {
  const { fh, size } = await openRegular(path, 'a text file');
  try {
    if (size > limit) throw new DatasetError(path, `is ${size} bytes; a class-name list is at most ${limit} bytes`);
    const buf = new Uint8Array(size);
    await readFully(fh, buf, 0, path);
    return new TextDecoder().decode(buf);
  } finally {
    await fh.close();
  }
}

async function readFully(fh: FileHandle, buf: Uint8Array, position: number, path: string): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const { bytesRead } = await fh.read(buf, off, buf.length - off, position + off);
    if (bytesRead === 0) throw new DatasetError(path, `truncated: ended after ${position + off} bytes while reading`);
    off += bytesRead;
  }
}

/**
 * Reads one IDX file (.gz or raw) within bounds. Raw: the header is read first and the file's
 * size must equal header + claimed data before the data is read. Gzip: inflated as a stream; the
 * header is checked as soon as it arrives, and the stream is stopped the moment it would pass the
 * claimed size or the cap.
 * @throws DatasetError naming the file and what is wrong.
 */
export async function readIdxBounded(path: string, cap = maxFileBytes()): Promise<Idx> {
  const { fh, size } = await openRegular(path, 'an IDX file');
  try {
    const head = new Uint8Array(Math.min(size, 2));
    await readFully(fh, head, 0, path);
    const gz = size >= 2 && head[0] === 0x1f && head[1] === 0x8b;
    return gz ? await readGzip(fh, size, path, cap) : await readRaw(fh, size, path, cap);
  } finally {
    await fh.close();
  }
}

async function readRaw(fh: FileHandle, size: number, path: string, cap: number): Promise<Idx> {
  const first = new Uint8Array(Math.min(size, 4));
  await readFully(fh, first, 0, path);
  let header = parseIdxHeader(first, path, true);
  if (header.need > first.length) {
    const more = new Uint8Array(Math.min(size, header.need));
    await readFully(fh, more, 0, path);
    header = parseIdxHeader(more, path);
  }
  const { dims, headerBytes, dataBytes } = header.parsed!;
  checkCap(dataBytes, dims, path, cap);
  const present = size - headerBytes;
  if (present < dataBytes) {
    throw new DatasetError(path, `truncated: dimensions ${dims.join('x')} need ${dataBytes} bytes of data but only ${present} are present`);
  }
  if (present > dataBytes) {
    throw new DatasetError(path, `${present - dataBytes} unexpected bytes after the ${dims.join('x')} data (damaged or not an IDX file)`);
  }
  const data = new Uint8Array(dataBytes);
  await readFully(fh, data, headerBytes, path);
  return { dims, data };
}

function checkCap(dataBytes: number, dims: number[], path: string, cap: number): void {
  if (dataBytes > cap) {
    throw new DatasetError(
      path,
      `its header claims ${dims.join('x')} = ${dataBytes} bytes, more than the ${cap}-byte limit for one dataset file (set NORMLAB_MAX_DATA_BYTES to raise it)`,
    );
  }
}

function readGzip(fh: FileHandle, size: number, path: string, cap: number): Promise<Idx> {
  return new Promise<Idx>((resolvePromise, reject) => {
    const source = fh.createReadStream({ start: 0, autoClose: false, highWaterMark: 256 * 1024 });
    const gunzip = createGunzip({ chunkSize: 256 * 1024 });
    let headerBuf = new Uint8Array(0);
    let parsed: { dims: number[]; headerBytes: number; dataBytes: number } | undefined;
    let data: Uint8Array | undefined;
    let filled = 0;
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      data = undefined;
      source.unpipe(gunzip);
      source.destroy();
      gunzip.destroy();
      reject(err);
    };
    gunzip.on('data', (chunk: Buffer) => {
      if (settled) return;
      let bytes: Uint8Array = chunk;
      if (!parsed) {
        const joined = new Uint8Array(headerBuf.length + bytes.length);
        joined.set(headerBuf);
        joined.set(bytes, headerBuf.length);
        let h: ReturnType<typeof parseIdxHeader>;
        try {
          h = parseIdxHeader(joined, path, true);
        } catch (e) {
          fail(e as Error);
          return;
        }
        if (!h.parsed) {
          headerBuf = joined;
          return;
        }
        parsed = h.parsed;
        try {
          checkCap(parsed.dataBytes, parsed.dims, path, cap);
          const most = size * MAX_DEFLATE_RATIO;
          if (parsed.headerBytes + parsed.dataBytes > most) {
            throw new DatasetError(
              path,
              `its header claims ${parsed.dims.join('x')} = ${parsed.dataBytes} bytes, but a ${size}-byte gzip file cannot hold more than about ${most} (truncated or damaged)`,
            );
          }
        } catch (e) {
          fail(e as Error);
          return;
        }
        data = new Uint8Array(parsed.dataBytes);
        bytes = joined.subarray(parsed.headerBytes);
        headerBuf = new Uint8Array(0);
      }
      if (filled + bytes.length > parsed.dataBytes) {
        fail(new DatasetError(path, `inflates past the ${parsed.dims.join('x')} data its header claims (unexpected bytes after ${parsed.headerBytes + parsed.dataBytes}; damaged, or not an IDX file)`));
        return;
      }
      data!.set(bytes, filled);
      filled += bytes.length;
    });
    gunzip.on('error', (e) => fail(new DatasetError(path, `not a valid gzip file (${e.message})`)));
    source.on('error', (e) => fail(new DatasetError(path, `cannot be read (${(e as NodeJS.ErrnoException).code ?? e.message})`)));
    gunzip.on('end', () => {
      if (settled) return;
      if (!parsed) {
        try {
          parseIdxHeader(headerBuf, path);
        } catch (e) {
          fail(e as Error);
          return;
        }
        fail(new DatasetError(path, 'not an IDX file (empty after decompression)'));
        return;
      }
      if (filled < parsed.dataBytes) {
        fail(new DatasetError(path, `truncated: dimensions ${parsed.dims.join('x')} need ${parsed.dataBytes} bytes of data but only ${filled} are present`));
        return;
      }
      settled = true;
      resolvePromise({ dims: parsed.dims, data: data! });
    });
    source.pipe(gunzip);
  });
}
