/**
 * The two elementwise loops of the masked-softmax kernels (wasm-masked-softmax.ts): WebAssembly SIMD functions
 * that import the tfjs wasm heap's Memory and work on it in place, and plain JS versions where SIMD is missing.
 * Why not JS alone: on Node 20 a JS pass over heap views costs ~1.5–3 ns per element, XNNPACK's binary ops
 * ~0.2–0.4 ns, so the one-pass JS kernels measured slower than the Mul / Add / Sub chain they replaced. With
 * f32x4 lanes a fused pass costs about what one XNNPACK op does, and the fusion saves whole passes.
 *
 * Pointers are byte offsets into the heap, lengths counts of float32 elements; nothing here allocates.
 */

export interface RowLoops {
  /** x[i] = s[i] · c + m[i] for i < n, each step rounded to float32 (the composed Mul, then Add). */
  scaleAdd(x: number, s: number, m: number, n: number, c: number): void;
  /** Per row of `len`: o = (g ⊙ p − (Σ g ⊙ p) · p) · c, rows stored back to back. */
  softmaxGrad(o: number, p: number, g: number, rows: number, len: number, c: number): void;
}

// ---- a minimal WebAssembly assembler: nested arrays of opcode bytes, flattened ----

type Code = number | Code[];

function flat(code: Code[], out: number[] = []): number[] {
  for (const c of code) {
    if (typeof c === 'number') out.push(c);
    else flat(c, out);
  }
  return out;
}

function uleb(v: number): number[] {
  const out: number[] = [];
  do {
    const byte = v & 0x7f;
    v >>>= 7;
    out.push(v === 0 ? byte : byte | 0x80);
  } while (v !== 0);
  return out;
}

function sleb(v: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0)) return [...out, byte];
    out.push(byte | 0x80);
  }
}

const [I32, F32, V128] = [0x7f, 0x7d, 0x7b];
const get = (local: number): Code => [0x20, local];
const set = (local: number): Code => [0x21, local];
const i32 = (v: number): Code => [0x41, sleb(v)];
const [I32_ADD, I32_AND, I32_SHL, I32_GE_U, I32_EQZ] = [0x6a, 0x71, 0x74, 0x4f, 0x45];
const [F32_ADD, F32_SUB, F32_MUL] = [0x92, 0x93, 0x94];
const F32_ZERO: Code = [0x43, 0, 0, 0, 0];
const F32_LOAD: Code = [0x2a, 2, 0]; // memarg: log2 alignment, offset
const F32_STORE: Code = [0x38, 2, 0];
// SIMD: 0xfd prefix, then the LEB128 opcode
const V_LOAD: Code = [0xfd, 0x00, 0, 0];
const V_STORE: Code = [0xfd, 0x0b, 0, 0];
const V_SPLAT: Code = [0xfd, 0x13];
const V_ADD: Code = [0xfd, 0xe4, 0x01];
const V_SUB: Code = [0xfd, 0xe5, 0x01];
const V_MUL: Code = [0xfd, 0xe6, 0x01];
const lane = (i: number): Code => [0xfd, 0x1f, i];

/** local += step */
const bump = (local: number, step: number): Code => [get(local), i32(step), I32_ADD, set(local)];
/** base pointer + byte offset */
const at = (base: number, offset: number): Code => [get(base), get(offset), I32_ADD];
/** while (i < end, unsigned) { body; i += step } */
const loopWhile = (i: number, end: number, step: number, body: Code[]): Code => [
  [0x02, 0x40, 0x03, 0x40], // block, loop
  [get(i), get(end), I32_GE_U, 0x0d, 1], // br_if out of the block
  body,
  bump(i, step),
  [0x0c, 0, 0x0b, 0x0b], // br to the loop, end, end
];
/** end4 = 4 · (n rounded down to whole f32x4 lanes), end = 4 · n: byte offsets that end the two loops */
const byteEnds = (n: number, end4: number, end: number): Code => [
  [get(n), i32(-4), I32_AND, i32(2), I32_SHL, set(end4)],
  [get(n), i32(2), I32_SHL, set(end)],
];

