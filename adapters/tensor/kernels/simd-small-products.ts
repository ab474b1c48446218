/**
 * Small matrix products as WebAssembly SIMD on the heap, for batched products whose matrices are too small to be
 * worth a BLAS call each: mixed-adapter LoRA's per-row products (x_row · A_rowᵀ, then · B_rowᵀ; BGMV in S-LoRA's
 * terms) and decoding attention's per-head q · kᵀ and p · v. Through the BLAS each matrix was one FFI call (~1 µs);
 * here a whole batch is one pass. JS versions stand in where SIMD is missing.
 *
 * Pointers are byte offsets into the heap, sizes counts of float32 elements; nothing here allocates.
 */
import {
  acrossLanes,
  advance,
  assemble,
  at,
  byteEnds,
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
  I32_ADD,
  i32,
  instantiate,
  loopWhile,
  set,
  V_ADD,
  V_LOAD,
  V_MUL,
  V_SPLAT,
  V_STORE,
  V128,
  type Code,
  I32_SHL,
  type WasmMemory,
} from './wasm-asm.ts';

export interface SmallProductLoops {
  /** o[r, j] = Σ_t x[r, t] · w[j, t] for x [m, k], w [n, k] (x · wᵀ: every output a dot product of two rows). */
  dotRows(o: number, x: number, w: number, m: number, n: number, k: number): void;
  /** o[r, :] = Σ_t x[r, t] · b[t, :] for x [m, k], b [k, n] (x · b: rows of b scaled and summed). */
  sumRows(o: number, x: number, b: number, m: number, n: number, k: number): void;
}

const ZERO4: Code = [F32_ZERO, V_SPLAT];

// dotRows(o, x, w, m, n, k); locals: its two byte ends of a row of k, the w row, the row counter, offset, sums
const [O, X, W, M, N, K] = [0, 1, 2, 3, 4, 5];
const [KE4, KE, WR, J, T, S, ACC] = [6, 7, 8, 9, 10, 11, 12];
const DOT_ROWS = func(
  [
    [5, I32],
    [1, F32],
    [1, V128],
  ],
  [
    byteEnds(K, KE4, KE),
    forRows(M, [
      [get(W), set(WR), get(N), set(J)],
      forRows(J, [
        [i32(0), set(T), ZERO4, set(ACC)],
        loopWhile(T, KE4, 16, [get(ACC), at(X, T), V_LOAD, at(WR, T), V_LOAD, V_MUL, V_ADD, set(ACC)]),
        acrossLanes(ACC, F32_ADD),
        set(S),
        loopWhile(T, KE, 4, [get(S), at(X, T), F32_LOAD, at(WR, T), F32_LOAD, F32_MUL, F32_ADD, set(S)]),
        [get(O), get(S), F32_STORE, get(O), i32(4), I32_ADD, set(O)],
        advance(WR, KE),
      ]),
      advance(X, KE),
    ]),
  ],
);

// sumRows(o, x, b, m, n, k); locals: byte ends of a row of n, x's row end, the b row, x pointer, offset, x value
const [NE4, NE, XE, BR, XP, JB, C, CV] = [6, 7, 8, 9, 10, 11, 12, 13];
const SUM_ROWS = func(
  [
    [6, I32],
    [1, F32],
    [1, V128],
  ],
  [
    byteEnds(N, NE4, NE),
    forRows(M, [
      [i32(0), set(JB)],
      loopWhile(JB, NE4, 16, [at(O, JB), ZERO4, V_STORE]),
      loopWhile(JB, NE, 4, [at(O, JB), F32_ZERO, F32_STORE]),
      [get(X), set(XP), get(X), get(K), i32(2), I32_SHL, I32_ADD, set(XE), get(W), set(BR)],
      loopWhile(XP, XE, 4, [
        [get(XP), F32_LOAD, set(C), get(C), V_SPLAT, set(CV), i32(0), set(JB)],
        loopWhile(JB, NE4, 16, [at(O, JB), at(O, JB), V_LOAD, at(BR, JB), V_LOAD, get(CV), V_MUL, V_ADD, V_STORE]),
        loopWhile(JB, NE, 4, [
          at(O, JB),
          at(O, JB),
          F32_LOAD,
          at(BR, JB),
          F32_LOAD,
          get(C),
          F32_MUL,
          F32_ADD,
          F32_STORE,
        ]),
        advance(BR, NE),
      ]),
      [get(XE), set(X)],
      advance(O, NE),
    ]),
  ],
);

const MODULE = assemble([
  ['dotRows', [I32, I32, I32, I32, I32, I32], DOT_ROWS],
  ['sumRows', [I32, I32, I32, I32, I32, I32], SUM_ROWS],
]);

/** The SIMD loops bound to `memory`, or null where this runtime lacks wasm SIMD or the memory is shared. */
export function simdSmallProductLoops(memory: WasmMemory): SmallProductLoops | null {
  return instantiate<SmallProductLoops>(MODULE, memory);
}

/** The same loops in JS over a view of `heap()` (looked up per call: growing the heap replaces the buffer). */
export function jsSmallProductLoops(heap: () => ArrayBufferLike): SmallProductLoops {
  return {
    dotRows(o, x, w, m, n, k) {
      const f = new Float32Array(heap());
      const [o4, x4, w4] = [o >>> 2, x >>> 2, w >>> 2];
      for (let r = 0; r < m; r++)
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let t = 0; t < k; t++) s += (f[x4 + r * k + t] as number) * (f[w4 + j * k + t] as number);
          f[o4 + r * n + j] = s;
        }
    },
    sumRows(o, x, b, m, n, k) {
      const f = new Float32Array(heap());
      const [o4, x4, b4] = [o >>> 2, x >>> 2, b >>> 2];
      for (let r = 0; r < m; r++) {
        const row = o4 + r * n;
        f.fill(0, row, row + n);
        for (let t = 0; t < k; t++) {
          const c = f[x4 + r * k + t] as number;
          for (let j = 0; j < n; j++) f[row + j] = (f[row + j] as number) + c * (f[b4 + t * n + j] as number);
        }
      }
    },
  };
}
