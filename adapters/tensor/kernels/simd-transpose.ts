/**
 * Attention's head / position swap, [a, b, c, d] → [a, c, b, d] for float32 (Transpose with perm [0, 2, 1, 3]), as
 * one WebAssembly SIMD pass on the tfjs wasm heap: every run of d elements is copied with f32x4 loads and stores.
 * tfjs-backend-wasm 4.22's Transpose took ~0.4 ns per element in isolation and ~0.8 in a prefill step (18 calls per
 * step over [8, 6, 64, 48]); a copy of whole runs costs a fraction of that. A JS version where SIMD is missing.
 *
 * Pointers are byte offsets into the heap, sizes counts of float32 elements; nothing here allocates.
 */
import {
  advance,
  assemble,
  at,
  byteEnds,
  F32_LOAD,
  F32_STORE,
  forRows,
  func,
  get,
  I32,
  I32_ADD,
  i32,
  instantiate,
  loopWhile,
  set,
  V_LOAD,
  V_STORE,
  type WasmMemory,
} from './wasm-asm.ts';

export interface TransposeLoops {
  /** o[i, k, j, :] = x[i, j, k, :] for x [a, b, c, d] (row-major), o [a, c, b, d]. */
  swap12(o: number, x: number, a: number, b: number, c: number, d: number): void;
}

const I32_MUL = 0x6c;

// swap12(o, x, a, b, c, d); locals: a run's byte ends, the row of c runs' and the output row's bytes, counters,
// the source and destination of the current run, offset
const [O, X, A, B, C, D] = [0, 1, 2, 3, 4, 5];
const [DE4, DE, OROW, J, K, SRC, DST, T, XI] = [6, 7, 8, 9, 10, 11, 12, 13, 14];
const SWAP12 = func(
  [[9, I32]],
  [
    byteEnds(D, DE4, DE),
    // output rows [b, d] are b · d · 4 bytes apart: destination of x[i, j, k] is o + i·c·b·d + k·b·d + j·d
    [get(B), get(DE), I32_MUL, set(OROW)],
    forRows(A, [
      [get(O), set(XI), get(B), set(J)],
      // XI: o + i·c·b·d + j·d, the destination of x[i, j, 0]; X walks the input in order
      forRows(J, [
        [get(XI), set(DST), get(C), set(K)],
        forRows(K, [
          [get(X), set(SRC), i32(0), set(T)],
          loopWhile(T, DE4, 16, [at(DST, T), at(SRC, T), V_LOAD, V_STORE]),
          loopWhile(T, DE, 4, [at(DST, T), at(SRC, T), F32_LOAD, F32_STORE]),
          advance(X, DE),
          advance(DST, OROW),
        ]),
        advance(XI, DE),
      ]),
      // the next i starts c · b · d elements further on in the output
      [get(O), get(C), get(OROW), I32_MUL, I32_ADD, set(O)],
    ]),
  ],
);

const MODULE = assemble([['swap12', [I32, I32, I32, I32, I32, I32], SWAP12]]);

/** The SIMD pass bound to `memory`, or null where this runtime lacks wasm SIMD or the memory is shared. */
export function simdTransposeLoops(memory: WasmMemory): TransposeLoops | null {
  return instantiate<TransposeLoops>(MODULE, memory);
}

/** The same pass in JS over a view of `heap()` (looked up per call: growing the heap replaces the buffer). */
export function jsTransposeLoops(heap: () => ArrayBufferLike): TransposeLoops {
  return {
    swap12(o, x, a, b, c, d) {
      const h = new Float32Array(heap());
      const [o4, x4] = [o >>> 2, x >>> 2];
      for (let i = 0; i < a; i++)
        for (let j = 0; j < b; j++)
          for (let k = 0; k < c; k++) {
            const src = x4 + ((i * b + j) * c + k) * d;
            h.copyWithin(o4 + ((i * c + k) * b + j) * d, src, src + d);
          }
    },
  };
}
