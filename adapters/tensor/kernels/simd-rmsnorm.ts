/**
 * RMSNorm's row pass, y = (x · r) · w with r = 1 / √(Σx² / d + ε) per row, on the tfjs wasm heap, with a JS version
 * where wasm SIMD is missing. Every step rounds to float32 in the order the composed ops do (Square, then Mean's
 * sequential sum and division, Add, Rsqrt as 1 / √, Mul, Mul), so the result is bit-identical to theirs: the sum
 * of squares stays one scalar chain for that (a 4-lane sum was no faster at decode's row counts and changed r by
 * ulps); the scaling pass runs in 4 lanes.
 *
 * Pointers are byte offsets into the heap, lengths counts of float32 elements; nothing here allocates.
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
  F32_ZERO,
  forRows,
  func,
  get,
  I32,
  i32,
  instantiate,
  loopWhile,
  set,
  V_LOAD,
  V_MUL,
  V_SPLAT,
  V_STORE,
  V128,
  type WasmMemory,
} from './wasm-asm.ts';

export interface RmsNormLoops {
  /** For each of `rows` rows of d floats: y = (x · r) · w, r = 1 / √(Σx² / d + eps). */
  rows(y: number, x: number, w: number, rows: number, d: number, eps: number): void;
}

const [F32_DIV, F32_SQRT, F32_CONVERT_I32_U] = [0x95, 0x91, 0xb3];
const F32_ONE: Code = [0x43, 0x00, 0x00, 0x80, 0x3f];

// rows(y, x, w, rows, d, eps); locals: offset, the row's byte ends, the sum, r, d as f32, r in 4 lanes
const [Y, X, W, ROWS, D, EPS] = [0, 1, 2, 3, 4, 5];
const [T, END4, END, S, R, DF, RV] = [6, 7, 8, 9, 10, 11, 12];
const ROWS_PASS = func(
  [
    [3, I32],
    [3, F32],
    [1, V128],
  ],
  [
    byteEnds(D, END4, END),
    [get(D), F32_CONVERT_I32_U, set(DF)],
    forRows(ROWS, [
      [i32(0), set(T), F32_ZERO, set(S)],
      loopWhile(T, END, 4, [get(S), at(X, T), F32_LOAD, at(X, T), F32_LOAD, F32_MUL, F32_ADD, set(S)]),
      [F32_ONE, get(S), get(DF), F32_DIV, get(EPS), F32_ADD, F32_SQRT, F32_DIV, set(R), get(R), V_SPLAT, set(RV)],
      [i32(0), set(T)],
      loopWhile(T, END4, 16, [at(Y, T), at(X, T), V_LOAD, get(RV), V_MUL, at(W, T), V_LOAD, V_MUL, V_STORE]),
      loopWhile(T, END, 4, [at(Y, T), at(X, T), F32_LOAD, get(R), F32_MUL, at(W, T), F32_LOAD, F32_MUL, F32_STORE]),
      advance(X, END),
      advance(Y, END),
    ]),
  ],
);

const MODULE = assemble([['rows', [I32, I32, I32, I32, I32, F32], ROWS_PASS]]);

/** The SIMD pass bound to `memory`, or null where this runtime lacks wasm SIMD or the memory is shared. */
export function simdRmsNormLoops(memory: WasmMemory): RmsNormLoops | null {
  return instantiate<RmsNormLoops>(MODULE, memory);
}

/** The same pass in JS over a view of `heap()` (looked up per call: growing the heap replaces the buffer). */
export function jsRmsNormLoops(heap: () => ArrayBufferLike): RmsNormLoops {
  return {
    rows(y, x, w, rows, d, eps) {
      const f = new Float32Array(heap());
      const [y4, x4, w4] = [y >>> 2, x >>> 2, w >>> 2];
      for (let row = 0; row < rows; row++) {
        let s = 0;
        for (let j = 0; j < d; j++) s = Math.fround(s + Math.fround((f[x4 + row * d + j] as number) ** 2));
        const r = Math.fround(1 / Math.fround(Math.sqrt(Math.fround(Math.fround(s / d) + Math.fround(eps)))));
        for (let j = 0; j < d; j++) {
          const xr = Math.fround((f[x4 + row * d + j] as number) * r);
          f[y4 + row * d + j] = xr * (f[w4 + j] as number);
        }
      }
    },
  };
}
