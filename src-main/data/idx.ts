/**
 * IDX files (the MNIST family's format): a 4-byte magic `00 00 TYPE NDIMS`, NDIMS big-endian
 * uint32 sizes, then the data row-major. Only unsigned bytes (TYPE 0x08) are read: every
 * dataset NormLab opens stores pixels and labels that way.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import { ApiError } from '../contract/api';

/**
 * A dataset file that cannot be used. The message is `FILE: problem`, meant to be shown as is;
 * it is an ApiError with code 'dataset' so every door reports it without a stack trace.
 */
export class DatasetError extends ApiError {
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super('dataset', `${file}: ${problem}`);
    this.name = 'DatasetError';
  }
}

export interface Idx {
  dims: number[];
  data: Uint8Array;
}

const TYPE_NAMES: Record<number, string> = {
  0x08: 'unsigned byte',
  0x09: 'signed byte',
  0x0b: 'int16',
  0x0c: 'int32',
  0x0d: 'float32',
  0x0e: 'float64',
};

function hex(n: number, width: number): string {
  return '0x' + n.toString(16).toUpperCase().padStart(width, '0');
}

/** In-memory parsing (tests, small files) never inflates past this; files on disk go through bounded.ts. */
const MAX_SYNC_INFLATE = 1024 ** 3;

/**
 * Checks an IDX header: magic, type (unsigned bytes only) and dimensions. With `partial`, a
 * prefix too short to hold the whole header returns `need` (bytes wanted) instead of throwing.
 * `dataBytes` is the size the header claims for the data that follows it.
 * @throws DatasetError on a wrong magic, an unsupported type or a truncated header.
 */
export function parseIdxHeader(
  raw: Uint8Array,
  file: string,
  partial = false,
): { need: number; parsed?: { dims: number[]; headerBytes: number; dataBytes: number } } {
  if (raw.length < 4) {
    if (partial) return { need: 4 };
    throw new DatasetError(file, `not an IDX file (only ${raw.length} bytes, the header alone needs at least 4)`);
  }
  const magic = ((raw[0] << 24) | (raw[1] << 16) | (raw[2] << 8) | raw[3]) >>> 0;
  const type = raw[2];
  const ndims = raw[3];
  if (raw[0] !== 0 || raw[1] !== 0 || !(type in TYPE_NAMES) || ndims === 0) {
    throw new DatasetError(
      file,
      `not an IDX file (magic number ${hex(magic, 8)}; expected 0x00000801 for labels or 0x00000803 for images)`,
    );
  }
  if (type !== 0x08) {
    throw new DatasetError(
      file,
      `IDX data type ${hex(type, 2)} (${TYPE_NAMES[type]}) is not supported; only unsigned bytes (0x08) are`,
    );
  }
  const headerBytes = 4 + 4 * ndims;
  if (raw.length < headerBytes) {
    if (partial) return { need: headerBytes };
    throw new DatasetError(file, `truncated: the header of a ${ndims}-dimensional IDX file needs ${headerBytes} bytes, the file has ${raw.length}`);
  }
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const dims: number[] = [];
  let dataBytes = 1;
  for (let i = 0; i < ndims; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    dims.push(d);
    dataBytes *= d;
  }
  return { need: headerBytes, parsed: { dims, headerBytes, dataBytes } };
}

/**
 * Parses an unsigned-byte IDX file, gzip-compressed (detected by its magic 1F 8B) or raw.
 * `file` only names the file in errors. The returned data is a view on the (decompressed) bytes.
 * @throws DatasetError on bad gzip, wrong magic, a type other than 0x08, or truncated data.
 */
