/**
 * Dropout masks with WebAssembly SIMD: the same masks as `dropoutMaskNchw` (mulberry32 in NHWC
 * order, keep when u ≥ rate), four pixels of one channel at a time.
 *
 * mulberry32 is counter-based: the i-th draw (0-based) of a stream seeded s is
 * f(s + (i + 1)·0x6d2b79f5), f the output mix. The draw of image b, pixel p, channel k is
 * i = (b·HW + p)·C + k, so pixels p..p+3 of channel k are four independent draws whose states
 * differ by C·0x6d2b79f5 — one i32x4 lane each — and their NCHW positions are adjacent: one
 * 16-byte store. Pixels past the last multiple of 4 are drawn in JavaScript.
 *
 * The module (about 300 bytes) is assembled below rather than shipped as a binary, so what it
 * does is reviewable next to the JavaScript it must equal (tests/unit/host/mask-simd.test.ts
 * checks every mask bit for bit against `dropoutMaskNchw`).
 */

const GOLDEN = 0x6d2b79f5;

/** Unsigned LEB128. */
function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 of a 32-bit integer. */
function sleb(n: number): number[] {
  const out: number[] = [];
  n |= 0;
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()];
const str = (s: string) => [...uleb(s.length), ...Array.from(s, (ch) => ch.charCodeAt(0))];

// Opcodes.
const I32 = 0x7f;
const V128 = 0x7b;
const get = (i: number) => [0x20, ...uleb(i)];
const set = (i: number) => [0x21, ...uleb(i)];
const i32c = (v: number) => [0x41, ...sleb(v)];
const ADD = [0x6a];
const MUL = [0x6c];
const SHL = [0x74];
const GE_U = [0x4f];
const simd = (op: number, ...imm: number[]) => [0xfd, ...uleb(op), ...imm];
const V_SPLAT = simd(0x11);
const V_AND = simd(0x4e);
const V_OR = simd(0x50);
const V_XOR = simd(0x51);
const V_GE_U = simd(0x40);
const V_SHR_U = simd(0xad);
const V_ADD = simd(0xae);
const V_MUL = simd(0xb5);
const V_STORE = simd(0x0b, 2, 0); // memarg: align 2^2, offset 0
const vconst = (lanes: [number, number, number, number]) => {
  const b = new Uint8Array(new Int32Array(lanes).buffer);
  return simd(0x0c, ...b);
};
/** Counted loop: `i` from 0 while i < limit (an i32 on the stack built by `limit`), step `step`. */
const forLoop = (i: number, limit: number[], step: number, body: number[]) => [
  ...i32c(0), ...set(i),
  0x02, 0x40, 0x03, 0x40,
  ...get(i), ...limit, ...GE_U, 0x0d, 1,
  ...body,
  ...get(i), ...i32c(step), ...ADD, ...set(i),
  0x0c, 0,
  0x0b, 0x0b,
];

/**
 * mask(out, n, c, hw, hw4, seed, threshold, scaleBits): for every image b < n, pixel p < hw4 (a
 * multiple of 4) and channel k < c, writes f32 `scale` or 0 at out + 4·((b·c + k)·hw + p).
 */
