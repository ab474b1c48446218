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
  I32_AND,
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
const I32_LT_U = 0x49;
/** f32.load / f32.store at a constant byte offset from the address on the stack */
const loadAt = (offset: number): Code => [0x2a, 2, offset];
const storeAt = (offset: number): Code => [0x38, 2, offset];
/** while (local ≥ 4, unsigned) { body } — the body counts the local down */
const whileFour = (local: number, body: Code[]): Code => [
  [0x02, 0x40, 0x03, 0x40, get(local), i32(4), I32_LT_U, 0x0d, 1],
  body,
  [0x0c, 0, 0x0b, 0x0b],
];

// dotRows(o, x, w, m, n, k); locals: its two byte ends of a row of k, the w rows, the row counter, offset, sums
const [O, X, W, M, N, K] = [0, 1, 2, 3, 4, 5];
const [KE4, KE, WR, J, T] = [6, 7, 8, 9, 10];
const WS = [WR, 11, 12, 13]; // four w rows at a time: each x load serves four dot products
const SS = [14, 15, 16, 17];
const ACCS = [18, 19, 20, 21];
const XV = 22;
const DOT_ROWS = func(
  [
    [8, I32],
    [4, F32],
    [5, V128],
  ],
  [
    byteEnds(K, KE4, KE),
    forRows(M, [
      [get(W), set(WR), get(N), set(J)],
      // Four outputs at once (four independent sums: no wait on one add chain); each sums its terms in the order
      // the one-row loop below does, so the results are the same bits.
      whileFour(J, [
        [1, 2, 3].map((r) => [get(WS[r - 1] as number), get(KE), I32_ADD, set(WS[r] as number)]),
        [i32(0), set(T), ACCS.map((a) => [ZERO4, set(a)])],
        loopWhile(T, KE4, 16, [
          [at(X, T), V_LOAD, set(XV)],
          ACCS.map((a, r) => [get(a), get(XV), at(WS[r] as number, T), V_LOAD, V_MUL, V_ADD, set(a)]),
        ]),
        ACCS.map((a, r) => [acrossLanes(a, F32_ADD), set(SS[r] as number)]),
        loopWhile(T, KE, 4, [
          SS.map((sum, r) => [
            get(sum),
            at(X, T),
            F32_LOAD,
            at(WS[r] as number, T),
            F32_LOAD,
            F32_MUL,
            F32_ADD,
            set(sum),
          ]),
        ]),
        SS.map((sum, r) => [get(O), get(sum), storeAt(4 * r)]),
        [get(O), i32(16), I32_ADD, set(O)],
        [get(WS[3] as number), get(KE), I32_ADD, set(WR), get(J), i32(-4), I32_ADD, set(J)],
      ]),
      forRows(J, [
        [i32(0), set(T), ZERO4, set(ACCS[0] as number)],
        loopWhile(T, KE4, 16, [
          get(ACCS[0] as number),
          at(X, T),
          V_LOAD,
          at(WR, T),
          V_LOAD,
          V_MUL,
          V_ADD,
          set(ACCS[0] as number),
        ]),
        acrossLanes(ACCS[0] as number, F32_ADD),
        set(SS[0] as number),
        loopWhile(T, KE, 4, [
          get(SS[0] as number),
          at(X, T),
          F32_LOAD,
          at(WR, T),
          F32_LOAD,
          F32_MUL,
          F32_ADD,
          set(SS[0] as number),
        ]),
        [get(O), get(SS[0] as number), F32_STORE, get(O), i32(4), I32_ADD, set(O)],
        advance(WR, KE),
      ]),
      advance(X, KE),
    ]),
  ],
);

// sumRows(o, x, b, m, n, k); locals: byte ends of a row of n, x's row ends, the b rows, x pointer, offset, x values
const [NE4, NE, XE, XE4, XP, JB] = [6, 7, 8, 9, 10, 11];
const BS = [12, 13, 14, 15]; // four rows of b at a time: each o load and store serves four of them
const CS = [16, 17, 18, 19];
const CVS = [20, 21, 22, 23];
/** o[jb] + c0·b0[jb] + c1·b1[jb] + … (left to right, as one row at a time adds them) with the given load/mul/add */
const addRows = (rows: number, load: Code, cs: number[], mul: Code, add: Code): Code => [
  [at(O, JB), at(O, JB), load],
  Array.from({ length: rows }, (_, r) => [at(BS[r] as number, JB), load, get(cs[r] as number), mul, add]),
];
const SUM_ROWS = func(
  [
    [10, I32],
    [4, F32],
    [4, V128],
  ],
  [
    byteEnds(N, NE4, NE),
    forRows(M, [
      [i32(0), set(JB)],
      loopWhile(JB, NE4, 16, [at(O, JB), ZERO4, V_STORE]),
      loopWhile(JB, NE, 4, [at(O, JB), F32_ZERO, F32_STORE]),
      [get(X), set(XP), get(X), get(K), i32(2), I32_SHL, I32_ADD, set(XE), get(W), set(BS[0] as number)],
      [get(X), get(K), i32(-4), I32_AND, i32(2), I32_SHL, I32_ADD, set(XE4)],
      loopWhile(XP, XE4, 16, [
        CS.map((c, r) => [get(XP), loadAt(4 * r), set(c), get(c), V_SPLAT, set(CVS[r] as number)]),
        [1, 2, 3].map((r) => [get(BS[r - 1] as number), get(NE), I32_ADD, set(BS[r] as number)]),
        [i32(0), set(JB)],
        loopWhile(JB, NE4, 16, [addRows(4, V_LOAD, CVS, V_MUL, V_ADD), V_STORE]),
        loopWhile(JB, NE, 4, [addRows(4, F32_LOAD, CS, F32_MUL, F32_ADD), F32_STORE]),
        [get(BS[3] as number), get(NE), I32_ADD, set(BS[0] as number)],
      ]),
      loopWhile(XP, XE, 4, [
        [
          get(XP),
          F32_LOAD,
          set(CS[0] as number),
          get(CS[0] as number),
          V_SPLAT,
          set(CVS[0] as number),
          i32(0),
          set(JB),
        ],
        loopWhile(JB, NE4, 16, [addRows(1, V_LOAD, CVS, V_MUL, V_ADD), V_STORE]),
        loopWhile(JB, NE, 4, [addRows(1, F32_LOAD, CS, F32_MUL, F32_ADD), F32_STORE]),
        advance(BS[0] as number, NE),
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
