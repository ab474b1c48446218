/**
 * The two elementwise loops of the masked-softmax kernels (wasm-masked-softmax.ts): WebAssembly SIMD functions
 * that import the tfjs wasm heap's Memory and work on it in place, and plain JS versions where SIMD is missing.
 * Why not JS alone: on Node 20 a JS pass over heap views costs ~1.5–3 ns per element, XNNPACK's binary ops
 * ~0.2–0.4 ns, so the one-pass JS kernels measured slower than the Mul / Add / Sub chain they replaced. With
 * f32x4 lanes a fused pass costs about what one XNNPACK op does, and the fusion saves whole passes.
 *
 * Pointers are byte offsets into the heap, lengths counts of float32 elements; nothing here allocates.
 */

import {
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
  F32_ZERO,
  forRows,
  func,
  get,
  I32,
  I32_ADD,
  i32,
  instantiate,
  lane,
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

export interface RowLoops {
  /** x[i] = s[i] · c + m[i] for i < n, each step rounded to float32 (the composed Mul, then Add). */
  scaleAdd(x: number, s: number, m: number, n: number, c: number): void;
  /** Per row of `len`: o = (g ⊙ p − (Σ g ⊙ p) · p) · c, rows stored back to back. */
  softmaxGrad(o: number, p: number, g: number, rows: number, len: number, c: number): void;
}

// scaleAdd(x, s, m, n, c); locals: byte offset, its two ends, c in 4 lanes
const [X, S, M, N, C] = [0, 1, 2, 3, 4];
const [I, END4, END, CV] = [5, 6, 7, 8];
const SCALE_ADD = func(
  [
    [3, I32],
    [1, V128],
  ],
  [
    [get(C), V_SPLAT, set(CV)],
    byteEnds(N, END4, END),
    loopWhile(I, END4, 16, [at(X, I), at(S, I), V_LOAD, get(CV), V_MUL, at(M, I), V_LOAD, V_ADD, V_STORE]),
    loopWhile(I, END, 4, [at(X, I), at(S, I), F32_LOAD, get(C), F32_MUL, at(M, I), F32_LOAD, F32_ADD, F32_STORE]),
  ],
);

// softmaxGrad(o, p, g, rows, len, c); locals: byte offset, its two ends, lane sums, dot and c in 4 lanes, dot
const [O, P, G, ROWS, LEN, GC] = [0, 1, 2, 3, 4, 5];
const [J, JEND4, JEND, ACC, DOTV, GCV, DOT] = [6, 7, 8, 9, 10, 11, 12];
/** g[j] · p[j] with the given load and multiply */
const gp = (load: Code, mul: Code): Code => [at(G, J), load, at(P, J), load, mul];
/** (g[j]·p[j] − dot·p[j]) · c, with dot and c read from the given locals */
const gradOf = (load: Code, mul: Code, sub: Code, dot: number, c: number): Code => [
  [gp(load, mul), get(dot), at(P, J), load, mul, sub],
  [get(c), mul],
];
const SOFTMAX_GRAD = func(
  [
    [3, I32],
    [3, V128],
    [1, F32],
  ],
  [
    [get(GC), V_SPLAT, set(GCV)],
    byteEnds(LEN, JEND4, JEND),
    forRows(ROWS, [
      [i32(0), set(J), F32_ZERO, V_SPLAT, set(ACC)],
      loopWhile(J, JEND4, 16, [get(ACC), gp(V_LOAD, V_MUL), V_ADD, set(ACC)]),
      [get(ACC), lane(0), get(ACC), lane(1), F32_ADD, get(ACC), lane(2), get(ACC), lane(3), F32_ADD, F32_ADD, set(DOT)],
      loopWhile(J, JEND, 4, [get(DOT), gp(F32_LOAD, F32_MUL), F32_ADD, set(DOT)]),
      [get(DOT), V_SPLAT, set(DOTV), i32(0), set(J)],
      // o = (g·p − dot·p) · c, rounded after each step like the composed Mul, Mul, Sub, Mul
      loopWhile(J, JEND4, 16, [at(O, J), gradOf(V_LOAD, V_MUL, V_SUB, DOTV, GCV), V_STORE]),
      loopWhile(J, JEND, 4, [at(O, J), gradOf(F32_LOAD, F32_MUL, F32_SUB, DOT, GC), F32_STORE]),
      [O, P, G].map((ptr) => [get(ptr), get(JEND), I32_ADD, set(ptr)]), // next row
    ]),
  ],
);

const MODULE = assemble([
  ['scaleAdd', [I32, I32, I32, I32, F32], SCALE_ADD],
  ['softmaxGrad', [I32, I32, I32, I32, I32, F32], SOFTMAX_GRAD],
]);

/** The SIMD loops bound to `memory`, or null where this runtime lacks wasm SIMD or the memory is shared. */
export function simdRowLoops(memory: WasmMemory): RowLoops | null {
  return instantiate<RowLoops>(MODULE, memory);
}

// ---- JS fallback. Row-sized helpers: V8 optimises a small function called per row to code ~2× faster than one
// loop spanning the whole tensor (Node 20: 1.4 vs 3.2 ms for 1.5 M elements).

function scaleAddRow(f: Float32Array, x: number, s: number, m: number, n: number, c: number): void {
  for (let i = 0; i < n; i++) f[x + i] = Math.fround((f[s + i] as number) * c) + (f[m + i] as number);
}

function softmaxGradRow(f: Float32Array, o: number, p: number, g: number, len: number, c: number): void {
  let dot = 0;
  for (let j = 0; j < len; j++) dot += (f[g + j] as number) * (f[p + j] as number);
  const d = Math.fround(dot);
  for (let j = 0; j < len; j++) {
    const pj = f[p + j] as number;
    f[o + j] = Math.fround(Math.fround((f[g + j] as number) * pj) - Math.fround(d * pj)) * c;
  }
}

/** The same loops in JS over a view of `heap()` (looked up per call: growing the heap replaces the buffer). */
export function jsRowLoops(heap: () => ArrayBufferLike): RowLoops {
  const CHUNK = 1024;
  return {
    scaleAdd(x, s, m, n, c) {
      const f = new Float32Array(heap());
      const [xi, si, mi, scale] = [x >>> 2, s >>> 2, m >>> 2, Math.fround(c)];
      for (let i = 0; i < n; i += CHUNK) scaleAddRow(f, xi + i, si + i, mi + i, Math.min(CHUNK, n - i), scale);
    },
    softmaxGrad(o, p, g, rows, len, c) {
      const f = new Float32Array(heap());
      const [oi, pi, gi, scale] = [o >>> 2, p >>> 2, g >>> 2, Math.fround(c)];
      for (let at = 0; at < rows * len; at += len) softmaxGradRow(f, oi + at, pi + at, gi + at, len, scale);
    },
  };
}