function assemble(): Uint8Array<ArrayBuffer> {
  // params 0..7: out n c hw hw4 seed threshold scaleBits; i32 locals 8 b, 9 p, 10 k; v128 locals 11 lanes, 12 t, 13 thr, 14 scale.
  const [OUT, N, C, HW, HW4, SEED, THR, SCALE, B, P, K, LANES, T, THRV, SCALEV] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14];
  const xorShift = (s: number) => [...get(T), ...get(T), ...i32c(s), ...V_SHR_U, ...V_XOR];
  const inner = [
    // address: out + 4·((b·c + k)·hw + p)
    ...get(OUT), ...get(B), ...get(C), ...MUL, ...get(K), ...ADD, ...get(HW), ...MUL, ...get(P), ...ADD, ...i32c(2), ...SHL, ...ADD,
    // t = splat(seed + (((b·hw + p)·c + k) + 1)·GOLDEN) + lanes
    ...get(B), ...get(HW), ...MUL, ...get(P), ...ADD, ...get(C), ...MUL, ...get(K), ...ADD, ...i32c(1), ...ADD, ...i32c(GOLDEN), ...MUL, ...get(SEED), ...ADD,
    ...V_SPLAT, ...get(LANES), ...V_ADD, ...set(T),
    // t = imul(t ^ t >>> 15, t | 1)
    ...xorShift(15), ...get(T), ...vconst([1, 1, 1, 1]), ...V_OR, ...V_MUL, ...set(T),
    // t ^= t + imul(t ^ t >>> 7, t | 61)
    ...get(T), ...get(T), ...xorShift(7), ...get(T), ...vconst([61, 61, 61, 61]), ...V_OR, ...V_MUL, ...V_ADD, ...V_XOR, ...set(T),
    // (t ^ t >>> 14) ≥ threshold (unsigned) ? scale : 0
    ...xorShift(14), ...get(THRV), ...V_GE_U, ...get(SCALEV), ...V_AND,
    ...V_STORE,
  ];
  // Locals: 3 × i32 (b, p, k), then 4 × v128 (lanes, t, thr, scale).
  const locals = [...uleb(2), ...uleb(3), I32, ...uleb(4), V128];
  const code = [
    ...locals,
    // lanes = splat(c·GOLDEN) · (0, 1, 2, 3); thr, scale splatted
    ...get(C), ...i32c(GOLDEN), ...MUL, ...V_SPLAT, ...vconst([0, 1, 2, 3]), ...V_MUL, ...set(LANES),
    ...get(THR), ...V_SPLAT, ...set(THRV),
    ...get(SCALE), ...V_SPLAT, ...set(SCALEV),
    ...forLoop(B, get(N), 1, forLoop(P, get(HW4), 4, forLoop(K, get(C), 1, inner))),
    0x0b,
  ];
  const bytes = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([[0x60, ...vec(Array.from({ length: 8 }, () => [I32])), 0]])),
    ...section(2, vec([[...str('env'), ...str('mem'), 0x02, 0x00, 1]])),
    ...section(3, vec([[0]])),
    ...section(7, vec([[...str('mask'), 0x00, 0]])),
    ...section(10, vec([[...uleb(code.length), ...code]])),
  ];
  return new Uint8Array(bytes);
}

type MaskFn = (out: number, n: number, c: number, hw: number, hw4: number, seed: number, threshold: number, scaleBits: number) => void;

/** Draws masks into Float32Arrays through one WebAssembly instance and its memory (grown as needed). */
export class SimdMasks {
  private memory: WebAssembly.Memory;
  private readonly fn: MaskFn;

  private constructor(memory: WebAssembly.Memory, fn: MaskFn) {
    this.memory = memory;
    this.fn = fn;
  }

  /** null where this runtime has no WebAssembly SIMD (the caller then draws in JavaScript). */
  static create(): SimdMasks | null {
    try {
      const bytes = assemble();
      if (!WebAssembly.validate(bytes)) return null;
      const memory = new WebAssembly.Memory({ initial: 1 });
      const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { mem: memory } });
      return new SimdMasks(memory, instance.exports.mask as MaskFn);
    } catch {
      return null;
    }
  }

  /**
   * The pixels p < hw4 (hw rounded down to a multiple of 4) of `out` ([n, c, h, w], NCHW), as
   * dropoutMaskNchw draws them, and returns hw4; the caller draws the pixels from there on (from 0
   * where the module's memory cannot grow to the mask).
   */
  draw(out: Float32Array, n: number, c: number, hw: number, seed: number, threshold: number, scale: number): number {
    const hw4 = hw - (hw % 4);
    if (hw4 === 0) return 0;
    const bytes = n * c * hw * 4;
    const have = this.memory.buffer.byteLength;
    if (bytes > have) {
      try {
        this.memory.grow(Math.ceil((bytes - have) / 65536));
      } catch {
        return 0; // past what a wasm32 memory holds: the caller draws it all in JavaScript
      }
    }
    const bits = new Int32Array(new Float32Array([scale]).buffer)[0];
    this.fn(0, n, c, hw, hw4, seed | 0, threshold | 0, bits);
    out.set(new Float32Array(this.memory.buffer, 0, n * c * hw));
    return hw4;
  }
}
