/**
 * Greedy decoding's row pass (wasm-greedy.ts): per row of logits, the first index of the maximum and the
 * probability there, read from the row's softmax (computed before by the backend's Softmax kernel, XNNPACK's exp).
 * WebAssembly SIMD on the tfjs wasm heap, with a JS version where SIMD is missing.
 *
 * Pointers are byte offsets into the heap, lengths counts of elements; nothing here allocates.
 */
import {
  acrossLanes,
  assemble,
  at,
  byteEnds,
  type Code,
  F32,
  F32_LOAD,
  F32_STORE,
  forRows,
  func,
  get,
  I32,
  I32_ADD,
  I32_AND,
  I32_GE_U,
  I32_SHL,
  i32,
  instantiate,
  loopWhile,
  set,
  V_SPLAT,
  V128,
  uleb,
  type WasmMemory,
} from './wasm-asm.ts';

export interface GreedyLoops {
  /** For each of `rows` rows of n floats: ids[r] = first index of the max of x's row, picked[r] = probs there. */
  rows(x: number, probs: number, ids: number, picked: number, rows: number, n: number): void;
}

const [V_MAX, V_EQ, V_ANY_TRUE] = [
  [0xfd, 0xe9, 0x01],
  [0xfd, 0x41],
  [0xfd, 0x53],
];
const [F32_MAX, F32_EQ, I32_SHR_U, I32_LT_U, SELECT, I32_STORE] = [0x97, 0x5b, 0x76, 0x49, 0x1b, [0x36, 2, 0]];
const [BLOCK, LOOP, BR, BR_IF, END_] = [[0x02, 0x40], [0x03, 0x40], 0x0c, 0x0d, 0x0b];

// rows(x, probs, ids, picked, rows, n); locals: byte ends (16-, 4- and 1-element steps), offset; max; its 4 lanes;
// one running max per unrolled lane group
const [X, PROBS, IDS, PICKED, ROWS, N] = [0, 1, 2, 3, 4, 5];
const [END16, END4, END, T, M, M4] = [6, 7, 8, 9, 10, 11];
const UNROLL = 4;
const ACC = (k: number) => 12 + k;
const groups = Array.from({ length: UNROLL }, (_, k) => k);
/** v128.load at the offset register plus a constant byte offset. */
const loadAt = (bytes: number): Code => [at(X, T), 0xfd, 0x00, 0, uleb(bytes)];

const ROWS_PASS = func(
  [
    [4, I32],
    [1, F32],
    [1 + UNROLL, V128],
  ],
  [
    [get(N), i32(-16), I32_AND, i32(2), I32_SHL, set(END16)],
    byteEnds(N, END4, END),
    forRows(ROWS, [
      // the maximum: independent lane groups (no single dependency chain), then across them, then the tail
      [get(X), F32_LOAD, V_SPLAT, set(M4), groups.map((k) => [get(M4), set(ACC(k))]), i32(0), set(T)],
      loopWhile(
        T,
        END16,
        16 * UNROLL,
        groups.map((k) => [get(ACC(k)), loadAt(16 * k), V_MAX, set(ACC(k))]),
      ),
      loopWhile(T, END4, 16, [get(ACC(0)), loadAt(0), V_MAX, set(ACC(0))]),
      groups.slice(1).map((k) => [get(ACC(0)), get(ACC(k)), V_MAX, set(ACC(0))]),
      [acrossLanes(ACC(0), F32_MAX), set(M)],
      loopWhile(T, END, 4, [get(M), at(X, T), F32_LOAD, F32_MAX, set(M)]),
      [get(M), V_SPLAT, set(M4), i32(0), set(T)],
      // its first index: the first 4 lanes holding it, then the element (none for NaN: index 0)
      [BLOCK, LOOP, get(T), get(END4), I32_GE_U, BR_IF, 1],
      [loadAt(0), get(M4), V_EQ, V_ANY_TRUE, BR_IF, 1, get(T), i32(16), I32_ADD, set(T), BR, 0, END_, END_],
      [BLOCK, LOOP, get(T), get(END), I32_GE_U, BR_IF, 1],
      [at(X, T), F32_LOAD, get(M), F32_EQ, BR_IF, 1, get(T), i32(4), I32_ADD, set(T), BR, 0, END_, END_],
      [get(T), i32(0), get(T), get(END), I32_LT_U, SELECT, set(T)],
      [get(IDS), get(T), i32(2), I32_SHR_U, I32_STORE, get(PICKED), at(PROBS, T), F32_LOAD, F32_STORE],
      [get(X), get(END), I32_ADD, set(X), get(PROBS), get(END), I32_ADD, set(PROBS)],
      [get(IDS), i32(4), I32_ADD, set(IDS), get(PICKED), i32(4), I32_ADD, set(PICKED)],
    ]),
  ],
);

const MODULE = assemble([['rows', [I32, I32, I32, I32, I32, I32], ROWS_PASS]]);

/** The SIMD pass bound to `memory`, or null where this runtime lacks wasm SIMD or the memory is shared. */
export function simdGreedyLoops(memory: WasmMemory): GreedyLoops | null {
  return instantiate<GreedyLoops>(MODULE, memory);
}

/** The same pass in JS over a view of `heap()` (looked up per call: growing the heap replaces the buffer). */
export function jsGreedyLoops(heap: () => ArrayBufferLike): GreedyLoops {
  return {
    rows(x, probs, ids, picked, rows, n) {
      const buffer = heap();
      const [f, out] = [new Float32Array(buffer), new Int32Array(buffer)];
      for (let r = 0; r < rows; r++) {
        const row = (x >>> 2) + r * n;
        let best = 0;
        for (let j = 1; j < n; j++) if ((f[row + j] as number) > (f[row + best] as number)) best = j;
        out[(ids >>> 2) + r] = best;
        f[(picked >>> 2) + r] = f[(probs >>> 2) + r * n + best] as number;
      }
    },
  };
}
