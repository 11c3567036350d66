import * as zlib from 'node:zlib';

/** CRC-32 (IEEE 802.3, the zlib/PNG one). */
const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** Table version, for Node 20 releases before 20.15 that lack zlib.crc32 (about 10× slower). */
export function crc32Js(bytes: Uint8Array, prev = 0): number {
  let c = (prev ^ 0xffffffff) >>> 0;
  for (let i = 0; i < bytes.length; i++) c = TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const native = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

/** CRC-32 of bytes, continuing from `prev` so that several chunks can be checked as one. */
export function crc32(bytes: Uint8Array, prev = 0): number {
  return native ? native(bytes, prev) >>> 0 : crc32Js(bytes, prev);
}