const vec = (items: Code[]): Code => [uleb(items.length), items];
const section = (id: number, ...items: Code[]): Code => {
  const bytes = flat([vec(items)]);
  return [id, uleb(bytes.length), bytes];
};
const name = (s: string): Code => vec([...s].map((c) => c.charCodeAt(0)));
/** A function body: local groups [count, type], then the code. */
const func = (locals: [number, number][], code: Code[]): Code => {
  const bytes = flat([vec(locals.map(([n, t]) => [uleb(n), t])), code, 0x0b]);
  return [uleb(bytes.length), bytes];
};

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
    [0x02, 0x40, 0x03, 0x40, get(ROWS), I32_EQZ, 0x0d, 1], // per row, until rows is 0
    [i32(0), set(J), F32_ZERO, V_SPLAT, set(ACC)],
    loopWhile(J, JEND4, 16, [get(ACC), gp(V_LOAD, V_MUL), V_ADD, set(ACC)]),
    [get(ACC), lane(0), get(ACC), lane(1), F32_ADD, get(ACC), lane(2), get(ACC), lane(3), F32_ADD, F32_ADD, set(DOT)],
    loopWhile(J, JEND, 4, [get(DOT), gp(F32_LOAD, F32_MUL), F32_ADD, set(DOT)]),
    [get(DOT), V_SPLAT, set(DOTV), i32(0), set(J)],
    // o = (g·p − dot·p) · c, rounded after each step like the composed Mul, Mul, Sub, Mul
    loopWhile(J, JEND4, 16, [at(O, J), gradOf(V_LOAD, V_MUL, V_SUB, DOTV, GCV), V_STORE]),
    loopWhile(J, JEND, 4, [at(O, J), gradOf(F32_LOAD, F32_MUL, F32_SUB, DOT, GC), F32_STORE]),
    [O, P, G].map((ptr) => [get(ptr), get(JEND), I32_ADD, set(ptr)]), // next row
    [bump(ROWS, -1), 0x0c, 0, 0x0b, 0x0b],
  ],
);

const FUNC_TYPE = 0x60;
const MODULE = new Uint8Array(
  flat([
    [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // "\0asm", version 1
    section(1, [FUNC_TYPE, vec([I32, I32, I32, I32, F32]), 0], [FUNC_TYPE, vec([I32, I32, I32, I32, I32, F32]), 0]),
    section(2, [name('env'), name('memory'), 0x02, 0x00, 0x00]), // imported memory, no minimum
    section(3, 0, 1),
    section(7, [name('scaleAdd'), 0x00, 0], [name('softmaxGrad'), 0x00, 1]),
    section(10, SCALE_ADD, SOFTMAX_GRAD),
  ]),
);

/** The parts of the WebAssembly JS API used here (the project's libs, ES2023 and node, declare none of it). */
interface WasmApi {
  Memory: new (descriptor: { initial: number }) => WasmMemory;
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: object };
}

export interface WasmMemory {
  readonly buffer: ArrayBufferLike;
}

/** The runtime's WebAssembly namespace, if any. */
export const wasmApi = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

const compiled = new WeakMap<WasmMemory, RowLoops | null>();

/** The SIMD loops bound to `memory`, or null where this runtime lacks wasm SIMD or the memory is shared. */
export function simdRowLoops(memory: WasmMemory): RowLoops | null {
  if (compiled.has(memory)) return compiled.get(memory) ?? null;
  let loops: RowLoops | null = null;
  if (wasmApi !== undefined && !(memory.buffer instanceof SharedArrayBuffer) && wasmApi.validate(MODULE)) {
    const instance = new wasmApi.Instance(new wasmApi.Module(MODULE), { env: { memory } });
    loops = instance.exports as unknown as RowLoops;
  }
  compiled.set(memory, loops);
  return loops;
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
