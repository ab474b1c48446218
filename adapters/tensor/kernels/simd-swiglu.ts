/**
 * The elementwise passes of the SwiGLU kernels (wasm-swiglu.ts), silu(g) · u = g · σ(g) · u, as WebAssembly SIMD on
 * the tfjs wasm heap (in place, no copies), with plain JS versions where SIMD is missing. σ comes from the wasm
 * Sigmoid kernel (there is no wasm exp instruction) and arrives in the buffer the pass then overwrites with its
 * result, so neither direction needs a temporary. Each step is rounded to float32 in the order the composed ops
 * (Mul, Mul forward; the autodiff of Mul, Mul and Sigmoid backward) round it, so the results match theirs.
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
  func,
  get,
  I32,
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

export interface SwiGluLoops {
  /** y[i] = (g[i] · y[i]) · u[i] for i < n, where y holds σ(g) on entry. */
  forward(y: number, g: number, u: number, n: number): void;
  /**
   * With t = dy · u, s = σ(g) (held by dg on entry): du = dy · (g · s), dg = t · s + (t · g) · (s · (1 − s)),
   * i.e. dy · u · s · (1 + g · (1 − s)) summed as autodiff sums the Mul and Sigmoid paths.
   */
  backward(dg: number, du: number, g: number, u: number, dy: number, n: number): void;
}

const F32_ONE: Code = [0x43, 0x00, 0x00, 0x80, 0x3f]; // f32.const 1.0, little-endian bits

// forward(y, g, u, n); locals: byte offset and its two ends
const [Y, G, U, N] = [0, 1, 2, 3];
const [I, END4, END] = [4, 5, 6];
const forwardStep = (load: Code, mul: Code, store: Code): Code => [
  [at(Y, I), at(G, I), load, at(Y, I), load, mul],
  [at(U, I), load, mul, store],
];
const FORWARD_LANES = loopWhile(I, END4, 16, [forwardStep(V_LOAD, V_MUL, V_STORE)]);
const FORWARD_REST = loopWhile(I, END, 4, [forwardStep(F32_LOAD, F32_MUL, F32_STORE)]);
const FORWARD = func([[3, I32]], [byteEnds(N, END4, END), FORWARD_LANES, FORWARD_REST]);

// backward(dg, du, g, u, dy, n); locals: byte offset, its two ends, then s, t and 1 as f32x4 and as f32
const [DG, DU, BG, BU, DY, BN] = [0, 1, 2, 3, 4, 5];
const [J, JEND4, JEND, SV, TV, ONEV, SF, TF] = [6, 7, 8, 9, 10, 11, 12, 13];
interface Ops {
  load: Code;
  store: Code;
  mul: Code;
  sub: Code;
  add: Code;
  one: Code;
}
const backwardStep = (o: Ops, s: number, t: number): Code => [
  [at(DG, J), o.load, set(s)],
  [at(DY, J), o.load, at(BU, J), o.load, o.mul, set(t)],
  [at(DU, J), at(DY, J), o.load, at(BG, J), o.load, get(s), o.mul, o.mul, o.store],
  [at(DG, J), get(t), get(s), o.mul],
  [get(t), at(BG, J), o.load, o.mul, get(s), o.one, get(s), o.sub, o.mul, o.mul],
  [o.add, o.store],
];
const VECTOR: Ops = { load: V_LOAD, store: V_STORE, mul: V_MUL, sub: V_SUB, add: V_ADD, one: get(ONEV) };
const SCALAR: Ops = { load: F32_LOAD, store: F32_STORE, mul: F32_MUL, sub: F32_SUB, add: F32_ADD, one: F32_ONE };
const BACKWARD = func(
  [
    [3, I32],
    [3, V128],
    [2, F32],
  ],
  [
    [F32_ONE, V_SPLAT, set(ONEV)],
    byteEnds(BN, JEND4, JEND),
    loopWhile(J, JEND4, 16, [backwardStep(VECTOR, SV, TV)]),
    loopWhile(J, JEND, 4, [backwardStep(SCALAR, SF, TF)]),
  ],
);

const MODULE = assemble([
  ['forward', [I32, I32, I32, I32], FORWARD],
  ['backward', [I32, I32, I32, I32, I32, I32], BACKWARD],
]);

/** The SIMD passes bound to `memory`, or null where this runtime lacks wasm SIMD or the memory is shared. */
export function simdSwiGluLoops(memory: WasmMemory): SwiGluLoops | null {
  return instantiate<SwiGluLoops>(MODULE, memory);
}

// ---- JS fallback, chunk-sized helpers (see simd-rows.ts: V8 optimises a small function called per chunk better).
// Float64 holds a product or sum of two float32 exactly enough that Math.fround after each step is float32 math.

const f = Math.fround;

function forwardChunk(h: Float32Array, y: number, g: number, u: number, n: number): void {
  for (let i = 0; i < n; i++) h[y + i] = f(f((h[g + i] as number) * (h[y + i] as number)) * (h[u + i] as number));
}

function backwardChunk(h: Float32Array, dg: number, du: number, g: number, u: number, dy: number, n: number): void {
  for (let i = 0; i < n; i++) {
    const [s, gi, d] = [h[dg + i] as number, h[g + i] as number, h[dy + i] as number];
    const t = f(d * (h[u + i] as number));
    h[du + i] = f(d * f(gi * s));
    h[dg + i] = f(f(t * s) + f(f(t * gi) * f(s * f(1 - s))));
  }
}

/** The same passes in JS over a view of `heap()` (looked up per call: growing the heap replaces the buffer). */
export function jsSwiGluLoops(heap: () => ArrayBufferLike): SwiGluLoops {
  const CHUNK = 1024;
  return {
    forward(y, g, u, n) {
      const h = new Float32Array(heap());
      const [yi, gi, ui] = [y >>> 2, g >>> 2, u >>> 2];
      for (let i = 0; i < n; i += CHUNK) forwardChunk(h, yi + i, gi + i, ui + i, Math.min(CHUNK, n - i));
    },
    backward(dg, du, g, u, dy, n) {
      const h = new Float32Array(heap());
      const [a, b, c, d, e] = [dg >>> 2, du >>> 2, g >>> 2, u >>> 2, dy >>> 2];
      for (let i = 0; i < n; i += CHUNK) backwardChunk(h, a + i, b + i, c + i, d + i, e + i, Math.min(CHUNK, n - i));
    },
  };
}
