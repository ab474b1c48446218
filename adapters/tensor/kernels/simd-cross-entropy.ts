/**
 * The backward pass over [rows, vocab] of the fused cross-entropy (wasm-cross-entropy.ts), p · coefficient per row,
 * as WebAssembly SIMD on the heap, with a JS version where SIMD is missing. At vocab 32000 and 1024 positions:
 * ~50 ms in the JS loop, ~13 ms in f32x4 lanes (Node 20, this machine, loaded).
 *
 * Pointers are byte offsets into the heap, lengths counts of float32 elements; nothing here allocates.
 */
import {
  advance,
  assemble,
  at,
  byteEnds,
  F32,
  F32_LOAD,
  F32_MUL,
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
  V_MUL,
  V_SPLAT,
  V_STORE,
  V128,
  type WasmMemory,
} from './wasm-asm.ts';

export interface CrossEntropyLoops {
  /** o[r · len + j] = p[r · len + j] · coef[r]. */
  scaleRows(o: number, p: number, rows: number, len: number, coef: number): void;
}

// scaleRows(o, p, rows, len, coef); locals: byte offset, its two ends, the row's coefficient (scalar, 4 lanes)
const [O, P, R, L, COEF] = [0, 1, 2, 3, 4];
const [K, K_END4, K_END, C, CV] = [5, 6, 7, 8, 9];
const SCALE_ROWS = func(
  [
    [3, I32],
    [1, F32],
    [1, V128],
  ],
  [
    byteEnds(L, K_END4, K_END),
    forRows(R, [
      [i32(0), set(K), get(COEF), F32_LOAD, set(C), get(C), V_SPLAT, set(CV)],
      loopWhile(K, K_END4, 16, [at(O, K), at(P, K), V_LOAD, get(CV), V_MUL, V_STORE]),
      loopWhile(K, K_END, 4, [at(O, K), at(P, K), F32_LOAD, get(C), F32_MUL, F32_STORE]),
      [get(COEF), i32(4), I32_ADD, set(COEF)],
      advance(O, K_END),
      advance(P, K_END),
    ]),
  ],
);

const MODULE = assemble([['scaleRows', [I32, I32, I32, I32, I32], SCALE_ROWS]]);

/** The SIMD pass bound to `memory`, or null where this runtime lacks wasm SIMD or the memory is shared. */
export function simdCrossEntropyLoops(memory: WasmMemory): CrossEntropyLoops | null {
  return instantiate<CrossEntropyLoops>(MODULE, memory);
}

/** The same pass in JS over a view of `heap()` (looked up per call: growing the heap replaces the buffer). */
export function jsCrossEntropyLoops(heap: () => ArrayBufferLike): CrossEntropyLoops {
  return {
    scaleRows(o, p, rows, len, coef) {
      const f = new Float32Array(heap());
      for (let r = 0; r < rows; r++) {
        const c = f[(coef >>> 2) + r] as number;
        const [from, to] = [(p >>> 2) + r * len, (o >>> 2) + r * len];
        for (let j = 0; j < len; j++) f[to + j] = (f[from + j] as number) * c;
      }
    },
  };
}
