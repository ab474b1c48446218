/**
 * Mixed-adapter LoRA's per-row update (wasm-lora-rows.ts) as one WebAssembly SIMD pass on the tfjs wasm heap, with a
 * JS version where SIMD is missing: for every row r and position, o = Σ_t (s_r · x · A_r[t]) · Bᵀ_r[t] + y, i.e.
 * s_r · (x · A_rᵀ) · B_rᵀ + y with B_r stored transposed ([rank, out]) so both inner loops read contiguous rows.
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
  type WasmMemory,
} from './wasm-asm.ts';

export interface LoraRowsLoops {
  /**
   * o[r, p] = y[r, p] + Σ_t (scale[r] · (x[r, p] · a[r, t])) · bt[r, t] for x [rows, seq, inF], y and o
   * [rows, seq, outF], a [rows, rank, inF], bt [rows, rank, outF], scale [rows].
   */
  rows(
    o: number,
    x: number,
    y: number,
    a: number,
    bt: number,
    scale: number,
    rows: number,
    seq: number,
    inF: number,
    outF: number,
    rank: number,
  ): void;
}

// params
const [O, X, Y, A, BT, SC, ROWS, SEQ, IN, OUT, RANK] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
// locals: byte ends of an input and an output row; A and Bᵀ row sizes; counters; row pointers; offset
const [IN4, INB, OUT4, OUTB, AROW, BROW, S, T, AT, BTT, K] = [11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21];
const [D, SCALE] = [22, 23];
const [ACC, DV] = [24, 25];

const LORA_ROWS = func(
  [
    [11, I32],
    [2, F32],
    [2, V128],
  ],
  [
    byteEnds(IN, IN4, INB),
    byteEnds(OUT, OUT4, OUTB),
    [get(RANK), get(INB), 0x6c, set(AROW), get(RANK), get(OUTB), 0x6c, set(BROW)], // rank · row bytes (i32.mul)
    forRows(ROWS, [
      [get(SC), F32_LOAD, set(SCALE), get(SEQ), set(S)],
      forRows(S, [
        // o = 0: the delta is summed first and y added last, as the composed ops round it
        [i32(0), set(K)],
        loopWhile(K, OUT4, 16, [at(O, K), F32_ZERO, V_SPLAT, V_STORE]),
        loopWhile(K, OUTB, 4, [at(O, K), F32_ZERO, F32_STORE]),
        [get(A), set(AT), get(BT), set(BTT), get(RANK), set(T)],
        forRows(T, [
          // d = scale · (x · a_t)
          [i32(0), set(K), F32_ZERO, V_SPLAT, set(ACC)],
          loopWhile(K, IN4, 16, [get(ACC), at(X, K), V_LOAD, at(AT, K), V_LOAD, V_MUL, V_ADD, set(ACC)]),
          acrossLanes(ACC, F32_ADD),
          set(D),
          loopWhile(K, INB, 4, [get(D), at(X, K), F32_LOAD, at(AT, K), F32_LOAD, F32_MUL, F32_ADD, set(D)]),
          [get(D), get(SCALE), F32_MUL, set(D), get(D), V_SPLAT, set(DV)],
          // o += d · bt_t
          [i32(0), set(K)],
          loopWhile(K, OUT4, 16, [at(O, K), at(O, K), V_LOAD, get(DV), at(BTT, K), V_LOAD, V_MUL, V_ADD, V_STORE]),
          loopWhile(K, OUTB, 4, [
            [at(O, K), at(O, K), F32_LOAD, get(D), at(BTT, K), F32_LOAD, F32_MUL, F32_ADD, F32_STORE],
          ]),
          advance(AT, INB),
          advance(BTT, OUTB),
        ]),
        [i32(0), set(K)],
        loopWhile(K, OUT4, 16, [at(O, K), at(O, K), V_LOAD, at(Y, K), V_LOAD, V_ADD, V_STORE]),
        loopWhile(K, OUTB, 4, [at(O, K), at(O, K), F32_LOAD, at(Y, K), F32_LOAD, F32_ADD, F32_STORE]),
        advance(X, INB),
        advance(Y, OUTB),
        advance(O, OUTB),
      ]),
      advance(A, AROW),
      advance(BT, BROW),
      [get(SC), i32(4), I32_ADD, set(SC)],
    ]),
  ],
);

const MODULE = assemble([['rows', Array.from({ length: 11 }, () => I32), LORA_ROWS]]);

/** The SIMD pass bound to `memory`, or null where this runtime lacks wasm SIMD or the memory is shared. */
export function simdLoraRowsLoops(memory: WasmMemory): LoraRowsLoops | null {
  return instantiate<LoraRowsLoops>(MODULE, memory);
}

/** The same pass in JS over a view of `heap()` (looked up per call: growing the heap replaces the buffer). */
export function jsLoraRowsLoops(heap: () => ArrayBufferLike): LoraRowsLoops {
  return {
    rows(o, x, y, a, bt, scale, rows, seq, inF, outF, rank) {
      const f = new Float32Array(heap());
      for (let r = 0; r < rows; r++) {
        const s = f[(scale >>> 2) + r] as number;
        for (let p = 0; p < seq; p++) {
          const [xi, oi] = [(x >>> 2) + (r * seq + p) * inF, (o >>> 2) + (r * seq + p) * outF];
          f.fill(0, oi, oi + outF);
          for (let t = 0; t < rank; t++) {
            const [ai, bi] = [(a >>> 2) + (r * rank + t) * inF, (bt >>> 2) + (r * rank + t) * outF];
            let d = 0;
            for (let i = 0; i < inF; i++) d += (f[xi + i] as number) * (f[ai + i] as number);
            d = Math.fround(Math.fround(d) * s);
            for (let j = 0; j < outF; j++) f[oi + j] = (f[oi + j] as number) + d * (f[bi + j] as number);
          }
          const yi = (y >>> 2) + (r * seq + p) * outF;
          for (let j = 0; j < outF; j++) f[oi + j] = (f[oi + j] as number) + (f[yi + j] as number);
        }
      }
    },
  };
}
