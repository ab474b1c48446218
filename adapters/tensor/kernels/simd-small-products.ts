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
const XV = 22;
/** Up to four dot products at once, each with its w row pointer, its f32 sum and its f32x4 partial sums. */
const dotLane = (i: number) => ({ w: i === 0 ? WR : 10 + i, sum: 14 + i, acc: 18 + i });
const LANES = [dotLane(0), dotLane(1), dotLane(2), dotLane(3)] as const;
/**
 * The dot products of the x row with the w rows of `lanes`, left in their sums: each x load serves every lane, and
 * each lane sums its terms in one order whatever the number of lanes, so blocks of four give the bits one row gives.
 */
const dots = (lanes: readonly { w: number; sum: number; acc: number }[]): Code => [
  [i32(0), set(T), lanes.map((l) => [ZERO4, set(l.acc)])],
  loopWhile(T, KE4, 16, [
    [at(X, T), V_LOAD, set(XV)],
    lanes.map((l) => [get(l.acc), get(XV), at(l.w, T), V_LOAD, V_MUL, V_ADD, set(l.acc)]),
  ]),
  lanes.map((l) => [acrossLanes(l.acc, F32_ADD), set(l.sum)]),
  loopWhile(T, KE, 4, [
    lanes.map((l) => [get(l.sum), at(X, T), F32_LOAD, at(l.w, T), F32_LOAD, F32_MUL, F32_ADD, set(l.sum)]),
  ]),
];
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
      // four outputs at once (four independent add chains), then one at a time
      whileFour(J, [
        LANES.slice(1).map((l, i) => [get(LANES[i]?.w ?? WR), get(KE), I32_ADD, set(l.w)]),
        dots(LANES),
        LANES.map((l, r) => [get(O), get(l.sum), storeAt(4 * r)]),
        [get(O), i32(16), I32_ADD, set(O)],
        [get(LANES[3].w), get(KE), I32_ADD, set(WR), get(J), i32(-4), I32_ADD, set(J)],
      ]),
      forRows(J, [
        dots([LANES[0]]),
        [get(O), get(LANES[0].sum), F32_STORE, get(O), i32(4), I32_ADD, set(O)],
        advance(WR, KE),
      ]),
      advance(X, KE),
    ]),
  ],
);

// sumRows(o, x, b, m, n, k); locals: byte ends of a row of n, x's row ends, the b rows, x pointer, offset, x values
const [NE4, NE, XE, XE4, XP, JB] = [6, 7, 8, 9, 10, 11];
/** Up to four rows of b at a time, each with its row pointer and its x value as f32 and in 4 lanes. */
const sumLane = (i: number) => ({ b: 12 + i, c: 16 + i, cv: 20 + i });
const TERMS = [sumLane(0), sumLane(1), sumLane(2), sumLane(3)] as const;
type Term = (typeof TERMS)[number];
/**
 * o[jb] + c0·b0[jb] + c1·b1[jb] + … for the rows of `terms`, left to right as one row at a time adds them (so four
 * at once give the same bits), with the given load / mul / add and the x values as f32 (`c`) or in 4 lanes (`cv`).
 */
const addRows = (terms: readonly Term[], load: Code, c: 'c' | 'cv', mul: Code, add: Code): Code => [
  [at(O, JB), at(O, JB), load],
  terms.map((t) => [at(t.b, JB), load, get(t[c]), mul, add]),
];
/** o row += the x values at XP times the rows of b of `terms`: one load and store of o per |terms| terms. */
const addTerms = (terms: readonly Term[]): Code => [
  terms.map((t, r) => [get(XP), loadAt(4 * r), set(t.c), get(t.c), V_SPLAT, set(t.cv)]),
  terms.slice(1).map((t, r) => [get(terms[r]?.b ?? t.b), get(NE), I32_ADD, set(t.b)]),
  [i32(0), set(JB)],
  loopWhile(JB, NE4, 16, [addRows(terms, V_LOAD, 'cv', V_MUL, V_ADD), V_STORE]),
  loopWhile(JB, NE, 4, [addRows(terms, F32_LOAD, 'c', F32_MUL, F32_ADD), F32_STORE]),
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
      [get(X), set(XP), get(X), get(K), i32(2), I32_SHL, I32_ADD, set(XE), get(W), set(TERMS[0].b)],
      [get(X), get(K), i32(-4), I32_AND, i32(2), I32_SHL, I32_ADD, set(XE4)],
      // four x values (rows of b) at a time, then one at a time
      loopWhile(XP, XE4, 16, [addTerms(TERMS), [get(TERMS[3].b), get(NE), I32_ADD, set(TERMS[0].b)]]),
      loopWhile(XP, XE, 4, [addTerms([TERMS[0]]), advance(TERMS[0].b, NE)]),
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
