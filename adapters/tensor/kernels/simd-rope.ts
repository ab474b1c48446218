/**
 * The rotation of the RoPE kernel (wasm-rope.ts) as a WebAssembly SIMD pass on the tfjs wasm heap, with a JS version
 * where SIMD is missing. Per (batch, position) row and head, with x1 / x2 the halves of the head and c / s the
 * first half of the row's cos / sin tables (s times `sign`, ±1: the inverse rotation of the backward pass):
 *   y1 = x1·c − x2·s,  y2 = x2·c + x1·s,
 * each product and sum rounded to float32 as the composed ops (Mul, Mul, Add of the negated half) round them.
 * Why SIMD: the JS pass cost ~2.5 ns per element, a quarter of a Llama MLP product's time at prefill; f32x4 lanes
 * cost ~0.3 ns.
 *
 * Pointers are byte offsets into the heap, sizes counts of float32 elements; nothing here allocates.
 */
import {
  advance,
  assemble,
  at,
  byteEnds,
  type Code,
  F32,
  F32_ADD,
  F32_LOAD,
  F32_MUL,
  F32_STORE,
  F32_SUB,
  forRows,
  func,
  get,
  I32,
  I32_ADD,
  I32_SHL,
  i32,
  instantiate,
  loopWhile,
  set,
  V_ADD,
  V_LOAD,
  V_MUL,
  V_SPLAT,
  V_STORE,
  V_SUB,
  V128,
  type WasmMemory,
} from './wasm-asm.ts';

export interface RopeLoops {
  /**
   * o = x rotated: `rows` rows of `heads` heads of `dim` (even) elements each; cos / sin hold one row of `dim` per
   * row (only the first half read); sin is multiplied by `sign`.
   */
  rotate(o: number, x: number, cos: number, sin: number, rows: number, heads: number, dim: number, sign: number): void;
}

const I32_SHR_U = 0x76;

// rotate(o, x, cos, sin, rows, heads, dim, sign); locals: half, its byte ends, row bytes, head counter, offset, the
// second halves' pointers, then c, s, x1, x2 and the sign as f32x4 and as f32
const [O, X, C, S, ROWS, HEADS, DIM, SIGN] = [0, 1, 2, 3, 4, 5, 6, 7];
const [HALF, HB4, HB, DB, H, I, X2, O2] = [8, 9, 10, 11, 12, 13, 14, 15];
const VEC = { c: 16, s: 17, x1: 18, x2: 19, sign: 20 };
const ONE = { c: 21, s: 22, x1: 23, x2: 24, sign: SIGN };

interface Ops {
  load: Code;
  store: Code;
  mul: Code;
  add: Code;
  sub: Code;
}
const VECTOR: Ops = { load: V_LOAD, store: V_STORE, mul: V_MUL, add: V_ADD, sub: V_SUB };
const SCALAR: Ops = { load: F32_LOAD, store: F32_STORE, mul: F32_MUL, add: F32_ADD, sub: F32_SUB };

const step = (o: Ops, l: typeof VEC): Code => [
  [at(C, I), o.load, set(l.c), at(S, I), o.load, get(l.sign), o.mul, set(l.s)],
  [at(X, I), o.load, set(l.x1), at(X2, I), o.load, set(l.x2)],
  [at(O, I), get(l.x1), get(l.c), o.mul, get(l.x2), get(l.s), o.mul, o.sub, o.store],
  [at(O2, I), get(l.x2), get(l.c), o.mul, get(l.x1), get(l.s), o.mul, o.add, o.store],
];

const ROTATE = func(
  [
    [8, I32],
    [5, V128],
    [4, F32],
  ],
  [
    [get(DIM), i32(1), I32_SHR_U, set(HALF)],
    byteEnds(HALF, HB4, HB),
    [get(DIM), i32(2), I32_SHL, set(DB), get(SIGN), V_SPLAT, set(VEC.sign)],
    forRows(ROWS, [
      [get(HEADS), set(H)],
      forRows(H, [
        [get(X), get(HB), I32_ADD, set(X2), get(O), get(HB), I32_ADD, set(O2), i32(0), set(I)],
        loopWhile(I, HB4, 16, [step(VECTOR, VEC)]),
        loopWhile(I, HB, 4, [step(SCALAR, ONE)]),
        advance(X, DB),
        advance(O, DB),
      ]),
      advance(C, DB),
      advance(S, DB),
    ]),
  ],
);

const MODULE = assemble([['rotate', [I32, I32, I32, I32, I32, I32, I32, F32], ROTATE]]);

/** The SIMD pass bound to `memory`, or null where this runtime lacks wasm SIMD or the memory is shared. */
export function simdRopeLoops(memory: WasmMemory): RopeLoops | null {
  return instantiate<RopeLoops>(MODULE, memory);
}

const f = Math.fround;

/** The same pass in JS over a view of `heap()` (looked up per call: growing the heap replaces the buffer). */
export function jsRopeLoops(heap: () => ArrayBufferLike): RopeLoops {
  return {
    rotate(o, x, cos, sin, rows, heads, dim, sign) {
      const h = new Float32Array(heap());
      const half = dim / 2;
      for (let r = 0; r < rows; r++) {
        const table = r * dim;
        for (let k = 0; k < heads; k++) {
          const base = (r * heads + k) * dim;
          for (let i = 0; i < half; i++) {
            const c = h[(cos >>> 2) + table + i] as number;
            const s = sign * (h[(sin >>> 2) + table + i] as number);
            const x1 = h[(x >>> 2) + base + i] as number;
            const x2 = h[(x >>> 2) + base + half + i] as number;
            h[(o >>> 2) + base + i] = f(f(x1 * c) - f(x2 * s));
            h[(o >>> 2) + base + half + i] = f(f(x2 * c) + f(x1 * s));
          }
        }
      }
    },
  };
}