export function readIdx(bytes: Uint8Array, file: string): Idx {
  let raw = bytes;
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      raw = gunzipSync(bytes, { maxOutputLength: MAX_SYNC_INFLATE });
    } catch (e) {
      throw new DatasetError(file, `not a valid gzip file (${(e as Error).message})`);
    }
  }
  const { dims, headerBytes, dataBytes: size } = parseIdxHeader(raw, file).parsed!;
  const present = raw.length - headerBytes;
  if (present < size) {
    throw new DatasetError(
      file,
      `truncated: dimensions ${dims.join('x')} need ${size} bytes of data but only ${present} are present`,
    );
  }
  if (present > size) {
    throw new DatasetError(file, `${present - size} unexpected bytes after the ${dims.join('x')} data (damaged or not an IDX file)`);
  }
  // A plain Uint8Array view, not a Node Buffer (whose slice() would not copy).
  return { dims, data: new Uint8Array(raw.buffer, raw.byteOffset + headerBytes, size) };
}

/**
 * Reads an IDX file from disk (gz or raw).
 * @throws DatasetError when the file is missing or unreadable, plus every error of readIdx.
 */
export function readIdxFile(path: string): Idx {
  return readIdx(readBytes(path), path);
}

/** Reads a file's bytes, turning a missing or unreadable file into a DatasetError. */
export function readBytes(path: string): Uint8Array {
  if (!existsSync(path)) throw new DatasetError(path, 'file not found');
  const st = statSync(path);
  if (st.isDirectory()) throw new DatasetError(path, 'is a folder, expected an IDX file');
  if (!st.isFile()) throw new DatasetError(path, 'is not a regular file (a pipe, device or socket), expected an IDX file');
  try {
    return readFileSync(path);
  } catch (e) {
    throw new DatasetError(path, `cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/** Encodes bytes as an unsigned-byte IDX file (gzip-compressed when `gzip`). Used by tests and exports. */
export function encodeIdx(dims: number[], data: Uint8Array, gzip = false): Uint8Array {
  const size = dims.reduce((a, b) => a * b, 1);
  if (size !== data.length) throw new Error(`encodeIdx: dims ${dims.join('x')} hold ${size} values, data has ${data.length}`);
  const out = new Uint8Array(4 + 4 * dims.length + size);
  const view = new DataView(out.buffer);
  out[2] = 0x08;
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return gzip ? gzipSync(out) : out;
}

export interface ImageSet {
  count: number;
  height: number;
  width: number;
  channels: number;
  data: Uint8Array;
}

/**
 * Checks that an IDX file holds N images of the expected size: dims [N, H, W] or [N, H, W, 1].
 * @throws DatasetError naming the file and the dims found.
 */
export function imagesFromIdx(idx: Idx, file: string, height = 28, width = 28): ImageSet {
  const { dims } = idx;
  const shapeOk =
    (dims.length === 3 || (dims.length === 4 && dims[3] === 1)) && dims[1] === height && dims[2] === width;
  if (!shapeOk) {
    if (dims.length === 1) {
      throw new DatasetError(file, `holds ${dims[0]} labels (1-D), expected images (${height}x${width}); are the image and label files swapped?`);
    }
    throw new DatasetError(file, `images are ${dims.slice(1).join('x')}, expected ${height}x${width} (dimensions ${dims.join('x')})`);
  }
  return { count: dims[0], height, width, channels: 1, data: idx.data };
}

/**
 * Checks that an IDX file holds a 1-D list of labels.
 * @throws DatasetError naming the file and the dims found.
 */
export function labelsFromIdx(idx: Idx, file: string): Uint8Array {
  if (idx.dims.length !== 1) {
    throw new DatasetError(file, `expected a 1-D label file, found dimensions ${idx.dims.join('x')}; are the image and label files swapped?`);
  }
  return idx.data;
}

/**
 * Checks that an image file and its label file describe the same number of examples.
 * @throws DatasetError naming the label file.
 */
export function checkCounts(images: ImageSet, labels: Uint8Array, imagesFile: string, labelsFile: string): void {
  if (images.count !== labels.length) {
    throw new DatasetError(labelsFile, `has ${labels.length} labels but ${imagesFile} has ${images.count} images`);
  }
}
